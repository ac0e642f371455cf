package ftpc

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/algd/algd/internal/demo"
)

// inlineRelay relays control connections from a listener on the demo
// server's IP to the server, reading the client side with SO_OOBINLINE,
// as vsftpd reads its control connections: urgent bytes stay in the
// stream. Its outgoing connections leave from clientIP, so the demo
// server accepts data connections and PORT/EPRT from the client.
//
// The demo server itself reads without SO_OOBINLINE, so the kernel drops
// the urgent LF of an ftplib-style ABOR: its ABOR line never ends, and
// the next command is glued to it ("ABOR\rNOOP", 500 unknown command,
// which also trips a data race inside ftpserverlib under -race). Only
// the lftp style, whose urgent byte is the Telnet DM, reaches it direct.
func inlineRelay(t *testing.T, s *demo.Server) netip.AddrPort {
	t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.Addr().Addr(), 0)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.AcceptTCP()
			if err != nil {
				return // closed at cleanup
			}
			if err := oobInline(in); err != nil {
				t.Errorf("relay: %v", err)
				_ = in.Close()
				continue
			}
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 0)), Timeout: ioTimeout}
			out, err := d.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Errorf("relay: %v", err)
				_ = in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); pipe(out, in) }()
			go func() { defer wg.Done(); pipe(in, out) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// pipe copies src to dst, then closes both (the control connection ends).
// It copies through a buffer: splice(2), which io.Copy would use between
// two TCP connections, stops at an urgent mark and stalls there.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, struct{ io.Reader }{src})
	_ = dst.Close()
	_ = src.Close()
}

// oobInline sets SO_OOBINLINE on conn.
func oobInline(conn *net.TCPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	}); err != nil {
		return err
	}
	return serr
}

// TestAbort aborts the download of a 50 MiB file in every mode, both ways
// of sending ABOR, and checks the replies and that the session is still
// usable. The lftp style goes to the demo server direct and through an
// SO_OOBINLINE relay; the ftplib style through the relay only (see
// inlineRelay).
func TestAbort(t *testing.T) {
	const size, after = 50 << 20, 1 << 20
	s := startDemo(t)
	f, err := os.Create(filepath.Join(s.Root(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	small := randomBytes(t, 1000)
	if err := os.WriteFile(filepath.Join(s.Root(), "small"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	relay := inlineRelay(t, s)
	paths := []struct {
		name   string
		addr   netip.AddrPort
		python bool
	}{
		{"lftp/direct", s.Addr(), false},
		{"lftp/inline", relay, false},
		{"ftplib/inline", relay, true},
	}
	for _, p := range paths {
		for _, mode := range modes {
			t.Run(p.name+"/"+mode.String(), func(t *testing.T) {
				c, err := Dial(p.addr, clientIP, ioTimeout)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.Login(demo.DefaultUser, demo.DefaultPassword); err != nil {
					t.Fatal(err)
				}
				replies, n, err := c.AbortRetr(mode, "big", after, p.python)
				t.Logf("replies after ABOR: %q; %d bytes received", replies, n)
				if err != nil {
					t.Fatalf("AbortRetr: %v", err)
				}
				if n < after || n >= size {
					t.Errorf("received %d bytes, want %d to %d: not aborted", n, after, size-1)
				}
				last := replies[len(replies)-1]
				if last.Code != 226 && last.Code != 225 {
					t.Errorf("ABOR answered %q, want 226 or 225", last)
				}
				for _, r := range replies[:len(replies)-1] {
					if r.Code != 426 && r.Code != 451 {
						t.Errorf("before the ABOR reply: %q, want 426 or 451", r)
					}
				}
				if _, err := c.Expect("NOOP", 200); err != nil {
					t.Fatalf("NOOP after ABOR: %v", err)
				}
				got, _, err := c.Retr(mode, "small")
				if err != nil || !bytes.Equal(got, small) {
					t.Errorf("RETR after ABOR: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}
