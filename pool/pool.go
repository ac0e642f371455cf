// Package pool owns algd's realservers: it chooses one for each new session
// (schedulers rr, wrr, lc, wlc, sh hashing exactly like Linux IPVS, and
// hrw, rendezvous hashing of the FTP user name or the client address),
// remembers a client's (or user's) realserver for a while (persistence),
// and health-checks every member through a Checker.
//
// A Pool is safe for concurrent use. Pick never waits for I/O: it takes one
// short mutex that guards the scheduler state and the persistence table.
package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/hist"
	"github.com/algd/algd/limits"
)

// ErrNoRealserver is returned by Pick when no realserver is up (or all are
// drained or excluded).
var ErrNoRealserver = errors.New("pool: no realserver available")

// sweepBudget bounds how many expired persistence entries one Pick removes.
// Each Pick adds at most one entry, so any budget above one keeps the table
// from growing beyond the clients seen within the persistence timeout.
const sweepBudget = 16

// Pool is one named pool of realservers.
type Pool struct {
	// Logger receives health state changes; nil means slog.Default().
	// Set it before Run.
	Logger *slog.Logger
	// Now is the clock used by persistence; nil means time.Now. It is a
	// seam for tests; set it before the first Pick.
	Now func() time.Time
	// Local counts health checks that failed for want of algd's own
	// resources (a descriptor for the socket): those say nothing about
	// the realserver and are not counted toward Fall. Set it before Run.
	Local *limits.LocalErrors

	name    string
	sources []netip.Prefix
	health  healthParams
	checker Checker
	rs      []*Realserver

	mu      sync.Mutex // guards sched and persist
	sched   scheduler
	persist *persistTable // nil when persistence is off
}

// New builds a pool from its validated configuration. Weights come from
// Realserver.W() and addresses from AddrPort. checker is used by Run; nil
// means NoChecker for health kind "none" and a TCPChecker otherwise.
// Every realserver starts up, with no check yet.
func New(c conf.Pool, checker Checker) *Pool {
	if checker == nil {
		if c.Health.Kind == "none" {
			checker = NoChecker{}
		} else {
			checker = &TCPChecker{}
		}
	}
	p := &Pool{
		name:    c.Name,
		sources: slices.Clone(c.MediaSourceNets),
		health:  newHealthParams(c.Health),
		checker: checker,
		sched:   newScheduler(c.Scheduler),
	}
	for _, rc := range c.Realservers {
		r := &Realserver{addr: rc.AddrPort, notify: newNotifier(c, rc), latency: hist.New(hist.Short)}
		r.weight.Store(int64(max(rc.W(), 0)))
		r.up.Store(true)
		p.rs = append(p.rs, r)
	}
	if c.Persistence.Duration > 0 {
		p.persist = newPersistTable(c.Persistence.Duration)
	}
	p.sched.rebuild(p.rs)
	return p
}

// Name returns the pool's configured name.
func (p *Pool) Name() string { return p.name }

// MediaSources are the pool's media_sources: further addresses its
// realservers' RTSP media may come from. The caller must not change the
// slice.
func (p *Pool) MediaSources() []netip.Prefix { return p.sources }

// Realservers returns the members in configuration order. The slice is a
// copy; the realservers are shared.
func (p *Pool) Realservers() []*Realserver { return slices.Clone(p.rs) }

// Pick chooses a realserver for a new session from client and leases it;
// the caller must Release the lease when the session ends. Realservers in
// exclude are skipped (a caller fails over after a connect error this way).
//
// With persistence, a client that still has a remembered realserver gets it
// again if it is up, has a weight above zero and is not excluded; otherwise
// the scheduler chooses and the choice becomes the remembered one. The
// scheduler passes over Suspect realservers while another qualifies, and
// takes them when none does: members that sessions found busy are still
// tried. Pick returns ErrNoRealserver when no realserver qualifies (every
// one down by health checks, drained or excluded). It never blocks on
// I/O.
func (p *Pool) Pick(client netip.Addr, exclude ...*Realserver) (*Lease, error) {
	return p.pick(key{client: client.Unmap().WithZone("")}, exclude)
}

// PickUser is Pick for a session routed by its FTP user name: persistence
// remembers the user's realserver (whatever address the user comes from)
// and the hrw scheduler hashes the user name; the other schedulers choose
// as Pick does. An empty user is Pick of client.
func (p *Pool) PickUser(user string, client netip.Addr, exclude ...*Realserver) (*Lease, error) {
	if user == "" {
		return p.Pick(client, exclude...)
	}
	return p.pick(key{client: client.Unmap().WithZone(""), user: user}, exclude)
}

