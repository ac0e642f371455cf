package tests

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/tests/fakeftpd"
	"github.com/algd/algd/tests/ftpc"
)

// liarEnd is how a liarFTPD data connection ended: nil for a clean end of
// file (uploads) or a complete write (downloads), else the error.
type liarEnd struct {
	verb string
	n    int64
	err  error
}

// liarFTPD is a realserver that answers every transfer 226, whatever
// happened on its data connection, and reports on ends how each data
// connection ended: the worst case for algd, which must not pass that 226
// on when the data did not go through, and must reset the realserver's
// side so that an honest ftpd would fail the transfer too. Transfers:
// STOR/APPE read to EOF; "RETR idle" reads without writing until the
// connection ends; "RETR trickle" writes 1 KiB every 100 ms for 3 s;
// other RETR and LIST write 64 KiB; "RETR mute" and "STOR mute" get no
// final reply.
func liarFTPD(t *testing.T, ip string) (netip.AddrPort, <-chan liarEnd) {
	t.Helper()
	ends := make(chan liarEnd, 64)
	srv := fakeftpd.Start(t, ip, "220 liar\r\n", func(s *fakeftpd.Session, verb, arg, _ string) bool {
		switch verb {
		case "USER":
			s.Say("331 ok")
		case "PASS":
			s.Say("230 ok")
		case "TYPE", "NOOP":
			s.Say("200 ok")
		case "QUIT":
			s.Say("221 bye")
			return false
		case "PASV", "EPSV":
			if s.Passive(verb) != nil {
				s.Say("425 no port")
			}
		case "RETR", "LIST", "STOR", "APPE":
			if s.Data == nil {
				s.Say("425 use PASV first")
				return true
			}
			s.Say("150 ok")
			dc, err := s.AcceptData(20 * time.Second)
			if err != nil {
				ends <- liarEnd{verb, 0, err}
				s.Say("425 no data connection")
				return true
			}
			ends <- liarTransfer(dc, verb, arg)
			dc.Close()
			if arg != "mute" { // "mute": as pure-ftpd after a reset RETR, no final reply
				s.Say("226 liar says: transfer complete")
			}
		default:
			s.Say("502 not here")
		}
		return true
	})
	return srv.Addr, ends
}

// liarTransfer moves one transfer's data on dc and says how it ended.
func liarTransfer(dc net.Conn, verb, arg string) liarEnd {
	dc.SetDeadline(time.Now().Add(30 * time.Second))
	switch {
	case verb == "STOR" || verb == "APPE" || arg == "idle":
		n, err := io.Copy(io.Discard, dc)
		return liarEnd{verb, n, err}
	case arg == "trickle":
		var n int64
		for range 30 {
			m, err := dc.Write(make([]byte, 1024))
			n += int64(m)
			if err != nil {
				return liarEnd{verb, n, err}
			}
			time.Sleep(100 * time.Millisecond)
		}
		return liarEnd{verb, n, nil}
	}
	m, err := dc.Write(make([]byte, 64<<10))
	return liarEnd{verb, int64(m), err}
}

// nextEnd waits for the liar's report on its next data connection.
func nextEnd(t *testing.T, ends <-chan liarEnd) liarEnd {
	t.Helper()
	select {
	case e := <-ends:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("the realserver reported no data connection")
		return liarEnd{}
	}
}

var epsvPort = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// openData sets up a data connection the test drives by hand: EPSV and a
// connect to the announced port, or PORT to a listener whose connection
// accept returns. For PORT, accept must be called after the transfer
// command's 150.
func openData(t *testing.T, c *ftpc.Client, mode ftpc.Mode) (accept func() *net.TCPConn) {
	t.Helper()
	if mode == ftpc.EPSV {
		r, err := c.Expect("EPSV", 229)
		if err != nil {
			t.Fatal(err)
		}
		m := epsvPort.FindStringSubmatch(r.String())
		port, _ := strconv.Atoi(m[1])
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}}
		dc, err := d.Dial("tcp", netip.AddrPortFrom(c.RemoteAddr().Addr(), uint16(port)).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dc.Close() })
		return func() *net.TCPConn { return dc.(*net.TCPConn) }
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(clientIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if _, err := c.SendPORT(netip.MustParseAddrPort(ln.Addr().String())); err != nil {
		t.Fatal(err)
	}
	return func() *net.TCPConn {
		ln.SetDeadline(time.Now().Add(10 * time.Second))
		dc, err := ln.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dc.Close() })
		return dc
	}
}

