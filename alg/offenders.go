package alg

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultOffenders is the size of an offenders table when none is given.
const DefaultOffenders = 32

// Offenders counts refused data connections per source address in a table
// of bounded size, so that an operator sees who connects to data ports
// that are not theirs without algd's memory (or a metric's label set)
// growing with the number of addresses. When the table is full, a new
// address takes the place of the one with the fewest refusals (the least
// recently seen among equals): the heaviest offenders stay, and the latest
// one is always shown. Safe for concurrent use; a nil *Offenders records
// nothing.
type Offenders struct {
	mu      sync.Mutex
	size    int
	byAddr  map[netip.Addr]*Offender
	evicted uint64
}

// Offender is one address of an Offenders table.
type Offender struct {
	// Addr is the source address of the refused connections (the client
	// named by a PROXY header when there is one).
	Addr netip.Addr
	// Counts are the connections refused, by Refusal.
	Counts [3]uint64
	// Last is when the latest was refused.
	Last time.Time
}

// Total is the number of connections refused from the address.
func (o Offender) Total() uint64 { return o.Counts[0] + o.Counts[1] + o.Counts[2] }

// NewOffenders returns an empty table of size addresses (DefaultOffenders
// when size <= 0).
func NewOffenders(size int) *Offenders {
	if size <= 0 {
		size = DefaultOffenders
	}
	return &Offenders{size: size, byAddr: make(map[netip.Addr]*Offender, size)}
}

// Add counts one connection from a refused for why at now.
func (t *Offenders) Add(a netip.Addr, why Refusal, now time.Time) {
	if t == nil || int(why) >= len(Offender{}.Counts) {
		return
	}
	a = a.Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.byAddr[a]
	if !ok {
		if len(t.byAddr) >= t.size {
			t.evictOne()
		}
		o = &Offender{Addr: a}
		t.byAddr[a] = o
	}
	o.Counts[why]++
	o.Last = now
}

// evictOne drops the entry with the fewest refusals, the oldest among
// equals. Called with mu held on a full table: a scan of size entries.
func (t *Offenders) evictOne() {
	var victim *Offender
	for _, o := range t.byAddr {
		if victim == nil || o.Total() < victim.Total() ||
			(o.Total() == victim.Total() && o.Last.Before(victim.Last)) {
			victim = o
		}
	}
	if victim != nil {
		delete(t.byAddr, victim.Addr)
		t.evicted++
	}
}

// Top returns the table, most refusals first (latest first among equals),
// and how many addresses were dropped from it to make room so far.
func (t *Offenders) Top() (list []Offender, evicted uint64) {
	if t == nil {
		return nil, 0
	}
	t.mu.Lock()
	list = make([]Offender, 0, len(t.byAddr))
	for _, o := range t.byAddr {
		list = append(list, *o)
	}
	evicted = t.evicted
	t.mu.Unlock()
	slices.SortFunc(list, func(a, b Offender) int {
		if a.Total() != b.Total() {
			if a.Total() > b.Total() {
				return -1
			}
			return 1
		}
		return b.Last.Compare(a.Last)
	})
	return list, evicted
}
