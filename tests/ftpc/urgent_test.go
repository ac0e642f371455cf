package ftpc

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// received is what a server saw of an urgent send: the in-band bytes up
// to the urgent mark, the urgent byte, and the in-band bytes after it.
type received struct {
	before []byte
	urgent byte
	after  []byte
	err    error
}

// urgentPeer greets the one client of ln, waits until urgent data is
// pending (POLLPRI), then reads the stream up to the mark, the urgent
// byte (MSG_OOB, the socket is not SO_OOBINLINE), and afterLen more bytes.
func urgentPeer(ln *net.TCPListener, afterLen int) received {
	var r received
	conn, err := ln.AcceptTCP()
	if err != nil {
		return received{err: err}
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return received{err: err}
	}
	if _, err := conn.Write([]byte("220 urgent peer\r\n")); err != nil {
		return received{err: err}
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return received{err: err}
	}
	cerr := rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		n, err := unix.Poll(pfd, int(ioTimeout/time.Millisecond))
		if err != nil || n != 1 {
			r.err = io.ErrNoProgress
			return
		}
		// All bytes before the urgent one have arrived: a read stops
		// at the mark.
		buf := make([]byte, 64)
		n, _, err = unix.Recvfrom(int(fd), buf, 0)
		if err != nil {
			r.err = err
			return
		}
		r.before = bytes.Clone(buf[:n])
		n, _, err = unix.Recvfrom(int(fd), buf, unix.MSG_OOB)
		if err != nil || n != 1 {
			r.err = err
			return
		}
		r.urgent = buf[0]
	})
	if cerr != nil {
		r.err = cerr
	}
	if r.err != nil {
		return r
	}
	r.after = make([]byte, afterLen)
	_, r.err = io.ReadFull(conn, r.after)
	return r
}

// TestUrgent checks the bytes and the urgent mark of both ways to send
// ABOR, as a server without SO_OOBINLINE receives them.
func TestUrgent(t *testing.T) {
	tests := []struct {
		name   string
		send   func(c *Client) error
		before string
		urgent byte
		after  string
	}{
		{"lftp", (*Client).sendSynch, "\xff\xf4\xff", 0xf2, "ABOR\r\n"},
		{"ftplib", func(c *Client) error { return c.sendUrgent([]byte("ABOR\r\n")) }, "ABOR\r", '\n', ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan received, 1)
			go func() { got <- urgentPeer(ln, len(tc.after)) }()
			c, err := Dial(ln.Addr().(*net.TCPAddr).AddrPort(), netip.Addr{}, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.conn.Close()
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("server: %v (got %q, urgent %#x)", r.err, r.before, r.urgent)
			}
			if !bytes.Equal(r.before, []byte(tc.before)) || r.urgent != tc.urgent || !bytes.Equal(r.after, []byte(tc.after)) {
				t.Errorf("server got %q, urgent %#x, then %q; want %q, %#x, %q",
					r.before, r.urgent, r.after, tc.before, tc.urgent, tc.after)
			}
		})
	}
}
