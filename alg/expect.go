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
// ports of the range (EADDRINUSE): the ports that failed stay reserved
// until Expect returns, so each try gets a port not tried yet.
const bindTries = 8

// keepIdle is how long a data port's socket is kept, bound but not
// listening, after its last expectation ended, for the next expectation
// on that port to listen again without a new socket (see DataPorts).
const keepIdle = 5 * time.Second

// DataPorts hands out one-shot data listeners on ports of one range. Each
// local address gets its own allocator over the same range, since a port is
// taken per address. Safe for concurrent use.
//
// The range can change (SetRange, a reload): new expectations then get
// ports of the new range, while ports of the old one stay reserved until
// their expectations end.
//
// A port's socket outlives its expectation (on Linux): Close takes it out
// of the listening state (shutdown(2) of a listening socket, which resets
// what waits in its backlog) but keeps it bound, and the next expectation
// on that port listens on it again, which spares a socket, bind, close
// and poller registration per transfer. A port without an expectation
// therefore does not listen, as if its socket were closed: a connection
// to it is refused by the kernel. The sockets are plain TCP, not Go's
// default Multipath TCP for listeners. Kept sockets are closed after keepIdle
// unused, when their port leaves the range (SetRange), and when a listen
// runs out of descriptors. Another process can still bind and listen on
// the port meanwhile (the socket has SO_REUSEADDR and does not listen);
// the next listen on it then fails as busy and the socket is dropped.
type DataPorts struct {
	mu          sync.Mutex
	first, last uint16
	byAddr      map[netip.Addr]*limits.Ports
	idle        map[netip.AddrPort]*dataSocket // kept sockets, not listening
	keep        time.Duration                  // how long idle sockets are kept
	proxy       atomic.Pointer[Proxy]
}

// dataSocket is the socket of one data port, kept across expectations.
type dataSocket struct {
	at    netip.AddrPort
	ln    *net.TCPListener
	timer *time.Timer // closes it once idle for DataPorts.keep
}

// SetProxy makes later expectations require a PROXY header on connections
// from p's balancers, whose client address is then the one checked
// against the expected peer; nil turns that off. A reload calls it.
func (d *DataPorts) SetProxy(p *Proxy) { d.proxy.Store(p) }

// NewDataPorts returns the data ports of the inclusive range first-last.
func NewDataPorts(first, last uint16) *DataPorts {
	return &DataPorts{first: first, last: last, byAddr: make(map[netip.Addr]*limits.Ports),
		idle: make(map[netip.AddrPort]*dataSocket), keep: keepIdle}
}

// SetRange makes first-last the range of every later expectation; the
// ports that expectations hold now stay theirs and are not handed out
// again unless they belong to the new range too (limits.Ports.SetRange).
func (d *DataPorts) SetRange(first, last uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first, d.last = first, last
	for _, p := range d.byAddr {
		p.SetRange(first, last)
	}
	for at, s := range d.idle {
		if !d.inRange(at.Port()) {
			delete(d.idle, at)
			s.ln.Close()
		}
	}
}

// Proxy is the PROXY policy of later expectations (SetProxy), or nil.
func (d *DataPorts) Proxy() *Proxy { return d.proxy.Load() }

// inRange reports whether port is in the current range. Called with mu
// held.
func (d *DataPorts) inRange(port uint16) bool { return port >= d.first && port <= d.last }

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

// Usage sums ports in use (those of an earlier range included) and
// exhaustions over every local address; size is the current range's.
func (d *DataPorts) Usage() (inUse, size int, exhaustions uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.byAddr {
		inUse += p.InUse()
		exhaustions += p.Exhaustions()
	}
	return inUse, int(d.last) - int(d.first) + 1, exhaustions
}

// Busy sums, over every local address, the ports skipped because another
// process held them (limits.Ports.NoteBusy).
func (d *DataPorts) Busy() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var n uint64
	for _, p := range d.byAddr {
		n += p.Busy()
	}
	return n
}

// Refusal says why an expectation refused a connection.
type Refusal uint8

