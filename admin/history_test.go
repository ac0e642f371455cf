package admin

import (
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// TestHistoryRing: the ring keeps the latest size samples, oldest first,
// whatever the number recorded; rates come from the totals before.
func TestHistoryRing(t *testing.T) {
	const size = 5
	h := NewHistory(size)
	if s := h.Samples(); s == nil || len(s) != 0 {
		t.Fatalf("empty history: %v", s)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 13 {
		h.Record(Totals{Time: t0.Add(time.Duration(i) * 5 * time.Second), Sessions: i,
			Traffic: alg.Traffic{Down: int64(i) * 5000, Up: int64(i) * 50}, Refused: int64(i / 2)})
		s := h.Samples()
		if want := min(i+1, size); len(s) != want {
			t.Fatalf("after %d records: %d samples, want %d", i+1, len(s), want)
		}
		for j, x := range s {
			if want := i + 1 - len(s) + j; x.Sessions != want {
				t.Fatalf("after %d records: sample %d is %d, want %d (%v)", i+1, j, x.Sessions, want, s)
			}
		}
	}
	s := h.Samples()
	last := s[len(s)-1]
	if last.Down != 1000 || last.Up != 10 {
		t.Errorf("rates %v down, %v up; want 1000, 10", last.Down, last.Up)
	}
	// Refused went 5 → 6 between samples 11 and 12: 0.2/s.
	if last.Refused != 0.2 || s[len(s)-2].Refused != 0 {
		t.Errorf("refused rates %v, %v; want 0, 0.2", s[len(s)-2].Refused, last.Refused)
	}
	if len(h.ring) != size {
		t.Errorf("ring grew to %d", len(h.ring))
	}
}

// TestHistoryRates: the first sample has no rates, and a counter that
// went down (a listener removed) gives 0, not a negative rate.
func TestHistoryRates(t *testing.T) {
	h := NewHistory(10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.Record(Totals{Time: t0, Traffic: alg.Traffic{Down: 1 << 30}, Refused: 100})
	h.Record(Totals{Time: t0.Add(time.Second), Traffic: alg.Traffic{Down: 10}, Refused: 3})
	for i, s := range h.Samples() {
		if s.Down != 0 || s.Up != 0 || s.Refused != 0 {
			t.Errorf("sample %d: rates %+v, want 0", i, s)
		}
	}
}
