// Package daemon is the running algd: the listeners, pools and limits a
// configuration describes, reloaded on SIGHUP and drained on SIGTERM, and
// the admin listener that shows them. cmd/algd keeps only the command line.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// Version is algd's version, shown by /status; cmd/algd sets it.
var Version = "dev"

// Daemon is the running configuration: pools, handlers and the listeners
// bound for them. A reload (reload.go) replaces what changed while
// sessions in flight keep the handler, pool and limits they started with.
type Daemon struct {
	log      *slog.Logger
	opts     Options
	started  time.Time
	registry *alg.Registry       // every live session, across reloads
	sessions *limits.Sessions    // shared caps; SetLimits on reload
	local    *limits.LocalErrors // algd's own resource exhaustion, every listener
	// dataShare and mediaShare cap the passive ports and media pairs of
	// one client address over every listener; SetMax on reload.
	dataShare, mediaShare *limits.PerClient
	draining              atomic.Bool

	mu           sync.Mutex
	cfg          *conf.Config
	ctx          context.Context                 // the sessions' context, set by run; nil before
	closed       bool                            // stopped accepting (drain): no listener comes back
	certs        map[string]*certStore           // by listener name
	pools        map[string]*poolRun             // by pool name
	listeners    map[netip.AddrPort]*listenerRun // by control address
	handlers     []*ftp.Handler                  // current, in cfg.FTP order
	proxies      []*alg.Proxy                    // current, in cfg.FTP order; nil entries when off
	ports        map[string]*alg.DataPorts       // by kind and listener name
	offenderTabs map[string]*alg.Offenders       // refused data connections, by listener name
	book         statsBook
	reloads      admin.Reloads
	wg           sync.WaitGroup // Serve and health goroutines
	ipvs         *ipvsRun       // kernel IPVS for [[group]]s (ipvs.go); nil without groups
	rtsp         []rtspRun      // [[rtsp]] listeners as started (rtsp.go), for status (rtspstatus.go)
}

// poolRun is one pool and the cancel of its health checks.
type poolRun struct {
	cfg  conf.Pool
	p    *pool.Pool
	stop context.CancelFunc // nil until started
}

// listenerRun is one bound control address and the handler it serves now.
type listenerRun struct {
	ln  *net.TCPListener
	srv *alg.Server
	sw  *switchHandler
}

// switchHandler hands each new connection to the handler current at
// accept time; a reload swaps it, sessions already running keep theirs.
type switchHandler struct {
	cur atomic.Pointer[handlerBox]
}

type handlerBox struct{ h alg.Handler }

// Serve passes c to the current handler.
func (s *switchHandler) Serve(ctx context.Context, c *net.TCPConn) { s.cur.Load().h.Serve(ctx, c) }

// checker returns the health checker for a pool's health kind.
// tlsCfg, when set, is for realservers that speak implicit FTPS.
func checker(kind string, tlsCfg *tls.Config) (pool.Checker, error) {
	switch kind {
	case "tcp":
		return &pool.TCPChecker{}, nil
	case "ftp":
		return &ftp.BannerChecker{TLS: tlsCfg}, nil
	case "rtsp":
		return rtspChecker(), nil
	case "none":
		return pool.NoChecker{}, nil
	}
	return nil, fmt.Errorf("health kind %q has no checker", kind)
}

// implicitBackend returns the TLS client settings for a pool whose
// listener talks implicit FTPS to it, so the banner check can get through.
func implicitBackend(cfg *conf.Config, pool string) *tls.Config {
	for _, f := range cfg.FTP {
		if f.Pool == pool && f.TLS.Backend == "implicit" {
			return newTLS(f.TLS, &certStore{}).BackendConfig
		}
	}
	return nil
}

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
		log:          log,
		opts:         o,
		started:      time.Now(),
		registry:     alg.NewRegistry(),
		local:        local,
		sessions:     limits.NewSessions(cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerClient),
		dataShare:    limits.NewPerClient(cfg.Limits.MaxDataPortsPerClient),
		mediaShare:   limits.NewPerClient(cfg.Limits.MaxMediaPairsPerClient),
		certs:        make(map[string]*certStore),
		pools:        make(map[string]*poolRun),
		listeners:    make(map[netip.AddrPort]*listenerRun),
		ports:        make(map[string]*alg.DataPorts),
		offenderTabs: make(map[string]*alg.Offenders),
	}
	var err error
	if d.ipvs, err = newIPVSRun(cfg, log); err != nil {
		return nil, err
	}
	if err := d.apply(ctx, cfg); err != nil {
		return nil, err
	}
	if err := d.startRTSP(ctx, cfg); err != nil { // rtsp.go
		d.stopAccepting()
		return nil, err
	}
	d.ipvs.start(ctx, cfg, d.wg.Go, log)
	return d, nil
}

func (d *Daemon) certStore(name string) *certStore {
	s, ok := d.certs[name]
	if !ok {
		s = &certStore{}
		d.certs[name] = s
	}
	return s
}

// Run serves until ctx is done, then waits for sessions to end (they are
// cancelled through ctx). Listeners and pools added by a reload start as
// they come.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	d.ctx = ctx
	for _, pr := range d.pools {
		d.startPool(pr)
	}
	for _, lr := range d.listeners {
		d.startListener(lr)
	}
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
	return nil
}

// startPool starts pr's health checks; d.mu is held and run has begun.
func (d *Daemon) startPool(pr *poolRun) {
	if d.ctx == nil || pr.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	pr.stop = cancel
	d.wg.Go(func() { pr.p.Run(ctx) })
}

// startListener starts accepting on lr; d.mu is held and run has begun.
// Sessions get the daemon's context, not one of the listener: closing a
// listener (a reload removed it, or a drain) ends no session.
func (d *Daemon) startListener(lr *listenerRun) {
	if d.ctx == nil {
		return
	}
	d.log.Info("listening", "addr", lr.ln.Addr().String())
	ctx := d.ctx
	d.wg.Go(func() {
		if err := lr.srv.Serve(ctx, lr.ln); err != nil {
			d.log.Error("listener failed", "addr", lr.ln.Addr().String(), "err", err)
		}
	})
}

// stopAccepting closes every control listener for good; sessions go on.
func (d *Daemon) stopAccepting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, lr := range d.listeners {
		lr.ln.Close()
	}
}

// Drain stops accepting, asks every session to end once idle (transfers in
// flight finish first) and waits for them until ctx is done. It reports
// whether every session ended in time.
func (d *Daemon) Drain(ctx context.Context) bool {
	d.draining.Store(true)
	d.stopAccepting()
	d.registry.Drain()
	return d.registry.Wait(ctx) == nil
}

// errClosed refuses a reload after the drain began.
var errClosed = errors.New("shutting down")
