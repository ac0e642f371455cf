package ftp

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
)

// The descriptions of the FTP listeners' metrics; names are algd's since
// its first release and stay as they are.
var (
	descSessionsActive   = alg.NewDesc("sessions_active", "Control sessions open now.")
	descSessionsTotal    = alg.NewDesc("sessions_total", "Control sessions accepted.")
	descSessionsRefused  = alg.NewDesc("sessions_refused_total", "Sessions refused by limits or for want of a realserver.")
	descBytes            = alg.NewDesc("data_bytes_total", "Bytes carried by data connections; direction down is realserver to client.", "direction")
	descDataConns        = alg.NewDesc("data_connections_total", "Paired data connections.")
	descDataPath         = alg.NewDesc("data_path_connections_total", "Paired data connections by data path: kernel (forwarded by a one-shot NAT mapping, no byte through algd) or proxy (spliced by algd).", "path")
	descKernelMapFailed  = alg.NewDesc("kernel_map_failures_total", "Kernel data path mappings the kernel refused; their transfers took the proxy path.")
	descPortsInUse       = alg.NewDesc("passive_ports_in_use", "Passive ports reserved now.")
	descPorts            = alg.NewDesc("passive_ports", "Size of the passive port range.")
	descPortsExhausted   = alg.NewDesc("passive_ports_exhausted_total", "Passive port requests refused for want of a free port.")
	descPortsBusy        = alg.NewDesc("passive_ports_busy_total", "Passive ports skipped because another process held them (an algd draining after a takeover); another port was used.")
	descPortsPerClient   = alg.NewDesc("passive_ports_refused_total", "Passive port requests refused because the client address held max_data_ports_per_client ports.")
	descRefused          = alg.NewDesc("refused_total", "Connections and commands refused: theft (data connection from another address), second_connection (data connection to a port already paired), outside_window (realserver data connection while its session had no transfer command outstanding), bounce (PORT/EPRT to another host or a low port), proxy (missing or untrusted PROXY header), overload (algd itself out of descriptors, memory or source ports).", "reason")
	descBadReplies       = alg.NewDesc("bad_backend_replies_total", "Passive replies from realservers that could not be used.")
	descTransfersFailed  = alg.NewDesc("transfers_failed_total", "Transfers whose data connection did not carry the whole transfer, answered 425/426: connect (never made), tls (the client's handshake on it failed), reset (by either side), cut (by algd: ABOR, session end), idle (data_idle_timeout).", "reason")
	descCommandsRefused  = alg.NewDesc("ftp_commands_refused_total", "Client command lines refused and never forwarded: telnet, control, syntax (lines an ftpd could read differently), unknown (verbs algd does not know), tls ([ftp.tls] required), prot (require_prot_p).", "reason")
	descTLSHandshakes    = alg.NewDesc("tls_handshakes_total", "TLS handshakes completed with clients.")
	descTLSFailures      = alg.NewDesc("tls_handshake_failures_total", "TLS handshakes with clients that failed.")
	descSessionDuration  = alg.NewDesc("session_duration_seconds", "How long FTP control sessions lasted.")
	descTransferDuration = alg.NewDesc("transfer_duration_seconds", "How long FTP data connections lasted, from pairing to close.")
	descTLSReuseRefused  = alg.NewDesc("tls_reuse_refused_total", "Protected data connections refused for not resuming the control session.")
)

