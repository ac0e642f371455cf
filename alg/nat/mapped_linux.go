package nat

import (
	"errors"
	"fmt"

	"github.com/algd/algd/alg"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

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
