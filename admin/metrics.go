package admin

import (
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
	reloads, reloadLast, draining, live, maxSessions *prometheus.Desc
	localErrors                                      *prometheus.Desc
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
