package alg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/algd/algd/limits"
)

// ErrExpired is returned by Expectation.Accept when no connection from the
// expected peer arrived before the deadline.
var ErrExpired = errors.New("alg: expectation expired")

// bindTries bounds how many ports Expect tries when other processes hold
// ports of the range (EADDRINUSE): the allocator is FIFO, so each retry gets
// a port that was not just tried.
const bindTries = 8

// DataPorts hands out one-shot data listeners on ports of one range. Each
// local address gets its own allocator over the same range, since a port is
// taken per address. Safe for concurrent use.
type DataPorts struct {
	first, last uint16

	mu     sync.Mutex
	byAddr map[netip.Addr]*limits.Ports
	proxy  atomic.Pointer[Proxy]
}

// SetProxy makes later expectations require a PROXY header on connections
// from p's balancers, whose client address is then the one checked
// against the expected peer; nil turns that off. A reload calls it.
func (d *DataPorts) SetProxy(p *Proxy) { d.proxy.Store(p) }

// NewDataPorts returns the data ports of the inclusive range first-last.
func NewDataPorts(first, last uint16) *DataPorts {
	return &DataPorts{first: first, last: last, byAddr: make(map[netip.Addr]*limits.Ports)}
}

// Ports returns the allocator for local, creating it on first use.
func (d *DataPorts) Ports(local netip.Addr) *limits.Ports {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.byAddr[local]
	if !ok {
		p = limits.NewPorts(d.first, d.last)
		d.byAddr[local] = p
	}
	return p
}

// Usage sums ports in use and exhaustions over every local address.
func (d *DataPorts) Usage() (inUse, size int, exhaustions uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.byAddr {
		inUse += p.InUse()
		exhaustions += p.Exhaustions()
	}
	return inUse, int(d.last) - int(d.first) + 1, exhaustions
}

// Expect describes the one connection an expectation waits for.
type Expect struct {
	// Local is the address to listen on (the advertised address).
	Local netip.Addr
	// Peer is the only source address accepted (the control peer).
	Peer netip.Addr
	// Deadline ends the wait.
	Deadline time.Time
	// OnRefused is called for every connection from another address, which
	// is closed at once (port theft). May be nil.
	OnRefused func(from netip.AddrPort)
}

// Expectation is a listener on one reserved port waiting for one connection
// from one peer. It owns the port and the listener until Accept returns or
// Close is called, whichever comes first.
type Expectation struct {
	e     Expect
	ln    *net.TCPListener
	port  uint16
	ports *limits.Ports
	proxy *Proxy // nil: no PROXY header expected
	once  sync.Once
}

// Expect reserves a port on e.Local and listens on it. The error wraps
// limits.ErrExhausted when no port is free.
func (d *DataPorts) Expect(e Expect) (*Expectation, error) {
	ports := d.Ports(e.Local)
	var lastErr error
	for range bindTries {
		port, err := ports.Reserve()
		if err != nil {
			return nil, fmt.Errorf("expect on %s: %w", e.Local, err)
		}
		lc := net.ListenConfig{}
		ln, err := lc.Listen(context.Background(), "tcp", netip.AddrPortFrom(e.Local, port).String())
		if err != nil {
			ports.Release(port)
			lastErr = err
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, fmt.Errorf("expect on %s: %w", e.Local, err)
		}
		return &Expectation{e: e, ln: ln.(*net.TCPListener), port: port, ports: ports, proxy: d.proxy.Load()}, nil
	}
	return nil, fmt.Errorf("expect on %s: %d ports busy: %w", e.Local, bindTries, lastErr)
}

// Port is the reserved port.
func (x *Expectation) Port() uint16 { return x.port }

// AddrPort is where the expected peer must connect.
func (x *Expectation) AddrPort() netip.AddrPort { return netip.AddrPortFrom(x.e.Local, x.port) }

// Accept waits for the first connection from the expected peer. Connections
// from any other address are closed and reported to OnRefused. With a
// PROXY policy (DataPorts.SetProxy) a connection must come from one of its
// balancers with a header, and the header's client is what is compared;
// others are dropped and counted in Proxy.Refused. Accept always closes the
// listener and releases the port before it returns.
func (x *Expectation) Accept(ctx context.Context) (*net.TCPConn, error) {
	defer x.Close()
	stop := context.AfterFunc(ctx, func() { x.ln.Close() })
	defer stop()
	if err := x.ln.SetDeadline(x.e.Deadline); err != nil {
		return nil, err
	}
	peer := x.e.Peer.Unmap()
	for {
		c, err := x.ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, ErrExpired
			}
			return nil, err
		}
		from := AddrPortOf(c.RemoteAddr())
		if x.proxy != nil {
			// Behind a balancer the data connection comes from it too;
			// its header names the client, checked like a direct peer.
			client, err := x.proxy.Client(c, x.e.Deadline)
			if err != nil {
				c.SetLinger(0)
				c.Close()
				continue
			}
			from = client
		}
		if from.Addr() != peer {
			c.SetLinger(0) // reset: the thief learns nothing
			c.Close()
			if x.e.OnRefused != nil {
				x.e.OnRefused(from)
			}
			continue
		}
		return c, nil
	}
}

// Close stops waiting and releases the port; safe to call more than once.
func (x *Expectation) Close() {
	x.once.Do(func() {
		x.ln.Close()
		x.ports.Release(x.port)
	})
}
