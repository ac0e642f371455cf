package limits

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

func TestNewPortsPanicsOnInvertedRange(t *testing.T) {
	tests := []struct {
		name        string
		first, last uint16
		wantPanic   bool
		wantSize    int
	}{
		{name: "inverted", first: 50001, last: 50000, wantPanic: true},
		{name: "single", first: 50000, last: 50000, wantSize: 1},
		{name: "full", first: 0, last: 65535, wantSize: 65536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Ports
			panicked := func() (r any) {
				defer func() { r = recover() }()
				p = NewPorts(tt.first, tt.last)
				return nil
			}() != nil
			if panicked != tt.wantPanic {
				t.Fatalf("NewPorts(%d, %d) panicked=%v, want %v", tt.first, tt.last, panicked, tt.wantPanic)
			}
			if !tt.wantPanic && p.Size() != tt.wantSize {
				t.Fatalf("Size() = %d, want %d", p.Size(), tt.wantSize)
			}
		})
	}
}

func TestPortsReserveAll(t *testing.T) {
	tests := []struct {
		name        string
		first, last uint16
	}{
		{name: "one", first: 50000, last: 50000},
		{name: "two", first: 50000, last: 50001},
		{name: "hundred", first: 50000, last: 50099},
		{name: "top", first: 65530, last: 65535},
		{name: "bottom", first: 0, last: 3},
		{name: "whole", first: 0, last: 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPorts(tt.first, tt.last)
			size := int(tt.last) - int(tt.first) + 1
			if p.Size() != size {
				t.Fatalf("Size() = %d, want %d", p.Size(), size)
			}
			seen := make(map[uint16]bool, size)
			for i := range size {
				port, err := p.Reserve()
				if err != nil {
					t.Fatalf("Reserve #%d: %v", i, err)
				}
				if port < tt.first || port > tt.last {
					t.Fatalf("Reserve #%d = %d, outside %d-%d", i, port, tt.first, tt.last)
				}
				if seen[port] {
					t.Fatalf("Reserve #%d = %d, handed out twice", i, port)
				}
				seen[port] = true
				if got := p.InUse(); got != i+1 {
					t.Fatalf("InUse() = %d after %d reserves", got, i+1)
				}
			}
			for i := range 3 {
				port, err := p.Reserve()
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("Reserve on a full range = %d, %v; want ErrExhausted", port, err)
				}
				if got := p.Exhaustions(); got != uint64(i+1) {
					t.Fatalf("Exhaustions() = %d, want %d", got, i+1)
				}
			}
			if got := p.InUse(); got != size {
				t.Fatalf("InUse() = %d after exhaustion, want %d", got, size)
			}
			// Everything back, then everything out again: still all distinct.
			for port := range seen {
				p.Release(port)
			}
			if got := p.InUse(); got != 0 {
				t.Fatalf("InUse() = %d after releasing all", got)
			}
			clear(seen)
			for i := range size {
				port, err := p.Reserve()
				if err != nil || seen[port] {
					t.Fatalf("second round Reserve #%d = %d, %v (seen %v)", i, port, err, seen[port])
				}
				seen[port] = true
			}
		})
	}
}

// op is one step of a scripted allocator test: reserve (want the port or the
// error), release a port, or move to another range; inUse is checked after
// the step.
type op struct {
	release  bool
	setRange bool
	port     uint16 // released port, or the port Reserve must return
	first    uint16 // setRange: the new range
	last     uint16
	err      error // error Reserve must return
	inUse    int
}

func reserve(port uint16, inUse int) op { return op{port: port, inUse: inUse} }
func release(port uint16, inUse int) op { return op{release: true, port: port, inUse: inUse} }
func exhausted(inUse int) op            { return op{err: ErrExhausted, inUse: inUse} }
func setRange(first, last uint16, inUse int) op {
	return op{setRange: true, first: first, last: last, inUse: inUse}
}

