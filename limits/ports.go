package limits

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// ErrExhausted is returned by Reserve when every port of the range is
// reserved.
var ErrExhausted = errors.New("limits: port range exhausted")

// Ports allocates the ports of one inclusive range for one local address.
// Safe for concurrent use.
//
// Reserve hands out a port chosen at random, so that nobody can tell the
// next port from the last (vsftpd does the same; a sequential allocator
// lets a client that shares the victim's address, behind one NAT, connect
// to the victim's next passive port first). The free ports wait in a ring,
// shuffled when it is built: Reserve picks one uniformly among the older
// half of the free ports, swaps it with the oldest and takes it from the
// front; Release puts a port at the back. Both are O(1) and never probe.
// A bitmap of reserved ports makes Release idempotent. The random source
// is the runtime's per-thread ChaCha8 generator (math/rand/v2), seeded
// from the kernel. NewOrderedPorts always takes the oldest free port
// instead: FIFO, ascending at first.
//
// The older-half rule costs one bit of the choice and keeps a port that
// was just released from coming back before about half the free ports
// have been handed out. Listeners would not mind (Go sets SO_REUSEADDR,
// so connections of a port's last use in TIME_WAIT do not stop a new
// listener), but peers that connect from a fixed port would: a realserver
// sending active data from port 20 to the same backend port again would
// reuse the 4-tuple that its previous connection left in TIME_WAIT. A port
// that another process holds (EADDRINUSE) is the caller's to skip: keep
// it reserved while trying another, then release it.
//
// SetRange moves the allocator to another range (a reload): ports
// reserved before stay reserved until released, and those outside the new
// range are then dropped instead of coming back.
//
// Memory is about 2.125 bytes per port (the ring plus the bitmap), 136 KiB
// for a 64,000-port range; Reserve and Release allocate nothing and do a
// fixed amount of work whatever the size of the range.
type Ports struct {
	// exhaustions counts failed Reserve calls; atomic so it reads lock-free.
	exhaustions atomic.Uint64
	// busy counts reserved ports the caller could not bind because
	// another process held them (NoteBusy).
	busy atomic.Uint64

	mu          sync.Mutex
	first, last uint16
	// ring holds the free ports from ring[head], free of them, wrapping.
	ring []uint16
	head int
	free int
	// reserved has the ports reserved now; it spans the range and any
	// port of an earlier range still reserved.
	reserved bitmap
	inUse    int
	// pick returns which of the n free ports to take, counted from the
	// oldest: nil means uniformly at random among the older half, oldest
	// (NewOrderedPorts) always the first. Tests steer it.
	pick func(n int) int
}

// oldest picks the free port that has waited longest.
func oldest(int) int { return 0 }

// NewPorts returns an allocator for the ports first through last, all
// free. It panics if last < first: conf validates ranges, so that is a
// programming error.
func NewPorts(first, last uint16) *Ports {
	checkRange("NewPorts", first, last)
	p := newPorts(first, last)
	p.shuffle()
	return p
}

// newPorts returns an allocator of first-last with the ring ascending.
func newPorts(first, last uint16) *Ports {
	n := int(last) - int(first) + 1
	p := &Ports{
		first:    first,
		last:     last,
		ring:     make([]uint16, n),
		free:     n,
		reserved: newBitmap(int(first), int(last)),
	}
	for i := range p.ring {
		p.ring[i] = first + uint16(i)
	}
	return p
}

// shuffle puts the free ports in random order (Fisher-Yates), unless the
// allocator is ordered or steered.
func (p *Ports) shuffle() {
	if p.pick != nil {
		return
	}
	for i := p.free - 1; i > 0; i-- {
		j := rand.IntN(i + 1)
		a, b := p.wrap(p.head+i), p.wrap(p.head+j)
		p.ring[a], p.ring[b] = p.ring[b], p.ring[a]
	}
}

// NewOrderedPorts is NewPorts handing out the ports in order: the free port
// that has waited longest first, ascending at first. For ranges whose
// users expect it (RTSP media pairs today); an outsider can predict it.
func NewOrderedPorts(first, last uint16) *Ports {
	checkRange("NewOrderedPorts", first, last)
	p := newPorts(first, last)
	p.pick = oldest
	return p
}

func checkRange(op string, first, last uint16) {
	if last < first {
		panic(fmt.Sprintf("limits: %s(%d, %d): last below first", op, first, last))
	}
}

