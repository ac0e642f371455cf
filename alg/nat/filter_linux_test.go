//go:build linux && interop

package nat

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

// TestEventFilter: the watcher's socket filter passes the events of
// algd's connections and none of the director's other connections,
// which an unfiltered subscription in the same namespace sees.
func TestEventFilter(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	f := families[0]
	w, err := tb.listen()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	all, err := conntrack.Dial(&netlink.Config{NetNS: tp.director})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	allEv := make(chan conntrack.Event, 4096)
	if _, err := all.Listen(allEv, 1, []netfilter.NetlinkGroup{netfilter.GroupCTNew, netfilter.GroupCTUpdate, netfilter.GroupCTDestroy}); err != nil {
		t.Fatal(err)
	}

	// Connections routed through the director, not mapped.
	const n = 20
	realPort := netip.AddrPortFrom(f.real, 40100)
	rl := listen(t, tp.real, "tcp", realPort)
	for range n {
		c, err := dial(context.Background(), tp.client, f.client, realPort)
		if err != nil {
			t.Fatal(err)
		}
		s := acceptOne(t, rl)
		c.Close()
		s.Close()
	}
	// One mapped connection.
	vipPort := netip.AddrPortFrom(f.vip, 50100)
	ml := listen(t, tp.real, "tcp", netip.AddrPortFrom(f.real, 40101))
	ev, kev := newEvents()
	mustMap(t, tb, passive(f, vipPort, netip.AddrPortFrom(f.real, 40101), kev))
	c, err := dial(context.Background(), tp.client, f.client, vipPort)
	if err != nil {
		t.Fatal(err)
	}
	s := acceptOne(t, ml)
	within(t, ev.connected, "Connected")
	c.Close()
	s.Close()
	within(t, ev.ended, "Ended")

	count := func(ch <-chan conntrack.Event) (mine, other int) {
		for {
			select {
			case e := <-ch:
				if e.Flow != nil && e.Flow.Mark&tb.opts.Mark == tb.opts.Mark {
					mine++
				} else {
					other++
				}
			case <-time.After(time.Second):
				return
			}
		}
	}
	mine, other := count(w.ev)
	allMine, allOther := count(allEv)
	t.Logf("filtered: %d events of algd's connections, %d others; unfiltered: %d and %d", mine, other, allMine, allOther)
	if other != 0 {
		t.Errorf("the filtered subscription got %d events of other connections", other)
	}
	if mine == 0 || mine != allMine {
		t.Errorf("the filtered subscription got %d events of algd's connections, the unfiltered one %d", mine, allMine)
	}
	if allOther < n {
		t.Errorf("the unfiltered subscription got %d events of the %d other connections: the test shows nothing", allOther, n)
	}
}
