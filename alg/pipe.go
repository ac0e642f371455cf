package alg

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Conn is a connection whose write side can be shut on its own:
// *net.TCPConn, and *tls.Conn (which sends close_notify first).
type Conn interface {
	net.Conn
	CloseWrite() error
}

// Pipe copies a→b and b→a until both directions have ended, then closes
// both connections. A direction ends at EOF, after which the other
// connection's write side is shut (CloseWrite), so the far end sees EOF
// exactly when the near end sent it and no byte is cut off: FTP data ends at
// EOF, and closing both sides when the first copy returns truncates files.
// Once one direction has ended, the other gets linger to finish before both
// are closed. An error in either direction, or ctx being done, closes both
// at once.
//
// The copies run io.Copy; between two *net.TCPConn the Go runtime turns it
// into splice(2), so file bytes do not pass through a user-space buffer
// (TLS connections are copied through one, necessarily).
// ab and ba count the bytes copied a→b and b→a; err is the first error that
// is not an ordinary end (EOF, use of a closed connection, reset at
// teardown). When baDone is not nil it is closed as soon as the b→a
// direction has ended, so a caller can tell when everything b sent has been
// handed to a.
func Pipe(ctx context.Context, a, b Conn, linger time.Duration, baDone chan<- struct{}) (ab, ba int64, err error) {
	closeBoth := func() {
		a.Close()
		b.Close()
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	defer closeBoth()

	type result struct {
		n   int64
		err error
	}
	abc := make(chan result, 1)
	bac := make(chan result, 1)
	go func() { n, err := copyHalf(b, a); abc <- result{n, err} }()
	go func() {
		n, err := copyHalf(a, b)
		if baDone != nil {
			close(baDone)
		}
		bac <- result{n, err}
	}()

	var timer <-chan time.Time
	for abc != nil || bac != nil {
		select {
		case r := <-abc:
			ab, abc = r.n, nil
			err = first(err, r.err)
		case r := <-bac:
			ba, bac = r.n, nil
			err = first(err, r.err)
		case <-timer:
			closeBoth()
			timer = nil
			continue
		}
		if err != nil {
			closeBoth()
		} else if timer == nil && (abc == nil) != (bac == nil) {
			t := time.NewTimer(linger)
			defer t.Stop()
			timer = t.C
		}
	}
	if ctx.Err() != nil && err == nil {
		err = ctx.Err()
	}
	return ab, ba, err
}

// copyHalf copies src to dst until EOF, then shuts dst's write side.
func copyHalf(dst, src Conn) (int64, error) {
	n, err := io.Copy(dst, src)
	if err == nil {
		dst.CloseWrite()
	}
	return n, err
}

// first keeps the earliest error that is not an ordinary end.
func first(have, err error) error {
	if have != nil || ordinaryEnd(err) {
		return have
	}
	return err
}

// ordinaryEnd reports errors that mean "the connection is over" rather than
// "something failed": they are logged at debug level, not as errors.
func ordinaryEnd(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// IsReset reports a connection reset or broken pipe.
func IsReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
