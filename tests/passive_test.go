package tests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/internal/logbuf"
)

// TestPassiveRoundTrip uploads, lists and downloads 0 B, 1 B and 50 MiB
// through the VIP in EPSV and in PASV (following the 227 address), and
// checks that the bytes crossed algd.
func TestPassiveRoundTrip(t *testing.T) {
	servers := startFTPServers(t, 2)
	px := startProxy(t, servers, proxyOpts{})
	sizes := []int{0, 1, 50 << 20}
	if testing.Short() {
		sizes = []int{0, 1, 1 << 20}
	}
	var total int64
	for _, mode := range []struct {
		name  string
		epsv  bool
		reply string // what the client must have been told
	}{
		{"EPSV", true, "229 Entering Extended Passive Mode (|||61"},
		{"PASV", false, "227 Entering Passive Mode (127,0,0,10,"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var dialog logbuf.Buffer
			c, err := dialFTP(t, px.addr, mode.epsv, &dialog)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Quit()
			for _, n := range sizes {
				name := fmt.Sprintf("%s-%d.bin", mode.name, n)
				if err := roundTrip(c, name, randomBytes(n)); err != nil {
					t.Fatal(err)
				}
				total += int64(n)
			}
			if !strings.Contains(dialog.String(), mode.reply) {
				t.Fatalf("the client was never told %q; dialogue:\n%s", mode.reply, dialog.String())
			}
		})
	}
	if !eventually(func() bool { return px.counter(t, "bytes_up") >= total && px.counter(t, "bytes_down") >= total }) {
		t.Fatalf("algd counted %d bytes up and %d down, want at least %d each", px.counter(t, "bytes_up"), px.counter(t, "bytes_down"), total)
	}
	if theft, bad := px.counter(t, "theft"), px.counter(t, "bad_backend_replies"); theft != 0 || bad != 0 {
		t.Fatalf("unexpected refusals: theft %d, bad replies %d", theft, bad)
	}
}

// TestAnnouncedAddress reads the raw 227 and 229 replies: the VIP and a
// port of the configured range, never the realserver's; a connection to
// that port from another address than the control peer is refused and
// counted, and the real client still gets its data.
func TestAnnouncedAddress(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61200, last: 61209})
	s := rawLogin(t, clientIP, px.addr)
	r := s.cmd("PASV")
	ap, err := algftp.ParsePASV(r)
	if err != nil || !strings.HasPrefix(r, "227 ") {
		t.Fatalf("PASV reply %q: %v", r, err)
	}
	if ap.Addr() != netip.MustParseAddr(vipIP) || ap.Port() < 61200 || ap.Port() > 61209 {
		t.Fatalf("227 announced %s, want %s on 61200-61209", ap, vipIP)
	}
	// A thief from another address is refused.
	td := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}, Timeout: 5 * time.Second}
	if tc, err := td.Dial("tcp", ap.String()); err == nil {
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := tc.Read(make([]byte, 1)); err == nil {
			t.Fatal("the thief got data")
		}
		tc.Close()
	}
	// The client itself gets the listing.
	cd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}, Timeout: 5 * time.Second}
	dc, err := cd.Dial("tcp", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	if r := s.cmd("LIST"); !strings.HasPrefix(r, "150") && !strings.HasPrefix(r, "125") {
		t.Fatalf("LIST: %q", r)
	}
	dc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(dc); err != nil {
		t.Fatal(err)
	}
	if r := s.reply(); !strings.HasPrefix(r, "226") {
		t.Fatalf("after LIST: %q", r)
	}
	if n := px.counter(t, "theft"); n != 1 {
		t.Fatalf("theft counter = %d, want 1", n)
	}
	r = s.cmd("EPSV")
	port, err := algftp.ParseEPSV(r)
	if err != nil || !strings.HasPrefix(r, "229 ") || port < 61200 || port > 61209 {
		t.Fatalf("EPSV reply %q (%v), want a port in 61200-61209", r, err)
	}
	if r := s.cmd("EPSV 2"); !strings.HasPrefix(r, "522") {
		t.Fatalf("EPSV 2 on an IPv4 VIP: %q, want 522", r)
	}
	if r := s.cmd("QUIT"); !strings.HasPrefix(r, "221") {
		t.Fatalf("QUIT: %q", r)
	}
}

