package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/limits"
)

// slowFront listens on the address of backend (another port) and relays
// every connection to it, holding back what the backend says for
// delay(n) on the n-th connection (from 0): a realserver slow to greet,
// as vsftpd is under load. A negative delay resets the connection at
// once instead, as a busy ftpd does. Passive replies still name the
// backend, whose address the front shares, so data connections work.
func slowFront(t *testing.T, backend netip.AddrPort, delay func(n int) time.Duration) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(backend.Addr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	var n atomic.Int64
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d := delay(int(n.Add(1) - 1))
			if d < 0 {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				continue
			}
			wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend.String())
				if err != nil {
					return
				}
				defer b.Close()
				stop := context.AfterFunc(t.Context(), func() { c.Close(); b.Close() })
				defer stop()
				select {
				case <-time.After(d):
				case <-done:
					return
				}
				go func() {
					io.Copy(b, c)
					b.(*net.TCPConn).CloseWrite()
				}()
				io.Copy(c, b)
			})
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// directChecker health-checks a fixed address (the realserver behind a
// slow front) with a banner check, whatever address it is asked about:
// the realserver's health, not what its sessions see.
type directChecker struct{ addr netip.AddrPort }

func (d directChecker) Check(ctx context.Context, _ netip.AddrPort) error {
	return (&algftp.BannerChecker{}).Check(ctx, d.addr)
}

