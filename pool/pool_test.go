package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/conf"
)

// testConf returns a pool configuration with one realserver per weight,
// 192.0.2.10:21, 192.0.2.11:21, ..., and fall = rise = 1.
func testConf(sched string, weights []int, persistence time.Duration) conf.Pool {
	c := conf.Pool{
		Name:        "test",
		Scheduler:   sched,
		Persistence: conf.Duration{Duration: persistence},
		Health:      conf.Health{Kind: "none", Rise: 1, Fall: 1},
	}
	for i, w := range weights {
		addr := fmt.Sprintf("192.0.2.%d:21", 10+i)
		c.Realservers = append(c.Realservers, conf.Realserver{
			Weight:   &w,
			AddrPort: netip.MustParseAddrPort(addr),
		})
	}
	return c
}

func testPool(sched string, weights []int, persistence time.Duration) *Pool {
	return New(testConf(sched, weights, persistence), NoChecker{})
}

// setDown takes realserver i down the way health checking does (a failed
// check with fall 1).
func setDown(t *testing.T, p *Pool, i int) {
	t.Helper()
	r := p.Realservers()[i]
	if changed, up := r.recordCheck(errors.New("test: down"), 0, time.Now(), p.health.rise, p.health.fall); changed {
		p.changed(r, up, errors.New("test: down"))
	}
	if r.Up() {
		t.Fatalf("realserver %d still up after a failed check with fall 1", i)
	}
}

// index returns the configuration index of r in p.
func index(p *Pool, r *Realserver) int {
	for i, x := range p.Realservers() {
		if x == r {
			return i
		}
	}
	return -1
}

var client = netip.MustParseAddr("198.51.100.7")

func TestNewDefaults(t *testing.T) {
	weights := []int{1, 0, 7}
	c := testConf("", weights, 0)
	c.Realservers[0].Weight = nil // absent: weight 1
	p := New(c, nil)
	if p.Name() != "test" {
		t.Errorf("Name = %q, want test", p.Name())
	}
	if _, ok := p.sched.(weightedLeastConn); !ok {
		t.Errorf("default scheduler is %T, want wlc", p.sched)
	}
	if _, ok := p.checker.(NoChecker); !ok {
		t.Errorf("kind none gave checker %T, want NoChecker", p.checker)
	}
	if p.persist != nil {
		t.Error("persistence 0 built a persistence table")
	}
	rs := p.Realservers()
	if len(rs) != len(weights) {
		t.Fatalf("%d realservers, want %d", len(rs), len(weights))
	}
	for i, r := range rs {
		if !r.Up() {
			t.Errorf("realserver %d starts down; before any check it must count as up", i)
		}
		if r.Weight() != weights[i] {
			t.Errorf("realserver %d weight %d, want %d", i, r.Weight(), weights[i])
		}
		if r.Addr() != c.Realservers[i].AddrPort {
			t.Errorf("realserver %d addr %v, want %v", i, r.Addr(), c.Realservers[i].AddrPort)
		}
		if err, lat, at := r.LastCheck(); err != nil || lat != 0 || !at.IsZero() {
			t.Errorf("realserver %d LastCheck before Run = %v %v %v", i, err, lat, at)
		}
	}
	c.Health.Kind = "tcp"
	if _, ok := New(c, nil).checker.(*TCPChecker); !ok {
		t.Error("kind tcp with nil checker did not get a TCPChecker")
	}
}