// expectFinal reads the transfer's final reply: it must have code want.
func expectFinal(t *testing.T, c *ftpc.Client, what string, want int) {
	t.Helper()
	r, err := c.ReadReply()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if r.Code != want {
		t.Fatalf("%s: final reply %q, want %d", what, r.String(), want)
	}
}

// TestFailedActiveConnect: the client's PORT/EPRT listener is gone when
// the transfer comes. For RETR, STOR, APPE and LIST the client hears 425
// in place of the 150 (as from an ftpd that cannot connect; classic
// clients that read 150 wait in accept()), never 226; the realserver's own
// replies to the transfer never reach the client (NOOP is answered next);
// no file is reported stored and the appended file is unchanged.
func TestFailedActiveConnect(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61950, last: 61959})
	c := dialC(t, px.addr)
	have := randomBytes(100000)
	if _, err := c.Stor(ftpc.EPSV, "have", have); err != nil {
		t.Fatal(err)
	}
	root := servers[0].Root()
	n := 0
	for _, mode := range []ftpc.Mode{ftpc.PORT, ftpc.EPRT} {
		for _, cmd := range []string{"RETR have", "STOR new-" + mode.String(), "APPE have", "LIST"} {
			ln, err := net.Listen("tcp", clientIP+":0")
			if err != nil {
				t.Fatal(err)
			}
			ap := netip.MustParseAddrPort(ln.Addr().String())
			ln.Close() // nobody listens any more: connection refused
			if mode == ftpc.PORT {
				_, err = c.SendPORT(ap)
			} else {
				_, err = c.SendEPRT(ap)
			}
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Cmd(cmd)
			if err != nil || r.Code != 425 {
				t.Fatalf("%s %s: %q, %v; want 425", mode, cmd, r.String(), err)
			}
			n++
			if r, err := c.Expect("NOOP", 200); err != nil {
				t.Fatalf("%s %s: after the 425 the next reply is %q (%v), want NOOP's 200", mode, cmd, r.String(), err)
			}
		}
		// ftpserverlib creates the file before its data connection fails;
		// it must hold nothing, and the client was told 425, not 226.
		if st, err := os.Stat(filepath.Join(root, "new-"+mode.String())); err == nil && st.Size() != 0 {
			t.Fatalf("%s: the realserver stored %d bytes for a transfer that never had a data connection", mode, st.Size())
		}
	}
	got, err := os.ReadFile(filepath.Join(root, "have"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(have) {
		t.Fatalf("the file APPE failed on changed: %d bytes, %v", len(got), err)
	}
	if v := px.counter(t, "transfers_failed.connect"); v != int64(n) {
		t.Fatalf("failed transfers (connect) counted %d, want %d", v, n)
	}
}

// TestFailedUploadReset: the client resets its data connection in the
// middle of an upload, in passive and active mode. The realserver (which
// would say 226 to anything) sees its data connection reset, not an end
// of file, and the client hears 426.
func TestFailedUploadReset(t *testing.T) {
	liar, ends := liarFTPD(t, "127.0.0.33")
	px := startProxyAddrs(t, []netip.AddrPort{liar}, proxyOpts{first: 61960, last: 61969, health: conf.Health{Kind: "none"}})
	c := dialC(t, px.addr)
	for _, mode := range []ftpc.Mode{ftpc.EPSV, ftpc.PORT} {
		accept := openData(t, c, mode)
		if _, err := c.Expect("STOR cut-"+mode.String(), 150); err != nil {
			t.Fatal(err)
		}
		dc := accept()
		if _, err := dc.Write(randomBytes(256 << 10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		dc.SetLinger(0)
		dc.Close()
		e := nextEnd(t, ends)
		if e.err == nil {
			t.Fatalf("%s: the realserver saw a clean end of file after %d bytes: a cut upload looks complete", mode, e.n)
		}
		expectFinal(t, c, mode.String()+" STOR reset by the client", 426)
	}
	if v := px.counter(t, "transfers_failed.reset"); v != 2 {
		t.Fatalf("failed transfers (reset) counted %d, want 2", v)
	}
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}
}

// TestSkippedFinalReply: a realserver that never sends a transfer's final
// reply (pure-ftpd after a reset RETR) does not put the session out of
// step: the next command's reply is recognised as not a transfer's, the
// transfer is answered 426 (or was answered 425 already, active mode with
// the client unreachable) and the next command gets its own reply.
func TestSkippedFinalReply(t *testing.T) {
	liar, ends := liarFTPD(t, "127.0.0.37")
	px := startProxyAddrs(t, []netip.AddrPort{liar}, proxyOpts{first: 61940, last: 61949, health: conf.Health{Kind: "none"}})
	c := dialC(t, px.addr)
	accept := openData(t, c, ftpc.EPSV)
	if _, err := c.Expect("RETR mute", 150); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, accept())
	nextEnd(t, ends)
	if _, err := c.Expect("NOOP", 426); err != nil {
		t.Fatalf("the transfer without a final reply: %v", err)
	}
	if _, err := c.ReadReply(); err != nil {
		t.Fatalf("NOOP's own reply: %v", err)
	}
	ln, err := net.Listen("tcp", clientIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := c.SendPORT(netip.MustParseAddrPort(ln.Addr().String())); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("RETR mute", 425); err != nil {
		t.Fatal(err)
	}
	nextEnd(t, ends)
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatalf("after an answered transfer without a final reply: %v", err)
	}
	if _, err := c.Expect("TYPE I", 200); err != nil {
		t.Fatal(err)
	}
	// The client resets the data connection of a transfer the
	// realserver will never answer: algd answers it after a grace period.
	accept = openData(t, c, ftpc.EPSV)
	if _, err := c.Expect("STOR mute", 150); err != nil {
		t.Fatal(err)
	}
	dc := accept()
	dc.Write(make([]byte, 64<<10))
	dc.SetLinger(0)
	dc.Close()
	nextEnd(t, ends)
	expectFinal(t, c, "a reset transfer the realserver never answers", 426)
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}
}

