package alg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/algd/algd/limits"
)

// UDPPorts hands out pairs of UDP sockets (an even port for RTP and the
// next one for RTCP, RFC 3550 §11) on ports of one range. Each local
// address gets its own allocator over the same range, like DataPorts. The
// allocator counts pairs, not ports: pair i is ports 2i and 2i+1, so a
// range with an odd first port or an odd size is trimmed to whole pairs
// starting on an even port. Pairs are handed out in order (the one free
// longest first; limits.NewOrderedPorts), unlike the TCP data ports: an
// outsider can predict the next one. Safe for concurrent use.
//
// The range can change (SetRange, a reload): new pairs then come from the
// new range, while pairs held now stay reserved, their sockets open,
// until released.
type UDPPorts struct {
	mu     sync.Mutex
	first  uint16 // index of the first pair (its RTP port halved)
	pairs  int
	byAddr map[netip.Addr]*limits.Ports
}

// NewUDPPorts returns the UDP pairs of the inclusive range first-last. A
// range holding no whole even-based pair yields an allocator that is
// always exhausted.
func NewUDPPorts(first, last uint16) *UDPPorts {
	u := &UDPPorts{byAddr: make(map[netip.Addr]*limits.Ports)}
	u.first, u.pairs = pairRange(first, last)
	return u
}

// pairRange returns the index of the first whole pair of first-last and
// how many there are.
func pairRange(first, last uint16) (firstPair uint16, pairs int) {
	f := int(first)
	if f%2 == 1 {
		f++
	}
	if int(last) >= f+1 {
		pairs = (int(last) - f + 1) / 2
	}
	return uint16(min(f, 65534) / 2), pairs
}

// SetRange makes first-last the range of every later pair. Pairs held now
// stay reserved, their sockets open, until released; those outside the
// new range are then not handed out again (limits.Ports.SetRange). A
// range holding no whole pair makes every later Pair fail.
func (u *UDPPorts) SetRange(first, last uint16) {
	f, n := pairRange(first, last)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.first, u.pairs = f, n
	if n == 0 {
		return // the allocators keep their range; Pair refuses first
	}
	for _, p := range u.byAddr {
		p.SetRange(f, f+uint16(n-1))
	}
}

// Pairs is the number of pairs in the range.
func (u *UDPPorts) Pairs() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pairs
}

// ports returns the allocator of pair indices for local, creating it on
// first use; nil when the range holds no pair.
func (u *UDPPorts) ports(local netip.Addr) *limits.Ports {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pairs == 0 {
		return nil
	}
	p, ok := u.byAddr[local]
	if !ok {
		p = limits.NewOrderedPorts(u.first, u.first+uint16(u.pairs-1))
		u.byAddr[local] = p
	}
	return p
}

// Usage sums pairs in use (those of an earlier range included) and
// exhaustions over every local address; size is the current range's.
func (u *UDPPorts) Usage() (inUse, size int, exhaustions uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.byAddr {
		inUse += p.InUse()
		exhaustions += p.Exhaustions()
	}
	return inUse, u.pairs, exhaustions
}

// Busy sums, over every local address, the pairs skipped because another
// process held a port of them (limits.Ports.NoteBusy).
func (u *UDPPorts) Busy() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n uint64
	for _, p := range u.byAddr {
		n += p.Busy()
	}
	return n
}

// UDPPair is an RTP socket and an RTCP socket bound to two consecutive
// ports of one address. It owns the sockets and its reservation until
// Close, or until it is handed to a UDPRelay, which then owns it.
type UDPPair struct {
	// Conns are the RTP (0) and RTCP (1) sockets.
	Conns [2]*net.UDPConn
	// OnClose, when set before the pair is shared, is called once by
	// Close after the pair is released: the owner's own bookkeeping (a
	// client's share of pairs).
	OnClose func()

	local netip.Addr
	port  uint16
	index uint16
	ports *limits.Ports
	once  sync.Once
}

// Pair reserves a pair on local (a specific address, never a wildcard:
// media peers drop packets from any other source than the one they were
// told) and binds both sockets. The error wraps limits.ErrExhausted when
// no pair is free. Pairs that another process holds (EADDRINUSE) are
// skipped, a bounded number of times.
func (u *UDPPorts) Pair(local netip.Addr) (*UDPPair, error) {
	if !local.IsValid() || local.IsUnspecified() {
		return nil, fmt.Errorf("udp pair on %s: need a specific local address", local)
	}
	local = local.Unmap()
	ports := u.ports(local)
	if ports == nil {
		return nil, fmt.Errorf("udp pair on %s: %w", local, limits.ErrExhausted)
	}
	var (
		busy    []uint16 // held while other pairs are tried
		lastErr error
	)
	defer releaseEach(ports, &busy)
	for range bindTries {
		idx, err := ports.Reserve()
		if err != nil {
			return nil, fmt.Errorf("udp pair on %s: %w", local, err)
		}
		port := 2 * idx
		p := &UDPPair{local: local, port: port, index: idx, ports: ports}
		err = p.bind()
		if err == nil {
			return p, nil
		}
		busy = append(busy, idx)
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("udp pair on %s: %w", local, err)
		}
		ports.NoteBusy()
	}
	return nil, fmt.Errorf("udp pair on %s: %d pairs busy: %w", local, bindTries, lastErr)
}

// bind opens both sockets; on failure neither stays open.
func (p *UDPPair) bind() error {
	var lc net.ListenConfig
	for i := range p.Conns {
		addr := netip.AddrPortFrom(p.local, p.port+uint16(i))
		c, err := lc.ListenPacket(context.Background(), "udp", addr.String())
		if err != nil {
			for _, o := range p.Conns[:i] {
				o.Close()
			}
			p.Conns = [2]*net.UDPConn{}
			return fmt.Errorf("bind %s: %w", addr, err)
		}
		p.Conns[i] = c.(*net.UDPConn)
	}
	return nil
}

// Port is the RTP (even) port; the RTCP port is Port()+1.
func (p *UDPPair) Port() uint16 { return p.port }

// Addr is the local address both sockets are bound to.
func (p *UDPPair) Addr() netip.Addr { return p.local }

// Close closes both sockets and releases the pair; safe to call more than
// once and from any goroutine.
func (p *UDPPair) Close() {
	p.once.Do(func() {
		for _, c := range p.Conns {
			if c != nil {
				c.Close()
			}
		}
		p.ports.Release(p.index)
		if p.OnClose != nil {
			p.OnClose()
		}
	})
}
