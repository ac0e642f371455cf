package admin

import (
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
)

// desc builds a metric description in algd's namespace.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(alg.Namespace+"_"+name, help, labels, nil)
}

// collector exports the protocol-neutral part of a Status (realservers,
// reloads, drain, session totals, algd's own resource errors) as
// Prometheus metrics at scrape time, so the numbers are exactly those of
// /status and nothing is counted twice. Listener metrics come from the
// protocols' own collectors (Server.Collectors).
type collector struct {
	src Source

	rsUp, rsWeight, rsActive, rsTotal, rsLatency     *prometheus.Desc
	rsLastCheck, rsSessionFailures                   *prometheus.Desc
	rsCheckFailures, rsLastChange, rsDisabled        *prometheus.Desc
	rsCheckDuration, buildInfo                       *prometheus.Desc
	reloads, reloadLast, draining, live, maxSessions *prometheus.Desc
	localErrors                                      *prometheus.Desc
	traffic, rsBytes                                 *prometheus.Desc
}

// localKinds are the kinds of local resource errors, exported even at 0.
var localKinds = []string{"files", "memory", "source_address"}

func newCollector(src Source) *collector {
	rs := []string{"pool", "realserver"}
	return &collector{
		src:         src,
		rsUp:        desc("realserver_up", "1 when health checks consider the realserver up.", rs...),
		rsWeight:    desc("realserver_weight", "The realserver's weight; 0 drains it.", rs...),
		rsActive:    desc("realserver_sessions_active", "Sessions on the realserver now.", rs...),
		rsTotal:     desc("realserver_sessions_total", "Sessions given to the realserver.", rs...),
		rsLatency:   desc("realserver_check_latency_seconds", "Duration of the latest health check.", rs...),
		rsLastCheck: desc("realserver_last_check_timestamp_seconds", "When the latest health check ended.", rs...),
		rsSessionFailures: desc("realserver_session_failures_total",
			"Sessions that could not connect to the realserver or were not greeted in time; they do not take it down, health checks do.", rs...),
		rsCheckFailures: desc("realserver_check_failures_total", "Failed health checks of the realserver.", rs...),
		rsLastChange: desc("realserver_last_change_timestamp_seconds",
			"When the realserver last went up, down, disabled or enabled; absent before any change since algd started.", rs...),
		rsDisabled:      desc("realserver_disabled", "1 while an operator has disabled the realserver.", rs...),
		rsCheckDuration: desc("realserver_check_duration_seconds", "Durations of the health checks.", rs...),
		buildInfo:       desc("build_info", "Always 1; the labels say which algd runs.", "version", "revision", "goversion"),
		reloads:         desc("reloads_total", "Configuration reloads, by result (ok, failed).", "result"),
		reloadLast:      desc("reload_last_timestamp_seconds", "When the latest reload was tried."),
		draining:        desc("draining", "1 while algd drains after SIGTERM."),
		live:            desc("sessions", "Control sessions open now over every listener."),
		maxSessions:     desc("sessions_max", "The cap on control sessions ([limits] max_sessions)."),
		traffic: desc("traffic_bytes_total",
			"Bytes sessions of every listener and protocol carried, running transfers included (FTP: as the peers acknowledge them); direction down is realserver to client.", "direction"),
		rsBytes: desc("realserver_bytes_total",
			"Bytes the sessions to the realserver carried, running transfers included; direction down is realserver to client.", "pool", "realserver", "direction"),
		localErrors: desc("local_resource_errors_total", "Times algd itself ran out of a resource while accepting or connecting to a realserver: files (EMFILE, ENFILE), memory (ENOBUFS, ENOMEM), source_address (EADDRNOTAVAIL). Never counted against a realserver.", "kind"),
	}
}

// Describe sends every description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.rsUp, c.rsWeight, c.rsActive, c.rsTotal, c.rsLatency, c.rsLastCheck, c.rsSessionFailures,
		c.reloads, c.reloadLast, c.draining, c.live, c.maxSessions, c.localErrors,
		c.rsCheckFailures, c.rsLastChange, c.rsDisabled, c.rsCheckDuration, c.buildInfo,
		c.traffic, c.rsBytes,
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
	for _, p := range st.Pools {
		for _, r := range p.Members {
			lv := []string{p.Name, r.Address.String()}
			gauge(c.rsUp, bool01(r.Up), lv...)
			gauge(c.rsWeight, float64(r.Weight), lv...)
			gauge(c.rsActive, float64(r.Active), lv...)
			counter(c.rsTotal, float64(r.Total), lv...)
			counter(c.rsSessionFailures, float64(r.SessionFailures), lv...)
			counter(c.rsCheckFailures, float64(r.CheckFailures), lv...)
			counter(c.rsBytes, float64(r.BytesDown), p.Name, r.Address.String(), "down")
			counter(c.rsBytes, float64(r.BytesUp), p.Name, r.Address.String(), "up")
			gauge(c.rsDisabled, bool01(r.Disabled), lv...)
			if !r.LastChange.IsZero() {
				gauge(c.rsLastChange, float64(r.LastChange.UnixNano())/1e9, lv...)
			}
			h := r.CheckLatencies
			ch <- prometheus.MustNewConstHistogram(c.rsCheckDuration, h.Count, h.Sum, h.Buckets, lv...)
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
	gauge(c.draining, bool01(st.Draining))
	gauge(c.buildInfo, 1, st.Version, revision, runtime.Version())
	gauge(c.live, float64(st.Sessions))
	counter(c.traffic, float64(st.Traffic.Down), "down")
	counter(c.traffic, float64(st.Traffic.Up), "up")
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

// bool01 is 1 for true.
func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// revision is the VCS revision the binary was built from, "" when the
// build did not record one.
var revision = func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}()
