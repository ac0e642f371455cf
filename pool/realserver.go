package pool

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/internal/hist"
)

// Realserver is one member of a pool. It is safe for concurrent use.
type Realserver struct {
	addr   netip.AddrPort
	weight atomic.Int64
	up     atomic.Bool
	active atomic.Int64
	total  atomic.Uint64

	// suspect is set when a session failed to connect to or be greeted by
	// the realserver, and cleared by the next session it greets or check
	// it passes: schedulers prefer other members meanwhile, but it stays
	// in the pool (only health checks take a realserver down).
	suspect      atomic.Bool
	sessionFails atomic.Uint64
	greeted      atomic.Int64 // when a session last got through (MarkOK), Unix ns
	notify       *notifier    // notify_up and notify_down; nil runs none

	// disabled is set by an operator (admin listener): the realserver
	// takes no new session whatever its health and weight, until enabled.
	disabled   atomic.Bool
	checkFails atomic.Uint64   // failed health checks, ever
	changedAt  atomic.Int64    // latest change of State (up, down, disabled), Unix ns; 0: none
	latency    *hist.Histogram // check durations

	mu          sync.Mutex // guards the health fields below
	checked     bool       // a check has decided the state at least once
	oks, fails  int        // consecutive results, capped at rise and fall
	lastErr     error
	lastLatency time.Duration
	lastAt      time.Time
}

// Addr returns the realserver's address.
func (r *Realserver) Addr() netip.AddrPort { return r.addr }

// Weight returns the current weight; 0 means drained.
func (r *Realserver) Weight() int { return int(r.weight.Load()) }

// Up reports whether health checking considers the realserver up. Before
// its first check a realserver counts as up.
func (r *Realserver) Up() bool { return r.up.Load() }

// Active returns the number of sessions currently leased.
func (r *Realserver) Active() int { return int(r.active.Load()) }

// Total returns the number of sessions ever leased.
func (r *Realserver) Total() uint64 { return r.total.Load() }

// Suspect reports whether the latest session to try the realserver
// failed (no connection or no greeting) and no session or health check
// has succeeded since. A suspect realserver is still up: new sessions go
// to other members while there are any, and to it otherwise.
func (r *Realserver) Suspect() bool { return r.suspect.Load() }

// SessionFailures returns the number of sessions that could not connect
// to the realserver or were not greeted by it (see Pool.MarkFailed).
func (r *Realserver) SessionFailures() uint64 { return r.sessionFails.Load() }

// LastCheck returns the outcome of the latest health check: its error (nil
// when healthy), how long it took and when it ended. at is zero before the
// first check.
func (r *Realserver) LastCheck() (err error, latency time.Duration, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr, r.lastLatency, r.lastAt
}

// available reports whether r may take new sessions at all; a suspect
// realserver may.
func (r *Realserver) available() bool {
	return r.up.Load() && r.weight.Load() > 0 && !r.disabled.Load()
}

// Disabled reports whether an operator disabled r (Pool.SetDisabled).
func (r *Realserver) Disabled() bool { return r.disabled.Load() }

// CheckFailures returns the number of health checks of r that failed
// (checks that failed for want of algd's own resources are not counted).
func (r *Realserver) CheckFailures() uint64 { return r.checkFails.Load() }

// LastChange returns when r last went up, down, disabled or enabled;
// zero before any change since algd started.
func (r *Realserver) LastChange() time.Time {
	if ns := r.changedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// CheckLatencies returns the histogram of r's health check durations.
func (r *Realserver) CheckLatencies() hist.Snapshot { return r.latency.Snapshot() }

// recordCheck applies one health check result and reports whether Up
// changed, and to what. The first check alone decides the state; later ones need rise
// consecutive successes or fall consecutive failures.
func (r *Realserver) recordCheck(err error, latency time.Duration, at time.Time, rise, fall int) (changed, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr, r.lastLatency, r.lastAt = err, latency, at
	r.latency.Observe(latency)
	if err == nil {
		r.suspect.Store(false)
	} else {
		r.checkFails.Add(1)
	}
	if !r.checked {
		r.checked = true
		r.oks, r.fails = 0, 0
		if err == nil {
			r.oks = 1
		} else {
			r.fails = 1
		}
		return r.setUp(err == nil), err == nil
	}
	return r.count(err, rise, fall), r.up.Load()
}

// count advances the consecutive counters and reports whether Up changed;
// r.mu is held, so Up changes only under it.
func (r *Realserver) count(err error, rise, fall int) bool {
	if err == nil {
		r.fails = 0
		r.oks = min(r.oks+1, rise)
		if r.oks >= rise {
			return r.setUp(true)
		}
		return false
	}
	r.oks = 0
	r.fails = min(r.fails+1, fall)
	if r.fails >= fall {
		return r.setUp(false)
	}
	return false
}

// setUp stores the state and reports whether it changed.
func (r *Realserver) setUp(up bool) bool {
	if r.up.Swap(up) == up {
		return false
	}
	r.changedAt.Store(time.Now().UnixNano())
	return true
}
