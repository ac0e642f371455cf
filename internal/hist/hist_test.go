package hist

import (
	"testing"
	"time"
)

// TestHistogram: observations land in the first bucket whose bound is
// not below them, counts are cumulative, the sum is in seconds, and the
// zero value has the Long buckets.
func TestHistogram(t *testing.T) {
	h := New([]float64{0.1, 1})
	for _, d := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, 3 * time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if s.Count != 4 || s.Buckets[0.1] != 2 || s.Buckets[1] != 3 || len(s.Buckets) != 2 {
		t.Errorf("snapshot %+v, want count 4, 0.1: 2, 1: 3", s)
	}
	if s.Sum < 3.649 || s.Sum > 3.651 {
		t.Errorf("sum %v, want 3.65", s.Sum)
	}
	var z Histogram
	z.Observe(2 * time.Hour)
	if zs := z.Snapshot(); zs.Count != 1 || len(zs.Buckets) != len(Long) || zs.Buckets[3600] != 0 || zs.Buckets[4*3600] != 1 {
		t.Errorf("zero value: %+v", zs)
	}
}
