//go:build linux

package alg

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/limits"
	"golang.org/x/sys/unix"
)

// waitKept waits until d keeps n sockets (an ended expectation's accepting
// goroutine hands its socket back once it has stopped).
func waitKept(t *testing.T, d *DataPorts, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); d.kept() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets kept, want %d", d.kept(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refusedAtConnect reports whether a connection from `from` to at is
// refused by the kernel (nothing listens), not accepted and reset later.
func refusedAtConnect(t *testing.T, from string, at netip.AddrPort) bool {
	t.Helper()
	dd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := dd.Dial("tcp", at.String())
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// TestExpectationPortReused: one port, used by two expectations one after
// the other. The first pairs its peer and refuses the rest; once it is
// closed the port listens no more (a thief between the two is refused by
// the kernel and reaches neither expectation) while its socket is kept;
// the second expectation listens on that same socket, pairs its own peer
// (not the thief, not a connection of the first) and counts a thief as
// theft.
func TestExpectationPortReused(t *testing.T) {
	d := NewDataPorts(61590, 61590)
	local := netip.MustParseAddr("127.0.0.80")
	r1 := newRefusals()
	x1, err := d.Expect(Expect{Local: local, Peer: netip.MustParseAddr("127.0.0.5"),
		Deadline: time.Now().Add(10 * time.Second), OnRefused: r1.add})
	if err != nil {
		t.Fatal(err)
	}
	got := acceptAsync(x1)
	dialFrom(t, "127.0.0.5", x1.AddrPort(), []byte("A"))
	c1 := <-got
	if c1 == nil {
		t.Fatal("the first peer was not paired")
	}
	defer c1.Close()
	if !closedByPeer(dialFrom(t, "127.0.0.9", x1.AddrPort(), []byte("T"))) {
		t.Fatal("a thief during the first transfer was not reset")
	}
	if why := r1.wait(t, 1); why != RefusedForeign {
		t.Fatalf("thief reported as %v", why)
	}
	ln := x1.ln
	x1.Close()
	waitKept(t, d, 1)
	if in, _, _ := d.Usage(); in != 0 {
		t.Fatalf("in use between the expectations = %d", in)
	}
	for _, from := range []string{"127.0.0.9", "127.0.0.5", "127.0.0.6"} {
		if !refusedAtConnect(t, from, x1.AddrPort()) {
			t.Fatalf("a connection from %s between the expectations was not refused by the kernel", from)
		}
	}

	r2 := newRefusals()
	x2, err := d.Expect(Expect{Local: local, Peer: netip.MustParseAddr("127.0.0.6"),
		Deadline: time.Now().Add(10 * time.Second), OnRefused: r2.add})
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	if x2.AddrPort() != x1.AddrPort() || x2.ln != ln || d.kept() != 0 {
		t.Fatalf("the second expectation (%s) did not take the kept socket of %s", x2.AddrPort(), x1.AddrPort())
	}
	got = acceptAsync(x2)
	if !closedByPeer(dialFrom(t, "127.0.0.9", x2.AddrPort(), []byte("U"))) {
		t.Fatal("a thief before the second peer was not reset")
	}
	if why := r2.wait(t, 1); why != RefusedForeign {
		t.Fatalf("thief reported as %v", why)
	}
	dialFrom(t, "127.0.0.6", x2.AddrPort(), []byte("B"))
	c2 := <-got
	if c2 == nil {
		t.Fatal("the second peer was not paired")
	}
	defer c2.Close()
	if tag := readTag(t, c2); tag != "B" {
		t.Fatalf("second expectation paired %q, want B", tag)
	}
	if n := r1.count(); n != 1 {
		t.Fatalf("the first expectation reported %d refusals after its Close, want 1", n)
	}
}

// TestExpectationGatedReused: a gated expectation's accepting goroutine
// ends with the expectation and hands the socket on; a window that never
// opened leaves nothing behind for the next expectation on the port.
func TestExpectationGatedReused(t *testing.T) {
	d := NewDataPorts(61591, 61591)
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.21")
	r := newRefusals()
	g, err := d.Expect(Expect{Local: local, Peer: peer, Gated: true, OnRefused: r.add})
	if err != nil {
		t.Fatal(err)
	}
	if !closedByPeer(dialFrom(t, "127.0.0.21", g.AddrPort(), []byte("E"))) {
		t.Fatal("a connection before the window was not reset")
	}
	if why := r.wait(t, 1); why != RefusedOutsideWindow {
		t.Fatalf("early connection reported as %v", why)
	}
	g.Shut()
	if _, err := g.Accept(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Shut = %v, want net.ErrClosed", err)
	}
	waitKept(t, d, 1)
	g.Open(time.Now().Add(time.Minute)) // too late: changes nothing
	x, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	got := acceptAsync(x)
	dialFrom(t, "127.0.0.21", x.AddrPort(), []byte("P"))
	c := <-got
	if c == nil {
		t.Fatal("the next expectation on the port did not pair")
	}
	defer c.Close()
	if tag := readTag(t, c); tag != "P" {
		t.Fatalf("paired %q, want P", tag)
	}
	if n := r.count(); n != 1 {
		t.Fatalf("the gated expectation reported %d refusals, want 1", n)
	}
}

// TestDataPortsKeptClosed: kept sockets are closed when their port leaves
// the range (also one whose expectation was still open at SetRange) and
// after keepIdle; a closed one no longer holds the port (a bind without
// SO_REUSEADDR succeeds).
func TestDataPortsKeptClosed(t *testing.T) {
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	e := Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)}
	d := NewDataPorts(61592, 61593)
	x1, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	x2, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	x1.Close()
	waitKept(t, d, 1)
	if !bindHeld(t, x1.AddrPort()) {
		t.Fatal("the kept socket does not hold its port")
	}
	d.SetRange(61594, 61594)
	if n := d.kept(); n != 0 {
		t.Fatalf("%d sockets kept after SetRange", n)
	}
	x2.Close()
	if n := d.kept(); n != 0 {
		t.Fatalf("the old range's socket was kept at Close (%d kept)", n)
	}
	for _, x := range []*Expectation{x1, x2} {
		if bindHeld(t, x.AddrPort()) {
			t.Fatalf("%s still bound after leaving the range", x.AddrPort())
		}
	}

	d.keep = 20 * time.Millisecond
	x3, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	x3.Close()
	waitKept(t, d, 0)
	if bindHeld(t, x3.AddrPort()) {
		t.Fatalf("%s still bound after keepIdle", x3.AddrPort())
	}
}

