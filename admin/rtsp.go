package admin

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// RTSPListener is one [[rtsp]] listener and what it did since algd
// started (rtsp.Stats and its media port ranges).
type RTSPListener struct {
	// Name is the listener's name; Pool the pool it serves.
	Name string `json:"name"`
	Pool string `json:"pool"`
	// Addrs are the control addresses it accepts on.
	Addrs []netip.AddrPort `json:"addrs"`
	// Conns counts control connections accepted, Active those open now,
	// Refused those refused by limits or for want of a realserver.
	Conns   int64 `json:"conns"`
	Active  int64 `json:"active"`
	Refused int64 `json:"refused"`
	// MediaSessions are the RTSP sessions with relayed media now;
	// SessionsEnded counts those ended (TEARDOWN, timeout, control close).
	MediaSessions int   `json:"media_sessions"`
	SessionsEnded int64 `json:"sessions_ended"`
	// Streams counts UDP streams set up (relayed); Interleaved SETUPs
	// answered with RTP/AVP/TCP (passed through on the control connection).
	Streams     int64 `json:"streams"`
	Interleaved int64 `json:"interleaved"`
	// Unsupported counts SETUPs refused 461 (multicast), Exhausted those
	// refused 453 for want of a media port pair, PerClient those refused
	// 453 because the client address held [limits]
	// max_media_pairs_per_client pairs.
	Unsupported int64 `json:"unsupported"`
	Exhausted   int64 `json:"exhausted"`
	PerClient   int64 `json:"per_client"`
	// Packets and bytes relayed over UDP: up is client to realserver,
	// down realserver to client. Dropped counts datagrams from unexpected
	// sources, truncated ones and ones that could not be sent.
	UpPackets   int64 `json:"up_packets"`
	UpBytes     int64 `json:"up_bytes"`
	DownPackets int64 `json:"down_packets"`
	DownBytes   int64 `json:"down_bytes"`
	Dropped     int64 `json:"dropped"`
	// DroppedBy splits Dropped by reason: "source" (not from the peer's
	// announced address and port, nor from the pool's media_sources),
	// "truncated", "unsendable".
	DroppedBy map[string]int64 `json:"dropped_by,omitempty"`
	// SourcesRefused counts UDP streams whose realserver named in
	// source= an address that is neither a realserver of the pool nor in
	// its media_sources (its media is dropped).
	SourcesRefused int64 `json:"sources_refused"`
	// MediaPairs is the client-side range on the VIP (media_ports),
	// BackendPairs the backend-side range (backend_media_ports).
	MediaPairs   PairUsage `json:"media_pairs"`
	BackendPairs PairUsage `json:"backend_pairs"`
}

// PairUsage is the usage of a UDP range handed out in RTP/RTCP port
// pairs.
type PairUsage struct {
	// InUse of Size pairs are reserved now (summed over the local
	// addresses the range is bound on); Exhaustions counts the times none
	// was free.
	InUse       int    `json:"in_use"`
	Size        int    `json:"size"`
	Exhaustions uint64 `json:"exhaustions"`
}

// rtspCollector exports Status.RTSP as algd_rtsp_* metrics with a
// listener label, read at scrape time like the FTP ones.
type rtspCollector struct {
	src Source

	active, total, refused, mediaSessions, ended *prometheus.Desc
	streams, setupsRefused                       *prometheus.Desc
	packets, bytes, dropped                      *prometheus.Desc
	droppedBy, sourcesRefused                    *prometheus.Desc
	pairsInUse, pairs, pairsExhausted            *prometheus.Desc
}