const (
	// RefusedForeign: the connection came from another address than the
	// expected peer (port theft).
	RefusedForeign Refusal = iota
	// RefusedSecond: the connection came from the peer's address after
	// the expected one was paired: a retry, or the real client when
	// someone at the same address (behind the same NAT) came first.
	RefusedSecond
	// RefusedOutsideWindow: the connection came from the peer's address
	// while a gated expectation's window was shut (Expect.Gated).
	RefusedOutsideWindow
)

// String names r as metrics and logs do.
func (r Refusal) String() string {
	switch r {
	case RefusedForeign:
		return "theft"
	case RefusedSecond:
		return "second_connection"
	case RefusedOutsideWindow:
		return "outside_window"
	}
	return "unknown"
}

// Expect describes the one connection an expectation waits for.
type Expect struct {
	// Local is the address to listen on (the advertised address).
	Local netip.Addr
	// Peer is the only source address accepted (the control peer).
	Peer netip.Addr
	// Deadline ends the wait; for a Gated expectation Open sets it.
	Deadline time.Time
	// Gated expectations pair a connection only while their window is
	// open (Open); what connects before is refused. They accept (and
	// refuse) from the moment they exist, so that nothing waits in the
	// kernel's backlog for the window to open.
	Gated bool
	// OnRefused is called for every connection refused, which is reset
	// at once: from another address, a second one, or one outside the
	// window. It runs on the goroutine that accepts. May be nil.
	OnRefused func(from netip.AddrPort, why Refusal)
}

// Expectation is a listener on one reserved port waiting for one connection
// from one peer. It owns the port and the listener until Close (or until
// Accept fails); after Accept has returned the connection, the listener
// stays open and refuses (and reports) every other connection until Close,
// which the owner calls when the transfer has ended.
type Expectation struct {
	e      Expect
	d      *DataPorts
	s      *dataSocket
	ln     *net.TCPListener
	port   uint16
	ports  *limits.Ports
	proxy  *Proxy // nil: no PROXY header expected
	open   atomic.Bool
	paired atomic.Bool
	closed atomic.Bool // Close was called: what accepts stops
	broken atomic.Bool // the socket failed: it is not kept
	// refs counts the expectation itself until Close and each goroutine
	// accepting on its socket; the last one out hands the socket back to
	// DataPorts, so that it never listens for two expectations.
	refs  atomic.Int32
	gated chan accepted // Gated: the accepting goroutine's result
	once  sync.Once
}

// accepted is what a gated expectation's accepting goroutine found.
type accepted struct {
	c   *net.TCPConn
	err error
}

// Expect reserves a port on e.Local and listens on it. The error wraps
// limits.ErrExhausted when no port is free.
func (d *DataPorts) Expect(e Expect) (*Expectation, error) {
	ports := d.Ports(e.Local)
	var (
		busy    []uint16 // held while other ports are tried
		lastErr error
	)
	defer releaseEach(ports, &busy)
	for range bindTries {
		port, err := ports.Reserve()
		if err != nil {
			return nil, fmt.Errorf("expect on %s: %w", e.Local, err)
		}
		s, err := d.listen(netip.AddrPortFrom(e.Local, port))
		if err != nil {
			busy = append(busy, port)
			lastErr = err
			if errors.Is(err, syscall.EADDRINUSE) {
				ports.NoteBusy()
				continue
			}
			return nil, fmt.Errorf("expect on %s: %w", e.Local, err)
		}
		x := &Expectation{e: e, d: d, s: s, ln: s.ln, port: port, ports: ports, proxy: d.proxy.Load()}
		x.refs.Store(1)
		if e.Gated {
			x.gated = make(chan accepted, 1)
			x.refs.Add(1)
			go x.acceptGated()
		}
		return x, nil
	}
	return nil, fmt.Errorf("expect on %s: %d ports busy: %w", e.Local, bindTries, lastErr)
}