// TestDataPortsKeptBusy: when another socket listens on a kept socket's
// port (another process, a restarted algd), the kept socket is dropped and
// the port is skipped as busy; the other listener keeps its connections.
func TestDataPortsKeptBusy(t *testing.T) {
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	e := Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)}
	d := NewDataPorts(61595, 61596)
	x1, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	x2, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	x1.Close()
	other, err := net.Listen("tcp", x1.AddrPort().String())
	if err != nil {
		t.Fatalf("another listener next to the kept socket: %v", err)
	}
	defer other.Close()
	if x, err := d.Expect(e); !errors.Is(err, limits.ErrExhausted) {
		if err == nil {
			x.Close()
		}
		t.Fatalf("Expect with the only free port taken by another listener = %v, want exhausted", err)
	}
	if n := d.kept(); n != 0 {
		t.Fatalf("%d sockets kept after the busy port", n)
	}
	if n := d.Busy(); n != 1 {
		t.Fatalf("%d ports counted busy, want 1", n)
	}
	dialFrom(t, "127.0.0.5", x1.AddrPort(), []byte("O"))
	other.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	oc, err := other.Accept()
	if err != nil {
		t.Fatalf("the other listener lost its connection: %v", err)
	}
	oc.Close()
	x2.Close()
	x3, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	defer x3.Close()
	if x3.AddrPort() != x2.AddrPort() {
		t.Fatalf("Expect took %s, want the free port %s", x3.AddrPort(), x2.AddrPort())
	}
}

// bindHeld reports whether a socket without SO_REUSEADDR fails to bind
// at: any socket bound there, listening or not, refuses it.
func bindHeld(t *testing.T, at netip.AddrPort) bool {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(at.Port()), Addr: at.Addr().As4()})
	if err != nil && !errors.Is(err, unix.EADDRINUSE) {
		t.Fatal(err)
	}
	return err != nil
}

// TestExpectationHoldReused: a held expectation (the kernel data path)
// refuses everyone until Close, the peer as a second connection; its
// refusing goroutine ends with Close and the socket goes to the port's
// next expectation, which pairs its peer.
func TestExpectationHoldReused(t *testing.T) {
	d := NewDataPorts(61597, 61597)
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	r := newRefusals()
	h, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second), OnRefused: r.add})
	if err != nil {
		t.Fatal(err)
	}
	h.Hold()
	if !closedByPeer(dialFrom(t, "127.0.0.5", h.AddrPort(), []byte("K"))) {
		t.Fatal("the peer's connection to a held port was not reset")
	}
	if why := r.wait(t, 1); why != RefusedSecond {
		t.Fatalf("peer on a held port reported as %v", why)
	}
	if !closedByPeer(dialFrom(t, "127.0.0.9", h.AddrPort(), []byte("T"))) {
		t.Fatal("a thief on a held port was not reset")
	}
	if why := r.wait(t, 2); why != RefusedForeign {
		t.Fatalf("thief on a held port reported as %v", why)
	}
	h.Close()
	h.Hold() // after Close: nothing
	waitKept(t, d, 1)
	x, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	got := acceptAsync(x)
	dialFrom(t, "127.0.0.5", x.AddrPort(), []byte("N"))
	c := <-got
	if c == nil {
		t.Fatal("the next expectation after a held one did not pair")
	}
	defer c.Close()
	if tag := readTag(t, c); tag != "N" {
		t.Fatalf("paired %q, want N", tag)
	}
	if n := r.count(); n != 2 {
		t.Fatalf("the held expectation reported %d refusals, want 2", n)
	}
}
