package alg

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/limits"
)

// refusals records what an expectation reported to OnRefused.
type refusals struct {
	mu  sync.Mutex
	got []Refusal
	ch  chan struct{}
}

func newRefusals() *refusals { return &refusals{ch: make(chan struct{}, 64)} }

func (r *refusals) add(_ netip.AddrPort, why Refusal) {
	r.mu.Lock()
	r.got = append(r.got, why)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

// wait waits for the nth refusal and returns it.
func (r *refusals) wait(t *testing.T, n int) Refusal {
	t.Helper()
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			why := r.got[n-1]
			r.mu.Unlock()
			return why
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("refusal #%d never reported", n)
		}
	}
}

func (r *refusals) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// mustAccept runs Accept in the background.
func acceptAsync(x *Expectation) <-chan *net.TCPConn {
	got := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := x.Accept(context.Background())
		got <- c
	}()
	return got
}

// readTag reads the 1-byte tag a test dialer wrote on c.
func readTag(t *testing.T, c *net.TCPConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading the tag: %v", err)
	}
	return string(b)
}

// TestExpectationSecondConnection pairs the peer's first connection and
// keeps the port until Close: a second connection from the peer's address
// (a neighbour behind the same NAT, or the real client after a thief) is
// reset and reported as RefusedSecond, one from elsewhere as
// RefusedForeign; after Close nothing listens and the port is free.
func TestExpectationSecondConnection(t *testing.T) {
	d := NewDataPorts(61540, 61549)
	r := newRefusals()
	x, err := d.Expect(Expect{Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("127.0.0.5"),
		Deadline: time.Now().Add(10 * time.Second), OnRefused: r.add})
	if err != nil {
		t.Fatal(err)
	}
	got := acceptAsync(x)
	dialFrom(t, "127.0.0.5", x.AddrPort(), []byte("A"))
	c := <-got
	if c == nil {
		t.Fatal("the peer's connection was not accepted")
	}
	defer c.Close()
	if tag := readTag(t, c); tag != "A" {
		t.Fatalf("paired connection %q, want A", tag)
	}
	if !closedByPeer(dialFrom(t, "127.0.0.5", x.AddrPort(), []byte("B"))) {
		t.Fatal("a second connection from the peer was not reset")
	}
	if why := r.wait(t, 1); why != RefusedSecond {
		t.Fatalf("second connection reported as %v", why)
	}
	if !closedByPeer(dialFrom(t, "127.0.0.6", x.AddrPort(), []byte("C"))) {
		t.Fatal("a connection from elsewhere was not reset")
	}
	if why := r.wait(t, 2); why != RefusedForeign {
		t.Fatalf("foreign connection reported as %v", why)
	}
	if in, _, _ := d.Usage(); in != 1 {
		t.Fatalf("in use during the transfer = %d, want 1", in)
	}
	x.Close()
	x.Close()
	if in, _, _ := d.Usage(); in != 0 {
		t.Fatalf("in use after Close = %d", in)
	}
	dd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	if lc, err := dd.Dial("tcp", x.AddrPort().String()); err == nil {
		lc.Close()
		t.Fatal("the port still accepts after Close")
	}
	if n := r.count(); n != 2 {
		t.Fatalf("%d refusals reported, want 2", n)
	}
	// The paired connection is untouched by all this.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("the paired connection ended: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestExpectationGated is the backend-side window: connections from the
// peer before Open are reset and reported as RefusedOutsideWindow (they
// do not wait in the backlog to be paired later); the first one after
// Open is paired, the next one refused as second, and Shut on a paired
// expectation keeps refusing until Close.
func TestExpectationGated(t *testing.T) {
	d := NewDataPorts(61550, 61559)
	r := newRefusals()
	x, err := d.Expect(Expect{Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("127.0.0.21"),
		Gated: true, OnRefused: r.add})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !closedByPeer(dialFrom(t, "127.0.0.21", x.AddrPort(), []byte("E"))) {
		t.Fatal("a connection before the window was not reset")
	}
	if why := r.wait(t, 1); why != RefusedOutsideWindow {
		t.Fatalf("early connection reported as %v", why)
	}
	x.Open(time.Now().Add(10 * time.Second))
	got := acceptAsync(x)
	dialFrom(t, "127.0.0.21", x.AddrPort(), []byte("G"))
	c := <-got
	if c == nil {
		t.Fatal("no connection paired in the window")
	}
	defer c.Close()
	if tag := readTag(t, c); tag != "G" {
		t.Fatalf("paired connection %q, want G (the one in the window)", tag)
	}
	x.Shut()
	if !closedByPeer(dialFrom(t, "127.0.0.21", x.AddrPort(), []byte("L"))) {
		t.Fatal("a connection after the pairing was not reset")
	}
	if why := r.wait(t, 2); why != RefusedSecond {
		t.Fatalf("late connection reported as %v", why)
	}
	if in, _, _ := d.Usage(); in != 1 {
		t.Fatalf("in use = %d during the transfer", in)
	}
	x.Close()
	if in, _, _ := d.Usage(); in != 0 {
		t.Fatalf("in use = %d after Close", in)
	}
}

// TestExpectationGatedEnds: a window shut before anyone connected, or one
// that expires, fails Accept and frees the port; so does the context.
func TestExpectationGatedEnds(t *testing.T) {
	d := NewDataPorts(61560, 61569)
	e := Expect{Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("127.0.0.21"), Gated: true}
	for _, tc := range []struct {
		name string
		end  func(x *Expectation, cancel context.CancelFunc)
		want error
	}{
		{"shut", func(x *Expectation, _ context.CancelFunc) { x.Open(time.Now().Add(time.Minute)); x.Shut() }, net.ErrClosed},
		{"expired", func(x *Expectation, _ context.CancelFunc) { x.Open(time.Now().Add(50 * time.Millisecond)) }, ErrExpired},
		{"cancelled", func(_ *Expectation, cancel context.CancelFunc) { cancel() }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := d.Expect(e)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.end(x, cancel)
			if c, err := x.Accept(ctx); !errors.Is(err, tc.want) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("Accept = %v, want %v", err, tc.want)
			}
			if in, _, _ := d.Usage(); in != 0 {
				t.Fatalf("in use = %d after the window ended", in)
			}
		})
	}
}

