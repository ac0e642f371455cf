package alg

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/internal/hist"
)

// Namespace prefixes every algd metric.
const Namespace = "algd"

// NewDesc describes a metric in algd's namespace whose first label is the
// listener's name, followed by labels.
func NewDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, append([]string{"listener"}, labels...), nil)
}

// Metric is one number a protocol keeps for each of its listeners, read
// from the listener's handler T: exported to /metrics as Desc with the
// listener's name and Labels, and shown in /status under Key. A counter
// is written once, in its protocol's table; nothing else names it.
type Metric[T any] struct {
	// Key is its name in ListenerStatus.Counters; "" keeps it out.
	Key string
	// Desc is its Prometheus description (NewDesc); nil keeps it out of
	// /metrics. Several metrics may share a Desc with other Labels.
	Desc *prometheus.Desc
	// Type is prometheus.CounterValue or prometheus.GaugeValue.
	Type prometheus.ValueType
	// Labels are the values of Desc's labels after the listener.
	Labels []string
	// Value reads it.
	Value func(T) int64
}

// Metrics is a protocol's table of metrics.
type Metrics[T any] []Metric[T]

// Describe sends each distinct description of the table once.
func (ms Metrics[T]) Describe(ch chan<- *prometheus.Desc) {
	seen := make(map[*prometheus.Desc]bool, len(ms))
	for _, m := range ms {
		if m.Desc != nil && !seen[m.Desc] {
			seen[m.Desc] = true
			ch <- m.Desc
		}
	}
}

// Collect sends the metrics of the listener named listener, read from v.
func (ms Metrics[T]) Collect(ch chan<- prometheus.Metric, listener string, v T) {
	for _, m := range ms {
		if m.Desc == nil {
			continue
		}
		labels := append([]string{listener}, m.Labels...)
		ch <- prometheus.MustNewConstMetric(m.Desc, m.Type, float64(m.Value(v)), labels...)
	}
}

// Counters reads v's counters for ListenerStatus.Counters.
func (ms Metrics[T]) Counters(v T) map[string]int64 {
	out := make(map[string]int64, len(ms))
	for _, m := range ms {
		if m.Key != "" {
			out[m.Key] = m.Value(v)
		}
	}
	return out
}

// Seconds is d in seconds, to the millisecond: the form of every duration
// in algd's log lines, as in its metrics.
func Seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// CollectHistogram sends a histogram snapshot as the metric d with label
// values lv (a protocol's duration histograms, next to its table).
func CollectHistogram(ch chan<- prometheus.Metric, d *prometheus.Desc, s hist.Snapshot, lv ...string) {
	ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum, s.Buckets, lv...)
}
