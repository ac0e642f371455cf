package pool

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Pool.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPersistence walks one client through a script of steps against an
// rr pool of three, where without persistence every pick moves on.
func TestPersistence(t *testing.T) {
	const ttl = 10 * time.Second
	x := netip.MustParseAddr("198.51.100.1")
	y := netip.MustParseAddr("198.51.100.2")
	type step struct {
		advance time.Duration
		client  netip.Addr
		hold    bool // keep the lease instead of releasing it at once
		down    int  // take this realserver down first; -1 none
		exclude int  // -1 none
		want    int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"sticks while remembered", []step{
			{0, x, false, -1, -1, 0},
			{0, y, false, -1, -1, 1},
			{time.Second, x, false, -1, -1, 0},
			{ttl - time.Nanosecond, x, false, -1, -1, 0}, // timer restarted by the last release
			{0, y, false, -1, -1, 2},                     // y expired meanwhile: rr moves on
		}},
		{"expires after the timeout", []step{
			{0, x, false, -1, -1, 0},
			{ttl, x, false, -1, -1, 1}, // forgotten: rr moves on
			{ttl - 1, x, false, -1, -1, 1},
		}},
		{"lives while a lease is held", []step{
			{0, x, true, -1, -1, 0},
			{time.Hour, x, false, -1, -1, 0},
			{time.Hour, x, false, -1, -1, 0},
		}},
		{"unmapped and zone-free key", []step{
			{0, x, false, -1, -1, 0},
			{0, netip.MustParseAddr("::ffff:198.51.100.1"), false, -1, -1, 0},
		}},
		{"down breaks persistence", []step{
			{0, x, false, -1, -1, 0},
			{0, x, false, 0, -1, 1},
			{0, x, false, -1, -1, 1}, // the new choice is remembered
		}},
		{"exclude breaks persistence", []step{
			{0, x, true, -1, -1, 0},
			{0, x, false, -1, 0, 1},
			{0, x, false, -1, -1, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool("rr", []int{1, 1, 1}, ttl)
			clock := newFakeClock()
			p.Now = clock.Now
			rs := p.Realservers()
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				if s.down >= 0 {
					setDown(t, p, s.down)
				}
				var ex []*Realserver
				if s.exclude >= 0 {
					ex = append(ex, rs[s.exclude])
				}
				l, err := p.Pick(s.client, ex...)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := index(p, l.Realserver()); got != s.want {
					t.Fatalf("step %d: realserver %d, want %d", i, got, s.want)
				}
				if !s.hold {
					l.Release()
				}
			}
		})
	}
}

func TestPersistenceOff(t *testing.T) {
	p := testPool("rr", []int{1, 1}, 0)
	if p.persist != nil {
		t.Fatal("persistence 0 built a table")
	}
	var got []int
	for range 4 {
		l, err := p.Pick(client)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, index(p, l.Realserver()))
		l.Release()
	}
	if got[0] == got[1] || got[1] == got[2] {
		t.Errorf("without persistence one client should move on with rr: %v", got)
	}
}

// TestPersistenceBounded: entries of clients gone for longer than the
// timeout are swept by later picks, so the table holds about the clients
// of the last timeout only.
func TestPersistenceBounded(t *testing.T) {
	const ttl = time.Second
	p := testPool("wlc", []int{1, 1}, ttl)
	clock := newFakeClock()
	p.Now = clock.Now
	pick := func(c netip.Addr) {
		t.Helper()
		l, err := p.Pick(c)
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	const old = 1000
	for i := range old {
		pick(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if n := p.persist.len(); n != old {
		t.Fatalf("%d entries after %d clients, want %d", n, old, old)
	}
	held, err := p.Pick(netip.MustParseAddr("192.0.2.99"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * ttl)
	// Each pick sweeps up to sweepBudget expired entries.
	picks := old/sweepBudget + 1
	for i := range picks {
		pick(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}))
	}
	if n, want := p.persist.len(), picks+1; n != want {
		t.Fatalf("%d entries after the sweep, want %d (new clients and the held one)", n, want)
	}
	// The held client outlived the timeout and is still remembered.
	l, err := p.Pick(netip.MustParseAddr("192.0.2.99"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Realserver() != held.Realserver() {
		t.Error("a client holding a lease lost its realserver")
	}
	l.Release()
	held.Release()
}
