package ftp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

var _ alg.Handler = (*Handler)(nil)

// Handler serves the FTP control connections of one [[ftp]] listener: it
// picks a realserver from Pool, relays the control channel and pairs the
// data connections through DataPorts. The fields are set before the first
// Serve and not changed after.
type Handler struct {
	// Name labels the listener in logs.
	Name string
	// Pool chooses the realserver of each session.
	Pool *pool.Pool
	// Sessions caps sessions globally and per client; shared by listeners.
	Sessions *limits.Sessions
	// DataPorts is the client-side passive range of this listener.
	DataPorts *alg.DataPorts
	// PerClientPorts caps the passive ports one client address holds
	// (waiting or carrying a connection) over all its sessions; shared by
	// listeners. Nil: no cap.
	PerClientPorts *limits.PerClient
	// Advertise is the address announced in 227/229 replies; when invalid,
	// the control connection's local address is used.
	Advertise netip.Addr
	// TrustPASVAddress connects to the address a backend names in its 227
	// reply, provided it is one of the pool's realservers.
	TrustPASVAddress bool
	// AllowForeignData accepts PORT/EPRT to other hosts and low ports.
	AllowForeignData bool
	// Active says where active-mode data connections come from.
	Active conf.ActiveSource
	// BackendPorts, when set, is backend_data_mode "active": for a
	// client's PORT/EPRT the realserver gets a PORT to a port of this
	// range on algd's side of the realserver connection, instead of algd
	// asking it for PASV.
	BackendPorts *alg.DataPorts
	// ActivePorts hands out source ports when Active is a range; nil
	// otherwise.
	ActivePorts *alg.DataPorts
	// TLS enables FTPS; nil means plain FTP only (AUTH is refused).
	TLS *TLS
	// Limits are the resolved [limits].
	Limits conf.Limits
	// Logger is the base logger; nil means slog.Default().
	Logger *slog.Logger
	// Dialer connects to realservers; nil means a plain net.Dialer.
	Dialer *net.Dialer
	// Dial, when set, connects to realservers instead of Dialer (a seam
	// for tests); the connection it returns must be a *net.TCPConn.
	Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// Local counts the times algd itself ran out of descriptors, memory
	// or source ports; it may be shared by every listener. Such an error
	// is never blamed on a realserver, whether Local is set or not.
	Local *limits.LocalErrors
	// Stats counts what the listener did. Every handler of one listener
	// shares it, so that counters run across reloads; nil: the handler
	// makes its own at first use.
	Stats *Stats
	// SendProxy, when 1 or 2, starts every realserver control connection
	// with a PROXY protocol header of that version naming the client.
	SendProxy byte
	// Offenders, when set, counts refused data connections per source
	// address (bounded; may be shared by several handlers).
	Offenders *alg.Offenders
	// Registry, when set, lists the live sessions (for the status page),
	// numbers them and drains them; it may be shared by several handlers.
	Registry *alg.Registry

	ids       atomic.Uint64
	statsOnce sync.Once
}

// stats returns h.Stats, made at first use when nil.
func (h *Handler) stats() *Stats {
	h.statsOnce.Do(func() {
		if h.Stats == nil {
			h.Stats = new(Stats)
		}
	})
	return h.Stats
}

