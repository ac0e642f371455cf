package tests

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/tests/ftpc"
)

// dialData connects from the loopback address from to ap.
func dialData(t *testing.T, from string, ap netip.AddrPort) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", ap.String())
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// resetOrEOF reports whether c ends (reset or closed) without a byte.
func resetOrEOF(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	return n == 0 && err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestPassivePortsSameAddress is the shared-NAT case: passive ports come
// in no predictable order, and when someone at the client's own address
// connects to the client's passive port first (which IP-only pairing
// cannot tell apart from the client), the client's own connection is
// refused, counted as a second connection and its address entered in the
// table of refusals: the theft is seen, not prevented (SECURITY.md).
func TestPassivePortsSameAddress(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61700, last: 61799})
	s := rawLogin(t, clientIP, px.addr)
	var ports []uint16
	for range 20 {
		r := s.cmd("PASV")
		ap, err := algftp.ParsePASV(r)
		if err != nil || ap.Port() < 61700 || ap.Port() > 61799 {
			t.Fatalf("PASV reply %q: %v", r, err)
		}
		ports = append(ports, ap.Port())
	}
	ascending, successors := true, 0
	for i := 1; i < len(ports); i++ {
		if ports[i] <= ports[i-1] {
			ascending = false
		}
		if ports[i] == ports[i-1]+1 {
			successors++
		}
	}
	// 20 uniform picks of 100 are strictly ascending once in 20! (1e-18).
	if ascending || successors > 5 {
		t.Fatalf("passive ports came in a predictable order: %v", ports)
	}

	victim := netip.AddrPortFrom(netip.MustParseAddr(vipIP), ports[len(ports)-1])
	thief, err := dialData(t, clientIP, victim)
	if err != nil {
		t.Fatalf("the neighbour's connect: %v", err)
	}
	own, err := dialData(t, clientIP, victim)
	if err == nil && !resetOrEOF(own) {
		t.Fatal("the second connection to a paired port was not refused")
	}
	if !eventually(func() bool { return px.counter(t, "data_second_connection") == 1 }) {
		t.Fatalf("second connections counted %d, want 1", px.counter(t, "data_second_connection"))
	}
	if n := px.counter(t, "theft"); n != 0 {
		t.Fatalf("theft counted %d for connections from the control peer's address", n)
	}
	if o := px.refusals(t, clientIP); o.Second != 1 {
		t.Fatalf("refusals table for %s: %+v", clientIP, o)
	}
	if r := s.cmd("LIST"); !strings.HasPrefix(r, "150") && !strings.HasPrefix(r, "125") {
		t.Fatalf("LIST: %q", r)
	}
	thief.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, thief) // the listing went to whoever came first
	thief.Close()
	if r := s.reply(); !strings.HasPrefix(r, "226") {
		t.Fatalf("after LIST: %q", r)
	}
	if !eventually(func() bool { return px.ports(t, "passive").InUse == 0 }) {
		t.Fatal("the passive port was not released after the transfer")
	}
}

