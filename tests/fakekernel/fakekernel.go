// Package fakekernel is an in-memory alg.Kernel for algd's tests: it
// records every mapping a protocol installs, and stands in for the
// kernel's NAT for the connections a test makes through it (Dial): the
// first connection from a mapping's From to its Dst is relayed in user
// space to its To, from its Source address, and reported with
// KernelEvents as conntrack would report it. A connection no live
// mapping takes goes to Dst itself, as it would on a real director
// (algd's listener there refuses it). The real implementation is alg/nat.
package fakekernel

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/algd/algd/alg"
)

// header is what the fake counts per packet (one write) on top of the
// payload, as conntrack counts IPv4 packets with minimal headers: the
// payload estimate of the protocols then gives the payload back exactly.
const header = 40

// Kernel is the fake. The zero value is ready.
type Kernel struct {
	// Fail, when set, is the error of every Map.
	Fail error
	// HoldEnded, when set, delays every Ended event until it is closed.
	HoldEnded chan struct{}

	mu   sync.Mutex
	maps []*Mapped
}

var _ alg.Kernel = (*Kernel)(nil)

// Mapped is one installed mapping.
type Mapped struct {
	k *Kernel
	// Mapping is what the protocol asked for.
	Mapping alg.Mapping

	mu      sync.Mutex
	live    bool // in the maps: not taken, not removed
	removed bool // Remove was called
	cut     bool // Cut was called
	conns   []*relay
}

// Map records m; it is live until a connection takes it or Remove.
func (k *Kernel) Map(m alg.Mapping) (alg.Mapped, error) {
	if k.Fail != nil {
		return nil, k.Fail
	}
	x := &Mapped{k: k, Mapping: m, live: true}
	k.mu.Lock()
	k.maps = append(k.maps, x)
	k.mu.Unlock()
	return x, nil
}

// Maps returns every mapping installed so far, in order.
func (k *Kernel) Maps() []*Mapped {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*Mapped(nil), k.maps...)
}

// Live counts the mappings still in the maps.
func (k *Kernel) Live() int {
	n := 0
	for _, x := range k.Maps() {
		x.mu.Lock()
		if x.live {
			n++
		}
		x.mu.Unlock()
	}
	return n
}

// State reports whether x was removed and cut.
func (x *Mapped) State() (removed, cut bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.removed, x.cut
}

// take finds the live mapping for a connection from from to dst and
// takes it out of the maps (one-shot), or returns nil.
func (k *Kernel) take(from netip.Addr, dst netip.AddrPort) *Mapped {
	for _, x := range k.Maps() {
		m := x.Mapping
		x.mu.Lock()
		ok := x.live && m.Dst == dst && m.From.Addr() == from
		if ok && !m.Persistent {
			x.live = false
		}
		x.mu.Unlock()
		if ok {
			return x
		}
	}
	return nil
}

// Dial connects from the address from to dst as a host would through the
// director: taken by a mapping, the connection is relayed to its To from
// its Source; else it goes to dst itself.
func (k *Kernel) Dial(from netip.Addr, dst netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	x := k.take(from, dst)
	if x == nil {
		return dial(from, dst, timeout)
	}
	m := x.Mapping
	back, err := dial(m.Source.Addr(), m.To, timeout)
	if err != nil {
		return nil, err
	}
	// The test's end: a connection from its own address to a relay
	// listener of the fake's.
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)))
	if err != nil {
		back.Close()
		return nil, err
	}
	defer ln.Close()
	front, err := dial(from, netip.MustParseAddrPort(ln.Addr().String()), timeout)
	if err != nil {
		back.Close()
		return nil, err
	}
	mid, err := ln.AcceptTCP()
	if err != nil {
		back.Close()
		front.Close()
		return nil, err
	}
	r := &relay{a: mid, b: back}
	x.mu.Lock()
	x.conns = append(x.conns, r)
	x.mu.Unlock()
	if ev := m.Events.Connected; ev != nil {
		ev(netip.AddrPortFrom(from, netip.MustParseAddrPort(front.LocalAddr().String()).Port()), dst)
	}
	go x.run(r)
	return front, nil
}

func dial(from netip.Addr, to netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// relay is one connection the fake carries: a the From side, b the To.
type relay struct {
	a, b *net.TCPConn

	mu   sync.Mutex
	c    alg.Counters
	cut  bool
	fins int
}

// run relays both ways; when both have ended, Ended tells how.
func (x *Mapped) run(r *relay) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.copy(r.b, r.a, true) }()
	go func() { defer wg.Done(); r.copy(r.a, r.b, false) }()
	wg.Wait()
	r.a.Close()
	r.b.Close()
	r.mu.Lock()
	c := r.c
	c.Closed = r.fins == 2 && !r.cut
	r.mu.Unlock()
	if h := x.k.HoldEnded; h != nil {
		<-h
	}
	if ev := x.Mapping.Events.Ended; ev != nil {
		ev(c)
	}
}

// copy carries one direction, counting as conntrack does; a clean EOF is
// passed on as a FIN.
func (r *relay) copy(dst, src *net.TCPConn, orig bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			if orig {
				r.c.OrigBytes += uint64(n + header)
				r.c.OrigPackets++
			} else {
				r.c.ReplyBytes += uint64(n + header)
				r.c.ReplyPackets++
			}
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				r.reset()
				return
			}
		}
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			r.fins++
			r.mu.Unlock()
			dst.CloseWrite()
			return
		}
		if err != nil {
			r.reset()
			return
		}
	}
}

// reset ends both sides with a reset.
func (r *relay) reset() {
	r.a.SetLinger(0)
	r.b.SetLinger(0)
	r.a.Close()
	r.b.Close()
}

// Counters sums what the mapping's connections carried so far.
func (x *Mapped) Counters() (alg.Counters, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var c alg.Counters
	for _, r := range x.conns {
		r.mu.Lock()
		c.OrigBytes += r.c.OrigBytes
		c.OrigPackets += r.c.OrigPackets
		c.ReplyBytes += r.c.ReplyBytes
		c.ReplyPackets += r.c.ReplyPackets
		r.mu.Unlock()
	}
	return c, nil
}

// Cut resets the mapping's connections, as deleting their conntrack
// entries ends their forwarding.
func (x *Mapped) Cut() error {
	x.mu.Lock()
	x.cut = true
	conns := append([]*relay(nil), x.conns...)
	x.mu.Unlock()
	for _, r := range conns {
		r.mu.Lock()
		r.cut = true
		r.mu.Unlock()
		r.reset()
	}
	return nil
}

// Remove takes the mapping out of the maps.
func (x *Mapped) Remove() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.live = false
	x.removed = true
	return nil
}
