package limits

import (
	"errors"
	"testing"
)

// FuzzPorts drives an allocator with a sequence of operations, one per byte
// of ops, next to a model (a plain FIFO slice), and checks after every step
// that both agree and that InUse is the number of ports held.
//
// A byte b means: b&3 == 0 or 1: Reserve; 2: Release a held port (b>>2
// picks which); 3: Release an arbitrary port near the range (b>>2 picks the
// offset from first-8), which covers double and out-of-range releases.
func FuzzPorts(f *testing.F) {
	f.Add(uint16(50000), uint8(0), []byte{0, 0, 2, 0})
	f.Add(uint16(50000), uint8(3), []byte{0, 1, 0, 6, 10, 0, 0, 0, 0, 0, 3, 35, 39})
	f.Add(uint16(65530), uint8(10), []byte{0, 0, 0, 0, 0, 0, 0, 0, 3, 255, 254, 0, 0, 0, 0})
	f.Add(uint16(0), uint8(255), []byte{0, 3, 7, 11, 2, 6, 0, 0, 2, 2, 2})
	f.Fuzz(func(t *testing.T, first uint16, span uint8, ops []byte) {
		last := uint32(first) + uint32(span)
		if last > 65535 {
			last = 65535
		}
		p := NewPorts(first, uint16(last))
		size := int(last) - int(first) + 1
		if p.Size() != size {
			t.Fatalf("Size() = %d, want %d", p.Size(), size)
		}
		free := make([]uint16, 0, size) // the model: FIFO of free ports
		for i := range size {
			free = append(free, first+uint16(i))
		}
		held := make(map[uint16]bool)
		var heldOrder []uint16 // to pick a held port deterministically
		var exhaustions uint64

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
			free = append(free, port)
		}

		for i, b := range ops {
			switch b & 3 {
			case 0, 1:
				port, err := p.Reserve()
				if len(free) == 0 {
					if !errors.Is(err, ErrExhausted) {
						t.Fatalf("op %d: Reserve() = %d, %v on a full range", i, port, err)
					}
					exhaustions++
					break
				}
				if err != nil {
					t.Fatalf("op %d: Reserve() = %v with %d free", i, err, len(free))
				}
				if held[port] {
					t.Fatalf("op %d: Reserve() = %d, already held", i, port)
				}
				if port != free[0] {
					t.Fatalf("op %d: Reserve() = %d, FIFO says %d", i, port, free[0])
				}
				free = free[1:]
				held[port] = true
				heldOrder = append(heldOrder, port)
			case 2:
				if len(heldOrder) == 0 {
					break
				}
				port := heldOrder[int(b>>2)%len(heldOrder)]
				p.Release(port)
				releaseModel(port)
			case 3:
				port := uint16(int(first) - 8 + int(b>>2)) // wraps near 0: still a port
				p.Release(port)
				releaseModel(port)
			}
			if got := p.InUse(); got != len(held) {
				t.Fatalf("op %d: InUse() = %d, holding %d", i, got, len(held))
			}
			if got := p.Exhaustions(); got != exhaustions {
				t.Fatalf("op %d: Exhaustions() = %d, want %d", i, got, exhaustions)
			}
		}
		// Drain: the allocator must hand out exactly the model's free ports,
		// in its order, then be exhausted.
		for _, want := range free {
			if got, err := p.Reserve(); err != nil || got != want {
				t.Fatalf("drain: Reserve() = %d, %v; want %d", got, err, want)
			}
		}
		if got, err := p.Reserve(); !errors.Is(err, ErrExhausted) {
			t.Fatalf("drain: Reserve() = %d, %v past the end", got, err)
		}
	})
}
