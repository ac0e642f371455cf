package alg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// fakeServer is a realserver on a loopback address: it greets "220 ok"
// after failing its first `busy` connections with a reset, and remembers
// who connected.
type fakeServer struct {
	addr     netip.AddrPort
	busy     atomic.Int64 // connections still to reset before greeting
	refuse   atomic.Bool  // greet "421 full" instead
	accepted atomic.Int64
	mu       sync.Mutex
	peers    []netip.AddrPort
}

// startServer listens on ip:0 until the test ends.
func startServer(t *testing.T, ip string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{addr: AddrPortOf(ln.Addr())}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.peers = append(s.peers, AddrPortOf(c.RemoteAddr()))
			s.mu.Unlock()
			switch {
			case s.busy.Add(-1) >= 0:
				c.(*net.TCPConn).SetLinger(0) // close with a RST
				c.Close()
			case s.refuse.Load():
				fmt.Fprint(c, "421 full\r\n")
				c.Close()
			default:
				fmt.Fprint(c, "220 ok\r\n")
				t.Cleanup(func() { c.Close() })
			}
		}
	})
	return s
}

// closedPort returns an address on ip where nothing listens.
func closedPort(t *testing.T, ip string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	a := AddrPortOf(ln.Addr())
	ln.Close()
	return a
}

// testPool is an lc pool (the first member first on a tie) of addrs,
// always up.
func testPool(addrs ...netip.AddrPort) *pool.Pool {
	c := conf.Pool{Name: "test", Scheduler: "lc", Health: conf.Health{Kind: "none", Rise: 1, Fall: 1}}
	for _, a := range addrs {
		c.Realservers = append(c.Realservers, conf.Realserver{AddrPort: a})
	}
	return pool.New(c, pool.NoChecker{})
}

// greeting is a Hello that reads a 220 (a 421 is a refusal), and records
// the waits it was given.
type greeting struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (g *greeting) hello(ctx context.Context, bk *Backend, wait time.Duration) error {
	g.mu.Lock()
	g.waits = append(g.waits, wait)
	g.mu.Unlock()
	bk.Conn.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(bk.Conn).ReadString('\n')
	switch {
	case err != nil:
		return fmt.Errorf("greeting: %w", err)
	case strings.HasPrefix(line, "421"):
		return fmt.Errorf("%w: %q", ErrRefused, line)
	}
	return nil
}

// noLeases fails the test if a realserver of p still counts a session.
func noLeases(t *testing.T, p *pool.Pool) {
	t.Helper()
	for _, r := range p.Realservers() {
		if n := r.Active(); n != 0 {
			t.Errorf("%v: %d active sessions after a failed Open, want 0", r.Addr(), n)
		}
	}
}

// blamed fails the test unless every realserver of p has want session
// failures (and is Suspect exactly when it has any).
func blamed(t *testing.T, p *pool.Pool, want uint64) {
	t.Helper()
	for _, r := range p.Realservers() {
		if n := r.SessionFailures(); n != want || r.Suspect() != (want > 0) {
			t.Errorf("%v: %d session failures, suspect %v; want %d", r.Addr(), n, r.Suspect(), want)
		}
	}
}

func TestBackendsFailoverPastClosedPort(t *testing.T) {
	dead := closedPort(t, "127.0.0.71")
	srv := startServer(t, "127.0.0.72")
	p := testPool(dead, srv.addr)
	b := &Backends{Pool: p, Timeout: 5 * time.Second}
	var g greeting
	bk, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, g.hello)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Conn.Close()
	if bk.Addr != srv.addr || bk.Lease == nil || bk.Lease.Realserver().Addr() != srv.addr {
		t.Fatalf("connected to %v (lease %v), want %v", bk.Addr, bk.Lease, srv.addr)
	}
	rs := p.Realservers()
	if rs[0].SessionFailures() != 1 || !rs[0].Suspect() {
		t.Errorf("dead member: %d session failures, suspect %v; want 1, true", rs[0].SessionFailures(), rs[0].Suspect())
	}
	if rs[0].Active() != 0 || rs[1].Active() != 1 {
		t.Errorf("active sessions %d, %d; want 0, 1", rs[0].Active(), rs[1].Active())
	}
	bk.Release()
	bk.Release() // idempotent
	noLeases(t, p)
}

