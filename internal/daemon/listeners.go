package daemon

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
)

// builder is how a protocol plugs into the daemon: it says which control
// addresses its part of a configuration needs, and builds its listeners
// for them. Everything else (binding, swapping on reload, removing,
// draining, status, metrics) is the same code for every protocol.
type builder interface {
	// addrs returns the control addresses cfg asks of the protocol.
	addrs(cfg *conf.Config) []netip.AddrPort
	// build makes the protocol's listeners for cfg, a new generation of
	// handlers over state kept per listener name (counters, port ranges,
	// media sessions) so that they run across reloads. It cannot fail:
	// the addresses are bound and the pools built before it runs. d.mu is
	// held.
	build(cfg *conf.Config, pools map[string]*pool.Pool) []*unit
	// describe sends the descriptions of the protocol's metrics.
	describe(ch chan<- *prometheus.Desc)
	// close ends at shutdown what outlives sessions (RTSP media).
	close()
}

// unit is one configured listener ([[ftp]], [[rtsp]]) as its builder made
// it for one configuration: the handler of each of its addresses, and how
// to read its status and metrics.
type unit struct {
	proto string
	binds []bind
	// status reads what /status shows of the listener.
	status func() alg.ListenerStatus
	// collect sends its metrics.
	collect func(ch chan<- prometheus.Metric)
}

// bind is one control address of a unit and the handler that serves it.
type bind struct {
	addr netip.AddrPort
	h    alg.Handler
}

// listenerRun is one bound control address and the handler it serves now.
type listenerRun struct {
	proto string
	ln    *net.TCPListener
	srv   *alg.Server
	sw    *switchHandler
}

// switchHandler hands each new connection to the handler current at
// accept time; a reload swaps it, sessions already running keep theirs.
type switchHandler struct {
	cur atomic.Pointer[handlerBox]
}

type handlerBox struct{ h alg.Handler }

// Serve passes c to the current handler.
func (s *switchHandler) Serve(ctx context.Context, c *net.TCPConn) { s.cur.Load().h.Serve(ctx, c) }

// config returns the configuration in force.
func (d *Daemon) config() *conf.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// apply makes the daemon serve cfg, a validated configuration: first
// everything that can fail (binding new addresses, building pools), so
// that a failure changes nothing; then limits and a new generation of
// listeners from every protocol's builder, swapped in for new connections,
// and the addresses no listener wants any more closed. Sessions in flight
// keep the handler, pool and realserver they started with.
func (d *Daemon) apply(ctx context.Context, cfg *conf.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	// Bind what is new; any failure closes those and changes nothing.
	wants := make(map[netip.AddrPort]bool)
	fresh := make(map[netip.AddrPort]*listenerRun)
	unbind := func() {
		for _, lr := range fresh {
			lr.ln.Close()
		}
	}
	for _, b := range d.builders {
		for _, a := range b.addrs(cfg) {
			wants[a] = true
			if _, ok := d.listeners[a]; ok || fresh[a] != nil {
				continue
			}
			ln := d.opts.inherit.take(kindControl, a)
			if ln == nil {
				var err error
				if ln, err = alg.Listen(ctx, a); err != nil {
					unbind()
					return err
				}
			}
			fresh[a] = &listenerRun{ln: ln, sw: &switchHandler{}}
		}
	}
	if err := d.kernel.prepare(cfg); err != nil {
		unbind()
		return err
	}
	pools, started, err := d.buildPools(cfg)
	if err != nil {
		unbind()
		return err
	}

	// Nothing can fail from here on.
	d.sessions.SetLimits(cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerClient)
	d.dataShare.SetMax(cfg.Limits.MaxDataPortsPerClient)
	d.mediaShare.SetMax(cfg.Limits.MaxMediaPairsPerClient)
	byName := make(map[string]*pool.Pool, len(pools))
	for name, pr := range pools {
		byName[name] = pr.p
	}
	var units []*unit
	for _, b := range d.builders {
		units = append(units, b.build(cfg, byName)...)
	}
	for _, u := range units {
		for _, bd := range u.binds {
			lr := d.listeners[bd.addr]
			if lr == nil {
				lr = fresh[bd.addr]
				d.listeners[bd.addr] = lr
			}
			lr.proto = u.proto
			lr.sw.cur.Store(&handlerBox{bd.h})
			if lr.srv == nil {
				lr.srv = &alg.Server{Handler: lr.sw, Logger: d.log, Local: d.local}
				d.startListener(lr)
			}
		}
	}
	// Close what the new file no longer has; its sessions go on.
	for a, lr := range d.listeners {
		if !wants[a] {
			d.log.Info("listener removed", "addr", a.String(), "proto", lr.proto)
			lr.ln.Close()
			delete(d.listeners, a)
		}
	}
	d.swapPools(pools, started)
	d.units, d.cfg = units, cfg
	return nil
}

// listenerMetrics exports the metrics of the listeners in force, each
// from its protocol's own table.
type listenerMetrics struct{ d *Daemon }

// Describe sends the descriptions of every protocol's metrics.
func (m listenerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, b := range m.d.builders {
		b.describe(ch)
	}
}

// Collect sends the metrics of every listener in force.
func (m listenerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.d.mu.Lock()
	units := m.d.units
	m.d.mu.Unlock()
	for _, u := range units {
		u.collect(ch)
	}
}
