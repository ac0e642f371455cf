// Package hist is a histogram of durations with fixed buckets, for the
// duration metrics of packages that keep no metrics library (pool, ftp,
// rtsp): they observe, the admin listener exports a Snapshot.
package hist

import (
	"sync"
	"time"
)

// Short are bucket bounds in seconds for things that take
// milliseconds to seconds (health checks): Prometheus' default buckets.
var Short = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Long are bucket bounds in seconds for sessions and transfers: a second
// to a day.
var Long = []float64{.1, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

// Histogram counts durations into buckets. The zero value is empty and
// has the Long buckets; New gives others. Safe for concurrent use.
type Histogram struct {
	bounds []float64
	mu     sync.Mutex
	counts []uint64 // per bucket, the last one above every bound
	sum    float64
	n      uint64
}

// New returns an empty histogram with bounds (ascending, seconds).
func New(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

// Snapshot is a Histogram read at one moment: Buckets are cumulative
// counts by upper bound, as Prometheus wants them.
type Snapshot struct {
	Count   uint64
	Sum     float64 // seconds
	Buckets map[float64]uint64
}

// init gives a zero Histogram its buckets; h.mu is held.
func (h *Histogram) init() {
	if h.counts == nil {
		if h.bounds == nil {
			h.bounds = Long
		}
		h.counts = make([]uint64, len(h.bounds)+1)
	}
}

// Observe adds d.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	h.mu.Lock()
	h.init()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += s
	h.n++
	h.mu.Unlock()
}

// Snapshot reads h.
func (h *Histogram) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	out := Snapshot{Count: h.n, Sum: h.sum, Buckets: make(map[float64]uint64, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		out.Buckets[b] = cum
	}
	return out
}
