package pool

import "sync/atomic"

// Lease is one session's hold on a realserver. It counts toward the
// realserver's Active sessions (what lc and wlc compare) until Release.
type Lease struct {
	pool     *Pool
	rs       *Realserver
	entry    *persistEntry // nil without persistence
	released atomic.Bool
}

// Realserver returns the leased realserver.
func (l *Lease) Realserver() *Realserver { return l.rs }

// Release ends the session's hold. It is idempotent. With persistence, the
// client's last Release starts the timer after which its realserver is
// forgotten.
func (l *Lease) Release() {
	if !l.released.CompareAndSwap(false, true) {
		return
	}
	l.rs.active.Add(-1)
	if l.entry == nil {
		return
	}
	p := l.pool
	p.mu.Lock()
	p.persist.release(l.entry, p.now())
	p.mu.Unlock()
}
