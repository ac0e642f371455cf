package limits

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// step is one action of a scripted Sessions test: acquire a session from
// client (want err), release the session acquired at step `of`, or change
// the limits. After each step the active counts are checked.
type step struct {
	acquire    string
	err        error
	release    bool
	of         int
	setLimits  bool
	max, per   int
	active     int
	from       string // client whose count is checked, with fromActive
	fromActive int
}

func TestSessionsScript(t *testing.T) {
	const (
		a      = "192.0.2.1"
		aV6    = "::ffff:192.0.2.1"
		b      = "192.0.2.2"
		c      = "2001:db8::3"
		zoneA  = "fe80::1%eth0"
		zoneB  = "fe80::1%eth1"
		noZone = "fe80::1"
	)
	tests := []struct {
		name     string
		max, per int
		steps    []step
	}{
		{
			name: "global cap", max: 2, per: 0,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: b, active: 2, from: b, fromActive: 1},
				{acquire: c, err: ErrTooManySessions, active: 2, from: c, fromActive: 0},
				{release: true, of: 0, active: 1, from: a, fromActive: 0},
				{acquire: c, active: 2, from: c, fromActive: 1},
			},
		},
		{
			name: "per-client cap", max: 0, per: 2,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
				{acquire: a, err: ErrTooManyFromClient, active: 2, from: a, fromActive: 2},
				{acquire: b, active: 3, from: b, fromActive: 1},
				{release: true, of: 1, active: 2, from: a, fromActive: 1},
				{acquire: a, active: 3, from: a, fromActive: 2},
			},
		},
		{
			name: "global cap is checked first", max: 2, per: 2,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
				{acquire: a, err: ErrTooManySessions, active: 2, from: a, fromActive: 2},
			},
		},
		{
			name: "mapped and plain are one client", max: 0, per: 2,
			steps: []step{
				{acquire: a, active: 1, from: aV6, fromActive: 1},
				{acquire: aV6, active: 2, from: a, fromActive: 2},
				{acquire: aV6, err: ErrTooManyFromClient, active: 2, from: aV6, fromActive: 2},
				{acquire: a, err: ErrTooManyFromClient, active: 2, from: a, fromActive: 2},
				{release: true, of: 1, active: 1, from: a, fromActive: 1},
				{release: true, of: 0, active: 0, from: aV6, fromActive: 0},
			},
		},
		{
			name: "zones are different clients", max: 0, per: 1,
			steps: []step{
				{acquire: zoneA, active: 1, from: zoneA, fromActive: 1},
				{acquire: zoneB, active: 2, from: zoneB, fromActive: 1},
				{acquire: noZone, active: 3, from: noZone, fromActive: 1},
				{acquire: zoneA, err: ErrTooManyFromClient, active: 3, from: zoneA, fromActive: 1},
			},
		},
		{
			name: "release is idempotent", max: 2, per: 2,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
				{release: true, of: 0, active: 1, from: a, fromActive: 1},
				{release: true, of: 0, active: 1, from: a, fromActive: 1},
				{release: true, of: 0, active: 1, from: a, fromActive: 1},
				{acquire: b, active: 2, from: b, fromActive: 1},
				{acquire: c, err: ErrTooManySessions, active: 2, from: a, fromActive: 1},
			},
		},
		{
			name: "unlimited", max: 0, per: 0,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
				{acquire: a, active: 3, from: a, fromActive: 3},
				{acquire: b, active: 4, from: b, fromActive: 1},
			},
		},
		{
			name: "lowered limits keep existing sessions", max: 3, per: 3,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
				{acquire: b, active: 3, from: b, fromActive: 1},
				{setLimits: true, max: 10, per: 1, active: 3, from: a, fromActive: 2},
				{acquire: a, err: ErrTooManyFromClient, active: 3, from: a, fromActive: 2},
				{acquire: c, active: 4, from: c, fromActive: 1},
				{setLimits: true, max: 2, per: 1, active: 4, from: a, fromActive: 2},
				{acquire: "198.51.100.9", err: ErrTooManySessions, active: 4, from: a, fromActive: 2},
				{release: true, of: 0, active: 3, from: a, fromActive: 1},
				{release: true, of: 2, active: 2, from: b, fromActive: 0},
				{acquire: b, err: ErrTooManySessions, active: 2, from: b, fromActive: 0},
				{release: true, of: 5, active: 1, from: c, fromActive: 0},
				{acquire: b, active: 2, from: b, fromActive: 1},
			},
		},
		{
			name: "raised limits admit more", max: 1, per: 1,
			steps: []step{
				{acquire: a, active: 1, from: a, fromActive: 1},
				{acquire: a, err: ErrTooManySessions, active: 1, from: a, fromActive: 1},
				{setLimits: true, max: 0, per: 0, active: 1, from: a, fromActive: 1},
				{acquire: a, active: 2, from: a, fromActive: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSessions(tt.max, tt.per)
			releases := make([]func(), len(tt.steps))
			for i, st := range tt.steps {
				switch {
				case st.acquire != "":
					rel, err := s.Acquire(netip.MustParseAddr(st.acquire))
					if !errors.Is(err, st.err) || (err == nil) != (rel != nil) {
						t.Fatalf("step %d: Acquire(%s) = %v, %v; want error %v", i, st.acquire, rel != nil, err, st.err)
					}
					releases[i] = rel
				case st.release:
					if releases[st.of] == nil {
						t.Fatalf("step %d: bad script, step %d acquired nothing", i, st.of)
					}
					releases[st.of]()
				case st.setLimits:
					s.SetLimits(st.max, st.per)
				}
				if got := s.Active(); got != st.active {
					t.Fatalf("step %d: Active() = %d, want %d", i, got, st.active)
				}
				if got := s.ActiveFrom(netip.MustParseAddr(st.from)); got != st.fromActive {
					t.Fatalf("step %d: ActiveFrom(%s) = %d, want %d", i, st.from, got, st.fromActive)
				}
			}
			// Release everything (twice): no client may stay in the map.
			for range 2 {
				for _, rel := range releases {
					if rel != nil {
						rel()
					}
				}
			}
			if got := s.Active(); got != 0 {
				t.Fatalf("Active() = %d after releasing all", got)
			}
			if n := len(s.clients); n != 0 {
				t.Fatalf("%d clients left in the map after releasing all: %v", n, s.clients)
			}
		})
	}
}

