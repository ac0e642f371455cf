package rtsp

import (
	"context"
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

// Handler serves the RTSP control connections of one [[rtsp]] listener.
// The exported fields are set before the first Serve and not changed
// after.
type Handler struct {
	// Name labels the listener in logs.
	Name string
	// Pool chooses the realserver of each new control connection.
	Pool *pool.Pool
	// Sessions caps control connections globally and per client.
	Sessions *limits.Sessions
	// MediaPorts are the client-side pairs, bound on the advertised
	// address.
	MediaPorts *alg.UDPPorts
	// BackendPorts are the backend-side pairs, bound on the local address
	// of the realserver connection.
	BackendPorts *alg.UDPPorts
	// PerClientPairs caps the client-side media pairs one client address
	// holds over all its sessions; shared by listeners. Nil: no cap.
	PerClientPairs *limits.PerClient
	// Advertise is the address clients are told (server_port, source,
	// SDP); when invalid, the control connection's local address.
	Advertise netip.Addr
	// BackendSource is the local address of connections to realservers;
	// when invalid, the kernel chooses.
	BackendSource netip.Addr
	// Dial, when set, connects to realservers instead of a dial from
	// BackendSource (a seam for tests); the connection it returns must be
	// a *net.TCPConn.
	Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// SessionTimeout applies to sessions whose Session header states no
	// timeout; zero means 60s.
	SessionTimeout time.Duration
	// Limits are the resolved [limits]: line length, control idle
	// timeout, backend connect timeout.
	Limits conf.Limits
	// Logger is the base logger; nil means slog.Default().
	Logger *slog.Logger
	// Stats counts what the listener did. Give every handler generation
	// of a listener the same Stats, so that its counters run across
	// reloads; nil: the handler makes its own at first use.
	Stats *Stats
	// Media holds the listener's media sessions. Give every handler
	// generation of a listener (a reload builds a new one) the same
	// Media, so that a Session id set up through one is found through the
	// next, and Close it at shutdown. Nil: the handler makes its own.
	Media *Media
	// Registry, when set, lists the live control connections and the
	// media sessions that outlive theirs (for the status page), numbers
	// them and drains them; it may be shared by several handlers.
	Registry *alg.Registry
	// Kernel, when set, carries UDP media streams in the kernel (the
	// kernel data path, alg/nat): at SETUP algd maps the stream's RTP and
	// RTCP both ways instead of relaying them, keeping its sockets bound
	// for whatever was not mapped. A stream the kernel cannot take (mixed
	// address families, a mapping refused) is relayed as on the proxy
	// path. Nil: the proxy path only.
	Kernel alg.Kernel
	// Local counts the times algd itself ran out of descriptors, memory
	// or source ports; it may be shared by every listener. Such an error
	// is never blamed on a realserver, whether Local is set or not.
	Local *limits.LocalErrors

	ids       atomic.Uint64 // numbers connections when there is no Registry
	once      sync.Once
	statsOnce sync.Once
	media     *Media // Media, or the handler's own
}

// Stats are a listener's counters, safe for concurrent use.
type Stats struct {
	// Conns counts control connections accepted; Active are open now.
	Conns, Active atomic.Int64
	// Refused counts connections refused by limits or for want of a
	// realserver.
	Refused atomic.Int64
	// Streams counts UDP streams set up (relays started); Interleaved
	// counts SETUPs answered with RTP/AVP/TCP, passed through.
	Streams, Interleaved atomic.Int64
	// KernelStreams counts the UDP streams (of Streams) carried by the
	// kernel data path; KernelRefused those that a Kernel was set for
	// but that went to the proxy path (mixed address families, a mapping
	// the kernel refused).
	KernelStreams, KernelRefused atomic.Int64
	// Unsupported counts SETUPs refused 461 (multicast only).
	Unsupported atomic.Int64
	// Exhausted counts SETUPs refused 453 for want of a media pair.
	Exhausted atomic.Int64
	// SourcesRefused counts UDP streams whose realserver named in
	// source= an address algd does not accept media from (neither a
	// realserver of the pool nor in its media_sources): the stream goes
	// on from the control address only.
	SourcesRefused atomic.Int64
	// PerClient counts SETUPs refused 453 because the client address
	// already held its share of media pairs.
	PerClient atomic.Int64
	// SessionsEnded counts media sessions ended (TEARDOWN, timeout,
	// control close).
	SessionsEnded atomic.Int64
	// ConnDurations and MediaDurations are the histograms of how long
	// control connections and media sessions lasted.
	ConnDurations, MediaDurations hist.Histogram
	// Media counts the relayed RTP/RTCP datagrams of every stream, and
	// those dropped (by reason: unexpected source, truncated, unsendable).
	Media alg.UDPStats
}

// table returns the media session table: Media, or the handler's own,
// made on first use.
func (h *Handler) table() *Media {
	h.once.Do(func() {
		h.media = h.Media
		if h.media == nil {
			h.media = NewMedia()
		}
	})
	return h.media
}

// MediaSessions is the number of live media sessions (of Media, when
// shared).
func (h *Handler) MediaSessions() int { return h.table().Len() }

// Close ends every media session of the handler's table (Media, when
// shared: every generation's): relays stop and ports go back. Control
// connections end through the context given to Serve.
func (h *Handler) Close() { h.table().Close() }

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) sessionTimeout() time.Duration {
	if h.SessionTimeout > 0 {
		return h.SessionTimeout
	}
	return 60 * time.Second
}

// Serve relays one client control connection until either side closes.
func (h *Handler) Serve(ctx context.Context, c *net.TCPConn) {
	st := h.stats()
	st.Conns.Add(1)
	st.Active.Add(1)
	defer st.Active.Add(-1)
	s := &conn{
		h:        h,
		client:   c,
		peer:     alg.AddrPortOf(c.RemoteAddr()),
		local:    alg.AddrPortOf(c.LocalAddr()),
		id:       h.sessionID(),
		started:  time.Now(),
		pend:     make(map[string]*pending),
		inflight: 1, // the first request, once read
	}
	s.vip = h.Advertise
	if !s.vip.IsValid() {
		s.vip = s.local.Addr()
	}
	s.log = h.logger().With("session", s.id, "client", s.peer.String())
	s.serve(ctx)
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
