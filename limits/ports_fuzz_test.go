package limits

import (
	"errors"
	"testing"
)

// FuzzPorts drives an allocator with a sequence of operations, one per byte
// of ops, next to a model (the range and the set of held ports), and checks
// after every step that both agree: Reserve hands out a free port of the
// current range, never a held one, and fails only when none is free;
// InUse is the number of ports held; exhaustions are counted.
//
// A byte b means, by b&7: 0-3: Reserve, with b>>3 steering the pick; 4, 5:
// Release a held port (b>>3 picks which); 6: Release an arbitrary port
// near the range (b>>3 picks the offset from first-8), which covers double
// and out-of-range releases; 7: SetRange to a range of the same span moved
// by (b>>3)-16 ports.
func FuzzPorts(f *testing.F) {
	f.Add(uint16(50000), uint8(0), []byte{0, 0, 4, 0})
	f.Add(uint16(50000), uint8(3), []byte{0, 1, 0, 6, 10, 0, 0, 0, 0, 0, 3, 35, 39})
	f.Add(uint16(65530), uint8(10), []byte{0, 0, 0, 0, 0, 0, 0, 0, 6, 255, 254, 0, 0, 0, 0})
	f.Add(uint16(0), uint8(255), []byte{0, 3, 7, 11, 2, 6, 0, 0, 2, 2, 2})
	f.Add(uint16(50000), uint8(5), []byte{0, 8, 16, 7, 0, 0, 4, 12, 0x47, 0, 0, 0, 0x87, 0, 5, 13, 0})
	f.Add(uint16(2), uint8(2), []byte{0, 0, 7, 0, 0, 0, 0xff, 0, 4, 12, 0})
	f.Fuzz(func(t *testing.T, first uint16, span uint8, ops []byte) {
		clampRange := func(first int) (uint16, uint16) {
			first = min(max(first, 0), 65535)
			return uint16(first), uint16(min(first+int(span), 65535))
		}
		lo, hi := clampRange(int(first))
		p := NewPorts(lo, hi)
		var b byte
		p.pick = func(n int) int { return int(b>>3) % n }
		held := make(map[uint16]bool)
		var heldOrder []uint16 // to pick a held port deterministically
		var exhaustions uint64
		free := func() int { // free ports of the model's range
			n := int(hi) - int(lo) + 1
			for port := range held {
				if port >= lo && port <= hi {
					n--
				}
			}
			return n
		}
		releaseModel := func(port uint16) {
			if !held[port] {
				return
			}
			delete(held, port)
			for i, h := range heldOrder {
				if h == port {
					heldOrder = append(heldOrder[:i], heldOrder[i+1:]...)
					break
				}
			}
		}

		for i, op := range ops {
			b = op
			switch op & 7 {
			case 0, 1, 2, 3:
				port, err := p.Reserve()
				if free() == 0 {
					if !errors.Is(err, ErrExhausted) {
						t.Fatalf("op %d: Reserve() = %d, %v with no free port", i, port, err)
					}
					exhaustions++
					break
				}
				if err != nil {
					t.Fatalf("op %d: Reserve() = %v with %d free", i, err, free())
				}
				if held[port] || port < lo || port > hi {
					t.Fatalf("op %d: Reserve() = %d: held %v, range %d-%d", i, port, held[port], lo, hi)
				}
				held[port] = true
				heldOrder = append(heldOrder, port)
			case 4, 5:
				if len(heldOrder) == 0 {
					break
				}
				port := heldOrder[int(op>>3)%len(heldOrder)]
				p.Release(port)
				releaseModel(port)
			case 6:
				port := uint16(int(lo) - 8 + int(op>>3)) // wraps near 0: still a port
				p.Release(port)
				releaseModel(port)
			case 7:
				lo, hi = clampRange(int(lo) + int(op>>3) - 16)
				p.SetRange(lo, hi)
			}
			if got := p.InUse(); got != len(held) {
				t.Fatalf("op %d: InUse() = %d, holding %d", i, got, len(held))
			}
			if got := p.Exhaustions(); got != exhaustions {
				t.Fatalf("op %d: Exhaustions() = %d, want %d", i, got, exhaustions)
			}
		}
		// Drain: the allocator must hand out exactly the model's free
		// ports of the range, once each, then be exhausted.
		b = 0
		for range free() {
			got, err := p.Reserve()
			if err != nil || held[got] || got < lo || got > hi {
				t.Fatalf("drain: Reserve() = %d, %v (held %v, range %d-%d)", got, err, held[got], lo, hi)
			}
			held[got] = true
		}
		if got, err := p.Reserve(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("drain: Reserve() = %d, %v past the end", got, err)
		}
	})
}