// Stats are a listener's counters, safe for concurrent use.
type Stats struct {
	// Sessions is the number of control sessions accepted; Active of them
	// are still open.
	Sessions, Active atomic.Int64
	// Refused counts sessions refused by limits or for want of a realserver.
	Refused atomic.Int64
	// Overloaded counts the sessions of Refused that were refused because
	// algd itself ran out of a resource (descriptors, memory, source
	// ports) while connecting them to a realserver.
	Overloaded atomic.Int64
	// DataConns counts paired data connections; BytesDown (realserver to
	// client) and BytesUp (client to realserver) the bytes they carried.
	DataConns, BytesDown, BytesUp atomic.Int64
	// BackendActive counts data connections a realserver opened to algd
	// (backend_data_mode "active").
	BackendActive atomic.Int64
	// Theft counts data connections from another address than the one
	// expected (the control peer; the realserver on the backend side),
	// refused.
	Theft atomic.Int64
	// DataSecond counts data connections refused because their port was
	// already paired: from the expected address, but after the expected
	// connection (someone behind the same NAT came first, or a retry).
	DataSecond atomic.Int64
	// DataOutsideWindow counts connections from a realserver to a backend
	// data port (backend_data_mode "active") while no transfer command of
	// its session was outstanding, refused.
	DataOutsideWindow atomic.Int64
	// PassiveExhausted counts PASV/EPSV answered 425 for want of a port.
	PassiveExhausted atomic.Int64
	// PassivePerClient counts PASV/EPSV answered 425 because the client
	// address already held its share of passive ports.
	PassivePerClient atomic.Int64
	// Bounce counts PORT/EPRT refused for naming another host than the
	// control peer or a privileged port.
	Bounce atomic.Int64
	// TLSHandshakes counts completed handshakes with clients (control and
	// data), TLSFailures failed ones (garbage, stalls, versions), and
	// TLSReuseRefused protected data connections refused for not resuming
	// the control session.
	TLSHandshakes, TLSFailures, TLSReuseRefused atomic.Int64
	// BadBackendReplies counts PASV/EPSV replies from a realserver that
	// could not be used (unparsable or naming a foreign address).
	BadBackendReplies atomic.Int64
	// Failed* count transfers whose data connection did not carry the
	// whole transfer (the client got 425 or 426), by why: it was never
	// made (FailedConnect: the client did not connect, or algd could not
	// reach the client or the realserver), the client's TLS handshake on
	// it failed (FailedTLS), either side reset it (FailedReset), algd cut
	// it (FailedCut: ABOR, session end) or nothing moved on it for
	// data_idle_timeout (FailedIdle).
	FailedConnect, FailedTLS, FailedReset, FailedCut, FailedIdle atomic.Int64
	// ProxyRefused counts connections dropped for a missing, malformed
	// or untrusted PROXY header (alg.Proxy.Refused points here).
	ProxyRefused atomic.Int64
	// Commands counts command lines algd refused and never forwarded:
	// lines it cannot read unambiguously, and TLS policy refusals.
	Commands Refusals
}

// countFailed counts a failed transfer.
func (st *Stats) countFailed(f failure) {
	switch f {
	case failConnect:
		st.FailedConnect.Add(1)
	case failTLS:
		st.FailedTLS.Add(1)
	case failReset:
		st.FailedReset.Add(1)
	case failCut:
		st.FailedCut.Add(1)
	case failIdle:
		st.FailedIdle.Add(1)
	}
}

// Serve runs one control session on c until either side ends it.
func (h *Handler) Serve(ctx context.Context, c *net.TCPConn) { h.serve(ctx, c, false) }

// serve runs a session; implicit starts it with a TLS handshake.
func (h *Handler) serve(ctx context.Context, c *net.TCPConn, implicit bool) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	client := alg.ClientOf(ctx, c) // a PROXY header's client, else the peer
	local := alg.AddrPortOf(c.LocalAddr())
	id := h.sessionID()
	log = log.With("session", id, "client", client.String())
	h.stats().Sessions.Add(1)
	if err := alg.SetOOBInline(c); err != nil {
		log.Debug("SO_OOBINLINE", "err", err)
	}

	release, err := h.Sessions.Acquire(client.Addr())
	if err != nil {
		h.stats().Refused.Add(1)
		log.Info("session refused", "err", err)
		refuse(c, NewReply(421, "Too many connections, try again later."))
		return
	}
	defer release()

	var (
		conn   net.Conn = c
		tlsCfg *tls.Config
	)
	if implicit {
		tlsCfg = h.TLS.sessionConfig()
		tc, err := h.clientHandshake(ctx, c, tlsCfg)
		if err != nil {
			log.Info("implicit TLS handshake failed", "err", err)
			c.Close()
			return
		}
		conn = tc
	}

	bk, refusal, err := h.openBackend(ctx, client, local, log)
	if err != nil {
		h.stats().Refused.Add(1)
		if errors.Is(err, errOverload) {
			h.stats().Overloaded.Add(1)
			log.Warn("session refused: algd is out of a local resource", "err", err)
			refusal = &overloadReply
		} else {
			log.Warn("no realserver", "err", err)
		}
		if refusal == nil {
			r := NewReply(421, "Service not available, no server reachable.")
			refusal = &r
		}
		refuse(conn, *refusal)
		return
	}
	defer bk.lease.Release()
	lease, backend, raw, bkTLS, greeting := bk.lease, bk.conn, bk.raw, bk.tls, bk.greeting
	mode := ""
	if bkTLS != nil {
		mode = h.TLS.Backend
	}
	h.stats().Active.Add(1)
	defer h.stats().Active.Add(-1)

	adv := h.Advertise
	if !adv.IsValid() {
		adv = local.Addr()
	}
	s := &session{
		h:          h,
		id:         id,
		clientAddr: client,
		started:    time.Now(),
		log:        log.With("realserver", lease.Realserver().Addr().String()),
		client:     conn,
		backend:    backend,
		bkTLS:      bkTLS,
		tlsOn:      implicit,
		tlsCfg:     tlsCfg,
		peer:       client.Addr(),
		adv:        adv,
		ctlPort:    local.Port(),
		rsAddr:     lease.Realserver().Addr(),
		bkLocal:    alg.AddrPortOf(raw.LocalAddr()).Addr(),
		maxLine:    h.Limits.MaxLineBytes,
		maxReply:   cmp.Or(h.Limits.MaxReplyBytes, conf.DefaultMaxReplyBytes),
		idle:       h.Limits.ControlIdleTimeout.Duration,
		dataWait:   h.Limits.DataConnectTimeout.Duration,
	}
	if implicit {
		s.prot = 'P'
	} else {
		s.prot = 'C'
	}
	s.tlsShown.Store(implicit)
	defer s.register()()
	s.log.Info("session start", "listen", local.String(), "tls", implicit, "backend_tls", mode)
	start := time.Now()
	err = s.run(ctx, &greeting)
	s.log.Info("session end", "duration", time.Since(start).Round(time.Millisecond), "reason", reason(err),
		"down", s.down, "up", s.up, "transfers", s.transfers)
}