func TestSessionsConcurrent(t *testing.T) {
	tests := []struct {
		name       string
		max, per   int
		clients    int
		goroutines int
	}{
		{name: "global", max: 5, per: 0, clients: 50, goroutines: 16},
		{name: "per client", max: 0, per: 2, clients: 3, goroutines: 16},
		{name: "both", max: 4, per: 3, clients: 2, goroutines: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSessions(tt.max, tt.per)
			var (
				total      atomic.Int64
				perClient  = make([]atomic.Int64, tt.clients)
				violations atomic.Int64
				admitted   atomic.Int64
				wg         sync.WaitGroup
			)
			for g := range tt.goroutines {
				wg.Go(func() {
					for r := range 500 {
						ci := (g + r) % tt.clients
						// Alternate mapped and plain forms of the same client.
						addr := netip.AddrFrom4([4]byte{10, 0, byte(ci >> 8), byte(ci)})
						if r%2 == 1 {
							addr = netip.AddrFrom16(addr.As16())
						}
						rel, err := s.Acquire(addr)
						if err != nil {
							continue
						}
						admitted.Add(1)
						n := total.Add(1)
						m := perClient[ci].Add(1)
						if (tt.max > 0 && n > int64(tt.max)) || (tt.per > 0 && m > int64(tt.per)) {
							violations.Add(1)
						}
						perClient[ci].Add(-1)
						total.Add(-1)
						rel()
						rel()
					}
				})
			}
			wg.Wait()
			if v := violations.Load(); v > 0 {
				t.Fatalf("%d admissions over a cap", v)
			}
			if admitted.Load() == 0 {
				t.Fatal("no session was admitted")
			}
			if got := s.Active(); got != 0 {
				t.Fatalf("Active() = %d after the run", got)
			}
			if n := len(s.clients); n != 0 {
				t.Fatalf("%d clients left in the map", n)
			}
		})
	}
}

func BenchmarkSessionsAcquireRelease(b *testing.B) {
	s := NewSessions(5000, 20)
	client := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		rel, err := s.Acquire(client)
		if err != nil {
			b.Fatal(err)
		}
		rel()
	}
}