// key is whom a Pick chooses for: the client address, and the user name
// when the session is routed by user (then persistence keys on the user
// alone).
type key struct {
	client netip.Addr
	user   string
}

// persistKey is k as the persistence table knows it; ok is false when k
// cannot be remembered (no user and no valid client address).
func (k key) persistKey() (key, bool) {
	if k.user != "" {
		return key{user: k.user}, true
	}
	return key{client: k.client}, k.client.IsValid()
}

func (p *Pool) pick(k key, exclude []*Realserver) (*Lease, error) {
	ex := exclusion{rs: exclude}
	p.mu.Lock()
	defer p.mu.Unlock()

	var e *persistEntry
	pk, sticky := k.persistKey()
	sticky = sticky && p.persist != nil
	if sticky {
		now := p.now()
		p.persist.sweep(now, sweepBudget)
		e = p.persist.lookup(pk, now)
		if e != nil && ex.ok(e.rs) {
			return p.lease(e.rs, e), nil
		}
	}
	r := p.sched.pick(k, p.rs, exclusion{rs: exclude, suspects: true})
	if r == nil {
		r = p.sched.pick(k, p.rs, ex)
	}
	if r == nil {
		return nil, ErrNoRealserver
	}
	if sticky {
		if e == nil {
			e = p.persist.add(pk, r)
		} else {
			e.rs = r
		}
	}
	return p.lease(r, e), nil
}

// lease counts a new session on r; p.mu is held.
func (p *Pool) lease(r *Realserver, e *persistEntry) *Lease {
	r.active.Add(1)
	r.total.Add(1)
	if e != nil {
		p.persist.acquire(e)
	}
	return &Lease{pool: p, rs: r, entry: e}
}

// SetWeight changes r's weight (0 drains: r keeps its sessions but gets no
// new ones) and rebuilds the scheduler state.
func (p *Pool) SetWeight(r *Realserver, w int) error {
	if w < 0 {
		return fmt.Errorf("pool %s: set weight %d: negative", p.name, w)
	}
	if !slices.Contains(p.rs, r) {
		return fmt.Errorf("pool %s: set weight: realserver not in pool", p.name)
	}
	old := r.weight.Swap(int64(w))
	if old == int64(w) {
		return nil
	}
	p.logger().Info("realserver weight changed",
		"realserver", r.addr.String(), "old", old, "weight", w)
	p.refresh()
	return nil
}

// SetDisabled disables r (it takes no new session, whatever its health
// and weight; its sessions go on) or enables it again, and rebuilds the
// scheduler state. It is an operator's switch: health checks go on and
// a reload leaves it as it is while the pool is kept.
func (p *Pool) SetDisabled(r *Realserver, disabled bool) error {
	if !slices.Contains(p.rs, r) {
		return fmt.Errorf("pool %s: disable: realserver not in pool", p.name)
	}
	if r.disabled.Swap(disabled) == disabled {
		return nil
	}
	r.changedAt.Store(time.Now().UnixNano())
	p.logger().Info("realserver disabled by the administrator", "realserver", r.addr.String(), "disabled", disabled)
	p.refresh()
	return nil
}

// Realserver returns the member at addr, or nil.
func (p *Pool) Realserver(addr netip.AddrPort) *Realserver {
	for _, r := range p.rs {
		if r.addr == addr {
			return r
		}
	}
	return nil
}

// refresh rebuilds the scheduler state after a health or weight change.
func (p *Pool) refresh() {
	p.mu.Lock()
	p.sched.rebuild(p.rs)
	p.mu.Unlock()
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// logger is Logger (or the default) with the pool's name: callers add
// no "pool" of their own, so no line carries the key twice.
func (p *Pool) logger() *slog.Logger {
	l := p.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("pool", p.name)
}

// exclusion is the set of realservers a Pick must skip.
type exclusion struct {
	rs       []*Realserver
	suspects bool // skip Suspect realservers too
}

// ok reports whether r may take a new session: up, weight above zero, not
// excluded (and not suspect, when those are skipped).
func (ex exclusion) ok(r *Realserver) bool {
	return r.available() && !slices.Contains(ex.rs, r) && !(ex.suspects && r.suspect.Load())
}