// TestPortsScript runs scripts on ordered allocators (FIFO), whose choices
// are known; a steered pick stands for the random one.
func TestPortsScript(t *testing.T) {
	tests := []struct {
		name            string
		first, last     uint16
		pick            func(n int) int // default: the oldest (NewOrderedPorts)
		ops             []op
		wantExhaustions uint64
	}{
		{
			name: "ascending first", first: 50000, last: 50002,
			ops:             []op{reserve(50000, 1), reserve(50001, 2), reserve(50002, 3), exhausted(3)},
			wantExhaustions: 1,
		},
		{
			name: "released goes to the back", first: 50000, last: 50003,
			ops: []op{
				reserve(50000, 1), release(50000, 0),
				reserve(50001, 1), reserve(50002, 2), reserve(50003, 3),
				reserve(50000, 4), exhausted(4),
			},
			wantExhaustions: 1,
		},
		{
			name: "fifo release order", first: 50000, last: 50004,
			ops: []op{
				reserve(50000, 1), reserve(50001, 2), reserve(50002, 3), reserve(50003, 4), reserve(50004, 5),
				release(50003, 4), release(50000, 3), release(50004, 2),
				reserve(50003, 3), reserve(50000, 4), reserve(50004, 5), exhausted(5),
			},
			wantExhaustions: 1,
		},
		{
			name: "bind failure retries a different port", first: 50000, last: 50001,
			ops: []op{reserve(50000, 1), release(50000, 0), reserve(50001, 1), release(50001, 0), reserve(50000, 1)},
		},
		{
			name: "double release is a no-op", first: 50000, last: 50002,
			ops: []op{
				reserve(50000, 1), reserve(50001, 2),
				release(50000, 1), release(50000, 1), release(50000, 1),
				reserve(50002, 2), reserve(50000, 3), exhausted(3),
			},
			wantExhaustions: 1,
		},
		{
			name: "release of a free port is a no-op", first: 50000, last: 50002,
			ops: []op{
				release(50001, 0), release(50002, 0),
				reserve(50000, 1), reserve(50001, 2), reserve(50002, 3), exhausted(3), exhausted(3),
			},
			wantExhaustions: 2,
		},
		{
			name: "release outside the range is a no-op", first: 50000, last: 50001,
			ops: []op{
				reserve(50000, 1), reserve(50001, 2),
				release(49999, 2), release(50002, 2), release(0, 2), release(65535, 2),
				exhausted(2), release(50001, 1), reserve(50001, 2),
			},
			wantExhaustions: 1,
		},
		{
			name: "wraps around the ring", first: 7, last: 9,
			ops: []op{
				reserve(7, 1), reserve(8, 2), release(7, 1), reserve(9, 2), release(8, 1),
				reserve(7, 2), release(9, 1), reserve(8, 2), release(7, 1), release(8, 0),
				reserve(9, 1), reserve(7, 2), reserve(8, 3), exhausted(3),
			},
			wantExhaustions: 1,
		},
		{
			name: "a random pick swaps with the oldest free port", first: 50000, last: 50003,
			pick: func(n int) int { return min(1, n-1) },
			ops: []op{
				reserve(50001, 1), reserve(50002, 2), reserve(50003, 3), reserve(50000, 4), exhausted(4),
				release(50002, 3), reserve(50002, 4),
			},
			wantExhaustions: 1,
		},
		{
			name: "shrink: held ports of the old range drain, never come back", first: 50000, last: 50009,
			ops: []op{
				reserve(50000, 1), reserve(50001, 2), reserve(50002, 3), release(50002, 2),
				setRange(50008, 50009, 2),
				reserve(50008, 3), reserve(50009, 4), exhausted(4),
				release(50000, 3), exhausted(3), release(50000, 3), release(50001, 2), exhausted(2),
				release(50008, 1), reserve(50008, 2),
			},
			wantExhaustions: 3,
		},
		{
			name: "overlap: held ports inside the new range come back", first: 50000, last: 50003,
			ops: []op{
				reserve(50000, 1), reserve(50001, 2),
				setRange(50001, 50004, 2),
				reserve(50002, 3), reserve(50003, 4), reserve(50004, 5), exhausted(5),
				release(50001, 4), reserve(50001, 5), release(50000, 4), exhausted(4),
			},
			wantExhaustions: 2,
		},
		{
			name: "move below and back", first: 50000, last: 50001,
			ops: []op{
				reserve(50000, 1),
				setRange(40000, 40000, 1), reserve(40000, 2), exhausted(2),
				setRange(50000, 50001, 2), reserve(50001, 3), exhausted(3),
				release(40000, 2), release(50000, 1), reserve(50000, 2),
				setRange(50000, 50001, 2), exhausted(2),
			},
			wantExhaustions: 3,
		},
		{
			name: "edges of the port space", first: 0, last: 1,
			ops: []op{
				reserve(0, 1), setRange(65535, 65535, 1), reserve(65535, 2), exhausted(2),
				release(0, 1), release(65535, 0), reserve(65535, 1),
			},
			wantExhaustions: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewOrderedPorts(tt.first, tt.last)
			if tt.pick != nil {
				p.pick = tt.pick
			}
			for i, o := range tt.ops {
				switch {
				case o.release:
					p.Release(o.port)
				case o.setRange:
					p.SetRange(o.first, o.last)
					if f, l := p.Range(); f != o.first || l != o.last || p.Size() != int(o.last)-int(o.first)+1 {
						t.Fatalf("op %d: Range() = %d-%d, Size() = %d after SetRange(%d, %d)", i, f, l, p.Size(), o.first, o.last)
					}
				default:
					got, err := p.Reserve()
					switch {
					case o.err != nil && !errors.Is(err, o.err):
						t.Fatalf("op %d: Reserve() = %d, %v; want %v", i, got, err, o.err)
					case o.err == nil && (err != nil || got != o.port):
						t.Fatalf("op %d: Reserve() = %d, %v; want %d", i, got, err, o.port)
					}
				}
				if got := p.InUse(); got != o.inUse {
					t.Fatalf("op %d: InUse() = %d, want %d", i, got, o.inUse)
				}
			}
			if got := p.Exhaustions(); got != tt.wantExhaustions {
				t.Fatalf("Exhaustions() = %d, want %d", got, tt.wantExhaustions)
			}
		})
	}
}