// TestSlowGreetingServed: the only realserver of a pool greets later than
// the connect timeout (a session's patience while there is another
// member to try) but within the control idle timeout; every client of a
// burst is served, the realserver is not marked down, and no session
// counts as a failure against it.
func TestSlowGreetingServed(t *testing.T) {
	srv := startFTPServers(t, 1)[0]
	front := slowFront(t, srv.Addr(), func(int) time.Duration { return 400 * time.Millisecond })
	px := startProxyAddrs(t, []netip.AddrPort{front}, proxyOpts{first: 61760, last: 61769,
		connectTimeout: 200 * time.Millisecond, idle: time.Minute, checker: directChecker{srv.Addr()},
		health: conf.Health{Kind: "ftp", Interval: conf.Duration{Duration: 100 * time.Millisecond},
			Timeout: conf.Duration{Duration: 90 * time.Millisecond}, Rise: 1, Fall: 1}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c, err := dialFTP(t, px.addr, true, nil)
			if err != nil {
				t.Errorf("session %d: %v", i, err)
				return
			}
			defer c.Quit()
			if err := roundTrip(c, fmt.Sprintf("slow-%d", i), randomBytes(4096)); err != nil {
				t.Errorf("session %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	rs := px.members(t)[0]
	if !rs.Up || rs.SessionFailures != 0 {
		t.Errorf("slow realserver: up %v, session failures %d; want up, 0", rs.Up, rs.SessionFailures)
	}
}

// TestGreetingTimeoutKeepsRealserver: the only realserver of a pool
// sometimes does not greet at all within the time it gets (the control
// idle timeout, for the last member). Those sessions are answered 421
// after waiting; the realserver stays in the pool (its health
// check passes, fall is 1) and the sessions between them are served. When
// session failures counted toward fall, the first timeout took it out and
// every later client got an instant 421 until the next check.
func TestGreetingTimeoutKeepsRealserver(t *testing.T) {
	srv := startFTPServers(t, 1)[0]
	front := slowFront(t, srv.Addr(), func(n int) time.Duration {
		if n%2 == 0 {
			return 4 * time.Second // beyond the connect timeout
		}
		return 0
	})
	px := startProxyAddrs(t, []netip.AddrPort{front}, proxyOpts{first: 61700, last: 61709,
		connectTimeout: 500 * time.Millisecond, idle: 2 * time.Second, checker: directChecker{srv.Addr()},
		// One check at the start, then none for the test's life: only the
		// sessions could change the realserver's state.
		health: conf.Health{Kind: "ftp", Interval: conf.Duration{Duration: time.Hour},
			Timeout: conf.Duration{Duration: time.Second}, Rise: 1, Fall: 1}})
	for i := range 6 {
		if i%2 == 0 {
			s := rawDial(t, clientIP, px.addr)
			if r := s.reply(); !strings.HasPrefix(r, "421 ") || !strings.Contains(r, "no server reachable") {
				t.Fatalf("session %d (greeting too slow): %q, want 421 no server reachable", i, r)
			}
			if !px.members(t)[0].Up {
				t.Fatalf("session %d: a greeting timeout took the realserver down", i)
			}
			continue
		}
		c, err := dialFTP(t, px.addr, true, nil)
		if err != nil {
			t.Fatalf("session %d after a greeting timeout: %v", i, err)
		}
		if err := roundTrip(c, fmt.Sprintf("between-%d", i), randomBytes(2048)); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		c.Quit()
	}
	if rs := px.members(t)[0]; !rs.Up || rs.SessionFailures != 3 || rs.Suspect {
		t.Errorf("realserver: up %v, session failures %d, suspect %v; want up, 3, not suspect (the last session was served)",
			rs.Up, rs.SessionFailures, rs.Suspect)
	}
}

// TestBusyRealserverRetried: the only realserver resets its first
// connections (as a busy ftpd does); the session tries it again after a
// pause, within its connect time, and is served instead of answered 421.
func TestBusyRealserverRetried(t *testing.T) {
	srv := startFTPServers(t, 1)[0]
	front := slowFront(t, srv.Addr(), func(n int) time.Duration {
		if n < 3 {
			return -1
		}
		return 0
	})
	px := startProxyAddrs(t, []netip.AddrPort{front}, proxyOpts{first: 61730, last: 61739,
		connectTimeout: 10 * time.Second, checker: directChecker{srv.Addr()},
		health: conf.Health{Kind: "ftp", Interval: conf.Duration{Duration: time.Hour},
			Timeout: conf.Duration{Duration: time.Second}, Rise: 1, Fall: 1}})
	c, err := dialFTP(t, px.addr, true, nil)
	if err != nil {
		t.Fatalf("session through a realserver that reset its first 3 connections: %v", err)
	}
	defer c.Quit()
	if err := roundTrip(c, "busy", randomBytes(2048)); err != nil {
		t.Fatal(err)
	}
	rs := px.members(t)[0]
	if !rs.Up || rs.SessionFailures != 3 || rs.Suspect {
		t.Errorf("realserver: up %v, session failures %d, suspect %v; want up, 3, not suspect", rs.Up, rs.SessionFailures, rs.Suspect)
	}
}

// TestRefusedEverywhere: when no member accepts (connection refused on
// each), the client still gets 421 "no server reachable" at once, after
// one try of each member.
func TestRefusedEverywhere(t *testing.T) {
	var addrs []netip.AddrPort
	for _, ip := range []string{"127.0.0.35", "127.0.0.36"} {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, netip.MustParseAddrPort(ln.Addr().String()))
		ln.Close() // nothing listens there now: connection refused
	}
	px := startProxyAddrs(t, addrs, proxyOpts{first: 61710, last: 61719, health: conf.Health{Kind: "none"}})
	for i := range 3 {
		s := rawDial(t, clientIP, px.addr)
		if r := s.reply(); !strings.HasPrefix(r, "421 ") || !strings.Contains(r, "no server reachable") {
			t.Fatalf("session %d: %q, want 421 no server reachable", i, r)
		}
	}
	for _, rs := range px.members(t) {
		if rs.SessionFailures != 3 {
			t.Errorf("%v: %d session failures, want 3 (each session tried each member once)", rs.Address, rs.SessionFailures)
		}
	}
}

// TestLocalExhaustionNotBlamed: when algd itself cannot open a socket
// (EMFILE from the dial), the client is told the proxy is overloaded, the
// error is counted as algd's own, and the realserver stays up, unblamed;
// the next session, with descriptors back, is served.
func TestLocalExhaustionNotBlamed(t *testing.T) {
	srv := startFTPServers(t, 1)[0]
	var fail atomic.Int64
	fail.Store(2)
	local := &limits.LocalErrors{}
	dial := func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		if fail.Add(-1) >= 0 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr.String())
	}
	px := startProxyAddrs(t, []netip.AddrPort{srv.Addr()}, proxyOpts{first: 61740, last: 61749, dial: dial, local: local,
		health: conf.Health{Kind: "ftp", Interval: conf.Duration{Duration: time.Hour},
			Timeout: conf.Duration{Duration: time.Second}, Rise: 1, Fall: 1}})
	for i := range 2 {
		s := rawDial(t, clientIP, px.addr)
		if r := s.reply(); !strings.HasPrefix(r, "421 ") || !strings.Contains(r, "overloaded") {
			t.Fatalf("session %d with EMFILE: %q, want 421 ... overloaded", i, r)
		}
	}
	rs := px.members(t)[0]
	if !rs.Up || rs.SessionFailures != 0 || rs.Suspect {
		t.Errorf("realserver after local EMFILE: up %v, session failures %d, suspect %v; want up, 0, false",
			rs.Up, rs.SessionFailures, rs.Suspect)
	}
	if got := local.Counts()[limits.LocalFiles]; got != 2 {
		t.Errorf("local errors %q = %d, want 2", limits.LocalFiles, got)
	}
	if last := local.Last(); last.Kind != limits.LocalFiles || last.At.IsZero() || !strings.Contains(last.Err, "too many open files") {
		t.Errorf("last local error %+v, want kind files, an error text and a time", last)
	}
	if n, o := px.counter(t, "refused"), px.counter(t, "overloaded"); n != 2 || o != 2 {
		t.Errorf("refused %d, overloaded %d; want 2, 2", n, o)
	}
	c, err := dialFTP(t, px.addr, true, nil)
	if err != nil {
		t.Fatalf("session after the EMFILEs: %v", err)
	}
	defer c.Quit()
	if err := roundTrip(c, "after-emfile", randomBytes(4096)); err != nil {
		t.Fatal(err)
	}
}
