package alg

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Conn is a connection whose write side can be shut on its own:
// *net.TCPConn, and *tls.Conn (which sends close_notify first).
type Conn interface {
	net.Conn
	CloseWrite() error
}

// ErrIdle is returned by PipeWith when nothing moved in either direction
// for PipeOptions.Idle.
var ErrIdle = errors.New("alg: no data moved within the idle timeout")

// PipeOptions tune PipeWith. Zero values leave a feature off.
type PipeOptions struct {
	// Linger is how long the other direction may go on once one
	// direction has ended at EOF, before both connections are closed.
	Linger time.Duration
	// Idle, when positive, cuts the pipe (ErrIdle) once no byte has moved
	// in either direction for this long. Progress is read from the
	// kernel (TCP_INFO: bytes received and bytes the peer acknowledged, on
	// both connections), so the copies stay splice(2) with no counting in
	// user space. Where the kernel cannot tell (not Linux), nothing is
	// cut for idleness and every tick counts as progress.
	Idle time.Duration
	// Tick is how often progress is read when Idle is set; default Idle/4.
	Tick time.Duration
	// OnProgress, when set, is called at each tick at which bytes have
	// moved since the previous one (from a timer goroutine).
	OnProgress func()
	// ABDone and BADone, when set, are called once each, as soon as the
	// a→b (b→a) direction has ended, with the bytes it copied and nil if
	// it ended at a clean EOF with every byte read also written, or why
	// it ended otherwise: the copy's error, ctx's error when ctx ended the
	// pipe, or ErrIdle.
	ABDone, BADone func(n int64, err error)
	// CloseA closes a with a FIN on failure instead of resetting it (b is
	// still reset): for a peer that hears about the failure otherwise.
	CloseA bool
}

// Pipe is PipeWith with only a linger time and, when baDone is not nil, a
// channel closed as soon as the b→a direction has ended.
func Pipe(ctx context.Context, a, b Conn, linger time.Duration, baDone chan<- struct{}) (ab, ba int64, err error) {
	o := PipeOptions{Linger: linger}
	if baDone != nil {
		o.BADone = func(int64, error) { close(baDone) }
	}
	return PipeWith(ctx, a, b, o)
}

// PipeWith copies a→b and b→a until both directions have ended, then
// closes both connections. A direction ends at EOF, after which the other
// connection's write side is shut (CloseWrite), so the far end sees EOF
// exactly when the near end sent it and no byte is cut off: FTP data ends
// at EOF, and closing both sides when the first copy returns truncates
// files. Once one direction has ended, the other gets o.Linger to finish
// before both are closed.
//
// A failure is never passed on as an end of file: an error in either
// direction (a reset by one peer, say), ctx being done or the idle timeout
// resets both connections (SO_LINGER 0), so each peer sees the transfer
// fail. An ftpd that saw a FIN instead would store a cut upload as
// complete.
//
// The copies run io.Copy; between two *net.TCPConn the Go runtime turns it
// into splice(2), so file bytes do not pass through a user-space buffer
// (TLS connections are copied through one, necessarily).
// ab and ba count the bytes copied a→b and b→a; err is the first error that
// is not an ordinary end (EOF, use of a closed connection), ctx's error, or
// ErrIdle.
func PipeWith(ctx context.Context, a, b Conn, o PipeOptions) (ab, ba int64, err error) {
	closeBoth := func() {
		a.Close()
		b.Close()
	}
	resetBoth := func() {
		if o.CloseA {
			a.Close()
		} else {
			Reset(a)
		}
		Reset(b)
	}
	stop := context.AfterFunc(ctx, resetBoth)
	defer stop()
	defer closeBoth()
	idle := make(chan struct{})
	if o.Idle > 0 {
		defer watchIdle(a, b, o, func() {
			close(idle)
			resetBoth()
		})()
	}

	type result struct {
		n   int64
		err error
	}
	abc := make(chan result, 1)
	bac := make(chan result, 1)
	half := func(dst, src Conn, out chan<- result, done func(int64, error)) {
		n, err := copyHalf(dst, src)
		if done != nil {
			derr := err
			if err != nil {
				// Cut by the pipe: say why, not "use of closed connection".
				select {
				case <-idle:
					derr = ErrIdle
				default:
					if ctx.Err() != nil {
						derr = ctx.Err()
					}
				}
			}
			done(n, derr)
		}
		out <- result{n, err}
	}
	go half(b, a, abc, o.ABDone)
	go half(a, b, bac, o.BADone)

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
			resetBoth()
		} else if timer == nil && (abc == nil) != (bac == nil) {
			t := time.NewTimer(o.Linger)
			defer t.Stop()
			timer = t.C
		}
	}
	select {
	case <-idle:
		err = ErrIdle
	default:
		if ctx.Err() != nil && err == nil {
			err = ctx.Err()
		}
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

// Reset closes c with a TCP reset (SO_LINGER 0) instead of a FIN, so that
// its peer sees the connection fail rather than end. For a TLS connection
// the TCP connection underneath is reset, with no close_notify.
func Reset(c net.Conn) {
	c = rawConn(c)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// rawConn returns the connection under a TLS connection, or c itself.
func rawConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		return u.NetConn()
	}
	return c
}

// watchIdle reads how many bytes a and b have moved every o.Tick and calls
// cut once nothing has moved for o.Idle; stop ends the watch.
func watchIdle(a, b net.Conn, o PipeOptions, cut func()) (stop func()) {
	tick := o.Tick
	if tick <= 0 {
		tick = o.Idle / 4
	}
	tick = max(tick, time.Millisecond)
	var (
		mu       sync.Mutex
		stopped  bool
		t        *time.Timer
		last, _  = moved(a, b)
		lastMove = time.Now()
	)
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		n, ok := moved(a, b)
		now := time.Now()
		switch {
		case !ok || n != last:
			last, lastMove = n, now
			if o.OnProgress != nil {
				o.OnProgress()
			}
		case now.Sub(lastMove) >= o.Idle:
			stopped = true
			cut()
			return
		}
		t.Reset(tick)
	}
	mu.Lock()
	t = time.AfterFunc(tick, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// moved sums what the kernel says a and b have received and had
// acknowledged; ok is false when it cannot tell for either.
func moved(a, b net.Conn) (n uint64, ok bool) {
	na, oka := tcpMoved(rawConn(a))
	nb, okb := tcpMoved(rawConn(b))
	return na + nb, oka && okb
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
