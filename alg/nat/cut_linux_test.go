//go:build linux && interop

package nat

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// pump writes to c until it fails and reads from c until it fails,
// counting what it read; done gets each side's end.
func pump(c *net.TCPConn, read *atomic.Int64, done chan<- error) {
	go func() {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			read.Add(int64(n))
			if err != nil {
				done <- err
				return
			}
		}
	}()
}

// TestCut cuts a connection carrying data both ways: both ends see
// their connection fail (the director resets what conntrack no longer
// translates), nothing more arrives, and Ended reports it not Closed.
//
// With nf_conntrack_tcp_loose=0 the packets after the cut are invalid
// instead of new, and end the same way.
func TestCut(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	for i, f := range families {
		for _, loose := range []string{"1", "0"} {
			t.Run(f.name+"/tcp_loose="+loose, func(t *testing.T) {
				if err := sysctlSet(tp.director, "net/netfilter/nf_conntrack_tcp_loose", loose); err != nil {
					t.Fatal(err)
				}
				n := uint16(i * 2)
				if loose == "0" {
					n++
				}
				vipPort := netip.AddrPortFrom(f.vip, 51000+n)
				realPort := netip.AddrPortFrom(f.real, 41000+n)
				rl := listen(t, tp.real, "tcp", realPort)
				ev, kev := newEvents()
				m := mustMap(t, tb, passive(f, vipPort, realPort, kev))
				c, err := dial(context.Background(), tp.client, f.client, vipPort)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				s := acceptOne(t, rl)
				defer s.Close()
				within(t, ev.connected, "Connected")
				var cRead, sRead atomic.Int64
				cDone, sDone := make(chan error, 2), make(chan error, 2)
				pump(c, &cRead, cDone)
				pump(s, &sRead, sDone)
				for cRead.Load() < 1<<20 || sRead.Load() < 1<<20 {
					time.Sleep(10 * time.Millisecond)
				}
				if err := m.Cut(); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for _, ch := range []chan error{cDone, cDone, sDone, sDone} {
					err := within(t, ch, "end of a side after Cut")
					t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
				}
				end := within(t, ev.ended, "Ended")
				if end.Closed {
					t.Errorf("Ended %+v: Closed after a cut", end)
				}
				if end.OrigBytes < 1<<20 || end.ReplyBytes < 1<<20 {
					t.Errorf("Ended %+v: less than what moved before the cut", end)
				}
				t.Logf("client read %d, realserver read %d; ended %+v", cRead.Load(), sRead.Load(), end)
			})
		}
	}
}

// TestSecondConnectionDeleted: a second connection that took a one-shot
// mapping's element before it went (simulated: the elements are put
// back after the first connection, and deleted again once the second
// one took them) is deleted from conntrack, so it ends at once.
func TestSecondConnectionDeleted(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	f := families[0]
	vipPort, realPort := netip.AddrPortFrom(f.vip, 51100), netip.AddrPortFrom(f.real, 41100)
	rl := listen(t, tp.real, "tcp", realPort)
	ev, kev := newEvents()
	x := mustMap(t, tb, passive(f, vipPort, realPort, kev)).(*mapping)
	c, err := dial(context.Background(), tp.client, f.client, vipPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer acceptOne(t, rl).Close()
	within(t, ev.connected, "Connected")
	if err := tb.batch([]op{{e: x.dnat, timeout: time.Minute}, {e: *x.snat, timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	c2, err := dial(context.Background(), tp.client, f.client, vipPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := tb.batch([]op{{e: x.dnat, kind: opDelete}, {e: *x.snat, kind: opDelete}}); err != nil {
		t.Fatal(err)
	}
	var werr error
	for end := time.Now().Add(10 * time.Second); werr == nil && time.Now().Before(end); {
		_, werr = c2.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
	}
	if werr == nil {
		t.Fatal("the second connection still forwards")
	}
	t.Logf("second connection: %v", werr)
	// The first one is untouched.
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Errorf("first connection: %v", err)
	}
}

// TestEventsLost: when the conntrack subscription breaks (a socket
// overflow), the watcher resubscribes and catches up from a dump: a
// connection made meanwhile is still attributed to its mapping
// (Connected, its element removed, Ended at its close).
func TestEventsLost(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	f := families[1]
	vipPort, realPort := netip.AddrPortFrom(f.vip, 51200), netip.AddrPortFrom(f.real, 41200)
	rl := listen(t, tp.real, "tcp", realPort)
	plainListener(t, tp.director, vipPort)
	ev, kev := newEvents()
	mustMap(t, tb, passive(f, vipPort, realPort, kev))
	type dialed struct {
		c   *net.TCPConn
		err error
	}
	got := make(chan dialed, 1)
	tb.lost = func() {
		// Nobody listens to conntrack now.
		c, err := dial(context.Background(), tp.client, f.client, vipPort)
		got <- dialed{c, err}
	}
	tb.kick <- errors.New("test: subscription broken")
	d := within(t, got, "the connection made while events were lost")
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.c.Close()
	s := acceptOne(t, rl)
	within(t, ev.connected, "Connected after the resubscription")
	// The element went: a second connection reaches the director.
	c2, err := dial(context.Background(), tp.client, f.client, vipPort)
	if err != nil {
		t.Fatal(err)
	}
	if line := readLine(t, c2); line != "director\n" {
		t.Errorf("second connection got %q", line)
	}
	c2.Close()
	up, down := randomBytes(t, 100<<10), randomBytes(t, 10<<10)
	exchange(t, d.c, s, up, down)
	upSent, downSent := sent(t, d.c), sent(t, s)
	d.c.Close()
	s.Close()
	end := within(t, ev.ended, "Ended")
	checkCounters(t, end, len(up), len(down), upSent, downSent)
}
