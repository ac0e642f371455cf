package admin

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// namespace prefixes every algd metric.
const namespace = "algd"

// desc builds a metric description in algd's namespace.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// collector exports a Status as Prometheus metrics at scrape time, so the
// numbers are exactly those of /status and nothing is counted twice.
type collector struct {
	src Source

	sessionsActive, sessionsTotal, sessionsRefused        *prometheus.Desc
	bytes, dataConns                                      *prometheus.Desc
	portsInUse, portsSize, portsExhausted                 *prometheus.Desc
	refused, badReplies, transfersFailed, commandsRefused *prometheus.Desc
	tlsHandshakes, tlsFailures, tlsReuseRefused           *prometheus.Desc
	rsUp, rsWeight, rsActive, rsTotal, rsLatency          *prometheus.Desc
	rsLastCheck, rsSessionFailures                        *prometheus.Desc
	reloads, reloadLast, draining, live, maxSessions      *prometheus.Desc
	portsPerClient                                        *prometheus.Desc
	localErrors                                           *prometheus.Desc
}

// localKinds are the kinds of local resource errors, exported even at 0.
var localKinds = []string{"files", "memory", "source_address"}

func newCollector(src Source) *collector {
	l := []string{"listener"}
	rs := []string{"pool", "realserver"}
	return &collector{
		src:             src,
		sessionsActive:  desc("sessions_active", "Control sessions open now.", l...),
		sessionsTotal:   desc("sessions_total", "Control sessions accepted.", l...),
		sessionsRefused: desc("sessions_refused_total", "Sessions refused by limits or for want of a realserver.", l...),
		bytes:           desc("data_bytes_total", "Bytes carried by data connections; direction down is realserver to client.", "listener", "direction"),
		dataConns:       desc("data_connections_total", "Paired data connections.", l...),
		portsInUse:      desc("passive_ports_in_use", "Passive ports reserved now.", l...),
		portsSize:       desc("passive_ports", "Size of the passive port range.", l...),
		portsExhausted:  desc("passive_ports_exhausted_total", "Passive port requests refused for want of a free port.", l...),
		portsPerClient:  desc("passive_ports_refused_total", "Passive port requests refused because the client address held max_data_ports_per_client ports.", l...),
		refused:         desc("refused_total", "Connections and commands refused: theft (data connection from another address), second_connection (data connection to a port already paired), outside_window (realserver data connection while its session had no transfer command outstanding), bounce (PORT/EPRT to another host or a low port), proxy (missing or untrusted PROXY header), overload (algd itself out of descriptors, memory or source ports).", "listener", "reason"),
		badReplies:      desc("bad_backend_replies_total", "Passive replies from realservers that could not be used.", l...),
		transfersFailed: desc("transfers_failed_total", "Transfers whose data connection did not carry the whole transfer, answered 425/426: connect (never made), tls (the client's handshake on it failed), reset (by either side), cut (by algd: ABOR, session end), idle (data_idle_timeout).", "listener", "reason"),
		commandsRefused: desc("ftp_commands_refused_total", "Client command lines refused and never forwarded: telnet, control, syntax (lines an ftpd could read differently), unknown (verbs algd does not know), tls ([ftp.tls] required), prot (require_prot_p).", "listener", "reason"),
		tlsHandshakes:   desc("tls_handshakes_total", "TLS handshakes completed with clients.", l...),
		tlsFailures:     desc("tls_handshake_failures_total", "TLS handshakes with clients that failed.", l...),
		tlsReuseRefused: desc("tls_reuse_refused_total", "Protected data connections refused for not resuming the control session.", l...),
		rsUp:            desc("realserver_up", "1 when health checks consider the realserver up.", rs...),
		rsWeight:        desc("realserver_weight", "The realserver's weight; 0 drains it.", rs...),
		rsActive:        desc("realserver_sessions_active", "Sessions on the realserver now.", rs...),
		rsTotal:         desc("realserver_sessions_total", "Sessions given to the realserver.", rs...),
		rsLatency:       desc("realserver_check_latency_seconds", "Duration of the latest health check.", rs...),
		rsLastCheck:     desc("realserver_last_check_timestamp_seconds", "When the latest health check ended.", rs...),
		rsSessionFailures: desc("realserver_session_failures_total",
			"Sessions that could not connect to the realserver or were not greeted in time; they do not take it down, health checks do.", rs...),
		reloads:     desc("reloads_total", "Configuration reloads, by result (ok, failed).", "result"),
		reloadLast:  desc("reload_last_timestamp_seconds", "When the latest reload was tried."),
		draining:    desc("draining", "1 while algd drains after SIGTERM."),
		live:        desc("sessions", "Control sessions open now over every listener."),
		maxSessions: desc("sessions_max", "The cap on control sessions ([limits] max_sessions)."),
		localErrors: desc("local_resource_errors_total", "Times algd itself ran out of a resource while accepting or connecting to a realserver: files (EMFILE, ENFILE), memory (ENOBUFS, ENOMEM), source_address (EADDRNOTAVAIL). Never counted against a realserver.", "kind"),
	}
}

