package nat

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/algd/algd/alg"
	"github.com/google/nftables"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// mapping is one installed alg.Mapping. Its fields after snat are
// guarded by the Table's mu.
type mapping struct {
	t    *Table
	m    alg.Mapping
	key  string // byKey's key: the DNAT element's
	dnat elem
	snat *elem // nil: no Source

	installed bool                      // elements (may be) in the maps
	deadline  time.Time                 // its elements' timeout (zero: none)
	flows     map[uint32]conntrack.Flow // live connections, by id
	connected bool                      // Connected was called
	ended     bool                      // Ended was called (or is due)
	cut       bool
	sum       alg.Counters // of connections that ended
	closedFIN bool         // the connection reached TIME_WAIT
}

// snatRef is an SNAT element several mappings share: its key is the
// tuple after DNAT (From, To), the same for mappings that differ only in
// Dst. Their Source must agree; the element goes with the last of them,
// and its timeout is the latest of theirs.
type snatRef struct {
	val     []byte
	users   int
	expires time.Time // zero: never
}

// op is one element operation of a batch.
type op struct {
	e       elem
	kind    opKind
	timeout time.Duration
}

type opKind uint8

const (
	opAdd     opKind = iota
	opDelete         // a missing element is no error (see batch)
	opReplace        // delete and add again, with a new timeout
)

// Map implements alg.Kernel: it adds m's elements (DNAT and, with a
// Source, SNAT) in one batch, with m's timeout.
func (t *Table) Map(m alg.Mapping) (alg.Mapped, error) {
	m, err := check(m)
	if err != nil {
		return nil, err
	}
	es := elemsOf(m)
	x := &mapping{t: t, m: m, dnat: es[0], key: string(es[0].key), flows: map[uint32]conntrack.Flow{}}
	if len(es) > 1 {
		x.snat = &es[1]
	}
	if m.Timeout > 0 {
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
		// Expired in the kernel, not yet forgotten: this one replaces it.
		t.forget(old)
	}
	ops := []op{{e: x.dnat, timeout: m.Timeout}}
	if x.snat != nil {
		o, err := t.share(x)
		if err != nil {
			t.mu.Unlock()
			return nil, err
		}
		if o != nil {
			ops = append(ops, *o)
		}
	}
	// Registered before the batch, so the watcher knows the connection
	// even when it comes before Flush returns.
	x.installed = true
	t.byKey[x.key] = x
	t.mu.Unlock()

	if err := t.batch(ops); err != nil {
		t.mu.Lock()
		t.forget(x)
		t.mu.Unlock()
		return nil, err
	}
	if m.Persistent {
		t.unshadow(m)
	}
	switch {
	case !m.Persistent:
		// A one-shot nobody used: the kernel drops its elements at the
		// deadline; forget it a little later (a connection may have
		// taken it at the last moment).
		time.AfterFunc(m.Timeout+expireGrace, func() { t.expire(x) })
	case m.Timeout > 0:
		time.AfterFunc(m.Timeout/2, func() { t.refresh(x) })
	}
	return x, nil
}

// share counts x as a user of its SNAT element and returns the
// operation that installs it, nil when it is in place with a timeout
// long enough. Called with mu held.
func (t *Table) share(x *mapping) (*op, error) {
	sk := x.snat.set + string(x.snat.key)
	r := t.snat[sk]
	if r == nil {
		t.snat[sk] = &snatRef{val: x.snat.val, users: 1, expires: x.deadline}
		return &op{e: *x.snat, timeout: x.m.Timeout}, nil
	}
	if !bytes.Equal(r.val, x.snat.val) {
		return nil, fmt.Errorf("nat: a mapping from %s to %s/%s with another Source exists already", x.m.From, x.m.To, x.m.Proto)
	}
	r.users++
	if r.expires.IsZero() || (!x.deadline.IsZero() && !x.deadline.After(r.expires)) {
		return nil, nil
	}
	r.expires = x.deadline
	return &op{e: *x.snat, kind: opReplace, timeout: x.m.Timeout}, nil
}

// forget takes x out of the maps' bookkeeping and returns the
// operations that delete its elements: its DNAT element, and its SNAT
// element when x was its last user. Called with mu held.
func (t *Table) forget(x *mapping) []op {
	if !x.installed {
		return nil
	}
	x.installed = false
	if t.byKey[x.key] == x {
		delete(t.byKey, x.key)
	}
	ops := []op{{e: x.dnat, kind: opDelete}}
	if x.snat != nil {
		sk := x.snat.set + string(x.snat.key)
		if r := t.snat[sk]; r != nil {
			r.users--
			if r.users <= 0 {
				delete(t.snat, sk)
				ops = append(ops, op{e: *x.snat, kind: opDelete})
			}
		}
	}
	return ops
}