// backendConn is a realserver control connection, greeted (and under TLS
// when configured), ready for a session.
type backendConn struct {
	lease    *pool.Lease
	raw      *net.TCPConn // the TCP connection under conn
	conn     net.Conn     // raw, or TLS over raw
	tls      *tls.Config  // the realserver leg's TLS for data connections; nil: plain
	greeting Reply        // the realserver's 220, relayed to the client
}

// errOverload marks an openBackend error that is algd's own: it ran out of
// descriptors, memory or source ports. The client is told so, and no
// realserver is blamed.
var errOverload = errors.New("algd out of a local resource")

// overloadReply answers a client whose session algd could not open for
// want of its own resources (RFC 959 §4.2: 421, service not available).
var overloadReply = NewReply(421, "Service not available, proxy overloaded, try again later.")

// dial connects to a realserver through Dial, or Dialer.
func (h *Handler) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if h.Dial != nil {
		return h.Dial(ctx, addr)
	}
	d := h.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	return d.DialContext(ctx, "tcp", addr.String())
}

// retryPause is the first pause before a session tries its busy
// realservers again; it doubles for each further pass. A session makes at
// most retryPasses passes after the first (HAProxy's retries default to
// 3), so that a storm of resets is not answered with a storm of connects.
const (
	retryPause  = 100 * time.Millisecond
	retryPasses = 3
)

