package pool

// scheduler chooses a realserver for a new session. Both methods run with
// the pool's mutex held.
type scheduler interface {
	// rebuild recomputes derived state after a health or weight change.
	rebuild(rs []*Realserver)
	// pick returns a realserver that ex allows for k, or nil.
	pick(k key, rs []*Realserver, ex exclusion) *Realserver
}

// newScheduler returns the scheduler named by conf.Pool.Scheduler; the
// empty name (and, defensively, an unknown one) means wlc, the default.
func newScheduler(name string) scheduler {
	switch name {
	case "rr":
		return &roundRobin{last: -1}
	case "wrr":
		return &weightedRoundRobin{cl: -1}
	case "lc":
		return leastConn{}
	case "sh":
		return &sourceHash{}
	case "hrw":
		return rendezvous{}
	default:
		return weightedLeastConn{}
	}
}

// roundRobin takes the available realservers in turn, in configuration
// order, like IPVS rr.
type roundRobin struct {
	last int // index of the previous choice; -1 before the first
}

func (s *roundRobin) rebuild([]*Realserver) {}

func (s *roundRobin) pick(_ key, rs []*Realserver, ex exclusion) *Realserver {
	n := len(rs)
	for i := 1; i <= n; i++ {
		j := (s.last + i) % n
		if ex.ok(rs[j]) {
			s.last = j
			return rs[j]
		}
	}
	return nil
}

// weightedRoundRobin is IPVS wrr (net/netfilter/ipvs/ip_vs_wrr.c): passes
// over the list with a falling required weight cw, from the largest weight
// down to 1 in steps of the weights' gcd, taking each realserver whose
// weight reaches cw. Weights 1,2,3 give C B C A B C: interleaved, not
// bursty. A down realserver counts as weight 0, an excluded one like an
// IPVS overloaded destination.
type weightedRoundRobin struct {
	cl int // index of the current realserver; -1 is the list head
	cw int // current required weight
	mw int // largest weight minus (di - 1), so the last pass has cw = 1
	di int // step: gcd of the positive weights
}

func (s *weightedRoundRobin) rebuild(rs []*Realserver) {
	g, m := 0, 0
	for _, r := range rs {
		w := effectiveWeight(r)
		if w > 0 {
			g = gcd(g, w)
		}
		m = max(m, w)
	}
	s.di = max(g, 1)
	s.mw = m - (s.di - 1)
	s.cl = -1
	// As the kernel does on a destination change: keep the pass if it
	// still makes sense, else restart from the top.
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

func (s *weightedRoundRobin) pick(_ key, rs []*Realserver, ex exclusion) *Realserver {
	if s.mw <= 0 {
		return nil
	}
	last, stop := s.cl, -2 // -2: no stop point yet
	lastPass, restarted := false, false
	d := s.cl
	for {
		for d++; d < len(rs); d++ {
			r := rs[d]
			if ex.ok(r) && r.Weight() >= s.cw {
				s.cl = d
				return r
			}
			if d == stop {
				s.cl = d
				return nil
			}
		}
		d = -1 // back at the list head
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// Every realserver was already tried with cw = 1.
			if lastPass || last == -1 {
				s.cl = d
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			// The first traversal with cw = 1 covered only the
			// realservers after last: finish with those up to last.
			stop = last
		}
	}
}

// leastConn takes the realserver with the fewest active sessions, the
// first in configuration order on a tie (IPVS lc also counts inactive
// connections; algd has only sessions).
type leastConn struct{}

func (leastConn) rebuild([]*Realserver) {}

func (leastConn) pick(_ key, rs []*Realserver, ex exclusion) *Realserver {
	var best *Realserver
	var bestA int64
	for _, r := range rs {
		if !ex.ok(r) {
			continue
		}
		a := r.active.Load()
		if best == nil || a < bestA {
			best, bestA = r, a
		}
	}
	return best
}

// weightedLeastConn takes the realserver with the least Active/Weight,
// compared as Active_a*Weight_b < Active_b*Weight_a so no division is
// needed; the first in configuration order wins a tie. IPVS wlc uses
// active*256+inactive as the numerator; algd has only active sessions.
type weightedLeastConn struct{}

func (weightedLeastConn) rebuild([]*Realserver) {}

func (weightedLeastConn) pick(_ key, rs []*Realserver, ex exclusion) *Realserver {
	var best *Realserver
	var bestA, bestW int64
	for _, r := range rs {
		if !ex.ok(r) {
			continue
		}
		a, w := r.active.Load(), r.weight.Load()
		if best == nil || a*bestW < bestA*w {
			best, bestA, bestW = r, a, w
		}
	}
	return best
}

// effectiveWeight is the weight a scheduler's table is built with: the
// configured weight while up, 0 while down (as when health sets an IPVS
// destination's weight to 0).
func effectiveWeight(r *Realserver) int {
	if !r.Up() {
		return 0
	}
	return r.Weight()
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