// TestBackendsRefusal: a realserver that refuses the session is passed
// over unblamed and not tried again; the last member left gets LastWait
// for its greeting.
func TestBackendsRefusal(t *testing.T) {
	full := startServer(t, "127.0.0.71")
	full.refuse.Store(true)
	srv := startServer(t, "127.0.0.72")
	p := testPool(full.addr, srv.addr)
	b := &Backends{Pool: p, Timeout: 2 * time.Second, LastWait: time.Minute}
	var g greeting
	bk, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, g.hello)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Conn.Close()
	defer bk.Release()
	if bk.Addr != srv.addr {
		t.Fatalf("connected to %v, want %v", bk.Addr, srv.addr)
	}
	if r := p.Realservers()[0]; r.SessionFailures() != 0 || r.Suspect() || r.Active() != 0 {
		t.Errorf("refusing member: %d failures, suspect %v, %d active; want 0, false, 0", r.SessionFailures(), r.Suspect(), r.Active())
	}
	if want := []time.Duration{2 * time.Second, time.Minute}; fmt.Sprint(g.waits) != fmt.Sprint(want) {
		t.Errorf("greeting waits %v, want %v", g.waits, want)
	}

	// Every member refuses: one try each, no retry pass, no lease left.
	srv.refuse.Store(true)
	full.accepted.Store(0)
	srv.accepted.Store(0)
	_, err = b.Open(context.Background(), netip.MustParseAddr("127.0.0.11"), netip.AddrPort{}, g.hello)
	if !errors.Is(err, pool.ErrNoRealserver) || !errors.Is(err, ErrRefused) {
		t.Errorf("Open with every member refusing: %v, want no realserver, last a refusal", err)
	}
	if a, b := full.accepted.Load(), srv.accepted.Load(); a != 1 || b != 1 {
		t.Errorf("connections %d, %d; want one to each", a, b)
	}
	bk.Release()
	noLeases(t, p)
}

// TestBackendsBusyRetry: a realserver that resets connections before its
// greeting is tried again after a pause, and the session gets it once it
// greets; one that stays busy is given up after retryPasses passes.
func TestBackendsBusyRetry(t *testing.T) {
	srv := startServer(t, "127.0.0.72")
	srv.busy.Store(2)
	p := testPool(srv.addr)
	b := &Backends{Pool: p, Timeout: 5 * time.Second}
	var g greeting
	bk, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, g.hello)
	if err != nil {
		t.Fatalf("Open with a realserver busy twice: %v", err)
	}
	bk.Conn.Close()
	bk.Release()
	if n := srv.accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (two reset, one greeted)", n)
	}
	r := p.Realservers()[0]
	if r.SessionFailures() != 2 || r.Suspect() {
		t.Errorf("%d failures, suspect %v; want 2, false (the greeting cleared it)", r.SessionFailures(), r.Suspect())
	}

	srv.accepted.Store(0)
	srv.busy.Store(100)
	_, err = b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, g.hello)
	if err == nil || !errors.Is(err, pool.ErrNoRealserver) {
		t.Fatalf("Open with a realserver always busy: %v, want no realserver", err)
	}
	if n := srv.accepted.Load(); n != 1+retryPasses {
		t.Errorf("%d connections, want %d (a first pass and %d retries)", n, 1+retryPasses, retryPasses)
	}
	noLeases(t, p)
}

// TestBackendsNoRetryOnRefusedConnection: a refused connection is not a
// busy realserver: one connect per member, then the error.
func TestBackendsNoRetryOnRefusedConnection(t *testing.T) {
	addrs := []netip.AddrPort{closedPort(t, "127.0.0.71"), closedPort(t, "127.0.0.72")}
	p := testPool(addrs...)
	var dials atomic.Int64
	b := &Backends{Pool: p, Timeout: 5 * time.Second,
		Dial: func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr.String())
		}}
	_, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, nil)
	if !errors.Is(err, pool.ErrNoRealserver) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Open: %v, want no realserver, last connection refused", err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	blamed(t, p, 1)
	noLeases(t, p)
}

