// Package daemon is the running algd: the listeners, pools and limits a
// configuration describes, reloaded on SIGHUP and drained on SIGTERM, and
// the admin listener that shows them. It knows no protocol by heart: each
// one plugs in with a builder (ftp.go, rtsp.go) that turns its part of the
// configuration into listeners; binding, swapping on reload, draining,
// status and metrics are the same code for all (listeners.go). cmd/algd
// keeps only the command line.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// Version is algd's version, shown by /status; cmd/algd sets it.
var Version = "dev"

// Options are what a daemon takes besides its configuration.
type Options struct {
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Dial, when set, connects to realservers instead of a dialer from
	// backend_source (a seam for tests).
	Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// Checker, when set, replaces the health checker of every pool (a
	// seam for tests).
	Checker pool.Checker
	// Local counts the times algd itself runs out of a resource; nil: the
	// daemon keeps its own.
	Local *limits.LocalErrors
	// Level, when set, is the level of Logger: a reload sets it from
	// [log] level (NewLogger returns both).
	Level *slog.LevelVar
	// Kernel, when set, is the kernel data path of every listener whose
	// data_path is not "proxy", instead of algd's nftables table (a seam
	// for tests: a fake).
	Kernel alg.Kernel
	// HistoryEvery is how often the status page's history takes a
	// sample; zero means 5 s (historySize samples: the last 15 minutes).
	HistoryEvery time.Duration
	// KernelOff, when set, is why the kernel data path counts as
	// unavailable, instead of probing the host (a seam for tests, which
	// run as root and must not share one nftables table when run outside
	// a namespace of their own).
	KernelOff string

	// inherit holds the listening sockets taken over from the algd that
	// ran before (takeover.go); New uses them instead of binding.
	inherit *inherited
}

// Daemon is the running configuration: pools, the listener table and the
// sockets bound for it. A reload (listeners.go) replaces what changed
// while sessions in flight keep the handler, pool and limits they started
// with.
type Daemon struct {
	log      *slog.Logger
	opts     Options
	started  time.Time
	registry *alg.Registry       // every live session, of every protocol, across reloads
	sessions *limits.Sessions    // shared caps; SetLimits on reload
	local    *limits.LocalErrors // algd's own resource exhaustion, every listener
	// dataShare and mediaShare cap the passive ports and media pairs of
	// one client address over every listener; SetMax on reload.
	dataShare, mediaShare *limits.PerClient
	builders              []builder // one per protocol, in the order /status lists them
	draining              atomic.Bool
	history               *admin.History // the status page's charts (history.go)
	traffic               monotone       // byte totals that never go down

	mu        sync.Mutex
	cfg       *conf.Config
	ctx       context.Context                 // the sessions' context, set by Run; nil before
	closed    bool                            // stopped accepting (drain): no listener comes back
	pools     map[string]*poolRun             // by pool name
	listeners map[netip.AddrPort]*listenerRun // by control address
	units     []*unit                         // the listeners in force, in builder then configuration order
	reloads   admin.Reloads
	wg        sync.WaitGroup // Serve and health goroutines
	ipvs      *ipvsRun       // kernel IPVS for [[group]]s (ipvs.go); nil without groups
	kernel    *kernelRun     // the kernel data path (kernel.go)
	adminLn   *net.TCPListener
	adminAddr netip.AddrPort // as configured, the key of a takeover
	adminStop func()         // stops the admin server
}

// New builds everything cfg (a validated configuration) describes and
// binds its listeners, so that an address in use is an error before
// anything is served. Run serves them.
func New(ctx context.Context, cfg *conf.Config, o Options) (*Daemon, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	local := o.Local
	if local == nil {
		local = &limits.LocalErrors{Logger: log}
	}
	d := &Daemon{
		log:        log,
		opts:       o,
		started:    time.Now(),
		registry:   alg.NewRegistry(),
		local:      local,
		sessions:   limits.NewSessions(cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerClient),
		dataShare:  limits.NewPerClient(cfg.Limits.MaxDataPortsPerClient),
		mediaShare: limits.NewPerClient(cfg.Limits.MaxMediaPairsPerClient),
		pools:      make(map[string]*poolRun),
		listeners:  make(map[netip.AddrPort]*listenerRun),
		history:    admin.NewHistory(historySize),
	}
	d.builders = []builder{newFTPBuilder(d), newRTSPBuilder(d)}
	d.kernel = newKernelRun(o, log)
	var err error
	if d.ipvs, err = newIPVSRun(cfg, log); err != nil {
		return nil, err
	}
	if err := d.apply(ctx, cfg); err != nil {
		return nil, err
	}
	d.ipvs.start(ctx, cfg, d.wg.Go, log)
	return d, nil
}

// Run serves until ctx is done, then waits for sessions to end (they are
// cancelled through ctx) and closes what outlives them (RTSP media).
// Listeners and pools added by a reload start as they come.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	for _, pr := range d.pools {
		d.startPool(pr)
	}
	for _, lr := range d.listeners {
		d.startListener(lr)
	}
	d.wg.Go(func() { d.record(ctx) })
	d.mu.Unlock()
	<-ctx.Done()
	d.stopAccepting()
	d.wg.Wait()
	d.mu.Lock()
	servers := make([]*alg.Server, 0, len(d.listeners))
	for _, lr := range d.listeners {
		servers = append(servers, lr.srv)
	}
	d.mu.Unlock()
	for _, s := range servers {
		s.Wait()
	}
	for _, b := range d.builders {
		b.close()
	}
	d.kernel.close(d.config().Kernel.Cleanup())
	return nil
}

// startPool starts pr's health checks; d.mu is held and Run has begun.
func (d *Daemon) startPool(pr *poolRun) {
	if d.ctx == nil || pr.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	pr.stop = cancel
	d.wg.Go(func() { pr.p.Run(ctx) })
}

// startListener starts accepting on lr; d.mu is held and Run has begun.
// Sessions get the daemon's context, not one of the listener: closing a
// listener (a reload removed it, or a drain) ends no session.
func (d *Daemon) startListener(lr *listenerRun) {
	if d.ctx == nil {
		return
	}
	d.log.Info("listening", "addr", lr.ln.Addr().String(), "proto", lr.proto)
	ctx := d.ctx
	d.wg.Go(func() {
		if err := lr.srv.Serve(ctx, lr.ln); err != nil {
			d.log.Error("listener failed", "addr", lr.ln.Addr().String(), "err", err)
		}
	})
}

// stopAccepting closes every listener of every protocol for good;
// sessions go on.
func (d *Daemon) stopAccepting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, lr := range d.listeners {
		lr.ln.Close()
	}
}

// Drain stops accepting, asks every session of every protocol to end once
// idle (transfers and streams in flight finish first) and waits for them
// until ctx is done. It reports whether every session ended in time.
func (d *Daemon) Drain(ctx context.Context) bool {
	d.draining.Store(true)
	d.stopAccepting()
	d.registry.Drain()
	return d.registry.Wait(ctx) == nil
}

// errClosed refuses a reload after the drain began.
var errClosed = errors.New("shutting down")
