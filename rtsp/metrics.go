package rtsp

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
)

// The descriptions of the RTSP listeners' metrics (algd_rtsp_*).
var (
	descActive         = alg.NewDesc("rtsp_sessions_active", "RTSP control connections open now.")
	descTotal          = alg.NewDesc("rtsp_sessions_total", "RTSP control connections accepted.")
	descRefused        = alg.NewDesc("rtsp_sessions_refused_total", "RTSP control connections refused by limits or for want of a realserver.")
	descMediaSessions  = alg.NewDesc("rtsp_media_sessions", "RTSP sessions with relayed media now.")
	descEnded          = alg.NewDesc("rtsp_media_sessions_ended_total", "RTSP media sessions ended by TEARDOWN, timeout or control close.")
	descStreams        = alg.NewDesc("rtsp_streams_total", "SETUPs accepted, by transport: udp (relayed by algd) or interleaved (RTP/AVP/TCP on the control connection).", "transport")
	descStreamsByPath  = alg.NewDesc("rtsp_streams_by_path_total", "UDP streams set up, by data path: kernel (RTP/RTCP forwarded by kernel NAT mappings, counted by conntrack) or proxy (relayed by algd).", "path")
	descKernelRefused  = alg.NewDesc("rtsp_kernel_refused_total", "UDP streams of a kernel-path listener that went to the proxy path: mixed address families, or a mapping the kernel refused.")
	descSetupsRefused  = alg.NewDesc("rtsp_setups_refused_total", "SETUPs refused: unsupported (461, multicast), exhausted (453, no free media port pair) or per_client (453, the client address holds max_media_pairs_per_client pairs).", "reason")
	descPackets        = alg.NewDesc("rtsp_media_packets_total", "RTP/RTCP datagrams relayed (by algd, or by the kernel as conntrack counts them); direction down is realserver to client.", "direction")
	descBytes          = alg.NewDesc("rtsp_media_bytes_total", "RTP/RTCP datagram bytes (UDP payload) relayed (by algd, or by the kernel as conntrack counts them, less IP and UDP headers); direction down is realserver to client.", "direction")
	descDropped        = alg.NewDesc("rtsp_media_dropped_total", "Datagrams dropped: from unexpected sources, truncated, or not sendable.")
	descDroppedBy      = alg.NewDesc("rtsp_media_dropped_by_reason_total", "Datagrams dropped, by reason: source (from an address or port algd does not accept for the stream), truncated, unsendable.", "reason")
	descSourcesRefused = alg.NewDesc("rtsp_media_sources_refused_total", "UDP streams whose realserver announced in source= an address that is neither a pool member nor in the pool's media_sources.")
	descPairsInUse     = alg.NewDesc("rtsp_media_pairs_in_use", "Media UDP port pairs (RTP and RTCP) reserved now; side client is media_ports on the VIP, backend is backend_media_ports.", "side")
	descPairs          = alg.NewDesc("rtsp_media_pairs", "Size of the media UDP range in port pairs.", "side")
	descConnDuration   = alg.NewDesc("rtsp_session_duration_seconds", "How long RTSP control connections lasted.")
	descMediaDuration  = alg.NewDesc("rtsp_media_session_duration_seconds", "How long RTSP media sessions lasted, from SETUP to their end.")
	descPairsExhausted = alg.NewDesc("rtsp_media_pairs_exhausted_total", "Media port pair requests refused for want of a free pair.", "side")
)