// TestNarrowRange runs 20 concurrent clients through a 2-port passive
// range: exhaustion is answered 425, the clients retry, and every file
// arrives intact.
func TestNarrowRange(t *testing.T) {
	servers := startFTPServers(t, 2)
	px := startProxy(t, servers, proxyOpts{first: 61300, last: 61301})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialFTP(t, px.addr, i%2 == 0, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Quit()
			data := randomBytes(64<<10 + i)
			name := fmt.Sprintf("narrow-%d.bin", i)
			deadline := time.Now().Add(2 * time.Minute)
			for {
				err := roundTrip(c, name, data)
				if err == nil {
					return
				}
				var te *textproto.Error
				if !errors.As(err, &te) || te.Code != 425 || time.Now().After(deadline) {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				time.Sleep(time.Duration(5+i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A port is the transfer's until algd has closed both of its data
	// connections, which may trail the client's QUIT by a moment.
	eventually(func() bool { return px.ports(t, "passive").InUse == 0 })
	if r := px.ports(t, "passive"); r.InUse != 0 || r.Size != 2 {
		t.Fatalf("after the run: %d of %d ports still reserved", r.InUse, r.Size)
	}
}

// TestRealserverKilled kills one of two realservers while clients keep
// starting sessions: sessions after the kill go to the survivor and work.
func TestRealserverKilled(t *testing.T) {
	servers := startFTPServers(t, 2)
	px := startProxy(t, servers, proxyOpts{})
	data := randomBytes(256 << 10)
	for i := range 4 {
		c, err := dialFTP(t, px.addr, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(c, fmt.Sprintf("before-%d", i), data); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	// Kill one realserver in the middle of a long download.
	big := randomBytes(20 << 20)
	c, err := dialFTP(t, px.addr, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("big.bin", strings.NewReader(string(big))); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	r.Read(make([]byte, 1024))
	for _, s := range servers {
		if s.Clients() > 0 {
			s.Close()
			break
		}
	}
	io.Copy(io.Discard, r) // cut short: an error or a short read, but no hang
	r.Close()
	c.Quit()
	for i := range 6 {
		c, err := dialFTP(t, px.addr, i%2 == 0, nil)
		if err != nil {
			t.Fatalf("session %d after the kill: %v", i, err)
		}
		if err := roundTrip(c, fmt.Sprintf("after-%d", i), data); err != nil {
			t.Fatalf("session %d after the kill: %v", i, err)
		}
		c.Quit()
	}
}

// TestNoRealserver answers 421 and closes when no realserver is up.
func TestNoRealserver(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{})
	servers[0].Close()
	s := rawDial(t, clientIP, px.addr)
	if r := s.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("with no realserver: %q, want 421", r)
	}
	s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection left open after 421")
	}
}

// TestSessionCap refuses a client's sessions beyond max_sessions_per_client
// with 421 while its others keep working.
func TestSessionCap(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{perClient: 2})
	var conns []*ftp.ServerConn
	for range 2 {
		c, err := dialFTP(t, px.addr, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	s := rawDial(t, clientIP, px.addr)
	if r := s.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("third session: %q, want 421", r)
	}
	if err := roundTrip(conns[0], "capped.bin", randomBytes(1000)); err != nil {
		t.Fatalf("an admitted session stopped working: %v", err)
	}
	for _, c := range conns {
		c.Quit()
	}
}

// TestIPv6ClientIPv4Realserver serves an IPv6 client (EPSV on [::1]) from
// an IPv4-only pool: algd talks PASV to the realserver and EPSV to the
// client, and refuses PASV, which cannot name an IPv6 address.
func TestIPv6ClientIPv4Realserver(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{vip: "::1", first: 61400, last: 61409})
	var dialog logbuf.Buffer
	c, err := dialFTP(t, px.addr, true, &dialog)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := roundTrip(c, "v6.bin", randomBytes(300<<10)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dialog.String(), "229 Entering Extended Passive Mode (|||614") {
		t.Fatalf("no 229 with a port of the range; dialogue:\n%s", dialog.String())
	}
	s := rawLogin(t, "::1", px.addr)
	if r := s.cmd("PASV"); !strings.HasPrefix(r, "425 ") {
		t.Fatalf("PASV over IPv6: %q, want 425", r)
	}
	if r := s.cmd("EPSV 1"); !strings.HasPrefix(r, "522 ") {
		t.Fatalf("EPSV 1 over IPv6: %q, want 522", r)
	}
}
