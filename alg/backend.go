package alg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// ErrOverload marks an Open error that is algd's own: it ran out of
// descriptors, memory or source ports. No realserver is blamed for it;
// the client should be told the proxy is overloaded.
var ErrOverload = errors.New("algd out of a local resource")

// ErrRefused is what a Hello returns, wrapped, when the realserver
// answered but refused the session (a full ftpd greets with 421): Open
// moves on to the next member without marking this one failed, and does
// not try it again for this session.
var ErrRefused = errors.New("realserver refused the session")

// Hello is a protocol's opening on a new realserver connection, run by
// Open once bk.Conn is connected: a greeting to read, a PROXY header or a
// TLS handshake. It has wait for that (the connect timeout, longer for the
// last member left, see Backends.LastWait). It returns nil when the
// session may go on, an error wrapping ErrRefused when the realserver
// refused it, or another error when the realserver failed. Open closes
// bk.Conn and releases the lease whenever Hello fails; a Hello keeps what
// it got (a TLS connection over bk.Conn, the greeting, the refusal to show
// the client) in its closure.
type Hello func(ctx context.Context, bk *Backend, wait time.Duration) error

// Backend is a session's connection to its realserver, from Open. The
// session owns Conn and the lease: it closes Conn and calls Release when
// it ends.
type Backend struct {
	// Conn is the TCP connection to the realserver.
	Conn *net.TCPConn
	// Addr is the realserver's address.
	Addr netip.AddrPort
	// Lease is the session's hold on the realserver in its pool; nil when
	// the realserver was a preferred one (the pool did not pick it).
	Lease *pool.Lease

	rs *pool.Realserver // nil: a preferred address outside the pool
}

// Release ends the session's hold on the realserver (idempotent).
func (bk *Backend) Release() {
	if bk.Lease != nil {
		bk.Lease.Release()
	}
}

// Backends connects sessions of any protocol to the realservers of a
// pool: it picks one for the client (with the pool's persistence),
// connects from Source, runs the protocol's Hello, and fails over to the
// other members. It is a few words: a handler may make one per session
// (with that session's Logger) or share one; Open is safe for concurrent
// use.
type Backends struct {
	// Pool chooses the realservers.
	Pool *pool.Pool
	// Source is the local address of connections to realservers
	// (backend_source); invalid: the kernel chooses.
	Source netip.Addr
	// Timeout bounds each connect, and each Hello while another member is
	// left to try; zero means conf.DefaultBackendConnectTimeout. Busy
	// realservers are tried again while Timeout since Open began lasts.
	Timeout time.Duration
	// LastWait, when longer than Timeout, is the Hello's wait on the last
	// member left (and on a preferred realserver): one that accepted is
	// alive, and under load slow to greet, not dead.
	LastWait time.Duration
	// Dial, when set, connects to realservers instead of a dial from
	// Source (a seam for tests); the connection it returns must be a
	// *net.TCPConn.
	Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// Local counts algd's own resource errors; may be nil (such an error
	// still blames no realserver).
	Local *limits.LocalErrors
	// Logger logs realserver failures; nil means slog.Default().
	Logger *slog.Logger
	// User, when set, is the FTP user name the session is routed by: the
	// pool picks for it (pool.PickUser: persistence and the hrw scheduler
	// key on the user, not the client address).
	User string
}

// retryPause is the first pause before a session tries its busy
// realservers again; it doubles for each further pass. A session makes at
// most retryPasses passes after the first (HAProxy's retries default to
// 3), so that a storm of resets is not answered with a storm of connects.
const (
	retryPause  = 100 * time.Millisecond
	retryPasses = 3
)