// metrics is every number an RTSP listener exports, to /metrics and to
// /status: a counter is added to Stats and here, nowhere else.
var metrics = func() alg.Metrics[*Handler] {
	const c, g = prometheus.CounterValue, prometheus.GaugeValue
	stat := func(key string, d *prometheus.Desc, t prometheus.ValueType, f func(*Stats) int64, labels ...string) alg.Metric[*Handler] {
		return alg.Metric[*Handler]{Key: key, Desc: d, Type: t, Labels: labels, Value: func(h *Handler) int64 { return f(h.stats()) }}
	}
	pairs := func(key string, d *prometheus.Desc, t prometheus.ValueType, side string, backend bool, f func(in, size int, ex uint64) int64) alg.Metric[*Handler] {
		return alg.Metric[*Handler]{Key: key, Desc: d, Type: t, Labels: []string{side}, Value: func(h *Handler) int64 {
			p := h.MediaPorts
			if backend {
				p = h.BackendPorts
			}
			if p == nil {
				return 0
			}
			return f(p.Usage())
		}}
	}
	m := alg.Metrics[*Handler]{
		stat("active", descActive, g, func(s *Stats) int64 { return s.Active.Load() }),
		stat("sessions", descTotal, c, func(s *Stats) int64 { return s.Conns.Load() }),
		stat("refused", descRefused, c, func(s *Stats) int64 { return s.Refused.Load() }),
		{Key: "media_sessions", Desc: descMediaSessions, Type: g, Value: func(h *Handler) int64 { return int64(h.MediaSessions()) }},
		stat("sessions_ended", descEnded, c, func(s *Stats) int64 { return s.SessionsEnded.Load() }),
		stat("streams.udp", descStreams, c, func(s *Stats) int64 { return s.Streams.Load() }, "udp"),
		stat("streams.interleaved", descStreams, c, func(s *Stats) int64 { return s.Interleaved.Load() }, "interleaved"),
		stat("streams_by_path.kernel", descStreamsByPath, c, func(s *Stats) int64 { return s.KernelStreams.Load() }, "kernel"),
		stat("streams_by_path.proxy", descStreamsByPath, c, func(s *Stats) int64 { return s.Streams.Load() - s.KernelStreams.Load() }, "proxy"),
		stat("kernel_refused", descKernelRefused, c, func(s *Stats) int64 { return s.KernelRefused.Load() }),
		stat("setups_refused.unsupported", descSetupsRefused, c, func(s *Stats) int64 { return s.Unsupported.Load() }, "unsupported"),
		stat("setups_refused.exhausted", descSetupsRefused, c, func(s *Stats) int64 { return s.Exhausted.Load() }, "exhausted"),
		stat("setups_refused.per_client", descSetupsRefused, c, func(s *Stats) int64 { return s.PerClient.Load() }, "per_client"),
		stat("packets_up", descPackets, c, func(s *Stats) int64 { return s.Media.UpPackets.Load() }, "up"),
		stat("packets_down", descPackets, c, func(s *Stats) int64 { return s.Media.DownPackets.Load() }, "down"),
		stat("bytes_up", descBytes, c, func(s *Stats) int64 { return s.Media.UpBytes.Load() }, "up"),
		stat("bytes_down", descBytes, c, func(s *Stats) int64 { return s.Media.DownBytes.Load() }, "down"),
		stat("dropped", descDropped, c, func(s *Stats) int64 { return s.Media.Dropped.Load() }),
		stat("sources_refused", descSourcesRefused, c, func(s *Stats) int64 { return s.SourcesRefused.Load() }),
	}
	for r := range alg.NumDropReasons {
		m = append(m, stat("dropped."+r.String(), descDroppedBy, c, func(s *Stats) int64 { return s.Media.DroppedBy[r].Load() }, r.String()))
	}
	for _, side := range []struct {
		name    string
		backend bool
	}{{"client", false}, {"backend", true}} {
		m = append(m,
			pairs("", descPairsInUse, g, side.name, side.backend, func(in, _ int, _ uint64) int64 { return int64(in) }),
			pairs("", descPairs, g, side.name, side.backend, func(_, size int, _ uint64) int64 { return int64(size) }),
			pairs("", descPairsExhausted, c, side.name, side.backend, func(_, _ int, ex uint64) int64 { return int64(ex) }))
	}
	return m
}()

// Describe sends the descriptions of every RTSP listener metric
// (prometheus.Collector, with Collect).
func (h *Handler) Describe(ch chan<- *prometheus.Desc) {
	metrics.Describe(ch)
	ch <- descConnDuration
	ch <- descMediaDuration
}

// Collect sends the listener's metrics, labelled with its Name (the
// conntrack counters of kernel-path streams read first).
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	h.table().pollKernel()
	metrics.Collect(ch, h.Name, h)
	alg.CollectHistogram(ch, descConnDuration, h.stats().ConnDurations.Snapshot(), h.Name)
	alg.CollectHistogram(ch, descMediaDuration, h.stats().MediaDurations.Snapshot(), h.Name)
}

// Status is what /status shows of the listener: its counters and media
// port ranges (in pairs). The caller adds what the configuration says
// (pool, addresses).
func (h *Handler) Status() alg.ListenerStatus {
	h.table().pollKernel()
	st := alg.ListenerStatus{Proto: "rtsp", Name: h.Name, Counters: metrics.Counters(h)}
	alg.AddRange(&st, "media", h.MediaPorts)
	alg.AddRange(&st, "backend_media", h.BackendPorts)
	return st
}