// expireGrace is how long after its elements' timeout a mapping is
// forgotten: a connection that took it at the last moment is still
// attributed to it.
const expireGrace = 2 * time.Second

// unmap deletes x's elements if they are still installed.
func (t *Table) unmap(x *mapping) error {
	t.mu.Lock()
	ops := t.forget(x)
	t.mu.Unlock()
	return t.batch(ops)
}

// expire forgets a one-shot mapping whose connection never came (the
// kernel dropped its elements; a shared SNAT element may remain).
func (t *Table) expire(x *mapping) {
	t.mu.Lock()
	var ops []op
	if !x.connected && !t.closed {
		ops = t.forget(x)
	}
	t.mu.Unlock()
	if err := t.batch(ops); err != nil {
		t.log.Warn("expired mapping not removed", "from", x.m.From, "dst", x.m.Dst, "err", err)
	}
}

// refresh keeps a Persistent mapping's elements while its flows live:
// half way through their timeout it adds them again with a new one
// (delete and add in one batch, so the maps never lack them). A mapping
// without flows is left to expire: its Timeout is how long it lives
// without traffic (after conntrack dropped its last idle flow).
func (t *Table) refresh(x *mapping) {
	t.mu.Lock()
	if !x.installed || t.closed {
		t.mu.Unlock()
		return
	}
	var ops []op
	var done bool
	next := x.m.Timeout / 2
	switch {
	case len(x.flows) > 0:
		x.deadline = time.Now().Add(x.m.Timeout)
		ops = append(ops, op{e: x.dnat, kind: opReplace, timeout: x.m.Timeout})
		if x.snat != nil {
			r := t.snat[x.snat.set+string(x.snat.key)]
			if r != nil && !r.expires.IsZero() && x.deadline.After(r.expires) {
				r.expires = x.deadline
				ops = append(ops, op{e: *x.snat, kind: opReplace, timeout: x.m.Timeout})
			}
		}
	case time.Now().After(x.deadline):
		ops = t.forget(x) // expired in the kernel
		done = x.connected && !x.ended
		x.ended = x.ended || done
	default:
		next = time.Until(x.deadline) + expireGrace
	}
	sum := x.sum
	t.mu.Unlock()
	if err := t.batch(ops); err != nil {
		t.log.Warn("persistent mapping not refreshed", "from", x.m.From, "dst", x.m.Dst, "err", err)
	}
	if done {
		if x.m.Events.Ended != nil {
			t.deliver(func() { x.m.Events.Ended(sum) })
		}
		return
	}
	if len(ops) == 0 || ops[0].kind == opReplace {
		time.AfterFunc(next, func() { t.refresh(x) })
	}
}

// batch applies ops in one netlink batch. The kernel applies a batch as
// a whole or not at all; when it fails on an element to delete that is
// gone already (expired), each operation is applied on its own, and
// missing elements are no error.
func (t *Table) batch(ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	err := t.flush(ops)
	if !errors.Is(err, unix.ENOENT) || len(ops) == 1 {
		if errors.Is(err, unix.ENOENT) && ops[0].kind == opDelete {
			return nil
		}
		return err
	}
	err = nil
	for _, o := range ops {
		if e := t.flush([]op{o}); e != nil && !(errors.Is(e, unix.ENOENT) && o.kind == opDelete) {
			err = errors.Join(err, e)
		}
	}
	return err
}

func (t *Table) flush(ops []op) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		// Its netlink socket is gone (a new one would be opened in the
		// calling thread's namespace): timers and late callers of a
		// closed Table change nothing.
		return fmt.Errorf("nat: table inet %s is closed", t.opts.Table)
	}
	t.nftMu.Lock()
	defer t.nftMu.Unlock()
	for _, o := range ops {
		s := t.sets[o.e.set]
		el := []nftables.SetElement{{Key: o.e.key, Val: o.e.val, Timeout: o.timeout}}
		var err error
		switch o.kind {
		case opAdd:
			err = t.nft.SetAddElements(s, el)
		case opDelete:
			err = t.nft.SetDeleteElements(s, el)
		case opReplace:
			// An element that expired meanwhile would fail the delete:
			// adding it first makes the delete always find one.
			err = errors.Join(t.nft.SetAddElements(s, el), t.nft.SetDeleteElements(s, el), t.nft.SetAddElements(s, el))
		}
		if err != nil {
			return fmt.Errorf("nat: map %s: %w", o.e.set, err)
		}
	}
	if err := t.nft.Flush(); err != nil {
		return fmt.Errorf("nat: update maps of table inet %s: %w", t.opts.Table, err)
	}
	return nil
}
