package ftp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/hist"
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
	// Kernel, when set, is the kernel data path (data_path "kernel" or
	// "auto" where it is available): data connections whose bytes need
	// nothing from algd are forwarded by one-shot NAT mappings (see
	// kernel.go for which). Nil: every data connection takes the proxy
	// path.
	Kernel alg.Kernel
	// KernelBackendPorts is the backend_ports range for a client's
	// PORT/EPRT on the kernel path: the realserver gets a PORT to a port
	// of it (as with BackendPorts) and a mapping sends its connection on
	// to the client. Nil (no backend_ports): PORT/EPRT take the proxy
	// path. It may be BackendPorts itself.
	KernelBackendPorts *alg.DataPorts
	// ActivePorts hands out source ports when Active is a range; nil
	// otherwise.
	ActivePorts *alg.DataPorts
	// TLS enables FTPS; nil means plain FTP only (AUTH is refused).
	TLS *TLS
	// Limits are the resolved [limits].
	Limits conf.Limits
	// Logger is the base logger; nil means slog.Default().
	Logger *slog.Logger
	// BackendSource is the local address of connections to realservers
	// (backend_source); when invalid, the kernel chooses.
	BackendSource netip.Addr
	// Dial, when set, connects to realservers instead of a dial from
	// BackendSource (a seam for tests); the connection it returns must be
	// a *net.TCPConn.
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
	// RouteByUser is route_by "user": algd greets the client itself with
	// Greeting, answers what needs no realserver, and on USER connects to
	// a realserver chosen for that user (see Users), through which the
	// session then runs as usual.
	RouteByUser bool
	// Greeting is the text of algd's own 220 with RouteByUser; empty
	// means conf.DefaultGreeting.
	Greeting string
	// Users are the user routes of RouteByUser, tried in order; a user
	// none matches goes to Pool (with SendProxy).
	Users []UserRoute

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
	// client) and BytesUp (client to realserver) the bytes they carried
	// (on the kernel path: from conntrack's counters, see payload).
	DataConns, BytesDown, BytesUp atomic.Int64
	// KernelConns and ProxyConns split DataConns by data path: carried
	// by the kernel, or spliced by algd. KernelMapFailed counts the
	// mappings the kernel refused, whose transfers took the proxy path.
	KernelConns, ProxyConns, KernelMapFailed atomic.Int64
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
	// SessionDurations and TransferDurations are the histograms of how
	// long control sessions and data connections lasted.
	SessionDurations, TransferDurations hist.Histogram
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

	var bk *backendConn
	if !h.RouteByUser {
		var refusal *Reply
		bk, refusal, err = h.openBackend(ctx, h.defaultRoute(), "", client, local, log)
		if err != nil {
			h.refused(conn, refusal, err, log)
			return
		}
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
		base:       log,
		client:     conn,
		tlsOn:      implicit,
		tlsCfg:     tlsCfg,
		peer:       client.Addr(),
		local:      local,
		adv:        adv,
		ctlPort:    local.Port(),
		maxLine:    h.Limits.MaxLineBytes,
		maxReply:   cmp.Or(h.Limits.MaxReplyBytes, conf.DefaultMaxReplyBytes),
		idle:       h.Limits.ControlIdleTimeout.Duration,
		dataWait:   h.Limits.DataConnectTimeout.Duration,
	}
	s.logp.Store(log)
	greeting := NewReply(220, cmp.Or(h.Greeting, conf.DefaultGreeting))
	mode := ""
	if bk != nil {
		s.useBackend(bk)
		s.logp.Store(log.With("realserver", bk.Addr.String()))
		greeting = bk.greeting
		if bk.tls != nil {
			mode = h.TLS.Backend
		}
	}
	if implicit {
		s.prot = 'P'
	} else {
		s.prot = 'C'
	}
	s.tlsShown.Store(implicit)
	defer s.register()()
	s.logger().Info("session start", "listen", local.String(), "tls", implicit, "backend_tls", mode, "route_by_user", h.RouteByUser)
	start := time.Now()
	err = s.run(ctx, &greeting)
	s.h.stats().SessionDurations.Observe(time.Since(start))
	s.logger().Info("session end", "duration", alg.Seconds(time.Since(start)), "reason", reason(err),
		"tls", s.tlsShown.Load(), "down", s.down, "up", s.up, "transfers", s.transfers)
}

// refused tells a client whose session got no realserver why (refusal, the
// realserver's own reply, when there is one), counts and logs it, and
// closes conn.
func (h *Handler) refused(conn net.Conn, refusal *Reply, err error, log *slog.Logger) {
	h.stats().Refused.Add(1)
	if errors.Is(err, alg.ErrOverload) {
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
}

// backendConn is a realserver control connection, greeted (and under TLS
// when configured), ready for a session.
type backendConn struct {
	*alg.Backend             // the TCP connection and the lease
	conn         net.Conn    // Conn, or TLS over Conn
	tls          *tls.Config // the realserver leg's TLS for data connections; nil: plain
	greeting     Reply       // the realserver's 220, relayed to the client
}

// overloadReply answers a client whose session algd could not open for
// want of its own resources (RFC 959 §4.2: 421, service not available).
var overloadReply = NewReply(421, "Service not available, proxy overloaded, try again later.")

// openBackend picks a realserver, connects and waits for its greeting,
// failing over to the others when a realserver does not accept, does not
// greet within the connect timeout, fails its TLS setup or greets with a
// refusal (a full ftpd answers 421). When every realserver refused,
// refusal is the last refusal, for the client. The connect timeout bounds
// each connect, and each greeting while another member is left to try;
// the last member left gets control_idle_timeout for its greeting, as for
// any reply: under load an ftpd is slow to greet, not dead.
//
// alg.Backends.Open does the picking, marking and failing over: a
// realserver that reset or closed the connection before its greeting (an
// ftpd whose listen backlog overflows) is tried again after a pause, one
// that refused the connection is not; an error that is algd's own ends
// the attempt at once with alg.ErrOverload, blamed on no realserver.
//
// r is the pool to pick from and the PROXY header it wants; user, when
// set, is the FTP user name the session is routed by (pool.PickUser).
func (h *Handler) openBackend(ctx context.Context, r UserRoute, user string, client, local netip.AddrPort, log *slog.Logger) (bk *backendConn, refusal *Reply, err error) {
	bk = &backendConn{}
	hello := func(ctx context.Context, b *alg.Backend, wait time.Duration) error {
		cfg := h.backendTLS(b.Addr)
		mode := ""
		if cfg != nil {
			mode = h.TLS.Backend
		}
		if err := sendProxy(b.Conn, r.SendProxy, client, local); err != nil {
			return err
		}
		conn, greeting, err := greet(ctx, b.Conn, cfg, mode, wait)
		switch {
		case err != nil:
			return err
		case greeting.Code != 220:
			refusal = &greeting
			return fmt.Errorf("%w: %q", alg.ErrRefused, greeting.Text())
		}
		bk.conn, bk.tls, bk.greeting = conn, cfg, greeting
		return nil
	}
	b := alg.Backends{
		Pool:     r.Pool,
		User:     user,
		Source:   h.BackendSource,
		Timeout:  h.Limits.BackendConnectTimeout.Duration,
		LastWait: h.Limits.ControlIdleTimeout.Duration,
		Dial:     h.Dial,
		Local:    h.Local,
		Logger:   log,
	}
	bk.Backend, err = b.Open(ctx, client.Addr(), netip.AddrPort{}, hello)
	switch {
	case errors.Is(err, alg.ErrOverload):
		return nil, nil, err
	case err != nil:
		return nil, refusal, err
	}
	return bk, nil, nil
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