// listen returns a listening socket on at: the kept one if there is one,
// otherwise a new one. When descriptors run out, the kept sockets are
// closed and the listen is tried once more.
func (d *DataPorts) listen(at netip.AddrPort) (*dataSocket, error) {
	d.mu.Lock()
	s := d.idle[at]
	delete(d.idle, at)
	d.mu.Unlock()
	if s != nil {
		s.timer.Stop()
		err := relisten(s.ln)
		if err == nil {
			return s, nil
		}
		s.ln.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, err // someone else listens there now
		}
	}
	var lc net.ListenConfig
	// Plain TCP, not Go's default Multipath TCP for listeners: a data
	// connection is one short flow between two known addresses, and an
	// MPTCP listener costs a second socket (its first subflow) to make,
	// to stop listening and to listen again.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", at.String())
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		if d.dropIdle() > 0 {
			ln, err = lc.Listen(context.Background(), "tcp", at.String())
		}
	}
	if err != nil {
		return nil, err
	}
	s = &dataSocket{at: at, ln: ln.(*net.TCPListener)}
	s.timer = time.AfterFunc(time.Hour, func() { d.expire(s) })
	s.timer.Stop()
	return s, nil
}

// keepSocket takes back the socket of an expectation that has ended and
// no longer accepts: it stops listening and waits for the port's next
// expectation, unless it failed, its port left the range or the port
// already has a kept socket.
func (d *DataPorts) keepSocket(s *dataSocket, broken bool) {
	if broken || s.ln.SetDeadline(time.Time{}) != nil {
		s.ln.Close()
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.inRange(s.at.Port()) || d.idle[s.at] != nil {
		s.ln.Close()
		return
	}
	d.idle[s.at] = s
	s.timer.Reset(d.keep)
}

// expire closes s if it is still kept, unused since keepIdle.
func (d *DataPorts) expire(s *dataSocket) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.idle[s.at] == s {
		delete(d.idle, s.at)
		s.ln.Close()
	}
}

// dropIdle closes every kept socket and returns how many it closed.
func (d *DataPorts) dropIdle() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.idle)
	for at, s := range d.idle {
		delete(d.idle, at)
		s.timer.Stop()
		s.ln.Close()
	}
	return n
}

// kept is how many sockets wait for their port's next expectation.
func (d *DataPorts) kept() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.idle)
}

// releaseEach releases the ports *held, which a caller skipped as busy
// while it tried others.
func releaseEach(p *limits.Ports, held *[]uint16) {
	for _, port := range *held {
		p.Release(port)
	}
}

// Port is the reserved port.
func (x *Expectation) Port() uint16 { return x.port }

// AddrPort is where the expected peer must connect.
func (x *Expectation) AddrPort() netip.AddrPort { return netip.AddrPortFrom(x.e.Local, x.port) }

// Open opens a gated expectation's window until deadline: the first
// connection from the peer from now on is the expected one.
func (x *Expectation) Open(deadline time.Time) {
	x.open.Store(true)
	if x.ref() {
		x.ln.SetDeadline(deadline)
		x.unref()
	}
}

// Shut ends a gated expectation's window: one that has not paired a
// connection yet is closed (its Accept fails); a paired one goes on
// refusing until Close.
func (x *Expectation) Shut() {
	x.open.Store(false)
	if !x.paired.Load() {
		x.Close()
	}
}

// Hold makes x refuse every connection from now on, the expected peer's
// as RefusedSecond, until Close: the kernel data path, where the expected
// connection is forwarded by a NAT mapping and never reaches the
// listener, so whatever does reach it (from another address, or from the
// peer once the one-shot mapping is used) is refused and reported as on
// the proxy path. Call it instead of Accept, or on a gated expectation.
func (x *Expectation) Hold() {
	if x.paired.Swap(true) || x.gated != nil {
		return // the accepting goroutine (gated) refuses from now on
	}
	if !x.ref() {
		return // closed already: nothing to refuse for
	}
	x.ln.SetDeadline(time.Time{})
	x.refuseRest()
}

// refuseRest refuses every connection until Close on a goroutine of its
// own, which takes over the caller's reference (ref).
func (x *Expectation) refuseRest() {
	go func() {
		defer x.unref()
		x.next()
	}()
}

