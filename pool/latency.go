package pool

import (
	"sync"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the buckets of a
// LatencyHistogram (those of Prometheus' default histogram).
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// LatencyHistogram counts durations into LatencyBuckets, for a metric of
// check latency, without a metrics library in this package. The zero
// value is empty and ready; safe for concurrent use.
type LatencyHistogram struct {
	mu     sync.Mutex
	counts [12]uint64 // per bucket, the last one above every bound
	sum    float64
	n      uint64
}

// LatencySnapshot is a LatencyHistogram read at one moment: Buckets are
// cumulative counts by upper bound, as Prometheus wants them.
type LatencySnapshot struct {
	Count   uint64
	Sum     float64 // seconds
	Buckets map[float64]uint64
}

// Observe adds d.
func (h *LatencyHistogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	h.mu.Lock()
	h.counts[i]++
	h.sum += s
	h.n++
	h.mu.Unlock()
}

// Snapshot reads h.
func (h *LatencyHistogram) Snapshot() LatencySnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := LatencySnapshot{Count: h.n, Sum: h.sum, Buckets: make(map[float64]uint64, len(LatencyBuckets))}
	var cum uint64
	for i, b := range LatencyBuckets {
		cum += h.counts[i]
		out.Buckets[b] = cum
	}
	return out
}
