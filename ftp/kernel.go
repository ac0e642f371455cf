package ftp

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
)

// The kernel data path (Handler.Kernel): a data connection whose bytes
// need nothing from algd is not accepted and dialled by algd but given to
// the kernel as a one-shot NAT mapping, decided exactly as the proxy path
// decides (which client address, which VIP port, which realserver address
// and port, until when). The realserver sees the connection come from the
// address of its control connection (SNAT to backend_source); the client
// sees the VIP. algd learns from conntrack when the connection exists
// (KernelEvents.Connected) and when it has ended and how (Ended), and a
// transfer's 2xx is relayed only when that connection carried it to its
// end: closed by FIN both ways.
//
// Per transfer, the proxy path stays whenever algd must touch the bytes
// or the kernel cannot forward them as they are: PROT P (algd terminates
// the data TLS), TLS towards the realserver, a passive data connection
// expected through a PROXY-in balancer (it comes from the balancer's
// address, with a header), client and realserver of different address
// families (no NAT translates between them), and a PORT/EPRT without
// backend_ports (someone must connect to the client: on the kernel path
// the realserver does, through a mapping, to a port of that range). When
// installing a mapping fails, the transfer takes the proxy path too.

// kernelWhy says why a data connection set up now takes the proxy path,
// or "" when it may take the kernel path. Called with ctl held.
func (s *session) kernelWhy(passive bool, client netip.Addr) string {
	h := s.h
	switch {
	case h.Kernel == nil:
		return "no kernel path"
	case s.prot == 'P':
		return "PROT P"
	case s.bkTLS != nil:
		return "TLS towards the realserver"
	case passive && h.DataPorts.Proxy() != nil:
		return "PROXY protocol from the client side"
	case client.Is4() != s.rsAddr.Addr().Is4() || client.Is4() != s.bkLocal.Unmap().Is4():
		return "client and realserver of different address families"
	case !passive && h.KernelBackendPorts == nil:
		return "no backend_ports for the realserver to connect to"
	}
	return ""
}

// kernelConn is a data connection on the kernel path: its mapping, what
// conntrack said of it, and what it holds besides (released by close).
type kernelConn struct {
	m        alg.Mapped
	passive  bool // Orig is client→realserver; else realserver→client
	deadline time.Time
	held     *alg.Expectation // the port the mapping's Dst is on (refusing)
	at       netip.AddrPort   // the client-side end, for the log: the passive port, or the client's active address
	release  func()           // active: gives the source port back; may be nil

	connected chan struct{}     // Events.Connected, closed once
	ended     chan alg.Counters // Events.Ended, the first

	down, up atomic.Int64 // the payload so far, from the latest counters read (for /status)
}

// bytes is the payload carried so far, as carry last read it.
func (k *kernelConn) bytes() (down, up int64) { return k.down.Load(), k.up.Load() }

// count turns conntrack's counters into payload down and up.
func (k *kernelConn) count(c alg.Counters) (down, up int64) {
	up, down = payload(c.OrigBytes, c.OrigPackets, k.held), payload(c.ReplyBytes, c.ReplyPackets, k.held)
	if !k.passive {
		up, down = down, up
	}
	return down, up
}

// newKernelConn makes the events of a mapping for d.
func newKernelConn(passive bool, held *alg.Expectation, deadline time.Time) *kernelConn {
	return &kernelConn{passive: passive, held: held, deadline: deadline,
		connected: make(chan struct{}), ended: make(chan alg.Counters, 1)}
}

// events are the mapping's conntrack callbacks: they never block the
// implementation's goroutine.
func (k *kernelConn) events() alg.KernelEvents {
	var once sync.Once
	return alg.KernelEvents{
		Connected: func(_, _ netip.AddrPort) {
			once.Do(func() { close(k.connected) })
		},
		Ended: func(c alg.Counters) {
			select {
			case k.ended <- c:
			default:
			}
		},
	}
}

// mapData installs the mapping of d, whose Timeout is until the deadline.
// An error is logged and counted; the caller takes the proxy path.
func (s *session) mapData(d *dataConn, k *kernelConn, from, dst, to, source netip.AddrPort) error {
	m, err := s.h.Kernel.Map(alg.Mapping{
		Proto: alg.TCP, From: from, Dst: dst, To: to, Source: source,
		Timeout: time.Until(k.deadline), Events: k.events(),
	})
	if err != nil {
		s.h.stats().KernelMapFailed.Add(1)
		s.logger().Warn("kernel data path: mapping refused, taking the proxy path", "dst", dst.String(), "to", to.String(), "err", err)
		return err
	}
	k.m = m
	d.k = k
	s.logger().Debug("kernel data path: mapped", "from", from.String(), "dst", dst.String(), "to", to.String(), "source", source.String())
	return nil
}

// mapPassive puts the passive data connection d on the kernel path when
// its transfer may take it: the client's connection to the expectation's
// port is sent to the realserver's data port, from algd's address towards
// it. The expectation keeps its port and refuses what reaches it.
// Called with ctl held.
func (s *session) mapPassive(d *dataConn, deadline time.Time) {
	if why := s.kernelWhy(true, s.peer); why != "" {
		s.logger().Debug("data path proxy", "why", why)
		return
	}
	k := newKernelConn(true, d.x, deadline)
	k.at = d.x.AddrPort()
	if s.mapData(d, k, netip.AddrPortFrom(s.peer, 0), d.x.AddrPort(), d.target, netip.AddrPortFrom(s.bkLocal.Unmap(), 0)) == nil {
		d.x.Hold()
	}
}

