package pool

import (
	"container/list"
	"time"
)

// persistTable maps a key (a client address, or an FTP user name for a
// listener that routes by user) to the realserver it was given. An
// entry lives while the client holds leases and for ttl after its last
// lease is released. Idle entries sit on a list in release order, which is
// expiry order because ttl is fixed, so expired ones are found at its front
// without scanning. The owning Pool's mutex guards the table.
type persistTable struct {
	ttl  time.Duration
	m    map[key]*persistEntry
	idle list.List // of *persistEntry with no leases, oldest first
}

// persistEntry is one key's remembered realserver.
type persistEntry struct {
	k       key
	rs      *Realserver
	leases  int
	expires time.Time     // meaningful while leases == 0
	elem    *list.Element // position in idle while leases == 0
}

func newPersistTable(ttl time.Duration) *persistTable {
	return &persistTable{ttl: ttl, m: make(map[key]*persistEntry)}
}

// lookup returns k's live entry, dropping it if it has expired.
func (t *persistTable) lookup(k key, now time.Time) *persistEntry {
	e := t.m[k]
	if e == nil {
		return nil
	}
	if e.leases == 0 && !now.Before(e.expires) {
		t.remove(e)
		return nil
	}
	return e
}

// add remembers rs for k; the caller acquires the entry next.
func (t *persistTable) add(k key, rs *Realserver) *persistEntry {
	e := &persistEntry{k: k, rs: rs}
	t.m[k] = e
	return e
}

// acquire counts one more lease on e, stopping its expiry.
func (t *persistTable) acquire(e *persistEntry) {
	if e.elem != nil {
		t.idle.Remove(e.elem)
		e.elem = nil
	}
	e.leases++
}

// release counts one lease less on e; the last one starts its expiry.
func (t *persistTable) release(e *persistEntry, now time.Time) {
	e.leases--
	if e.leases > 0 {
		return
	}
	e.expires = now.Add(t.ttl)
	e.elem = t.idle.PushBack(e)
}

// sweep removes at most budget expired entries, oldest first.
func (t *persistTable) sweep(now time.Time, budget int) {
	for ; budget > 0; budget-- {
		f := t.idle.Front()
		if f == nil {
			return
		}
		e := f.Value.(*persistEntry)
		if now.Before(e.expires) {
			return
		}
		t.remove(e)
	}
}

func (t *persistTable) remove(e *persistEntry) {
	if e.elem != nil {
		t.idle.Remove(e.elem)
		e.elem = nil
	}
	delete(t.m, e.k)
}

// len returns the number of remembered clients.
func (t *persistTable) len() int { return len(t.m) }