// Accept waits for the first connection from the expected peer (for a
// gated expectation: the first while its window is open). Connections
// from any other address, and any after that first one, are reset and
// reported to OnRefused. With a PROXY policy (DataPorts.SetProxy) a
// connection must come from one of its balancers with a header, and the
// header's client is what is compared; others are dropped and counted in
// Proxy.Refused. When Accept fails it has closed the listener and
// released the port; when it succeeds the caller owns the connection and
// must Close the expectation once the transfer is over.
func (x *Expectation) Accept(ctx context.Context) (*net.TCPConn, error) {
	if x.gated != nil {
		select {
		case r := <-x.gated:
			if r.err != nil {
				x.Close()
				return nil, x.acceptErr(ctx, r.err)
			}
			return r.c, nil
		case <-ctx.Done():
			x.Close()
			return nil, ctx.Err()
		}
	}
	if !x.ref() {
		return nil, x.acceptErr(ctx, net.ErrClosed)
	}
	stop := context.AfterFunc(ctx, x.Close)
	defer stop()
	if err := x.ln.SetDeadline(x.e.Deadline); err != nil {
		x.Close()
		x.unref()
		return nil, err
	}
	c, err := x.next()
	if err != nil {
		x.Close()
		x.unref()
		return nil, x.acceptErr(ctx, err)
	}
	x.refuseRest()
	return c, nil
}

// ref counts one more goroutine using the socket, unless the expectation
// is closed: its socket may be another expectation's by then.
func (x *Expectation) ref() bool {
	for {
		n := x.refs.Load()
		if n == 0 || x.closed.Load() {
			return false
		}
		if x.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref is the end of ref (or of the expectation, for Close): the last
// one hands the socket back.
func (x *Expectation) unref() {
	if x.refs.Add(-1) == 0 {
		x.d.keepSocket(x.s, x.broken.Load())
	}
}

// acceptGated is the accepting goroutine of a gated expectation: it
// refuses whatever comes before the window opens, hands on the expected
// connection, then refuses the rest until Close.
func (x *Expectation) acceptGated() {
	defer x.unref()
	c, err := x.next()
	x.gated <- accepted{c, err}
	if err == nil {
		x.next()
	}
}

// acceptErr turns the error that ended the wait into Accept's.
func (x *Expectation) acceptErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrExpired
	}
	return err
}

// next accepts until the expected connection comes and returns it, or
// until the listener fails (closed, deadline). Everything else is reset
// and reported; once a connection is paired, everything is.
func (x *Expectation) next() (*net.TCPConn, error) {
	peer := x.e.Peer.Unmap()
	for {
		c, err := x.ln.AcceptTCP()
		if err != nil {
			var ne net.Error
			switch {
			case x.closed.Load():
				err = net.ErrClosed // the socket stopped listening for Close
			case errors.As(err, &ne) && ne.Timeout():
			default:
				x.broken.Store(true) // out of descriptors, say: not kept
			}
			return nil, err
		}
		from := AddrPortOf(c.RemoteAddr())
		if x.proxy != nil {
			// Behind a balancer the data connection comes from it too;
			// its header names the client, checked like a direct peer.
			deadline := x.e.Deadline
			if x.paired.Load() {
				deadline = time.Time{} // the policy's own timeout
			}
			client, err := x.proxy.Client(c, deadline)
			if err != nil {
				c.SetLinger(0)
				c.Close()
				continue
			}
			from = client
		}
		why := RefusedForeign
		switch {
		case from.Addr() != peer:
		case x.paired.Load():
			why = RefusedSecond
		case x.gated != nil && !x.open.Load():
			why = RefusedOutsideWindow
		default:
			x.paired.Store(true)
			x.ln.SetDeadline(time.Time{}) // refuse the rest until Close
			return c, nil
		}
		c.SetLinger(0) // reset: the intruder learns nothing
		c.Close()
		if x.e.OnRefused != nil {
			x.e.OnRefused(from, why)
		}
	}
}

// Close stops waiting (or refusing) and releases the port; safe to call
// more than once. From its return on, nothing listens on the port until
// its next expectation: what connects is refused by the kernel.
func (x *Expectation) Close() {
	x.once.Do(func() {
		x.closed.Store(true)
		if err := unlisten(x.ln); err != nil {
			x.broken.Store(true)
			x.ln.Close()
		}
		x.unref() // the socket is kept before the port is free again
		x.ports.Release(x.port)
	})
}
