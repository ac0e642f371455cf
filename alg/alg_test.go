package alg

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algd/algd/limits"
)

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t testing.TB, addr string) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestPipeHalfClose sends a file one way, closes the write side, and checks
// that every byte arrived and that the reverse direction still worked after
// the first one ended (the FTP upload shape: data, EOF, then the server's
// late bytes).
func TestPipeHalfClose(t *testing.T) {
	for _, size := range []int{0, 1, 5 << 20} {
		clientEnd, proxyA := tcpPair(t, "127.0.0.1:0")
		proxyB, serverEnd := tcpPair(t, "127.0.0.1:0")
		payload := make([]byte, size)
		rand.Read(payload)

		type res struct {
			ab, ba int64
			err    error
		}
		done := make(chan res, 1)
		go func() {
			ab, ba, err := Pipe(context.Background(), proxyA, proxyB, 5*time.Second, nil)
			done <- res{ab, ba, err}
		}()
		go func() {
			clientEnd.Write(payload)
			clientEnd.CloseWrite()
		}()
		got, err := io.ReadAll(serverEnd)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(payload) {
			t.Fatalf("size %d: got %d bytes, content differs", size, len(got))
		}
		// The other direction is still open after the first ended.
		serverEnd.Write([]byte("late"))
		serverEnd.CloseWrite()
		back, err := io.ReadAll(clientEnd)
		if err != nil || string(back) != "late" {
			t.Fatalf("reverse direction after half-close: %q, %v", back, err)
		}
		r := <-done
		if r.err != nil || r.ab != int64(size) || r.ba != 4 {
			t.Fatalf("size %d: Pipe = %d, %d, %v", size, r.ab, r.ba, r.err)
		}
	}
}

// TestPipeLinger closes both sides when one direction stays open too long
// after the other ended.
func TestPipeLinger(t *testing.T) {
	clientEnd, proxyA := tcpPair(t, "127.0.0.1:0")
	proxyB, serverEnd := tcpPair(t, "127.0.0.1:0")
	done := make(chan error, 1)
	go func() {
		_, _, err := Pipe(context.Background(), proxyA, proxyB, 50*time.Millisecond, nil)
		done <- err
	}()
	clientEnd.CloseWrite()
	if _, err := io.ReadAll(serverEnd); err != nil {
		t.Fatal(err)
	}
	// serverEnd never closes: Pipe must end by itself.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe did not end after linger")
	}
	if _, err := clientEnd.Read(make([]byte, 1)); err == nil {
		t.Fatal("client end still open after Pipe returned")
	}
}

// TestPipeCancel ends a pipe when its context is cancelled.
func TestPipeCancel(t *testing.T) {
	_, proxyA := tcpPair(t, "127.0.0.1:0")
	proxyB, _ := tcpPair(t, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := Pipe(ctx, proxyA, proxyB, time.Minute, nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe ignored cancel")
	}
}

// TestExpectation accepts only the expected peer: a connection from another
// loopback address is refused and reported, the peer's is returned, and the
// port goes back to the allocator.
func TestExpectation(t *testing.T) {
	d := NewDataPorts(61500, 61501)
	var refused atomic.Int32
	x, err := d.Expect(Expect{
		Local:    netip.MustParseAddr("127.0.0.80"),
		Peer:     netip.MustParseAddr("127.0.0.5"),
		Deadline: time.Now().Add(10 * time.Second),
		OnRefused: func(_ netip.AddrPort, why Refusal) {
			if why == RefusedForeign {
				refused.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if in, _, _ := d.Usage(); in != 1 {
		t.Fatalf("in use = %d, want 1", in)
	}
	got := make(chan *net.TCPConn, 1)
	go func() {
		c, err := x.Accept(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", x.AddrPort().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// The thief is reset, during or right after its connect.
	td := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}}
	if thief, err := td.Dial("tcp", x.AddrPort().String()); err == nil {
		thief.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := thief.Read(make([]byte, 1)); err == nil {
			t.Fatal("thief's connection was not closed")
		}
		thief.Close()
	}
	for refused.Load() == 0 {
		time.Sleep(time.Millisecond) // OnRefused runs in Accept's goroutine
	}
	good := dial("127.0.0.5")
	c := <-got
	if c == nil {
		t.Fatal("no connection accepted")
	}
	defer c.Close()
	good.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte("x")) {
		t.Fatalf("accepted the wrong connection: %q %v", buf, err)
	}
	if refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", refused.Load())
	}
	// The port stays the transfer's until Close.
	if in, _, _ := d.Usage(); in != 1 {
		t.Fatalf("port released during the transfer: in use = %d", in)
	}
	x.Close()
	if in, _, _ := d.Usage(); in != 0 {
		t.Fatalf("port not released: in use = %d", in)
	}
}

// TestExpectationExpires returns ErrExpired at the deadline and releases
// the port; a full range answers limits.ErrExhausted.
func TestExpectationExpires(t *testing.T) {
	d := NewDataPorts(61510, 61510)
	e := Expect{Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("127.0.0.5"),
		Deadline: time.Now().Add(50 * time.Millisecond)}
	x, err := d.Expect(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Expect(e); !errors.Is(err, limits.ErrExhausted) {
		t.Fatalf("second Expect on a 1-port range: %v, want ErrExhausted", err)
	}
	if _, err := x.Accept(context.Background()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Accept = %v, want ErrExpired", err)
	}
	if in, _, ex := d.Usage(); in != 0 || ex != 1 {
		t.Fatalf("usage after expiry: in use %d, exhaustions %d", in, ex)
	}
	x2, err := d.Expect(e)
	if err != nil {
		t.Fatalf("port not reusable after expiry: %v", err)
	}
	x2.Close()
}

// TestExpectSkipsBusyPorts survives a port of the range held by another
// process (here: another socket).
func TestExpectSkipsBusyPorts(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.80:61520")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := NewDataPorts(61520, 61521)
	x, err := d.Expect(Expect{Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("127.0.0.5"),
		Deadline: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if x.Port() != 61521 {
		t.Fatalf("port = %d, want 61521", x.Port())
	}
}