// Reserve takes a free port chosen at random. It returns ErrExhausted,
// and counts it, when no port is free. The caller owns the port until it
// passes it to Release.
func (p *Ports) Reserve() (uint16, error) {
	p.mu.Lock()
	if p.free == 0 {
		p.mu.Unlock()
		p.exhaustions.Add(1)
		return 0, ErrExhausted
	}
	var i int
	if p.pick != nil {
		i = p.pick(p.free)
	} else {
		i = rand.IntN((p.free + 1) / 2)
	}
	if i != 0 {
		j := p.wrap(p.head + i)
		p.ring[p.head], p.ring[j] = p.ring[j], p.ring[p.head]
	}
	port := p.ring[p.head]
	p.head = p.wrap(p.head + 1)
	p.free--
	p.reserved.set(port)
	p.inUse++
	p.mu.Unlock()
	return port, nil
}

// Release returns a reserved port to the free ports. Releasing a port that
// is not reserved does nothing; a port outside the current range (reserved
// before SetRange) is no longer reserved afterwards but is not handed out
// again.
func (p *Ports) Release(port uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reserved.has(port) {
		return
	}
	p.reserved.clear(port)
	p.inUse--
	if port >= p.first && port <= p.last {
		// free+reserved ports of the range == len(ring) and port was
		// reserved, so the tail slot is not holding a free port.
		p.ring[p.wrap(p.head+p.free)] = port
		p.free++
	}
}

// wrap maps i, below twice the ring's length, into the ring.
func (p *Ports) wrap(i int) int {
	if i >= len(p.ring) {
		i -= len(p.ring)
	}
	return i
}

// SetRange makes first through last the range: from now on Reserve hands
// out only ports of it. Ports reserved now stay reserved (and counted in
// InUse) until released; those inside the new range then come back, the
// others do not. It takes time in proportion to the ranges (a reload, not
// a hot path) and panics if last < first, like NewPorts.
func (p *Ports) SetRange(first, last uint16) {
	checkRange("SetRange", first, last)
	p.mu.Lock()
	defer p.mu.Unlock()
	if first == p.first && last == p.last {
		return
	}
	// The bitmap must cover the new range and every port still held.
	lo, hi := int(first), int(last)
	for port := p.reserved.base; port < p.reserved.end(); port++ {
		if p.reserved.has(uint16(port)) {
			lo, hi = min(lo, port), max(hi, port)
		}
	}
	held := newBitmap(lo, hi)
	for port := lo; port <= hi; port++ {
		if p.reserved.has(uint16(port)) {
			held.set(uint16(port))
		}
	}
	p.reserved = held
	p.first, p.last = first, last
	p.ring = make([]uint16, int(last)-int(first)+1)
	p.head, p.free = 0, 0
	for port := int(first); port <= int(last); port++ {
		if !held.has(uint16(port)) {
			p.ring[p.free] = uint16(port)
			p.free++
		}
	}
	p.shuffle()
}

// Range is the range ports are handed out from.
func (p *Ports) Range() (first, last uint16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first, p.last
}

// Size is the number of ports in the range.
func (p *Ports) Size() int {
	first, last := p.Range()
	return int(last) - int(first) + 1
}

// InUse is the number of ports reserved now, including ports of an earlier
// range (SetRange) not yet released.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// NoteBusy counts a reserved port that another process held (the bind
// failed with EADDRINUSE: an algd draining after a takeover, or anyone
// else); the caller skips it and tries another.
func (p *Ports) NoteBusy() { p.busy.Add(1) }

// Busy is how many reserved ports were skipped as held elsewhere.
func (p *Ports) Busy() uint64 { return p.busy.Load() }

// Exhaustions is how many Reserve calls failed with ErrExhausted.
func (p *Ports) Exhaustions() uint64 {
	return p.exhaustions.Load()
}

// bitmap is a set of ports from base on.
type bitmap struct {
	base int
	bits []uint64
}

// newBitmap returns an empty set able to hold the ports lo through hi.
func newBitmap(lo, hi int) bitmap {
	return bitmap{base: lo, bits: make([]uint64, (hi-lo+1+63)/64)}
}

// end is one past the highest port the set can hold.
func (b bitmap) end() int { return min(b.base+64*len(b.bits), 65536) }

func (b bitmap) has(port uint16) bool {
	i := int(port) - b.base
	return i >= 0 && i/64 < len(b.bits) && b.bits[i/64]&(1<<(i%64)) != 0
}

// set adds port, which must lie within the set's span.
func (b bitmap) set(port uint16) {
	i := int(port) - b.base
	b.bits[i/64] |= 1 << (i % 64)
}

// clear removes port, which must lie within the set's span.
func (b bitmap) clear(port uint16) {
	i := int(port) - b.base
	b.bits[i/64] &^= 1 << (i % 64)
}