// TestPortsUnpredictable checks, statistically, that the order of the
// ports says nothing about the next one: a sequential allocator fails
// every check below; a uniform one fails with a probability far below
// 1e-12 (bounds of more than ten standard deviations).
func TestPortsUnpredictable(t *testing.T) {
	t.Run("a full draw is a shuffle", func(t *testing.T) {
		const n = 1000
		p := NewPorts(61000, 61000+n-1)
		var prev uint16
		successors, ascents := 0, 0
		for i := range n {
			port, err := p.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && port == prev+1 {
				successors++
			}
			if i > 0 && port > prev {
				ascents++
			}
			prev = port
		}
		// A random order has about 1 successor (prev+1) and (n-1)/2
		// ascents with a standard deviation of about 9.
		if successors > 20 {
			t.Errorf("%d of %d ports were the successor of the one before", successors, n-1)
		}
		if ascents < 350 || ascents > 650 {
			t.Errorf("%d of %d steps went up, want about %d", ascents, n-1, (n-1)/2)
		}
		if _, err := p.Reserve(); !errors.Is(err, ErrExhausted) {
			t.Errorf("range not exhausted after %d reserves: %v", n, err)
		}
	})
	t.Run("every port can come first", func(t *testing.T) {
		const size, rounds = 100, 3000
		count := make(map[uint16]int, size)
		for range rounds {
			port, err := NewPorts(61000, 61000+size-1).Reserve()
			if err != nil {
				t.Fatal(err)
			}
			count[port]++
		}
		// Each port is expected 30 times (standard deviation about 5.5);
		// one missing has a probability of about 1e-11.
		for port := uint16(61000); port < 61000+size; port++ {
			if c := count[port]; c == 0 || c > 100 {
				t.Errorf("port %d came first %d times in %d, want about %d", port, c, rounds, rounds/size)
			}
		}
	})
	t.Run("a released port waits", func(t *testing.T) {
		const size, rounds = 100, 2000
		p := NewPorts(61000, 61000+size-1)
		for range size / 2 {
			if _, err := p.Reserve(); err != nil {
				t.Fatal(err)
			}
		}
		again := 0
		for range rounds {
			port, err := p.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			p.Release(port)
			next, err := p.Reserve()
			if err != nil {
				t.Fatal(err)
			}
			if next == port {
				again++
			}
			p.Release(next)
		}
		// The port just released is the newest of 51 free ones: out of
		// the older half that Reserve picks from.
		if again > 0 {
			t.Errorf("the port just released came back %d times in %d", again, rounds)
		}
	})
}

