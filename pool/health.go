package pool

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/algd/algd/conf"
)

// Checker checks one realserver; a nil error means healthy. The check must
// end when ctx is done. Protocol checkers (an FTP banner, an RTSP OPTIONS)
// live in their protocol packages and are passed to New by cmd.
type Checker interface {
	Check(ctx context.Context, addr netip.AddrPort) error
}

// TCPChecker reports a realserver healthy when a TCP connect to it succeeds
// within ctx (health kind "tcp").
type TCPChecker struct {
	// Dial makes the connection (and sends a PROXY header when the pool
	// sends them); nil dials plainly.
	Dial Dial
}

// Check connects to addr and closes the connection again.
func (c *TCPChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, stop, err := c.Dial.Connect(ctx, addr)
	if err != nil {
		return fmt.Errorf("tcp check: %w", err)
	}
	stop()
	return conn.Close()
}

// NoChecker reports every realserver healthy (health kind "none").
type NoChecker struct{}

// Check returns nil.
func (NoChecker) Check(context.Context, netip.AddrPort) error { return nil }

// errConnectFailed stands in for a nil error given to MarkFailed.
var errConnectFailed = errors.New("pool: connect failed")

// healthParams are conf.Health with defaults applied.
type healthParams struct {
	interval, timeout time.Duration
	rise, fall        int
}

// newHealthParams applies the documented defaults to zero values (conf
// normally did already).
func newHealthParams(h conf.Health) healthParams {
	p := healthParams{
		interval: h.Interval.Duration,
		timeout:  h.Timeout.Duration,
		rise:     h.Rise,
		fall:     h.Fall,
	}
	if p.interval <= 0 {
		p.interval = 2 * time.Second
	}
	if p.timeout <= 0 {
		p.timeout = time.Second
	}
	if p.rise <= 0 {
		p.rise = 2
	}
	if p.fall <= 0 {
		p.fall = 3
	}
	return p
}

// Run health-checks every realserver every Interval, each check bounded by
// Timeout, until ctx is done; it returns when all its goroutines have
// ended. The first check of each realserver runs at once and alone decides
// its state (one success up, one failure down); after that Rise
// consecutive successes bring it up and Fall consecutive failures take it
// down. A check that failed for want of algd's own resources (EMFILE)
// counts for neither, nor does a check that timed out while sessions got
// through to the realserver (MarkOK) within the last Interval. Changes are logged, Warn for down and Info for up. Call Run once.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range p.rs {
		wg.Go(func() { p.watch(ctx, r) })
	}
	<-ctx.Done()
	wg.Wait()
}

// watch checks r until ctx is done.
func (p *Pool) watch(ctx context.Context, r *Realserver) {
	t := time.NewTicker(p.health.interval)
	defer t.Stop()
	for {
		p.check(ctx, r)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check runs one health check of r and applies its result.
func (p *Pool) check(ctx context.Context, r *Realserver) {
	cctx, cancel := context.WithTimeout(ctx, p.health.timeout)
	start := time.Now()
	err := p.checker.Check(cctx, r.addr)
	end := time.Now()
	timedOut := cctx.Err() != nil
	cancel()
	if ctx.Err() != nil {
		return // shutting down: says nothing about the realserver
	}
	if p.Local.Record("health check of "+r.addr.String(), err) {
		return // algd out of descriptors: says nothing about the realserver either
	}
	if err != nil && timedOut && r.greeted.Load() >= start.Add(-p.health.interval).UnixNano() {
		// Too slow for the check, but sessions got through within the
		// last interval: busy, not dead.
		p.logger().Debug("realserver slow to answer its check while serving sessions", "realserver", r.addr.String(), "err", err)
		return
	}
	if changed, up := r.recordCheck(err, end.Sub(start), end, p.health.rise, p.health.fall); changed {
		p.changed(r, up, err)
	} else if err != nil {
		p.logger().Debug("realserver check failed", "realserver", r.addr.String(), "err", err)
	}
}

// MarkFailed records that a session could not use r: the connect
// failed, or the realserver did not greet in time. It does not take r
// down — under load a healthy realserver is slow to greet, and only
// health checks (Rise, Fall) decide up and down — but r becomes Suspect:
// Pick prefers the other members until a session or a check succeeds on
// r. Errors that are algd's own (descriptors, memory, source ports) must
// not be given here.
func (p *Pool) MarkFailed(r *Realserver, err error) {
	if r == nil {
		return
	}
	if err == nil {
		err = errConnectFailed
	}
	r.sessionFails.Add(1)
	if !r.suspect.Swap(true) {
		p.logger().Debug("realserver suspect", "realserver", r.addr.String(), "err", err)
	}
}

// MarkOK records that a session connected to r and was greeted: r is no
// longer Suspect, and a health check of r that times out within the next
// Interval does not count toward Fall (r is busy, not dead).
func (p *Pool) MarkOK(r *Realserver) {
	if r != nil {
		r.suspect.Store(false)
		r.greeted.Store(time.Now().UnixNano())
	}
}

// Others reports whether a realserver outside exclude could take a new
// session now (up, weight above zero). A caller failing over uses it to
// know whether the realserver it tries is its last chance.
func (p *Pool) Others(exclude ...*Realserver) bool {
	ex := exclusion{rs: exclude}
	for _, r := range p.rs {
		if ex.ok(r) {
			return true
		}
	}
	return false
}

// changed logs r's new state and rebuilds the scheduler state.
func (p *Pool) changed(r *Realserver, up bool, err error) {
	if up {
		p.logger().Info("realserver up", "realserver", r.addr.String())
	} else {
		p.logger().Warn("realserver down", "realserver", r.addr.String(), "err", err)
	}
	p.refresh()
	p.notify(r, up)
}