// NewRTSPCollector returns the collector of the RTSP listeners' metrics
// (algd_rtsp_*), read from src's Status().RTSP at each scrape; give it to
// Server.Collectors.
func NewRTSPCollector(src Source) prometheus.Collector {
	l := []string{"listener"}
	return &rtspCollector{
		src:            src,
		active:         desc("rtsp_sessions_active", "RTSP control connections open now.", l...),
		total:          desc("rtsp_sessions_total", "RTSP control connections accepted.", l...),
		refused:        desc("rtsp_sessions_refused_total", "RTSP control connections refused by limits or for want of a realserver.", l...),
		mediaSessions:  desc("rtsp_media_sessions", "RTSP sessions with relayed media now.", l...),
		ended:          desc("rtsp_media_sessions_ended_total", "RTSP media sessions ended by TEARDOWN, timeout or control close.", l...),
		streams:        desc("rtsp_streams_total", "SETUPs accepted, by transport: udp (relayed by algd) or interleaved (RTP/AVP/TCP on the control connection).", "listener", "transport"),
		setupsRefused:  desc("rtsp_setups_refused_total", "SETUPs refused: unsupported (461, multicast), exhausted (453, no free media port pair) or per_client (453, the client address holds max_media_pairs_per_client pairs).", "listener", "reason"),
		packets:        desc("rtsp_media_packets_total", "RTP/RTCP datagrams relayed; direction down is realserver to client.", "listener", "direction"),
		bytes:          desc("rtsp_media_bytes_total", "RTP/RTCP datagram bytes (UDP payload) relayed; direction down is realserver to client.", "listener", "direction"),
		dropped:        desc("rtsp_media_dropped_total", "Datagrams dropped: from unexpected sources, truncated, or not sendable.", l...),
		droppedBy:      desc("rtsp_media_dropped_by_reason_total", "Datagrams dropped, by reason: source (from an address or port algd does not accept for the stream), truncated, unsendable.", "listener", "reason"),
		sourcesRefused: desc("rtsp_media_sources_refused_total", "UDP streams whose realserver announced in source= an address that is neither a pool member nor in the pool's media_sources.", l...),
		pairsInUse:     desc("rtsp_media_pairs_in_use", "Media UDP port pairs (RTP and RTCP) reserved now; side client is media_ports on the VIP, backend is backend_media_ports.", "listener", "side"),
		pairs:          desc("rtsp_media_pairs", "Size of the media UDP range in port pairs.", "listener", "side"),
		pairsExhausted: desc("rtsp_media_pairs_exhausted_total", "Media port pair requests refused for want of a free pair.", "listener", "side"),
	}
}

// Describe sends every description.
func (c *rtspCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.active, c.total, c.refused, c.mediaSessions, c.ended, c.streams, c.setupsRefused,
		c.packets, c.bytes, c.dropped, c.droppedBy, c.sourcesRefused, c.pairsInUse, c.pairs, c.pairsExhausted,
	} {
		ch <- d
	}
}

// Collect reads one Status and sends its RTSP listeners as metrics.
func (c *rtspCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, l := range c.src.Status().RTSP {
		n := l.Name
		gauge(c.active, float64(l.Active), n)
		counter(c.total, float64(l.Conns), n)
		counter(c.refused, float64(l.Refused), n)
		gauge(c.mediaSessions, float64(l.MediaSessions), n)
		counter(c.ended, float64(l.SessionsEnded), n)
		counter(c.streams, float64(l.Streams), n, "udp")
		counter(c.streams, float64(l.Interleaved), n, "interleaved")
		counter(c.setupsRefused, float64(l.Unsupported), n, "unsupported")
		counter(c.setupsRefused, float64(l.Exhausted), n, "exhausted")
		counter(c.setupsRefused, float64(l.PerClient), n, "per_client")
		counter(c.packets, float64(l.UpPackets), n, "up")
		counter(c.packets, float64(l.DownPackets), n, "down")
		counter(c.bytes, float64(l.UpBytes), n, "up")
		counter(c.bytes, float64(l.DownBytes), n, "down")
		counter(c.dropped, float64(l.Dropped), n)
		for _, reason := range slices.Sorted(maps.Keys(l.DroppedBy)) {
			counter(c.droppedBy, float64(l.DroppedBy[reason]), n, reason)
		}
		counter(c.sourcesRefused, float64(l.SourcesRefused), n)
		for _, p := range []struct {
			side string
			r    PairUsage
		}{{"client", l.MediaPairs}, {"backend", l.BackendPairs}} {
			gauge(c.pairsInUse, float64(p.r.InUse), n, p.side)
			gauge(c.pairs, float64(p.r.Size), n, p.side)
			counter(c.pairsExhausted, float64(p.r.Exhaustions), n, p.side)
		}
	}
}