func TestPortsConcurrent(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		goroutines int
		rounds     int
	}{
		{name: "contended", size: 4, goroutines: 16, rounds: 2000},
		{name: "roomy", size: 1000, goroutines: 8, rounds: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const first = 50000
			p := NewPorts(first, uint16(first+tt.size-1))
			var (
				mu         sync.Mutex
				held       = make(map[uint16]bool)
				failed     uint64
				violations []string
			)
			var wg sync.WaitGroup
			for range tt.goroutines {
				wg.Go(func() {
					var mine []uint16
					for r := range tt.rounds {
						port, err := p.Reserve()
						mu.Lock()
						switch {
						case errors.Is(err, ErrExhausted):
							failed++
						case err != nil:
							violations = append(violations, err.Error())
						case held[port]:
							violations = append(violations, "port handed out twice")
						default:
							held[port] = true
							mine = append(mine, port)
						}
						mu.Unlock()
						// Hold up to two ports, release the oldest otherwise.
						// A second Release of the same port is not tried here:
						// another goroutine may hold it again by then, and
						// that Release would rightly free it.
						if len(mine) > 2 || (r%5 == 0 && len(mine) > 0) {
							port := mine[0]
							mine = mine[1:]
							mu.Lock()
							delete(held, port)
							mu.Unlock()
							p.Release(port)
							if r%3 == 0 {
								p.Release(first - 1) // outside: no-op
							}
						}
					}
					for _, port := range mine {
						mu.Lock()
						delete(held, port)
						mu.Unlock()
						p.Release(port)
					}
				})
			}
			wg.Wait()
			if len(violations) > 0 {
				t.Fatalf("%d violations, first: %s", len(violations), violations[0])
			}
			if got := p.InUse(); got != 0 {
				t.Fatalf("InUse() = %d after everything was released", got)
			}
			if got := p.Exhaustions(); got != failed {
				t.Fatalf("Exhaustions() = %d, callers saw %d", got, failed)
			}
			// All ports must still be there, once each.
			seen := make(map[uint16]bool)
			for range tt.size {
				port, err := p.Reserve()
				if err != nil || seen[port] {
					t.Fatalf("after the run: Reserve() = %d, %v (seen %v)", port, err, seen[port])
				}
				seen[port] = true
			}
			if _, err := p.Reserve(); !errors.Is(err, ErrExhausted) {
				t.Fatalf("after the run: range not exhausted at %d ports: %v", tt.size, err)
			}
		})
	}
}

func TestPortsAllocations(t *testing.T) {
	tests := []struct {
		name        string
		first, last uint16
		maxBytes    uint64
	}{
		{name: "100", first: 50000, last: 50099, maxBytes: 4 << 10},
		{name: "64000", first: 1536, last: 65535, maxBytes: 256 << 10},
		{name: "65536", first: 0, last: 65535, maxBytes: 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			p := NewPorts(tt.first, tt.last)
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxBytes {
				t.Errorf("NewPorts(%d, %d) allocated %d bytes, budget %d", tt.first, tt.last, got, tt.maxBytes)
			}
			// Half full, so Release and Reserve both work on a live ring.
			for range p.Size() / 2 {
				if _, err := p.Reserve(); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(1000, func() {
				port, err := p.Reserve()
				if err != nil {
					t.Fatal(err)
				}
				p.Release(port)
				p.Release(port)
				p.Release(tt.first - 1)
			})
			if allocs != 0 {
				t.Errorf("Reserve/Release allocate %.1f times per run, want 0", allocs)
			}
		})
	}
}

func BenchmarkPortsReserveRelease(b *testing.B) {
	for _, bc := range []struct {
		name        string
		first, last uint16
	}{
		{name: "ports=100", first: 50000, last: 50099},
		{name: "ports=1000", first: 50000, last: 50999},
		{name: "ports=64000", first: 1536, last: 65535},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := NewPorts(bc.first, bc.last)
			// Half the range held, as on a busy director.
			for range p.Size() / 2 {
				if _, err := p.Reserve(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				port, err := p.Reserve()
				if err != nil {
					b.Fatal(err)
				}
				p.Release(port)
			}
		})
	}
}

func BenchmarkPortsReserveReleaseParallel(b *testing.B) {
	p := NewPorts(50000, 50999)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			port, err := p.Reserve()
			if err != nil {
				continue
			}
			p.Release(port)
		}
	})
}