// TestDataPortsSetRange moves the range under a held expectation: new
// expectations get ports of the new range only, the held one works on
// and its port is released, never handed out again.
func TestDataPortsSetRange(t *testing.T) {
	d := NewDataPorts(61570, 61579)
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	old, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	got := acceptAsync(old)
	d.SetRange(61580, 61581)
	dialFrom(t, "127.0.0.5", old.AddrPort(), []byte("O"))
	c := <-got
	if c == nil {
		t.Fatal("the expectation of the old range did not pair")
	}
	defer c.Close()
	if in, size, _ := d.Usage(); in != 1 || size != 2 {
		t.Fatalf("usage after SetRange: %d in use of %d, want 1 of 2", in, size)
	}
	old.Close()
	for range 20 {
		x, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if p := x.Port(); p < 61580 || p > 61581 {
			t.Fatalf("Expect after SetRange got port %d, outside 61580-61581", p)
		}
		x.Close()
	}
	if in, _, _ := d.Usage(); in != 0 {
		t.Fatalf("in use = %d at the end", in)
	}
}

// TestOffenders keeps at most its size of addresses, the heaviest and the
// latest, and counts by reason.
func TestOffenders(t *testing.T) {
	tab := NewOffenders(3)
	now := time.Unix(1000, 0)
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for range 5 {
		tab.Add(a("192.0.2.1"), RefusedForeign, now)
	}
	tab.Add(a("192.0.2.1"), RefusedSecond, now)
	tab.Add(a("::ffff:192.0.2.2"), RefusedSecond, now.Add(time.Second))
	tab.Add(a("192.0.2.2"), RefusedSecond, now.Add(time.Second))
	tab.Add(a("192.0.2.3"), RefusedOutsideWindow, now.Add(2*time.Second))
	tab.Add(a("192.0.2.4"), RefusedForeign, now.Add(3*time.Second)) // evicts .3 (fewest)
	tab.Add(a("192.0.2.5"), RefusedForeign, now.Add(4*time.Second)) // evicts .4 (fewest)
	var nilTab *Offenders
	nilTab.Add(a("192.0.2.9"), RefusedForeign, now)
	list, evicted := tab.Top()
	if evicted != 2 || len(list) != 3 {
		t.Fatalf("Top() = %v, evicted %d; want 3 entries, 2 evicted", list, evicted)
	}
	want := []struct {
		addr   string
		counts [3]uint64
	}{
		{"192.0.2.1", [3]uint64{5, 1, 0}},
		{"192.0.2.2", [3]uint64{0, 2, 0}},
		{"192.0.2.5", [3]uint64{1, 0, 0}},
	}
	for i, w := range want {
		if list[i].Addr != a(w.addr) || list[i].Counts != w.counts {
			t.Fatalf("Top()[%d] = %v %v, want %s %v", i, list[i].Addr, list[i].Counts, w.addr, w.counts)
		}
	}
	if l, _ := nilTab.Top(); l != nil {
		t.Fatalf("nil table lists %v", l)
	}
}

// TestDataPortsSkipsBusy: a port of the range that another process holds
// (an algd draining after a takeover) is skipped and counted, never a
// failure while another port is free.
func TestDataPortsSkipsBusy(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.81")
	held, err := net.Listen("tcp", "127.0.0.81:63470")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	d := NewDataPorts(63470, 63471)
	x, err := d.Expect(Expect{Local: local, Peer: local, Deadline: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatalf("Expect with one port free: %v", err)
	}
	defer x.Close()
	if x.Port() != 63471 {
		t.Errorf("port %d, want 63471 (63470 is held)", x.Port())
	}
	// Only the held port is left: it is tried, skipped, and the range is
	// exhausted.
	if _, err := d.Expect(Expect{Local: local, Peer: local, Deadline: time.Now().Add(time.Second)}); !errors.Is(err, limits.ErrExhausted) {
		t.Errorf("Expect with only a held port: %v, want ErrExhausted", err)
	}
	if d.Busy() < 1 {
		t.Errorf("busy %d, want at least 1", d.Busy())
	}
	if in, _, _ := d.Usage(); in != 1 {
		t.Errorf("%d ports in use, want 1 (the held one released again)", in)
	}
}