// Open connects a session of client to a realserver and runs hello (nil:
// none) on the connection. prefer, when valid, is the only realserver
// tried (a client resuming a session that lives there); it is not leased
// from the pool. Otherwise Open picks from Pool and fails over to the
// other members when a realserver does not accept, its Hello fails or
// refuses the session.
//
// A realserver that failed this way is marked (pool.MarkFailed: other
// members are preferred for a while) but stays in the pool: only health
// checks take it down; one that succeeded is marked OK. One that was
// merely busy — it reset or closed the connection before its Hello was
// done, as a server whose listen backlog overflows does — is tried again,
// after a pause, up to retryPasses times while Timeout since Open began
// lasts: a busy pool makes clients wait, as HAProxy's queue does, rather
// than be refused at once. A refused connection, a refusal or a timeout
// is not retried, so a pool that is really gone answers at once. An error
// that is algd's own (no descriptor for the socket, no source port) ends
// Open at once with ErrOverload, counted in Local and blamed on no
// realserver. When ctx ends, Open returns ctx's error and blames no one.
// Every failed attempt closes its connection and releases its lease.
func (b *Backends) Open(ctx context.Context, client netip.Addr, prefer netip.AddrPort, hello Hello) (*Backend, error) {
	timeout := b.timeout()
	deadline := time.Now().Add(timeout)
	pause, passes := retryPause, 0
	var (
		tried, final []*pool.Realserver // final: not retried by this session
		last         error              // why the last attempt failed
	)
	for {
		bk, err := b.next(client, prefer, tried)
		if err != nil {
			if len(tried) == len(final) || passes == retryPasses || time.Until(deadline) < pause {
				if last != nil {
					err = fmt.Errorf("%w (last: %w)", err, last)
				}
				return nil, err
			}
			passes++
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			pause *= 2
			tried = slices.Clone(final)
			continue
		}
		tried = append(tried, bk.rs)
		wait := timeout
		if prefer.IsValid() || !b.Pool.Others(tried...) {
			wait = max(timeout, b.LastWait)
		}
		err = b.attempt(ctx, bk, timeout, wait, hello)
		switch {
		case err == nil:
			return bk, nil
		case errors.Is(err, ErrOverload):
			return nil, err
		case ctx.Err() != nil: // the client or algd gave up, not the realserver
			return nil, ctx.Err()
		case errors.Is(err, ErrRefused), !busy(err):
			final = append(final, bk.rs)
		}
		last = err
	}
}

// next returns the realserver to try after tried: the preferred one if
// not tried yet, or one the pool leases.
func (b *Backends) next(client netip.Addr, prefer netip.AddrPort, tried []*pool.Realserver) (*Backend, error) {
	if prefer.IsValid() {
		if len(tried) > 0 {
			return nil, fmt.Errorf("realserver %s: %w", prefer, pool.ErrNoRealserver)
		}
		return &Backend{Addr: prefer, rs: b.member(prefer)}, nil
	}
	lease, err := b.Pool.PickUser(b.User, client, tried...)
	if err != nil {
		return nil, err
	}
	rs := lease.Realserver()
	return &Backend{Addr: rs.Addr(), Lease: lease, rs: rs}, nil
}

// member returns the realserver of Pool at addr; nil when there is none
// (a reload dropped it, while a session still lives there).
func (b *Backends) member(addr netip.AddrPort) *pool.Realserver {
	if b.Pool == nil {
		return nil
	}
	for _, r := range b.Pool.Realservers() {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

// attempt connects bk within timeout and runs hello within wait. On a
// failure it closes the connection, releases the lease and marks the
// realserver, unless the error is algd's own (then it wraps ErrOverload),
// a refusal, or ctx ended.
func (b *Backends) attempt(ctx context.Context, bk *Backend, timeout, wait time.Duration, hello Hello) error {
	log := b.logger()
	rs := bk.Addr.String()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := b.dial(dctx, bk.Addr)
	cancel()
	if err != nil {
		bk.Release()
		switch {
		case b.Local.Record("connect to realserver "+rs, err):
			return fmt.Errorf("%w: %w", ErrOverload, err)
		case ctx.Err() == nil:
			b.Pool.MarkFailed(bk.rs, err)
			log.Warn("realserver connect failed", "realserver", rs, "err", err)
		}
		return err
	}
	bk.Conn = c
	if hello != nil {
		err = hello(ctx, bk, wait)
	}
	if err == nil {
		b.Pool.MarkOK(bk.rs)
		return nil
	}
	c.Close()
	bk.Conn = nil
	bk.Release()
	switch {
	case ctx.Err() != nil: // the client left or algd is stopping: nothing to blame
	case errors.Is(err, ErrRefused):
		log.Warn("realserver refused the session", "realserver", rs, "err", err)
	case b.Local.Record("greeting of realserver "+rs, err):
		return fmt.Errorf("%w: %w", ErrOverload, err)
	default:
		b.Pool.MarkFailed(bk.rs, err)
		log.Warn("realserver greeting failed", "realserver", rs, "err", err)
	}
	return err
}

// dial connects to addr through Dial, or from Source.
func (b *Backends) dial(ctx context.Context, addr netip.AddrPort) (*net.TCPConn, error) {
	if b.Dial == nil {
		return DialFrom(ctx, netip.AddrPortFrom(b.Source, 0), addr, 0)
	}
	c, err := b.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dial %s: got a %T, not a TCP connection", addr, c)
	}
	return tc, nil
}

// busy reports whether err says the realserver was there but too busy to
// take the session now: it reset or closed the connection before its
// Hello was done. A refused connection, an unreachable host or a timeout
// says otherwise.
func busy(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// timeout is Timeout or its default.
func (b *Backends) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return conf.DefaultBackendConnectTimeout
}

func (b *Backends) logger() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.Default()
}
