package alg

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/limits"
)

func TestUDPPortsPairs(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.80")
	tests := []struct {
		name        string
		first, last uint16
		wantPorts   []uint16 // RTP ports in the order handed out
	}{
		{"even start", 63400, 63405, []uint16{63400, 63402, 63404}},
		{"odd start trimmed", 63411, 63416, []uint16{63412, 63414}},
		{"odd size trimmed", 63420, 63424, []uint16{63420, 63422}},
		{"one pair", 63430, 63431, []uint16{63430}},
		{"no whole pair", 63441, 63442, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := NewUDPPorts(tc.first, tc.last)
			if u.Pairs() != len(tc.wantPorts) {
				t.Fatalf("Pairs() = %d, want %d", u.Pairs(), len(tc.wantPorts))
			}
			var got []*UDPPair
			for _, want := range tc.wantPorts {
				p, err := u.Pair(local)
				if err != nil {
					t.Fatalf("Pair: %v", err)
				}
				got = append(got, p)
				if p.Port() != want {
					t.Errorf("port %d, want %d", p.Port(), want)
				}
				for i, c := range p.Conns {
					ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
					if ap.Addr().Unmap() != local || ap.Port() != want+uint16(i) {
						t.Errorf("conn %d bound to %s, want %s:%d", i, ap, local, want+uint16(i))
					}
				}
			}
			if _, err := u.Pair(local); !errors.Is(err, limits.ErrExhausted) {
				t.Fatalf("Pair on a full range: %v, want ErrExhausted", err)
			}
			for _, p := range got {
				p.Close()
				p.Close()
			}
			if in, _, _ := u.Usage(); in != 0 {
				t.Errorf("in use after Close: %d", in)
			}
			if len(tc.wantPorts) > 0 {
				p, err := u.Pair(local)
				if err != nil {
					t.Fatalf("Pair after release: %v", err)
				}
				p.Close()
			}
		})
	}
}

func TestUDPPortsRefusesWildcard(t *testing.T) {
	u := NewUDPPorts(63450, 63459)
	for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		if p, err := u.Pair(a); err == nil {
			p.Close()
			t.Errorf("Pair(%s) bound a wildcard", a)
		}
	}
}

func TestUDPPortsSkipsBusy(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.80")
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 63461)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	u := NewUDPPorts(63460, 63463)
	p, err := u.Pair(local)
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	defer p.Close()
	if p.Port() != 63462 {
		t.Errorf("port %d, want 63462 (63460-63461 busy)", p.Port())
	}
	if u.Busy() != 1 {
		t.Errorf("busy %d, want 1 (the pair 63460-63461 skipped)", u.Busy())
	}
}

// udpPeer is a test endpoint: two sockets standing for a peer's RTP and
// RTCP ports.
type udpPeer [2]*net.UDPConn

func newUDPPeer(t testing.TB, ip string) udpPeer {
	t.Helper()
	var p udpPeer
	for i := range p {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		p[i] = c
	}
	return p
}

