package admin

import (
	"sync"
	"time"

	"github.com/algd/algd/alg"
)

// Totals are the running counts a History turns into a Sample: the
// numbers now, and the counters whose rates the charts show.
type Totals struct {
	Time                   time.Time
	Sessions, Transferring int
	Traffic                alg.Traffic
	Refused                int64
}

// History keeps the latest Samples in a ring of fixed size: its memory
// is bounded whatever the uptime. Safe for concurrent use; the zero value
// is not usable, call NewHistory.
type History struct {
	mu    sync.Mutex
	ring  []Sample
	next  int  // where the next sample goes
	full  bool // the ring has wrapped
	prev  Totals
	begun bool
}

// NewHistory returns an empty History of size samples (at least 2).
func NewHistory(size int) *History {
	return &History{ring: make([]Sample, max(size, 2))}
}

// Record adds the sample of t, its rates taken against the Totals
// recorded before (none in the first sample). A counter that went down
// (a listener removed by a reload took its counts along) gives a rate of
// 0, not a negative one.
func (h *History) Record(t Totals) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Wall clock only: the rates are over the times the samples show, so
	// that they add up again to the counters (a monotonic reading would
	// differ from the shown times by a little).
	t.Time = t.Time.Round(0)
	s := Sample{Time: t.Time, Sessions: t.Sessions, Transferring: t.Transferring}
	if dt := t.Time.Sub(h.prev.Time).Seconds(); h.begun && dt > 0 {
		s.Down = rate(h.prev.Traffic.Down, t.Traffic.Down, dt)
		s.Up = rate(h.prev.Traffic.Up, t.Traffic.Up, dt)
		s.Refused = rate(h.prev.Refused, t.Refused, dt)
	}
	h.prev, h.begun = t, true
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
	h.full = h.full || h.next == 0
}

// rate is the increase from a to b per second over dt seconds; never
// negative.
func rate(a, b int64, dt float64) float64 {
	if b <= a {
		return 0
	}
	return float64(b-a) / dt
}

// Samples returns a copy of the samples kept, oldest first; never nil.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Sample{}, h.ring[:h.next]...)
	}
	return append(append([]Sample{}, h.ring[h.next:]...), h.ring[:h.next]...)
}
