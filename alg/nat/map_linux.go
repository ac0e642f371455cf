package nat

import (
	"errors"
	"fmt"
	"time"

	"github.com/algd/algd/alg"
	"github.com/google/nftables"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// mapping is one installed alg.Mapping. Its fields after m are guarded
// by the Table's mu.
type mapping struct {
	t     *Table
	m     alg.Mapping
	key   string // byKey's key
	elems []elem

	installed bool                      // elements (may be) in the maps
	deadline  time.Time                 // a one-shot's elements expire
	flows     map[uint32]conntrack.Flow // live connections, by id
	connected bool                      // Connected was called
	ended     bool                      // Ended was called (or is due)
	cut       bool
	sum       alg.Counters // of connections that ended
	closedFIN bool         // the first connection reached TIME_WAIT
}

// Map implements alg.Kernel: it adds m's elements (DNAT and, with a
// Source, SNAT) in one batch, each with m's timeout.
func (t *Table) Map(m alg.Mapping) (alg.Mapped, error) {
	m, err := check(m)
	if err != nil {
		return nil, err
	}
	x := &mapping{t: t, m: m, elems: elemsOf(m), flows: map[uint32]conntrack.Flow{}}
	x.key = string(x.elems[0].key)
	if !m.Persistent {
		x.deadline = time.Now().Add(m.Timeout)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, fmt.Errorf("nat: table inet %s is closed", t.opts.Table)
	}
	if old := t.byKey[x.key]; old != nil {
		if old.m.Persistent || time.Now().Before(old.deadline) {
			t.mu.Unlock()
			return nil, fmt.Errorf("nat: a mapping from %s to %s/%s exists already", m.From, m.Dst, m.Proto)
		}
		old.installed = false // expired in the kernel; this one replaces it
	}
	// Registered before the batch, so the watcher knows the connection
	// even when it comes before Flush returns.
	x.installed = true
	t.byKey[x.key] = x
	t.mu.Unlock()

	if err := t.batch(x.elems, true, m.Timeout); err != nil {
		t.mu.Lock()
		if t.byKey[x.key] == x {
			delete(t.byKey, x.key)
		}
		t.mu.Unlock()
		return nil, err
	}
	if !m.Persistent {
		// A one-shot nobody used: the kernel drops its elements at the
		// deadline; forget it a little later (a connection may have
		// taken it at the last moment).
		time.AfterFunc(m.Timeout+2*time.Second, func() { t.expire(x) })
	}
	return x, nil
}

// batch adds (or deletes) elems in one netlink batch.
func (t *Table) batch(elems []elem, add bool, timeout time.Duration) error {
	t.nftMu.Lock()
	defer t.nftMu.Unlock()
	for _, e := range elems {
		s := t.sets[e.set]
		el := []nftables.SetElement{{Key: e.key, Val: e.val, Timeout: timeout}}
		var err error
		if add {
			err = t.nft.SetAddElements(s, el)
		} else {
			err = t.nft.SetDeleteElements(s, el)
		}
		if err != nil {
			return fmt.Errorf("nat: map %s: %w", e.set, err)
		}
	}
	if err := t.nft.Flush(); err != nil {
		op := "add to"
		if !add {
			op = "delete from"
		}
		return missing(op+" maps of table inet "+t.opts.Table, err)
	}
	return nil
}

// unmap deletes x's elements if they are still installed. Elements the
// kernel already expired are no error.
func (t *Table) unmap(x *mapping) error {
	t.mu.Lock()
	if !x.installed {
		t.mu.Unlock()
		return nil
	}
	x.installed = false
	if t.byKey[x.key] == x {
		delete(t.byKey, x.key)
	}
	t.mu.Unlock()
	err := t.batch(x.elems, false, 0)
	if errors.Is(err, unix.ENOENT) {
		// One batch fails as a whole: delete one by one what is left.
		err = nil
		for _, e := range x.elems {
			if e1 := t.batch([]elem{e}, false, 0); e1 != nil && !errors.Is(e1, unix.ENOENT) {
				err = e1
			}
		}
	}
	return err
}

// expire forgets a one-shot mapping whose connection never came.
func (t *Table) expire(x *mapping) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.installed && !x.connected {
		x.installed = false
		if t.byKey[x.key] == x {
			delete(t.byKey, x.key)
		}
	}
}

// Counters implements alg.Mapped: the counters of the connections that
// ended plus those of the live ones, read from conntrack.
func (x *mapping) Counters() (alg.Counters, error) {
	t := x.t
	t.mu.Lock()
	sum := x.sum
	live := make([]conntrack.Flow, 0, len(x.flows))
	for _, f := range x.flows {
		live = append(live, f)
	}
	t.mu.Unlock()
	for _, f := range live {
		g, err := t.ct.Get(f)
		if errors.Is(err, unix.ENOENT) {
			continue // ended meanwhile; the watcher adds it to sum
		}
		if err != nil {
			return sum, fmt.Errorf("nat: conntrack get: %w", err)
		}
		add(&sum, g)
	}
	return sum, nil
}

func add(c *alg.Counters, f conntrack.Flow) {
	c.OrigBytes += f.CountersOrig.Bytes
	c.OrigPackets += f.CountersOrig.Packets
	c.ReplyBytes += f.CountersReply.Bytes
	c.ReplyPackets += f.CountersReply.Packets
}

// Cut implements alg.Mapped: it removes the mapping (so no new
// connection or flow takes it, also for a Persistent one) and deletes
// its connections from conntrack. Their next packets are no longer
// translated: they reach the director's own stack, which answers a TCP
// segment with a reset (docs/kernel-path.md).
func (x *mapping) Cut() error {
	t := x.t
	err := t.unmap(x)
	t.mu.Lock()
	x.cut = true
	live := make([]conntrack.Flow, 0, len(x.flows))
	for _, f := range x.flows {
		live = append(live, f)
	}
	t.mu.Unlock()
	for _, f := range live {
		if e := t.ct.Delete(f); e != nil && !errors.Is(e, unix.ENOENT) {
			err = errors.Join(err, fmt.Errorf("nat: conntrack delete %s: %w", f.TupleOrig, e))
		}
	}
	return err
}

// Remove implements alg.Mapped.
func (x *mapping) Remove() error {
	err := x.t.unmap(x)
	x.t.mu.Lock()
	done := x.m.Persistent && len(x.flows) == 0 && x.connected && !x.ended
	if done {
		x.ended = true
	}
	sum := x.sum
	x.t.mu.Unlock()
	if done && x.m.Events.Ended != nil {
		// No goroutine of the watcher will see this one end.
		x.t.deliver(func() { x.m.Events.Ended(sum) })
	}
	return err
}
