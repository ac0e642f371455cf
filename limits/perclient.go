package limits

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ErrClientCap is returned by PerClient.Acquire when the client address
// already holds its share.
var ErrClientCap = errors.New("limits: client address holds its share")

// counts is a count per client address whose entries go when they reach
// zero, so that it holds only addresses that hold something.
type counts map[netip.Addr]int

// dec takes one from a's count.
func (c counts) dec(a netip.Addr) {
	if n := c[a]; n > 1 {
		c[a] = n - 1
	} else {
		delete(c, a)
	}
}

// PerClient caps what one client address may hold at a time over every
// session and listener: data ports waiting for or carrying a connection,
// media port pairs. It is what keeps a few addresses from taking a whole
// range that sessions share. Safe for concurrent use; O(1) per call; an
// address takes memory only while it holds something.
//
// Addresses are compared after Unmap, as in Sessions.
type PerClient struct {
	mu   sync.Mutex
	max  int
	held counts
}

// NewPerClient returns a cap of max per client address; zero or negative
// means unlimited (only counted).
func NewPerClient(max int) *PerClient {
	return &PerClient{max: max, held: make(counts)}
}

// Acquire counts one more thing held by client, or refuses it with
// ErrClientCap. On success the caller must call release when the thing is
// given back; release may be called any number of times and from any
// goroutine, only the first call counts. A nil PerClient has no cap.
func (p *PerClient) Acquire(client netip.Addr) (release func(), err error) {
	if p == nil {
		return func() {}, nil
	}
	client = client.Unmap()
	p.mu.Lock()
	n := p.held[client]
	if p.max > 0 && n >= p.max {
		p.mu.Unlock()
		return nil, ErrClientCap
	}
	p.held[client] = n + 1
	p.mu.Unlock()

	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		p.mu.Lock()
		p.held.dec(client)
		p.mu.Unlock()
	}, nil
}

// Held is what client holds now (compared after Unmap).
func (p *PerClient) Held(client netip.Addr) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[client.Unmap()]
}

// Clients is the number of addresses holding something now.
func (p *PerClient) Clients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held)
}

// SetMax replaces the cap (zero or negative: unlimited), for a reload. It
// applies to later Acquire calls; what is held stays held.
func (p *PerClient) SetMax(max int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.max = max
}