// TestDataIdleTimeout: nothing moves on a download's data connection for
// data_idle_timeout; algd cuts it (the realserver sees a reset) and the
// client hears 426, not the realserver's 226.
func TestDataIdleTimeout(t *testing.T) {
	liar, ends := liarFTPD(t, "127.0.0.34")
	px := startProxyAddrs(t, []netip.AddrPort{liar}, proxyOpts{first: 61970, last: 61979, health: conf.Health{Kind: "none"},
		dataIdle: 400 * time.Millisecond})
	c := dialC(t, px.addr)
	for _, mode := range []ftpc.Mode{ftpc.EPSV, ftpc.PORT} {
		accept := openData(t, c, mode)
		if _, err := c.Expect("RETR idle", 150); err != nil {
			t.Fatal(err)
		}
		dc := accept()
		dc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := io.Copy(io.Discard, dc); n != 0 || isTimeout(err) {
			t.Fatalf("%s: data connection gave %d bytes, %v; want it cut", mode, n, err)
		}
		if e := nextEnd(t, ends); e.err == nil {
			t.Fatalf("%s: the realserver's data connection ended cleanly", mode)
		}
		expectFinal(t, c, mode.String()+" idle RETR", 426)
	}
	if v := px.counter(t, "transfers_failed.idle"); v != 2 {
		t.Fatalf("failed transfers (idle) counted %d, want 2", v)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestControlIdleCountsData: with control_idle_timeout 1s, a download
// that keeps moving for 3 s ends with 226 (data counts as activity), while
// a session whose data connection is open but idle (PASV, connect,
// nothing else) is closed with 421 after about the timeout.
func TestControlIdleCountsData(t *testing.T) {
	liar, ends := liarFTPD(t, "127.0.0.35")
	px := startProxyAddrs(t, []netip.AddrPort{liar}, proxyOpts{first: 61980, last: 61989, health: conf.Health{Kind: "none"},
		idle: time.Second})
	c := dialC(t, px.addr)
	accept := openData(t, c, ftpc.EPSV)
	if _, err := c.Expect("RETR trickle", 150); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(accept())
	if err != nil || len(got) != 30*1024 {
		t.Fatalf("trickled download: %d bytes, %v", len(got), err)
	}
	if e := nextEnd(t, ends); e.err != nil {
		t.Fatalf("trickle: %v", e.err)
	}
	expectFinal(t, c, "3 s download with control_idle_timeout 1s", 226)

	c2 := dialC(t, px.addr)
	openData(t, c2, ftpc.EPSV)
	start := time.Now()
	r, err := c2.ReadReply()
	if err != nil || r.Code != 421 {
		t.Fatalf("idle control and data: %q, %v; want 421", r.String(), err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("421 after %v", d)
	}
}

// TestPROTPSilentData: under PROT P the client connects its data
// connection but never starts TLS on it. After handshake_timeout the
// transfer is answered 426, never the realserver's 226, and the
// realserver's side is reset (an upload is not taken as complete).
func TestPROTPSilentData(t *testing.T) {
	cert, roots := testCert(t)
	liar, ends := liarFTPD(t, "127.0.0.36")
	px := startProxyAddrs(t, []netip.AddrPort{liar}, proxyOpts{first: 61990, last: 61999, health: conf.Health{Kind: "none"},
		tls: tlsSettings(t, cert, "plain")})
	s := rawDial(t, clientIP, px.addr)
	s.reply()
	s.startTLS(roots)
	for _, c := range []struct{ cmd, want string }{
		{"PBSZ 0", "200 "}, {"PROT P", "200 "}, {"USER demo", "331 "}, {"PASS demo", "230 "}, {"TYPE I", "200 "},
	} {
		s.expect(c.cmd, c.want)
	}
	var mu sync.Mutex
	for _, cmd := range []string{"RETR x", "STOR y"} {
		r := s.cmd("EPSV")
		m := epsvPort.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("EPSV: %q", r)
		}
		port, _ := strconv.Atoi(m[1])
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}}
		dc, err := d.Dial("tcp", netip.AddrPortFrom(px.addr.Addr(), uint16(port)).String())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		t.Cleanup(func() { dc.Close() }) // silent: no ClientHello
		mu.Unlock()
		if r := s.cmd(cmd); !strings.HasPrefix(r, "150 ") {
			t.Fatalf("%s: %q", cmd, r)
		}
		if r := s.reply(); !strings.HasPrefix(r, "426 ") {
			t.Fatalf("%s over a data connection that never did TLS: %q, want 426", cmd, r)
		}
		if e := nextEnd(t, ends); strings.HasPrefix(cmd, "STOR") && e.err == nil {
			t.Fatalf("%s: the realserver saw a clean end of file", cmd)
		}
	}
	if v := px.counter(t, "transfers_failed.tls"); v != 2 {
		t.Fatalf("failed transfers (tls) counted %d, want 2", v)
	}
	if !bytes.HasPrefix([]byte(s.cmd("NOOP")), []byte("200 ")) {
		t.Fatal("session out of step after the failed transfers")
	}
}