// TestFTPSReuseBindsDataToSession: with require_reuse, a neighbour at the
// client's address who connects to the client's passive port first gets
// no byte, even resuming a TLS session of its own login to algd (tickets
// are sealed per control session); the refusal is counted. The client's
// transfer fails: denial of service, not theft.
func TestFTPSReuseBindsDataToSession(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61820, last: 61829}, func(s *conf.TLS) {
		s.RequireReuse = true
	})
	secret := randomBytes(200000)

	// The neighbour's own FTPS login: its data connections resume its
	// session, so it holds a ticket algd issued.
	thiefCache := tls.NewLRUClientSessionCache(8)
	tc, err := dialTLSWith(t, px.addr, false, true, tls12(roots, thiefCache))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Quit()
	if err := roundTrip(tc, "secret.bin", secret); err != nil {
		t.Fatalf("the neighbour's own FTPS transfers: %v", err)
	}

	// The client: AUTH TLS, PROT P, PASV, then RETR before connecting.
	s := rawDial(t, clientIP, px.addr)
	if r := s.reply(); !strings.HasPrefix(r, "220") {
		t.Fatalf("banner %q", r)
	}
	if r := s.cmd("AUTH TLS"); !strings.HasPrefix(r, "234") {
		t.Fatalf("AUTH TLS: %q", r)
	}
	ctl := tls.Client(s.c, tls12(roots, tls.NewLRUClientSessionCache(8)))
	if err := ctl.Handshake(); err != nil {
		t.Fatal(err)
	}
	s.c = ctl
	s.cmd("USER demo")
	for _, c := range []string{"PASS demo", "PBSZ 0", "PROT P", "TYPE I"} {
		if r := s.cmd(c); !strings.HasPrefix(r, "2") {
			t.Fatalf("%s: %q", c, r)
		}
	}
	ap, err := algftp.ParsePASV(s.cmd("PASV"))
	if err != nil {
		t.Fatal(err)
	}
	before := px.counter(t, "tls_reuse_refused")
	raw, err := dialData(t, clientIP, ap)
	if err != nil {
		t.Fatal(err)
	}
	thief := tls.Client(raw, tls12(roots, thiefCache))
	if _, err := s.c.Write([]byte("RETR secret.bin\r\n")); err != nil {
		t.Fatal(err)
	}
	thief.SetDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(thief)
	if len(got) > 0 {
		t.Fatalf("the neighbour got %d bytes of the client's file", len(got))
	}
	if thief.ConnectionState().DidResume {
		t.Fatal("the neighbour resumed a session on the client's data port")
	}
	if !eventually(func() bool { return px.counter(t, "tls_reuse_refused") == before+1 }) {
		t.Fatalf("reuse refusals %d, want %d", px.counter(t, "tls_reuse_refused"), before+1)
	}
	// The port was the failed transfer's: the client's own connection,
	// now, finds it closed (or, if it raced the refusal, refused as a
	// second connection). Nobody got the file. (What the client is told
	// about the failed transfer is the realserver's reply.)
	if own, err := dialData(t, clientIP, ap); err == nil && !resetOrEOF(own) {
		t.Fatal("the client's connection after the neighbour's was not refused")
	}
}

// TestBackendActiveWindow is backend_data_mode "active" under attack: a
// connection from the realserver's address to a session's backend port
// before that session's transfer command (what a disguised PORT from
// another session would make the realserver do) is refused and counted,
// and the session's own transfer still carries its own file, byte-exact.
func TestBackendActiveWindow(t *testing.T) {
	srv := demo.StartTest(t, demo.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	px := startProxyAddrs(t, []netip.AddrPort{srv.Addr()},
		proxyOpts{first: 61600, last: 61609, backendPorts: [2]uint16{61920, 61929}})
	data := randomBytes(1<<20 + 7)
	c := dialC(t, px.addr)
	if _, err := c.Stor(ftpc.EPSV, "victim.bin", data); err != nil { // passive: no backend port
		t.Fatalf("upload: %v", err)
	}

	s := rawLogin(t, clientIP, px.addr)
	s.cmd("TYPE I")
	ln, err := net.Listen("tcp", clientIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	arg, err := algftp.FormatPORT(alg.AddrPortOf(ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.cmd("PORT " + arg); !strings.HasPrefix(r, "200") {
		t.Fatalf("PORT: %q", r)
	}
	// Everything in the backend range, from the realserver's address:
	// only the session's port listens, and it resets.
	for p := uint16(61920); p <= 61929; p++ {
		if c, err := dialData(t, "127.0.0.1", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p)); err == nil {
			if !resetOrEOF(c) {
				t.Fatalf("backend port %d kept a connection made outside the transfer", p)
			}
		}
	}
	if !eventually(func() bool { return px.counter(t, "data_outside_window") == 1 }) {
		t.Fatalf("outside-window refusals %d, want 1", px.counter(t, "data_outside_window"))
	}
	if r := s.cmd("RETR victim.bin"); !strings.HasPrefix(r, "150") && !strings.HasPrefix(r, "125") {
		t.Fatalf("RETR: %q", r)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	dc, err := ln.Accept()
	if err != nil {
		t.Fatalf("algd never connected for RETR (%v); the control connection says %q", err, s.reply())
	}
	dc.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(dc)
	dc.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("RETR carried %d bytes (%v), sha256 differs from the %d uploaded", len(got), err, len(data))
	}
	if r := s.reply(); !strings.HasPrefix(r, "226") {
		t.Fatalf("after RETR: %q", r)
	}
	if n := px.counter(t, "theft"); n != 0 {
		t.Fatalf("theft %d", n)
	}
	if o := px.refusals(t, "127.0.0.1"); o.OutsideWindow != 1 {
		t.Fatalf("refusals table for the realserver's address: %+v", o)
	}
	if !eventually(func() bool { return px.ports(t, "backend").InUse == 0 }) {
		t.Fatal("backend port not released")
	}
}
