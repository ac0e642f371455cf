package limits

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrExhausted is returned by Reserve when every port of the range is
// reserved.
var ErrExhausted = errors.New("limits: port range exhausted")

// Ports allocates the ports of one inclusive range for one local address.
// Safe for concurrent use.
//
// Free ports wait in a FIFO ring, in ascending order at first: Reserve takes
// the oldest free port and Release puts a port at the back. A port that
// failed to bind (EADDRINUSE from another process) or has just been closed
// (TIME_WAIT) is therefore the last one handed out again; a caller that
// cannot bind a port releases it and reserves another, a bounded number of
// times. A bitmap of reserved ports makes Release idempotent.
//
// Memory is about 2.125 bytes per port (the ring plus the bitmap), 136 KiB
// for a 64,000-port range; Reserve and Release allocate nothing and do a
// fixed amount of work whatever the size of the range.
type Ports struct {
	first, last uint16
	// exhaustions counts failed Reserve calls; atomic so it reads lock-free.
	exhaustions atomic.Uint64

	mu sync.Mutex
	// ring holds the free ports from ring[head], free of them, wrapping.
	ring []uint16
	head int
	free int
	// reserved has bit (port-first) set while port is reserved.
	reserved []uint64
}

// NewPorts returns an allocator for the ports first through last, all
// free. It panics if last < first: conf validates ranges, so that is a
// programming error.
func NewPorts(first, last uint16) *Ports {
	if last < first {
		panic(fmt.Sprintf("limits: NewPorts(%d, %d): last below first", first, last))
	}
	n := int(last) - int(first) + 1
	p := &Ports{
		first:    first,
		last:     last,
		ring:     make([]uint16, n),
		free:     n,
		reserved: make([]uint64, (n+63)/64),
	}
	for i := range p.ring {
		p.ring[i] = first + uint16(i)
	}
	return p
}

// Reserve takes the free port that has waited longest. It returns
// ErrExhausted, and counts it, when no port is free. The caller owns the
// port until it passes it to Release.
func (p *Ports) Reserve() (uint16, error) {
	p.mu.Lock()
	if p.free == 0 {
		p.mu.Unlock()
		p.exhaustions.Add(1)
		return 0, ErrExhausted
	}
	port := p.ring[p.head]
	p.head++
	if p.head == len(p.ring) {
		p.head = 0
	}
	p.free--
	i := int(port - p.first)
	p.reserved[i/64] |= 1 << (i % 64)
	p.mu.Unlock()
	return port, nil
}

// Release returns a reserved port to the back of the free list. Releasing a
// port outside the range or one that is not reserved does nothing.
func (p *Ports) Release(port uint16) {
	if port < p.first || port > p.last {
		return
	}
	i := int(port - p.first)
	bit := uint64(1) << (i % 64)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reserved[i/64]&bit == 0 {
		return
	}
	p.reserved[i/64] &^= bit
	// free+reserved == len(ring) and port was reserved, so the tail slot
	// is not holding a free port.
	tail := p.head + p.free
	if tail >= len(p.ring) {
		tail -= len(p.ring)
	}
	p.ring[tail] = port
	p.free++
}

// Size is the number of ports in the range.
func (p *Ports) Size() int {
	return len(p.ring)
}

// InUse is the number of ports reserved now.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ring) - p.free
}

// Exhaustions is how many Reserve calls failed with ErrExhausted.
func (p *Ports) Exhaustions() uint64 {
	return p.exhaustions.Load()
}
