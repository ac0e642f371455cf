// Package alg is the protocol-neutral machinery of algd: control listeners,
// one-shot data expectations on ports from a bounded range, and the TCP pipe
// that moves data between two connections with half-close and splice. It
// knows no protocol: ftp (and later rtsp) plug a Handler into a Server.
package alg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/algd/algd/limits"
)

// Handler serves one accepted control connection. It owns conn and must
// close it before returning. ctx is cancelled when the server shuts down.
type Handler interface {
	Serve(ctx context.Context, conn *net.TCPConn)
}

// Listen binds a TCP listener on addr.
func Listen(ctx context.Context, addr netip.AddrPort) (*net.TCPListener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// Server accepts control connections on listeners and hands each to Handler
// in its own goroutine.
type Server struct {
	// Handler serves each connection.
	Handler Handler
	// Logger receives accept errors; nil means slog.Default().
	Logger *slog.Logger
	// Local counts (and logs, rate-limited) accepts that failed for want
	// of a descriptor or memory; nil logs each at Warn.
	Local *limits.LocalErrors

	wg sync.WaitGroup
}

// Serve accepts on ln until ctx is done or ln fails permanently, then closes
// ln. Handlers already running keep running; Wait waits for them.
// Temporary accept errors (EMFILE and the like) back off from 5 ms up to 1 s
// rather than spinning; the connection waits in the listen backlog
// meanwhile. Local resource errors go to Local.
func (s *Server) Serve(ctx context.Context, ln *net.TCPListener) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if s.Local == nil || !s.Local.Record("accept on "+ln.Addr().String(), err) {
				log.Warn("accept failed", "listen", ln.Addr().String(), "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.Handler.Serve(ctx, c)
		}()
	}
}

// Wait blocks until every handler started by Serve has returned.
func (s *Server) Wait() { s.wg.Wait() }

// AddrPortOf returns the address of a TCP endpoint with IPv4-mapped IPv6
// addresses unmapped; the zero AddrPort for anything else.
func AddrPortOf(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
