package alg

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkPipe moves 256 MiB through PipeWith between loopback TCP
// connections (splice), without and with the idle watch (TCP_INFO read
// every tick), so that the watch's cost on throughput shows.
func BenchmarkPipe(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    PipeOptions
	}{
		{"plain", PipeOptions{Linger: time.Second}},
		{"idle-watch", PipeOptions{Linger: time.Second, Idle: time.Minute, Tick: 10 * time.Millisecond, OnProgress: func() {}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const size = 256 << 20
			b.SetBytes(size)
			for b.Loop() {
				src, proxyA := tcpPair(b, "127.0.0.1:0")
				proxyB, dst := tcpPair(b, "127.0.0.1:0")
				done := make(chan error, 1)
				go func() {
					_, _, err := PipeWith(context.Background(), proxyA, proxyB, tc.o)
					done <- err
				}()
				go func() {
					io.CopyN(src, zeros{}, size)
					src.CloseWrite()
				}()
				if n, err := io.Copy(io.Discard, dst); n != size || err != nil {
					b.Fatalf("%d bytes, %v", n, err)
				}
				dst.Close()
				src.Close()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestPipeResetPropagates: a peer that resets its connection mid-stream
// makes the other peer see a reset, never an end of file (an ftpd would
// store a cut upload as complete), and the direction reports the error.
func TestPipeResetPropagates(t *testing.T) {
	clientEnd, proxyA := tcpPair(t, "127.0.0.1:0")
	proxyB, serverEnd := tcpPair(t, "127.0.0.1:0")
	abErr := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		_, _, err := PipeWith(context.Background(), proxyA, proxyB, PipeOptions{Linger: time.Minute,
			ABDone: func(_ int64, err error) { abErr <- err }})
		done <- err
	}()
	clientEnd.Write(make([]byte, 100000))
	time.Sleep(50 * time.Millisecond)
	clientEnd.SetLinger(0)
	clientEnd.Close()
	serverEnd.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, serverEnd)
	if err == nil || !IsReset(err) {
		t.Fatalf("the far end read %v, want a reset", err)
	}
	if err := <-abErr; err == nil {
		t.Fatal("the direction that was reset reported a clean end")
	}
	if err := <-done; err == nil {
		t.Fatal("PipeWith reported no error")
	}
}

// TestPipeIdle cuts a pipe on which nothing moves for Idle: ErrIdle, and
// both peers see a reset.
func TestPipeIdle(t *testing.T) {
	clientEnd, proxyA := tcpPair(t, "127.0.0.1:0")
	proxyB, serverEnd := tcpPair(t, "127.0.0.1:0")
	done := make(chan error, 1)
	go func() {
		_, _, err := PipeWith(context.Background(), proxyA, proxyB, PipeOptions{Linger: time.Minute, Idle: 200 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrIdle) {
			t.Fatalf("err = %v, want ErrIdle", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an idle pipe was not cut")
	}
	for _, c := range []*net.TCPConn{clientEnd, serverEnd} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !IsReset(err) {
			t.Fatalf("peer read %v after the idle cut, want a reset", err)
		}
	}
}
