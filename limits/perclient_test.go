package limits

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
)

// TestPerClient fills one address's share, checks that another address
// still gets its own, and that entries go when released.
func TestPerClient(t *testing.T) {
	p := NewPerClient(3)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	var rel []func()
	for i := range 3 {
		r, err := p.Acquire(a)
		if err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
		rel = append(rel, r)
	}
	if _, err := p.Acquire(netip.MustParseAddr("::ffff:192.0.2.1")); !errors.Is(err, ErrClientCap) {
		t.Fatalf("fourth acquire (IPv4-mapped) = %v, want ErrClientCap", err)
	}
	rb, err := p.Acquire(b)
	if err != nil {
		t.Fatalf("other address refused: %v", err)
	}
	if p.Held(a) != 3 || p.Held(b) != 1 || p.Clients() != 2 {
		t.Fatalf("held %d %d over %d clients, want 3 1 2", p.Held(a), p.Held(b), p.Clients())
	}
	rel[0]()
	rel[0]() // only the first call counts
	if p.Held(a) != 2 {
		t.Fatalf("held %d after one release, want 2", p.Held(a))
	}
	if _, err := p.Acquire(a); err != nil {
		t.Fatalf("acquire after a release: %v", err)
	}
	p.SetMax(0)
	if _, err := p.Acquire(a); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
	rb()
	if p.Held(b) != 0 || p.Clients() != 1 {
		t.Fatalf("b holds %d, %d clients, want 0 and 1: entries at zero must go", p.Held(b), p.Clients())
	}
	var nilCap *PerClient
	if r, err := nilCap.Acquire(a); err != nil || r == nil {
		t.Fatalf("nil PerClient: %v", err)
	}
}

// TestPerClientConcurrent races acquires and releases of many addresses:
// the cap holds at every moment and nothing is left behind.
func TestPerClientConcurrent(t *testing.T) {
	const max = 4
	p := NewPerClient(max)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(g % 4)})
			for range 1000 {
				r, err := p.Acquire(a)
				if err != nil {
					continue
				}
				if n := p.Held(a); n > max {
					t.Errorf("%s holds %d, above %d", a, n, max)
				}
				r()
			}
		}()
	}
	wg.Wait()
	if p.Clients() != 0 {
		t.Fatalf("%d addresses left after every release", p.Clients())
	}
}

// BenchmarkPerClient is one acquire and release.
func BenchmarkPerClient(b *testing.B) {
	p := NewPerClient(8)
	a := netip.MustParseAddr("192.0.2.1")
	for b.Loop() {
		r, _ := p.Acquire(a)
		r()
	}
}