func TestPickNoRealserver(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		down    []int
		exclude []int
	}{
		{"all down", []int{1, 2}, []int{0, 1}, nil},
		{"all drained", []int{0, 0}, nil, nil},
		{"all excluded", []int{1, 1}, nil, []int{0, 1}},
		{"down, drained and excluded", []int{1, 0, 1}, []int{0}, []int{2}},
	}
	for _, sched := range []string{"rr", "wrr", "lc", "wlc", "sh"} {
		for _, tt := range tests {
			t.Run(sched+"/"+tt.name, func(t *testing.T) {
				p := testPool(sched, tt.weights, time.Minute)
				for _, i := range tt.down {
					setDown(t, p, i)
				}
				var ex []*Realserver
				for _, i := range tt.exclude {
					ex = append(ex, p.Realservers()[i])
				}
				l, err := p.Pick(client, ex...)
				if !errors.Is(err, ErrNoRealserver) {
					t.Fatalf("Pick = %v, %v; want ErrNoRealserver", l, err)
				}
			})
		}
	}
}

func TestPickExclude(t *testing.T) {
	for _, sched := range []string{"rr", "wrr", "lc", "wlc", "sh"} {
		t.Run(sched, func(t *testing.T) {
			p := testPool(sched, []int{1, 1, 1}, 0)
			rs := p.Realservers()
			for n := range 30 {
				c := netip.AddrFrom4([4]byte{203, 0, 113, byte(n)})
				l, err := p.Pick(c, rs[0], rs[2])
				if err != nil {
					t.Fatalf("Pick excluding 0 and 2: %v", err)
				}
				if got := index(p, l.Realserver()); got != 1 {
					t.Fatalf("Pick excluding 0 and 2 chose %d", got)
				}
				l.Release()
			}
		})
	}
}

func TestLeaseCounts(t *testing.T) {
	p := testPool("rr", []int{1}, 0)
	r := p.Realservers()[0]
	l1, err := p.Pick(client)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := p.Pick(client)
	if err != nil {
		t.Fatal(err)
	}
	if r.Active() != 2 || r.Total() != 2 {
		t.Fatalf("after two picks Active %d Total %d, want 2 2", r.Active(), r.Total())
	}
	l1.Release()
	l1.Release() // idempotent
	if r.Active() != 1 || r.Total() != 2 {
		t.Fatalf("after a double release Active %d Total %d, want 1 2", r.Active(), r.Total())
	}
	l2.Release()
	if r.Active() != 0 {
		t.Fatalf("after all releases Active %d, want 0", r.Active())
	}
}

func TestSetWeight(t *testing.T) {
	p := testPool("wrr", []int{1, 1}, 0)
	rs := p.Realservers()
	if err := p.SetWeight(rs[0], -1); err == nil {
		t.Error("SetWeight -1 succeeded")
	}
	other := testPool("rr", []int{1}, 0).Realservers()[0]
	if err := p.SetWeight(other, 1); err == nil {
		t.Error("SetWeight of a foreign realserver succeeded")
	}
	if err := p.SetWeight(rs[0], 0); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		l, err := p.Pick(client)
		if err != nil {
			t.Fatal(err)
		}
		if l.Realserver() != rs[1] {
			t.Fatal("drained realserver got a new session")
		}
		l.Release()
	}
}

// TestConcurrent is for the race detector: picks, releases, failures and
// weight changes from many goroutines.
func TestConcurrent(t *testing.T) {
	for _, sched := range []string{"rr", "wrr", "lc", "wlc", "sh"} {
		t.Run(sched, func(t *testing.T) {
			p := testPool(sched, []int{1, 2, 3}, time.Minute)
			rs := p.Realservers()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for n := range 200 {
						c := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(n % 16)})
						l, err := p.Pick(c)
						if err == nil {
							l.Release()
						}
					}
				})
			}
			wg.Go(func() {
				for n := range 50 {
					r := rs[n%len(rs)]
					p.MarkFailed(r, errors.New("test"))
					r.recordCheck(nil, 0, time.Now(), 1, 1)
					p.refresh()
					if err := p.SetWeight(r, n%4); err != nil {
						t.Error(err)
					}
				}
			})
			wg.Wait()
			for i, r := range rs {
				if r.Active() != 0 {
					t.Errorf("realserver %d Active %d after all releases", i, r.Active())
				}
			}
		})
	}
}