// mapActive puts the active data connection d (the client listens at
// a.client, the realserver was given a.x) on the kernel path: the
// realserver's connection to a.x's port is sent to the client, from the
// advertised address and the active source port. False: it takes the
// proxy path (serveActive). Called with ctl held.
func (s *session) mapActive(d *dataConn, a *activeSetup) bool {
	src, release, err := s.activeSource()
	if err != nil {
		s.logger().Warn("no active source port", "err", err)
		return false
	}
	k := newKernelConn(false, a.x, time.Now().Add(s.dataWait))
	k.release, k.at = release, a.client
	if s.mapData(d, k, netip.AddrPortFrom(s.rsAddr.Addr(), 0), a.x.AddrPort(), a.client, netip.AddrPortFrom(s.adv, src)) != nil {
		release()
		return false
	}
	return true
}

// close takes what the kernel connection holds back: the mapping (if no
// connection took it), the expectation's port, the source port.
func (k *kernelConn) close() {
	if err := k.m.Remove(); err != nil {
		_ = err // the element's own timeout removes it
	}
	if k.held != nil {
		k.held.Close()
	}
	if k.release != nil {
		k.release()
	}
}

// cutWait bounds the wait for conntrack's word on a connection algd cut.
const cutWait = 2 * time.Second

// errKernelReset ends a kernel connection that did not close by FIN both
// ways: a reset, or conntrack's own timeout.
var errKernelReset = errors.New("connection reset or timed out in the kernel")

// serveKernel waits for the kernel connection of d (the first that takes
// its mapping), then follows it until conntrack says it has ended, and
// records how: the transfer's final reply waits for that (transferWait).
// d.cancel (ABOR, session end, a failed transfer) cuts it; so does
// data_idle_timeout, from the counters.
func (s *session) serveKernel(d *dataConn) {
	defer s.wg.Done()
	defer s.answerLater(d)
	defer d.finish()
	k := d.k
	defer k.close()
	wait := time.NewTimer(time.Until(k.deadline))
	defer wait.Stop()
	var err error
	select {
	case <-k.connected:
	case <-wait.C:
		err = alg.ErrExpired
	case <-d.ctx.Done():
		err = d.ctx.Err()
	}
	pending := s.settle(d, err)
	if err != nil {
		s.logger().Debug("kernel mapping unused", "err", err)
		d.fail(failConnect)
		if pending && k.passive {
			s.failBackend(d)
		}
		return
	}
	k.held.Hold() // a second connection from the peer is refused as such
	d.connected.close()
	s.carry(d, k)
}

// carry follows the kernel connection of d until it ends and accounts
// for it as pipe does for the proxy path.
func (s *session) carry(d *dataConn, k *kernelConn) {
	s.active.Add(1)
	defer s.active.Add(-1)
	s.touchData()
	defer s.touchData()
	st := s.h.stats()
	st.DataConns.Add(1)
	st.KernelConns.Add(1)
	s.addLive(k)
	began := time.Now()
	lim := s.h.Limits
	every := progressTick(lim.DataIdleTimeout.Duration, lim.ControlIdleTimeout.Duration)
	if every <= 0 {
		every = 5 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var (
		last  alg.Counters
		moved = time.Now()
		why   error // algd cut it: context.Canceled, alg.ErrIdle
		c     alg.Counters
		ended bool
	)
	for !ended && why == nil {
		select {
		case c = <-k.ended:
			ended = true
		case <-d.ctx.Done():
			why = context.Canceled
		case <-tick.C:
			now, err := k.m.Counters()
			if err != nil {
				continue
			}
			if now.OrigBytes != last.OrigBytes || now.ReplyBytes != last.ReplyBytes {
				last, moved = now, time.Now()
				down, up := k.count(now)
				k.down.Store(down)
				k.up.Store(up)
				s.touchData()
			} else if idle := lim.DataIdleTimeout.Duration; idle > 0 && time.Since(moved) >= idle {
				why = alg.ErrIdle
			}
		}
	}
	if !ended {
		if err := k.m.Cut(); err != nil {
			s.logger().Warn("kernel data path: cut failed", "err", err)
		}
		select {
		case c = <-k.ended:
		case <-time.After(cutWait):
			if now, err := k.m.Counters(); err == nil {
				c = now
			} else {
				c = last
			}
		}
		c.Closed = false
	}
	err := why
	if err == nil && !c.Closed {
		err = errKernelReset
	}
	d.upErr, d.downErr = err, err
	d.fromClient.close()
	d.fromServer.close()
	down, up := k.count(c)
	st.TransferDurations.Observe(time.Since(began))
	st.BytesUp.Add(up)
	st.BytesDown.Add(down)
	s.mu.Lock()
	delete(s.live, k)
	s.up += up
	s.down += down
	s.transfers++
	s.mu.Unlock()
	s.logger().Log(d.ctx, slogLevel(err), "data done", "path", "kernel", "at", k.at.String(),
		"down", down, "up", up, "err", err)
}

// payload estimates the TCP payload of bytes counted by conntrack over
// packets: conntrack counts whole IP packets, so the minimal IP and TCP
// headers (20+20 bytes for IPv4, 40+20 for IPv6) come off each packet.
// TCP options (timestamps: 12 bytes a packet) and retransmitted packets
// stay in: the figure is the payload or above it (by up to 7% measured in
// tests/netns), never below.
func payload(bytes, packets uint64, at *alg.Expectation) int64 {
	hdr := uint64(40)
	if at != nil && !at.AddrPort().Addr().Is4() {
		hdr = 60
	}
	if bytes < packets*hdr {
		return 0
	}
	return int64(bytes - packets*hdr)
}
