package ipvs

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
)

// defaultPoll is how often Run looks at the groups' health for changes.
const defaultPoll = time.Second

// Runner keeps the kernel in step with a configuration's groups while algd
// runs: it health-checks every group's realservers (on the group's health
// port, with the pool's interval, timeout, rise and fall), and reconciles
// at start, on Reload, when a health verdict or weight changes, and every
// reconcile_interval to repair outside edits.
type Runner struct {
	// Reconciler applies the states. Required.
	Reconciler *Reconciler
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
	// Poll is how often health is looked at; 0 means one second.
	Poll time.Duration
	// NewPool builds the health-checking pool of a group from the derived
	// pool configuration; nil means pool.New(c, nil) (a TCP connect, or
	// no check for kind "none"). A seam for tests.
	NewPool func(c conf.Pool) *pool.Pool

	reload chan *conf.Config
	once   sync.Once
	keep   atomic.Bool // Keep: no cleanup on exit
}

// Keep makes Run leave the kernel state as it is when its context ends,
// whatever cleanup_on_exit says: another algd (a takeover) owns it now.
func (r *Runner) Keep() { r.keep.Store(true) }

// GroupPool returns the pool configuration that health-checks g: the
// members of g's pool with their ports replaced by the group's health port
// and the group's health kind; nil when the pool does not exist.
func GroupPool(c *conf.Config, g *conf.Group) *conf.Pool {
	src := c.Pool(g.Pool)
	if src == nil {
		return nil
	}
	p := *src
	p.Name = "group:" + g.Name
	p.Health.Kind = g.Health.Kind
	p.Realservers = make([]conf.Realserver, len(src.Realservers))
	for i, rs := range src.Realservers {
		rs.AddrPort = netip.AddrPortFrom(rs.AddrPort.Addr(), uint16(g.Health.Port))
		p.Realservers[i] = rs
	}
	return &p
}

// Reload hands Run a new configuration (already validated). It returns at
// once; a newer Reload replaces one Run has not taken yet.
func (r *Runner) Reload(c *conf.Config) {
	r.init()
	for {
		select {
		case r.reload <- c:
			return
		default:
		}
		select {
		case <-r.reload:
		default:
		}
	}
}

func (r *Runner) init() {
	r.once.Do(func() { r.reload = make(chan *conf.Config, 1) })
}

// groupHealth is the health state of one configuration's groups.
type groupHealth struct {
	pools  map[string]*pool.Pool // by group name
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startHealth builds and runs the groups' health-checking pools.
func (r *Runner) startHealth(ctx context.Context, c *conf.Config) *groupHealth {
	hctx, cancel := context.WithCancel(ctx)
	h := &groupHealth{pools: map[string]*pool.Pool{}, cancel: cancel}
	for i := range c.Groups {
		g := &c.Groups[i]
		pc := GroupPool(c, g)
		if pc == nil {
			continue
		}
		var p *pool.Pool
		if r.NewPool != nil {
			p = r.NewPool(*pc)
		} else {
			p = pool.New(*pc, nil)
		}
		p.Logger = r.logger().With("group", g.Name)
		h.pools[g.Name] = p
		h.wg.Go(func() { p.Run(hctx) })
	}
	return h
}

func (h *groupHealth) stop() {
	h.cancel()
	h.wg.Wait()
}

// members reads the live state of a group's realservers.
func (h *groupHealth) members(g *conf.Group) []Member {
	p := h.pools[g.Name]
	if p == nil {
		return nil
	}
	var out []Member
	for _, rs := range p.Realservers() {
		out = append(out, Member{Addr: rs.Addr().Addr(), Up: rs.Up(), Weight: rs.Weight()})
	}
	return out
}

// Run reconciles c until ctx is done; then, with cleanup_on_exit, it
// removes what algd owns. A failed pass is logged and retried at the next
// poll. Run returns the error of the final cleanup, if any.
func (r *Runner) Run(ctx context.Context, c *conf.Config) error {
	r.init()
	h := r.startHealth(ctx, c)
	poll := r.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	repair := time.NewTicker(c.IPVS.ReconcileInterval.Duration)
	defer repair.Stop()

	var applied *State // the last state applied without error
	apply := func(why string) {
		want := Desired(c, h.members)
		ch, err := r.Reconciler.Apply(want)
		if err != nil {
			applied = nil
			r.logger().Warn("ipvs reconcile failed, retrying", "why", why, "err", err)
			return
		}
		applied = &want
		if !ch.Zero() {
			r.logger().Info("ipvs reconciled", "why", why, "changes", ch)
		}
	}
	apply("start")
	for {
		select {
		case <-ctx.Done():
			h.stop()
			if !c.IPVS.CleanupOnExit || r.keep.Load() {
				return nil
			}
			_, err := r.Reconciler.Remove(c.IPVS.NFTTable, c.IPVS.Marks)
			return err
		case next := <-r.reload:
			h.stop()
			if next.IPVS.NFTTable != c.IPVS.NFTTable {
				// The old table is no longer anyone's: drop it first.
				if _, err := r.Reconciler.Remove(c.IPVS.NFTTable, conf.MarkRange{}); err != nil {
					r.logger().Warn("ipvs: removing the old table", "table", c.IPVS.NFTTable, "err", err)
				}
			}
			c = next
			h = r.startHealth(ctx, c)
			repair.Reset(c.IPVS.ReconcileInterval.Duration)
			apply("reload")
		case <-tick.C:
			if applied == nil {
				apply("retry")
			} else if want := Desired(c, h.members); !reflect.DeepEqual(want, *applied) {
				apply("health")
			}
		case <-repair.C:
			apply("periodic")
		}
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
