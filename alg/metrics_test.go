package alg

import (
	"strings"
	"testing"

	"github.com/algd/algd/internal/scrape"
	"github.com/prometheus/client_golang/prometheus"
)

// tally is a listener as a protocol would keep it, for the table test.
type tally struct {
	name     string
	sessions int64
	down, up int64
}

func (t *tally) Describe(ch chan<- *prometheus.Desc) { tallyMetrics.Describe(ch) }
func (t *tally) Collect(ch chan<- prometheus.Metric) { tallyMetrics.Collect(ch, t.name, t) }

var (
	tallySessions = NewDesc("test_sessions_total", "Sessions.")
	tallyBytes    = NewDesc("test_bytes_total", "Bytes.", "direction")
	tallyMetrics  = Metrics[*tally]{
		{Key: "sessions", Desc: tallySessions, Type: prometheus.CounterValue, Value: func(t *tally) int64 { return t.sessions }},
		{Key: "bytes_down", Desc: tallyBytes, Type: prometheus.CounterValue, Labels: []string{"down"}, Value: func(t *tally) int64 { return t.down }},
		{Key: "bytes_up", Desc: tallyBytes, Type: prometheus.CounterValue, Labels: []string{"up"}, Value: func(t *tally) int64 { return t.up }},
		{Key: "status_only", Value: func(t *tally) int64 { return 9 }},
	}
)

// TestMetricsTable checks that one table row reaches both /metrics (with
// the listener label first) and the status counters, and that a Desc
// shared by rows is described once (a registry refuses duplicates).
func TestMetricsTable(t *testing.T) {
	a, b := &tally{name: "a", sessions: 3, down: 100, up: 7}, &tally{name: "b", sessions: 1}
	text, err := scrape.Text(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`algd_test_sessions_total{listener="a"} 3`,
		`algd_test_bytes_total{direction="down",listener="a"} 100`,
		`algd_test_bytes_total{direction="up",listener="a"} 7`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "status_only") {
		t.Error("a row without Desc reached /metrics")
	}
	got := tallyMetrics.Counters(b)
	want := map[string]int64{"sessions": 1, "bytes_down": 0, "bytes_up": 0, "status_only": 9}
	if len(got) != len(want) {
		t.Fatalf("Counters = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Counters[%q] = %d, want %d", k, got[k], v)
		}
	}
}