// Describe sends every description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sessionsActive, c.sessionsTotal, c.sessionsRefused, c.bytes, c.dataConns,
		c.portsInUse, c.portsSize, c.portsExhausted, c.portsPerClient, c.refused, c.badReplies, c.transfersFailed, c.commandsRefused,
		c.tlsHandshakes, c.tlsFailures, c.tlsReuseRefused,
		c.rsUp, c.rsWeight, c.rsActive, c.rsTotal, c.rsLatency, c.rsLastCheck, c.rsSessionFailures,
		c.reloads, c.reloadLast, c.draining, c.live, c.maxSessions, c.localErrors,
	} {
		ch <- d
	}
}

// Collect reads one Status and sends it as metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, l := range st.Listeners {
		n, k := l.Name, l.Counters
		gauge(c.sessionsActive, float64(k.Active), n)
		counter(c.sessionsTotal, float64(k.Sessions), n)
		counter(c.sessionsRefused, float64(k.Refused), n)
		counter(c.bytes, float64(k.BytesDown), n, "down")
		counter(c.bytes, float64(k.BytesUp), n, "up")
		counter(c.dataConns, float64(k.DataConns), n)
		gauge(c.portsInUse, float64(l.PortsInUse), n)
		gauge(c.portsSize, float64(l.PortsSize), n)
		counter(c.portsExhausted, float64(l.PortExhaustions), n)
		counter(c.portsPerClient, float64(k.PassivePerClient), n)
		counter(c.refused, float64(k.Theft), n, "theft")
		counter(c.refused, float64(k.DataSecond), n, "second_connection")
		counter(c.refused, float64(k.DataOutsideWindow), n, "outside_window")
		counter(c.refused, float64(k.Bounce), n, "bounce")
		counter(c.refused, float64(k.ProxyRefused), n, "proxy")
		counter(c.refused, float64(k.Overloaded), n, "overload")
		counter(c.badReplies, float64(k.BadBackendReplies), n)
		f := k.TransfersFailed
		for _, r := range []struct {
			reason string
			v      int64
		}{{"connect", f.Connect}, {"tls", f.TLS}, {"reset", f.Reset}, {"cut", f.Cut}, {"idle", f.Idle}} {
			counter(c.transfersFailed, float64(r.v), n, r.reason)
		}
		for _, reason := range slices.Sorted(maps.Keys(k.CommandsRefused)) {
			counter(c.commandsRefused, float64(k.CommandsRefused[reason]), n, reason)
		}
		counter(c.tlsHandshakes, float64(k.TLSHandshakes), n)
		counter(c.tlsFailures, float64(k.TLSFailures), n)
		counter(c.tlsReuseRefused, float64(k.TLSReuseRefused), n)
	}
	for _, p := range st.Pools {
		for _, r := range p.Members {
			lv := []string{p.Name, r.Address.String()}
			up := 0.0
			if r.Up {
				up = 1
			}
			gauge(c.rsUp, up, lv...)
			gauge(c.rsWeight, float64(r.Weight), lv...)
			gauge(c.rsActive, float64(r.Active), lv...)
			counter(c.rsTotal, float64(r.Total), lv...)
			counter(c.rsSessionFailures, float64(r.SessionFailures), lv...)
			if !r.LastCheck.IsZero() {
				gauge(c.rsLatency, r.CheckLatency.Seconds(), lv...)
				gauge(c.rsLastCheck, float64(r.LastCheck.UnixNano())/1e9, lv...)
			}
		}
	}
	counter(c.reloads, float64(st.Reloads.OK), "ok")
	counter(c.reloads, float64(st.Reloads.Failed), "failed")
	if !st.Reloads.Last.IsZero() {
		gauge(c.reloadLast, float64(st.Reloads.Last.UnixNano())/1e9)
	}
	drain := 0.0
	if st.Draining {
		drain = 1
	}
	gauge(c.draining, drain)
	gauge(c.live, float64(st.Sessions))
	gauge(c.maxSessions, float64(st.MaxSessions))
	for _, k := range localKinds {
		counter(c.localErrors, float64(st.Local.Errors[k]), k)
	}
	for k, v := range st.Local.Errors {
		if !slices.Contains(localKinds, k) {
			counter(c.localErrors, float64(v), k)
		}
	}
}