func (p udpPeer) addrs() [2]netip.AddrPort {
	var a [2]netip.AddrPort
	for i, c := range p {
		a[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return a
}

func newTestRelay(t testing.TB) (r *UDPRelay, client, backend udpPeer, cp, bp *UDPPair) {
	t.Helper()
	client = newUDPPeer(t, "127.0.0.5")
	backend = newUDPPeer(t, "127.0.0.41")
	var err error
	cp, err = NewUDPPorts(63470, 63471).Pair(netip.MustParseAddr("127.0.0.80"))
	if err != nil {
		t.Fatal(err)
	}
	bp, err = NewUDPPorts(63570, 63571).Pair(netip.MustParseAddr("127.0.0.80"))
	if err != nil {
		t.Fatal(err)
	}
	r = NewUDPRelay(UDPLeg{Pair: cp, Peer: client.addrs()}, UDPLeg{Pair: bp, Peer: backend.addrs()})
	r.Start()
	t.Cleanup(r.Close)
	return r, client, backend, cp, bp
}

func recvFrom(t *testing.T, c *net.UDPConn) (string, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	return string(buf[:n]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

func TestUDPRelay(t *testing.T) {
	r, client, backend, cp, bp := newTestRelay(t)
	stranger := newUDPPeer(t, "127.0.0.6")
	vip := netip.MustParseAddr("127.0.0.80")
	tests := []struct {
		name     string
		from     *net.UDPConn
		to       netip.AddrPort
		recv     *net.UDPConn
		wantFrom netip.AddrPort
	}{
		{"rtp up", client[0], netip.AddrPortFrom(vip, cp.Port()), backend[0], netip.AddrPortFrom(vip, bp.Port())},
		{"rtcp up", client[1], netip.AddrPortFrom(vip, cp.Port()+1), backend[1], netip.AddrPortFrom(vip, bp.Port()+1)},
		{"rtp down", backend[0], netip.AddrPortFrom(vip, bp.Port()), client[0], netip.AddrPortFrom(vip, cp.Port())},
		{"rtcp down", backend[1], netip.AddrPortFrom(vip, bp.Port()+1), client[1], netip.AddrPortFrom(vip, cp.Port()+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := "payload " + tc.name
			if _, err := tc.from.WriteToUDPAddrPort([]byte(msg), tc.to); err != nil {
				t.Fatal(err)
			}
			got, from := recvFrom(t, tc.recv)
			if got != msg || from != tc.wantFrom {
				t.Errorf("got %q from %s, want %q from %s", got, from, msg, tc.wantFrom)
			}
		})
	}
	// Counters move just after the datagram is sent: wait for them.
	waitUntil(func() bool { return r.Stats.UpPackets.Load() >= 2 && r.Stats.DownPackets.Load() >= 2 })
	if up, down := r.Stats.UpPackets.Load(), r.Stats.DownPackets.Load(); up != 2 || down != 2 {
		t.Errorf("up %d down %d packets, want 2 and 2", up, down)
	}

	// Strangers and the right host from the wrong port are dropped; the
	// next good packet still passes and is the one that arrives.
	bad := []struct {
		from *net.UDPConn
		to   netip.AddrPort
	}{
		{stranger[0], netip.AddrPortFrom(vip, cp.Port())},
		{client[1], netip.AddrPortFrom(vip, cp.Port())},
		{stranger[0], netip.AddrPortFrom(vip, bp.Port())},
		{client[0], netip.AddrPortFrom(vip, bp.Port())},
	}
	for _, b := range bad {
		if _, err := b.from.WriteToUDPAddrPort([]byte("theft"), b.to); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client[0].WriteToUDPAddrPort([]byte("good"), netip.AddrPortFrom(vip, cp.Port())); err != nil {
		t.Fatal(err)
	}
	if got, _ := recvFrom(t, backend[0]); got != "good" {
		t.Errorf("after strangers got %q, want %q", got, "good")
	}
	waitUntil(func() bool { return r.Stats.Dropped.Load() >= int64(len(bad)) })
	if d := r.Stats.Dropped.Load(); d != int64(len(bad)) {
		t.Errorf("dropped %d, want %d", d, len(bad))
	}
	if d := r.Stats.DroppedBy[DropSource].Load(); d != int64(len(bad)) {
		t.Errorf("dropped for their source %d, want %d", d, len(bad))
	}
}

// waitUntil polls cond for up to five seconds.
func waitUntil(cond func() bool) {
	for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUDPRelayCloseReleases(t *testing.T) {
	u := NewUDPPorts(63480, 63481)
	vip := netip.MustParseAddr("127.0.0.80")
	for range 3 { // a leaked pair would make the second round fail
		cp, err := u.Pair(vip)
		if err != nil {
			t.Fatal(err)
		}
		bp, err := NewUDPPorts(63580, 63581).Pair(vip)
		if err != nil {
			t.Fatal(err)
		}
		r := NewUDPRelay(UDPLeg{Pair: cp}, UDPLeg{Pair: bp})
		r.Start()
		r.Close()
		r.Close()
	}
}

// BenchmarkUDPRelay measures one direction of the relay: b.N datagrams
// of 1200 bytes from the client, through the relay, read by the backend.
// allocs/op is allocations per relayed packet (the reading and writing
// test sockets allocate nothing per packet).
func BenchmarkUDPRelay(b *testing.B) {
	r, client, backend, cp, _ := newTestRelay(b)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.80"), cp.Port())
	for _, c := range []*net.UDPConn{client[0], backend[0]} {
		c.SetReadBuffer(4 << 20)
		c.SetWriteBuffer(4 << 20)
	}
	done := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		n := 0
		backend[0].SetReadDeadline(time.Now().Add(time.Hour))
		for n < b.N {
			backend[0].SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := backend[0].ReadFromUDPAddrPort(buf); err != nil {
				break
			}
			n++
		}
		done <- n
	}()
	pkt := make([]byte, 1200)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := client[0].WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 { // let the relay keep up: UDP drops what overflows
			for r.Stats.UpPackets.Load()+r.Stats.Dropped.Load() < int64(i+1)-256 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	got := <-done
	b.StopTimer()
	b.ReportMetric(float64(got)/float64(b.N), "delivered/op")
	b.ReportMetric(float64(r.Stats.UpPackets.Load())/b.Elapsed().Seconds(), "pkt/s")
}

// TestUDPRelaySources: a realserver's media from another of its addresses
// passes when that address is in the backend leg's Sources and comes from
// the announced port; anything else is dropped, counted by reason, and
// told to OnDrop once however many datagrams were dropped.
func TestUDPRelaySources(t *testing.T) {
	vip := netip.MustParseAddr("127.0.0.80")
	client := newUDPPeer(t, "127.0.0.5")
	backend := newUDPPeer(t, "127.0.0.41")
	// The realserver's other interface: same ports, another address.
	var other, stranger udpPeer
	for i, ap := range backend.addrs() {
		for _, p := range []struct {
			ip string
			c  **net.UDPConn
		}{{"127.0.0.43", &other[i]}, {"127.0.0.44", &stranger[i]}} {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(p.ip), Port: int(ap.Port())})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			*p.c = c
		}
	}
	elsewhere := newUDPPeer(t, "127.0.0.43") // right address, wrong ports
	cp, err := NewUDPPorts(63472, 63473).Pair(vip)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := NewUDPPorts(63572, 63573).Pair(vip)
	if err != nil {
		t.Fatal(err)
	}
	r := NewUDPRelay(UDPLeg{Pair: cp, Peer: client.addrs()},
		UDPLeg{Pair: bp, Peer: backend.addrs(), Sources: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.43/128")}})
	var mu sync.Mutex
	var told []Drop
	r.OnDrop = func(d Drop) {
		mu.Lock()
		told = append(told, d)
		mu.Unlock()
	}
	r.Start()
	t.Cleanup(r.Close)

	toBack := func(c *net.UDPConn, i int, msg string) {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(vip, bp.Port()+uint16(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		toBack(stranger[i], i, "stranger")
		toBack(elsewhere[i], i, "wrong port")
		toBack(other[i], i, "other interface")
		if got, from := recvFrom(t, client[i]); got != "other interface" || from != netip.AddrPortFrom(vip, cp.Port()+uint16(i)) {
			t.Errorf("socket %d: got %q from %s, want %q from the VIP pair", i, got, from, "other interface")
		}
		toBack(backend[i], i, "control address")
		if got, _ := recvFrom(t, client[i]); got != "control address" {
			t.Errorf("socket %d: got %q, want %q", i, got, "control address")
		}
	}
	waitUntil(func() bool { return r.Stats.Dropped.Load() >= 4 })
	if d, s := r.Stats.Dropped.Load(), r.Stats.DroppedBy[DropSource].Load(); d != 4 || s != 4 {
		t.Errorf("dropped %d (source %d), want 4 and 4", d, s)
	}
	if down := r.Stats.DownPackets.Load(); down != 4 {
		t.Errorf("relayed down %d, want 4", down)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0].Reason != DropSource || told[0].Up || told[0].From.Addr() == backend.addrs()[0].Addr() {
		t.Errorf("OnDrop told %+v, want one DropSource on the backend leg from a stranger", told)
	}
}

func TestUnmapPrefixes(t *testing.T) {
	in := []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120"), netip.MustParsePrefix("::ffff:0:0/80"), netip.MustParsePrefix("10.0.0.0/8")}
	got := unmapPrefixes(in)
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("::ffff:0:0/80"), netip.MustParsePrefix("10.0.0.0/8")}
	if !slices.Equal(got, want) {
		t.Errorf("unmapPrefixes = %v, want %v", got, want)
	}
	if in[0] != netip.MustParsePrefix("::ffff:192.0.2.0/120") {
		t.Errorf("the caller's slice changed: %v", in)
	}
}

// TestUDPRelayDropReasons: an oversized datagram counts as truncated, one
// with nowhere to go (the realserver named no server_port) as
// unsendable; OnDrop hears of each reason once.
func TestUDPRelayDropReasons(t *testing.T) {
	vip := netip.MustParseAddr("127.0.0.80")
	client := newUDPPeer(t, "127.0.0.5")
	cp, err := NewUDPPorts(63474, 63475).Pair(vip)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := NewUDPPorts(63574, 63575).Pair(vip)
	if err != nil {
		t.Fatal(err)
	}
	nowhere := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.41"), 0)
	r := NewUDPRelay(UDPLeg{Pair: cp, Peer: client.addrs()}, UDPLeg{Pair: bp, Peer: [2]netip.AddrPort{nowhere, nowhere}})
	var mu sync.Mutex
	told := map[DropReason]int{}
	r.OnDrop = func(d Drop) {
		mu.Lock()
		told[d.Reason]++
		mu.Unlock()
	}
	r.Start()
	t.Cleanup(r.Close)
	to := netip.AddrPortFrom(vip, cp.Port())
	for _, n := range []int{100, udpSlotSize + 1, 100, udpSlotSize + 50} {
		if _, err := client[0].WriteToUDPAddrPort(make([]byte, n), to); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(func() bool { return r.Stats.Dropped.Load() >= 4 })
	by := func(d DropReason) int64 { return r.Stats.DroppedBy[d].Load() }
	if r.Stats.Dropped.Load() != 4 || by(DropTruncated) != 2 || by(DropUnsendable) != 2 || by(DropSource) != 0 {
		t.Errorf("dropped %d: truncated %d, unsendable %d, source %d; want 4: 2, 2, 0",
			r.Stats.Dropped.Load(), by(DropTruncated), by(DropUnsendable), by(DropSource))
	}
	mu.Lock()
	defer mu.Unlock()
	if told[DropTruncated] != 1 || told[DropUnsendable] != 1 || len(told) != 2 {
		t.Errorf("OnDrop told %v, want truncated and unsendable once each", told)
	}
	for r := range NumDropReasons {
		if r.String() == "unknown" {
			t.Errorf("reason %d has no label", r)
		}
	}
}

// TestUDPPortsSetRange moves the range while pairs are held: they stay
// open and reserved, new pairs come from the new range only, and a
// released pair of the old range is not handed out again; a range with
// no whole pair refuses, and moving back makes the old pairs usable.
func TestUDPPortsSetRange(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.80")
	u := NewUDPPorts(63460, 63463) // pairs 63460, 63462
	a, err := u.Pair(local)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.Pair(local)
	if err != nil {
		t.Fatal(err)
	}
	u.SetRange(63471, 63475) // trimmed: pairs 63472, 63474
	if u.Pairs() != 2 {
		t.Errorf("Pairs() = %d after SetRange, want 2", u.Pairs())
	}
	if in, size, _ := u.Usage(); in != 2 || size != 2 {
		t.Errorf("Usage after SetRange: %d in use of %d, want 2 of 2", in, size)
	}
	// The held pairs' sockets still work.
	for _, p := range []*UDPPair{a, b} {
		if _, err := p.Conns[0].WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(local, p.Port()+1)); err != nil {
			t.Errorf("pair %d after SetRange: %v", p.Port(), err)
		}
		buf := make([]byte, 8)
		p.Conns[1].SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := p.Conns[1].ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "x" {
			t.Errorf("pair %d after SetRange: read %q, %v", p.Port(), buf[:n], err)
		}
	}
	a.Close()
	var got []uint16
	var held []*UDPPair
	for {
		p, err := u.Pair(local)
		if errors.Is(err, limits.ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
		got = append(got, p.Port())
	}
	if want := []uint16{63472, 63474}; !slices.Equal(got, want) {
		t.Errorf("pairs after SetRange: %v, want %v", got, want)
	}
	if in, _, _ := u.Usage(); in != 3 {
		t.Errorf("in use: %d, want 3 (one of the old range, two of the new)", in)
	}
	b.Close()
	for _, p := range held {
		p.Close()
	}
	if in, _, _ := u.Usage(); in != 0 {
		t.Errorf("in use after Close: %d", in)
	}

	u.SetRange(63481, 63482) // no whole pair
	if p, err := u.Pair(local); !errors.Is(err, limits.ErrExhausted) {
		if err == nil {
			p.Close()
		}
		t.Errorf("Pair on a range with no pair: %v, want ErrExhausted", err)
	}
	u.SetRange(63460, 63461)
	p, err := u.Pair(local)
	if err != nil || p.Port() != 63460 {
		t.Fatalf("Pair after moving back: %v, port %d, want 63460", err, p.Port())
	}
	p.Close()
}