// openBackend picks a realserver, connects and waits for its greeting,
// failing over to the others when a realserver does not accept, does not
// greet within the connect timeout, fails its TLS setup or greets with a
// refusal (a full ftpd answers 421). When every realserver refused,
// refusal is the last refusal, for the client. The connect timeout bounds
// each connect, and each greeting while another member is left to try;
// the last member left gets control_idle_timeout for its greeting, as for
// any reply: under load an ftpd is slow to greet, not dead.
//
// A realserver that failed this way is marked (pool.MarkFailed: other
// members are preferred for a while) but stays in the pool: only health
// checks take it down. One that was merely busy — it reset or closed the
// connection before its greeting, as an ftpd whose listen backlog
// overflows does — is tried again, after a pause, up to retryPasses times
// while the connect timeout since the session began lasts: a busy pool makes clients
// wait, as HAProxy's queue does, rather than answering 421 at once. A
// refused connection or a timeout is not retried, so a pool that is
// really gone answers at once. An error that is algd's own (no
// descriptor for the socket, no source port) ends the attempt at once
// with errOverload, counted in Local and blamed on no realserver.
func (h *Handler) openBackend(ctx context.Context, client, local netip.AddrPort, log *slog.Logger) (bk *backendConn, refusal *Reply, err error) {
	timeout := h.Limits.BackendConnectTimeout.Duration
	deadline := time.Now().Add(timeout)
	pause, passes := retryPause, 0
	var tried, final []*pool.Realserver // final: not retried by this session
	for {
		lease, err := h.Pool.Pick(client.Addr(), tried...)
		if err != nil {
			if len(tried) == len(final) || passes == retryPasses || time.Until(deadline) < pause {
				return nil, refusal, err
			}
			passes++
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil, refusal, ctx.Err()
			}
			pause *= 2
			tried = slices.Clone(final)
			continue
		}
		rs := lease.Realserver()
		tried = append(tried, rs)
		wait := timeout
		if !h.Pool.Others(tried...) {
			// The last chance: a realserver that accepted is alive, and
			// gets as long for its greeting as for any reply.
			wait = max(timeout, h.Limits.ControlIdleTimeout.Duration)
		}
		bk, r, err := h.attempt(ctx, lease, client, local, timeout, wait, log)
		switch {
		case err == nil && r == nil:
			return bk, nil, nil
		case errors.Is(err, errOverload):
			return nil, nil, err
		case ctx.Err() != nil: // the client or algd gave up, not the realserver
			return nil, refusal, ctx.Err()
		case r != nil:
			refusal = r
			final = append(final, rs)
		case !busy(err):
			final = append(final, rs)
		}
	}
}

// attempt connects a session to the realserver of lease within timeout
// and reads its greeting within wait. It returns the connection, or the
// realserver's refusal, or the error; on either of the latter the lease
// is released. A failure is marked on the realserver unless it is algd's
// own (then the error is errOverload) or ctx ended.
func (h *Handler) attempt(ctx context.Context, lease *pool.Lease, client, local netip.AddrPort, timeout, wait time.Duration, log *slog.Logger) (*backendConn, *Reply, error) {
	rs := lease.Realserver()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	c, err := h.dial(dctx, rs.Addr())
	cancel()
	if err != nil {
		lease.Release()
		switch {
		case h.Local.Record("connect to realserver "+rs.Addr().String(), err):
			return nil, nil, fmt.Errorf("%w: %w", errOverload, err)
		case ctx.Err() == nil:
			h.Pool.MarkFailed(rs, err)
			log.Warn("realserver connect failed", "realserver", rs.Addr().String(), "err", err)
		}
		return nil, nil, err
	}
	raw := c.(*net.TCPConn)
	cfg := h.backendTLS(rs.Addr())
	mode := ""
	if cfg != nil {
		mode = h.TLS.Backend
	}
	var (
		conn     net.Conn
		greeting Reply
	)
	if err = h.sendProxy(raw, client, local); err == nil {
		conn, greeting, err = greet(ctx, raw, cfg, mode, wait)
	}
	if err == nil && greeting.Code == 220 {
		h.Pool.MarkOK(rs)
		return &backendConn{lease: lease, raw: raw, conn: conn, tls: cfg, greeting: greeting}, nil, nil
	}
	raw.Close()
	lease.Release()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, nil, err // the client left or algd is stopping: nothing to blame
	case err != nil && h.Local.Record("greeting of realserver "+rs.Addr().String(), err):
		return nil, nil, fmt.Errorf("%w: %w", errOverload, err)
	case err != nil:
		h.Pool.MarkFailed(rs, err)
		log.Warn("realserver greeting failed", "realserver", rs.Addr().String(), "err", err)
		return nil, nil, err
	}
	log.Warn("realserver refused the session", "realserver", rs.Addr().String(), "reply", greeting.Text())
	return nil, &greeting, nil
}

// busy reports whether err says the realserver was there but too busy to
// take the session now: it reset or closed the connection before its
// greeting. A refused connection, an unreachable host or a timeout says
// otherwise.
func busy(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// refuse answers r on a connection that gets no session, and closes it.
func refuse(c net.Conn, r Reply) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(r.AppendWire(nil))
	c.Close()
}

// reason turns the error that ended a session into a log value.
func reason(err error) string {
	switch {
	case err == nil:
		return "quit"
	case errors.Is(err, errClientClosed):
		return "client closed"
	case errors.Is(err, errBackendClosed):
		return "realserver closed"
	default:
		return err.Error()
	}
}
