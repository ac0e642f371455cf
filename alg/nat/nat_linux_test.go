//go:build linux && interop

package nat

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"golang.org/x/sys/unix"
)

// openTable opens a Table in the director namespace, closed (and
// removed) at cleanup.
func openTable(t testing.TB, tp *topology, opts Options) *Table {
	t.Helper()
	opts.NetNS = tp.director
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tb, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(true); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tb
}

// passive is a passive-like mapping: the client's connection to dst
// goes to the realserver's to, from the director's realserver-side
// address.
func passive(f family, dst, to netip.AddrPort, kev alg.KernelEvents) alg.Mapping {
	return alg.Mapping{Proto: alg.TCP, From: netip.AddrPortFrom(f.client, 0), Dst: dst, To: to,
		Source: netip.AddrPortFrom(f.dirR, 0), Timeout: 20 * time.Second, Events: kev}
}

// mustMap installs m.
func mustMap(t testing.TB, tb *Table, m alg.Mapping) alg.Mapped {
	t.Helper()
	x, err := tb.Map(m)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// logWriter sends the Table's log to the test's.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// events records what a mapping's KernelEvents saw.
type events struct {
	connected chan [2]netip.AddrPort
	ended     chan alg.Counters
}

func newEvents() (*events, alg.KernelEvents) {
	e := &events{connected: make(chan [2]netip.AddrPort, 4), ended: make(chan alg.Counters, 4)}
	return e, alg.KernelEvents{
		Connected: func(from, to netip.AddrPort) { e.connected <- [2]netip.AddrPort{from, to} },
		Ended:     func(c alg.Counters) { e.ended <- c },
	}
}

func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
	}
	panic("unreachable")
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange sends up from a to b and down from b to a at once, each
// followed by a half-close, and checks what arrived by sha256.
func exchange(t testing.TB, a, b *net.TCPConn, up, down []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	send := func(c *net.TCPConn, p []byte) {
		defer wg.Done()
		if _, err := c.Write(p); err != nil {
			errs <- err
			return
		}
		errs <- c.CloseWrite()
	}
	recv := func(c *net.TCPConn, want []byte, what string) {
		defer wg.Done()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			errs <- err
			return
		}
		if w := sha256.Sum256(want); [32]byte(h.Sum(nil)) != w || n != int64(len(want)) {
			t.Errorf("%s: got %d bytes (sha256 %x), want %d (%x)", what, n, h.Sum(nil), len(want), w)
		}
	}
	wg.Add(4)
	go send(a, up)
	go send(b, down)
	go recv(b, up, "upstream")
	go recv(a, down, "downstream")
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// acceptOne accepts one connection within 10 s.
func acceptOne(t testing.TB, l net.Listener) *net.TCPConn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	r := within(t, ch, "accepted connection")
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.c.(*net.TCPConn)
}

// plainListener answers every connection with "director\n": what
// listens on Dst (algd's expectation) on the director itself.
func plainListener(t testing.TB, ns int, addr netip.AddrPort) {
	l := listen(t, ns, "tcp", addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "director\n")
			c.Close()
		}
	}()
}

func readLine(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", c.RemoteAddr(), err)
	}
	return line
}

// checkCounters: what conntrack counted covers what moved (up in the
// original direction, down in the reply one), and the rest is headers
// (at most 100 bytes a packet: IPv6 + TCP + options) and what the
// senders sent again: upSent and downSent are their TCP_INFO bytes_sent
// (payload with retransmissions; 0: unknown, UDP, where nothing is sent
// again).
func checkCounters(t testing.TB, c alg.Counters, up, down int, upSent, downSent uint64) {
	t.Helper()
	check := func(what string, bytes, packets uint64, payload int, sent uint64) {
		if sent < uint64(payload) {
			sent = uint64(payload)
		}
		if bytes < uint64(payload) || bytes > sent+100*packets {
			t.Errorf("%s: %d bytes in %d packets for %d payload bytes (%d sent with retransmissions)", what, bytes, packets, payload, sent)
		}
	}
	check("orig", c.OrigBytes, c.OrigPackets, up, upSent)
	check("reply", c.ReplyBytes, c.ReplyPackets, down, downSent)
}

// sent is what c sent, retransmissions included (TCP_INFO bytes_sent).
func sent(t testing.TB, c *net.TCPConn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
		t.Fatalf("TCP_INFO: %v %v", err, ierr)
	}
	return info.Bytes_sent
}

// TestPassive maps a passive-mode data connection: the client's
// connection to the VIP goes to the realserver, which sees it come from
// the director's realserver-side address (SNAT); the bytes arrive
// intact both ways; Connected, Counters and Ended tell what happened;
// the mapping is one-shot (a second connection reaches the director's
// own listener) and forwards only the expected client address.
func TestPassive(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	for i, f := range families {
		t.Run(f.name, func(t *testing.T) {
			ctx := context.Background()
			vipPort := netip.AddrPortFrom(f.vip, uint16(50000+i))
			realPort := netip.AddrPortFrom(f.real, uint16(40000+i))
			rl := listen(t, tp.real, "tcp", realPort)
			plainListener(t, tp.director, vipPort)
			ev, kev := newEvents()
			m := mustMap(t, tb, passive(f, vipPort, realPort, kev))

			// A third address is not forwarded: it reaches the director.
			thief, err := dial(ctx, tp.client, f.client2, vipPort)
			if err != nil {
				t.Fatal(err)
			}
			if got := readLine(t, thief); got != "director\n" {
				t.Fatalf("third address got %q", got)
			}
			thief.Close()

			c, err := dial(ctx, tp.client, f.client, vipPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := acceptOne(t, rl)
			defer s.Close()
			if got := netip.MustParseAddrPort(s.RemoteAddr().String()); got.Addr() != f.dirR {
				t.Errorf("realserver sees %s, want the SNAT address %s", got, f.dirR)
			}
			got := within(t, ev.connected, "Connected")
			if want := netip.MustParseAddrPort(c.LocalAddr().String()); got[0] != want || got[1] != vipPort {
				t.Errorf("Connected(%s, %s), want (%s, %s)", got[0], got[1], want, vipPort)
			}

			// One-shot: the next connection reaches the director.
			c2, err := dial(ctx, tp.client, f.client, vipPort)
			if err != nil {
				t.Fatal(err)
			}
			if got := readLine(t, c2); got != "director\n" {
				t.Fatalf("second connection got %q", got)
			}
			c2.Close()

			up, down := randomBytes(t, 3<<20), randomBytes(t, 1<<20)
			exchange(t, c, s, up, down)
			live, err := m.Counters()
			if err != nil {
				t.Fatal(err)
			}
			upSent, downSent := sent(t, c), sent(t, s)
			checkCounters(t, live, len(up), len(down), upSent, downSent)
			c.Close()
			s.Close()
			end := within(t, ev.ended, "Ended")
			checkCounters(t, end, len(up), len(down), upSent, downSent)
			if !end.Closed {
				t.Errorf("Ended %+v: not Closed after FIN both ways", end)
			}
			t.Logf("counters %+v", end)
		})
	}
}

var _ = errors.Is