// metrics is every number an FTP listener exports, to /metrics and to
// /status: a counter is added to Stats and here, nowhere else.
var metrics = func() alg.Metrics[*Handler] {
	const c, g = prometheus.CounterValue, prometheus.GaugeValue
	stat := func(key string, d *prometheus.Desc, t prometheus.ValueType, f func(*Stats) int64, labels ...string) alg.Metric[*Handler] {
		return alg.Metric[*Handler]{Key: key, Desc: d, Type: t, Labels: labels, Value: func(h *Handler) int64 { return f(h.stats()) }}
	}
	ports := func(key string, d *prometheus.Desc, t prometheus.ValueType, f func(in, size int, ex uint64) int64) alg.Metric[*Handler] {
		return alg.Metric[*Handler]{Key: key, Desc: d, Type: t, Value: func(h *Handler) int64 {
			if h.DataPorts == nil {
				return 0
			}
			return f(h.DataPorts.Usage())
		}}
	}
	m := alg.Metrics[*Handler]{
		stat("active", descSessionsActive, g, func(s *Stats) int64 { return s.Active.Load() }),
		stat("sessions", descSessionsTotal, c, func(s *Stats) int64 { return s.Sessions.Load() }),
		stat("refused", descSessionsRefused, c, func(s *Stats) int64 { return s.Refused.Load() }),
		stat("bytes_down", descBytes, c, func(s *Stats) int64 { return s.BytesDown.Load() }, "down"),
		stat("bytes_up", descBytes, c, func(s *Stats) int64 { return s.BytesUp.Load() }, "up"),
		stat("data_conns", descDataConns, c, func(s *Stats) int64 { return s.DataConns.Load() }),
		stat("data_path.kernel", descDataPath, c, func(s *Stats) int64 { return s.KernelConns.Load() }, "kernel"),
		stat("data_path.proxy", descDataPath, c, func(s *Stats) int64 { return s.ProxyConns.Load() }, "proxy"),
		stat("kernel_map_failed", descKernelMapFailed, c, func(s *Stats) int64 { return s.KernelMapFailed.Load() }),
		ports("", descPortsInUse, g, func(in, _ int, _ uint64) int64 { return int64(in) }),
		ports("", descPorts, g, func(_, size int, _ uint64) int64 { return int64(size) }),
		ports("", descPortsExhausted, c, func(_, _ int, ex uint64) int64 { return int64(ex) }),
		{Desc: descPortsBusy, Type: c, Value: func(h *Handler) int64 {
			if h.DataPorts == nil {
				return 0
			}
			return int64(h.DataPorts.Busy())
		}},
		stat("passive_exhausted", nil, c, func(s *Stats) int64 { return s.PassiveExhausted.Load() }),
		stat("passive_per_client", descPortsPerClient, c, func(s *Stats) int64 { return s.PassivePerClient.Load() }),
		stat("theft", descRefused, c, func(s *Stats) int64 { return s.Theft.Load() }, "theft"),
		stat("data_second_connection", descRefused, c, func(s *Stats) int64 { return s.DataSecond.Load() }, "second_connection"),
		stat("data_outside_window", descRefused, c, func(s *Stats) int64 { return s.DataOutsideWindow.Load() }, "outside_window"),
		stat("bounce", descRefused, c, func(s *Stats) int64 { return s.Bounce.Load() }, "bounce"),
		stat("proxy_refused", descRefused, c, func(s *Stats) int64 { return s.ProxyRefused.Load() }, "proxy"),
		stat("overloaded", descRefused, c, func(s *Stats) int64 { return s.Overloaded.Load() }, "overload"),
		stat("bad_backend_replies", descBadReplies, c, func(s *Stats) int64 { return s.BadBackendReplies.Load() }),
		stat("transfers_failed.connect", descTransfersFailed, c, func(s *Stats) int64 { return s.FailedConnect.Load() }, "connect"),
		stat("transfers_failed.tls", descTransfersFailed, c, func(s *Stats) int64 { return s.FailedTLS.Load() }, "tls"),
		stat("transfers_failed.reset", descTransfersFailed, c, func(s *Stats) int64 { return s.FailedReset.Load() }, "reset"),
		stat("transfers_failed.cut", descTransfersFailed, c, func(s *Stats) int64 { return s.FailedCut.Load() }, "cut"),
		stat("transfers_failed.idle", descTransfersFailed, c, func(s *Stats) int64 { return s.FailedIdle.Load() }, "idle"),
		stat("tls_handshakes", descTLSHandshakes, c, func(s *Stats) int64 { return s.TLSHandshakes.Load() }),
		stat("tls_failures", descTLSFailures, c, func(s *Stats) int64 { return s.TLSFailures.Load() }),
		stat("tls_reuse_refused", descTLSReuseRefused, c, func(s *Stats) int64 { return s.TLSReuseRefused.Load() }),
		stat("backend_active", nil, c, func(s *Stats) int64 { return s.BackendActive.Load() }),
	}
	for r := range numRefusals {
		m = append(m, stat("commands_refused."+r.String(), descCommandsRefused, c,
			func(s *Stats) int64 { return s.Commands.Load(r) }, r.String()))
	}
	return m
}()

// Describe sends the descriptions of every FTP listener metric
// (prometheus.Collector, with Collect).
func (h *Handler) Describe(ch chan<- *prometheus.Desc) {
	metrics.Describe(ch)
	ch <- descSessionDuration
	ch <- descTransferDuration
}

// Collect sends the listener's metrics, labelled with its Name. Every
// handler of one listener shares its Stats, so the numbers run across
// reloads.
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	metrics.Collect(ch, h.Name, h)
	alg.CollectHistogram(ch, descSessionDuration, h.stats().SessionDurations.Snapshot(), h.Name)
	alg.CollectHistogram(ch, descTransferDuration, h.stats().TransferDurations.Snapshot(), h.Name)
}

// Status is what /status shows of the listener: its counters, port
// ranges and refused data connections. The caller adds what the
// configuration says (pool, addresses, PROXY).
func (h *Handler) Status() alg.ListenerStatus {
	st := alg.ListenerStatus{Proto: "ftp", Name: h.Name, Counters: metrics.Counters(h)}
	alg.AddRange(&st, "passive", h.DataPorts)
	alg.AddRange(&st, "active", h.ActivePorts)
	alg.AddRange(&st, "backend", h.BackendPorts)
	st.DataRefusals, st.DataRefusalsEvicted = h.Offenders.Refusals()
	return st
}