// TestBackendsLocalErrors: algd's own resource errors, from the dial or
// the greeting, end Open at once with ErrOverload, counted and blamed on
// no realserver.
func TestBackendsLocalErrors(t *testing.T) {
	emfile := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	srv := startServer(t, "127.0.0.71")
	other := startServer(t, "127.0.0.72")
	for _, tc := range []struct {
		name  string
		dial  func(context.Context, netip.AddrPort) (net.Conn, error)
		hello Hello
		kind  string
	}{
		{name: "dial", kind: limits.LocalFiles,
			dial: func(context.Context, netip.AddrPort) (net.Conn, error) { return nil, emfile }},
		{name: "greeting", kind: limits.LocalMemory,
			hello: func(context.Context, *Backend, time.Duration) error {
				return os.NewSyscallError("write", syscall.ENOBUFS)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool(srv.addr, other.addr)
			local := &limits.LocalErrors{}
			var dials atomic.Int64
			b := &Backends{Pool: p, Local: local, Dial: func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
				dials.Add(1)
				if tc.dial != nil {
					return tc.dial(ctx, a)
				}
				var d net.Dialer
				return d.DialContext(ctx, "tcp", a.String())
			}}
			_, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, tc.hello)
			if !errors.Is(err, ErrOverload) {
				t.Fatalf("Open: %v, want ErrOverload", err)
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("%d dials, want 1 (no fail-over)", n)
			}
			if n := local.Counts()[tc.kind]; n != 1 {
				t.Errorf("local %s errors %d, want 1", tc.kind, n)
			}
			blamed(t, p, 0)
			noLeases(t, p)
		})
	}
}

// TestBackendsPreferred: a preferred realserver is the only one tried,
// leased from nobody, whether or not it is a member of the pool.
func TestBackendsPreferred(t *testing.T) {
	first := startServer(t, "127.0.0.71")
	second := startServer(t, "127.0.0.72")
	outside := startServer(t, "127.0.0.73")
	p := testPool(first.addr, second.addr)
	b := &Backends{Pool: p, Timeout: 2 * time.Second, LastWait: time.Minute}
	for _, want := range []netip.AddrPort{second.addr, outside.addr} {
		var g greeting
		bk, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), want, g.hello)
		if err != nil {
			t.Fatal(err)
		}
		bk.Conn.Close()
		if bk.Addr != want || bk.Lease != nil {
			t.Errorf("preferring %v: connected to %v, lease %v; want it, no lease", want, bk.Addr, bk.Lease)
		}
		if len(g.waits) != 1 || g.waits[0] != time.Minute {
			t.Errorf("greeting waits %v, want [1m0s] (the only chance)", g.waits)
		}
	}
	if n := first.accepted.Load(); n != 0 {
		t.Errorf("the unpreferred member got %d connections", n)
	}
	noLeases(t, p)

	dead := closedPort(t, "127.0.0.74")
	if _, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), dead, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("preferring a closed port: %v, want connection refused", err)
	}
	if n := first.accepted.Load() + second.accepted.Load(); n != 1 {
		t.Errorf("members got %d connections after preferring a dead one, want 1 (from before): no fail-over", n)
	}
}

// TestBackendsSource: connections leave from Source.
func TestBackendsSource(t *testing.T) {
	srv := startServer(t, "127.0.0.72")
	p := testPool(srv.addr)
	b := &Backends{Pool: p, Source: netip.MustParseAddr("127.0.0.77")}
	var g greeting
	bk, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, g.hello)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Release()
	defer bk.Conn.Close()
	if got := AddrPortOf(bk.Conn.LocalAddr()).Addr(); got != b.Source {
		t.Errorf("local address %v, want %v", got, b.Source)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.peers) != 1 || srv.peers[0].Addr() != b.Source {
		t.Errorf("the realserver saw %v, want one connection from %v", srv.peers, b.Source)
	}
}

// TestBackendsCancelled: a session that ends while connecting blames no
// realserver and holds no lease.
func TestBackendsCancelled(t *testing.T) {
	srv := startServer(t, "127.0.0.72")
	p := testPool(srv.addr, closedPort(t, "127.0.0.71"))
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backends{Pool: p}
	_, err := b.Open(ctx, netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, func(context.Context, *Backend, time.Duration) error {
		cancel()
		return context.Canceled
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open: %v, want context canceled", err)
	}
	blamed(t, p, 0)
	noLeases(t, p)
}

// TestBackendsDialNotTCP: a Dial seam must give a TCP connection.
func TestBackendsDialNotTCP(t *testing.T) {
	p := testPool(netip.MustParseAddrPort("127.0.0.72:21"))
	var closed atomic.Bool
	b := &Backends{Pool: p, Dial: func(context.Context, netip.AddrPort) (net.Conn, error) {
		a, c := net.Pipe()
		c.Close()
		return closeNote{a, &closed}, nil
	}}
	if _, err := b.Open(context.Background(), netip.MustParseAddr("127.0.0.10"), netip.AddrPort{}, nil); err == nil {
		t.Error("Open over a pipe: no error")
	}
	if !closed.Load() {
		t.Error("the pipe was not closed")
	}
	noLeases(t, p)
}

// closeNote notes its Close.
type closeNote struct {
	net.Conn
	closed *atomic.Bool
}

func (c closeNote) Close() error { c.closed.Store(true); return c.Conn.Close() }
