package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/pool"
)

// retireGrace is how long a replaced handler's counters stay separate
// before they are folded into the listener's base: a session accepted just
// before the reload may still be connecting to its realserver.
const retireGrace = time.Minute

// Serve runs cfg until SIGINT or SIGTERM, then drains. On SIGHUP it reads
// path again (when set) and applies what changed.
func Serve(cfg *conf.Config, path string, log *slog.Logger) error {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	return runDaemon(cfg, path, log, sig)
}

// runDaemon is serve with the signals coming from sig: SIGHUP reloads,
// anything else drains for [admin] shutdown_timeout and stops (a second
// one stops at once).
func runDaemon(cfg *conf.Config, path string, log *slog.Logger, sig <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		return err
	}
	if err := writePIDFile(cfg.Admin.PIDFile); err != nil {
		d.stopAccepting()
		return err
	}
	defer removePIDFile(cfg.Admin.PIDFile, log)
	if err := d.startAdmin(ctx); err != nil {
		d.stopAccepting()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case s := <-sig:
			if s == syscall.SIGHUP {
				d.reloadFile(ctx, path)
				continue
			}
			timeout := d.config().Admin.ShutdownTimeout.Duration
			log.Info("draining: accepting no more sessions", "signal", s.String(), "timeout", timeout,
				"sessions", d.registry.Len())
			dctx, dcancel := context.WithTimeout(ctx, timeout)
			go func() {
				select {
				case s := <-sig:
					if s != syscall.SIGHUP {
						log.Warn("second signal: stopping now", "signal", s.String())
						dcancel()
					}
				case <-dctx.Done():
				}
			}()
			if d.Drain(dctx) {
				log.Info("drained: every session ended")
			} else {
				log.Warn("drain timeout: closing the remaining sessions", "sessions", d.registry.Len())
			}
			dcancel()
			cancel()
			err := <-done
			log.Info("stopped")
			return err
		}
	}
}

// reloadFile reads path and applies it; a file with any error changes
// nothing. Either way the result is logged and counted.
func (d *Daemon) reloadFile(ctx context.Context, path string) {
	if path == "" {
		d.log.Warn("SIGHUP: no configuration file to reload")
		return
	}
	next, err := conf.Load(path)
	if err != nil {
		d.reloaded(path, nil, err)
		return
	}
	d.Reload(ctx, next, path)
}

// Reload applies next, a validated configuration, as SIGHUP does; from
// names where it came from in the log. A configuration that cannot be
// applied changes nothing. Either way the result is logged and counted.
func (d *Daemon) Reload(ctx context.Context, next *conf.Config, from string) error {
	err := d.apply(ctx, next)
	d.reloaded(from, next, err)
	return err
}

// reloaded counts and logs a reload of from that gave err.
func (d *Daemon) reloaded(from string, next *conf.Config, err error) {
	d.mu.Lock()
	d.reloads.Last = time.Now()
	if err != nil {
		d.reloads.Failed++
		d.reloads.LastError = err.Error()
	} else {
		d.reloads.OK++
		d.reloads.LastError = ""
	}
	d.mu.Unlock()
	if err != nil {
		d.log.Error("reload refused, keeping the running configuration", "file", from, "err", err)
		return
	}
	d.ipvs.reload(next, d.log)
	d.log.Info("configuration reloaded", "file", from)
}

// config returns the configuration in force.
func (d *Daemon) config() *conf.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// apply makes the daemon serve cfg, a validated configuration: first
// everything that can fail (binding new addresses), so that a failure
// changes nothing; then pools (kept when only weights changed), limits,
// certificates and new handlers, swapped in for new connections. Sessions
// in flight keep the handler, pool and realserver they started with.
func (d *Daemon) apply(ctx context.Context, cfg *conf.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	// Bind what is new; any failure closes those and changes nothing.
	type want struct {
		addr     netip.AddrPort
		idx      int // index in cfg.FTP
		implicit bool
	}
	var wants []want
	for i, fc := range cfg.FTP {
		for _, a := range fc.ListenAddrs {
			wants = append(wants, want{a, i, false})
		}
		for _, a := range fc.TLS.ImplicitAddrs {
			wants = append(wants, want{a, i, true})
		}
	}
	fresh := make(map[netip.AddrPort]*listenerRun)
	for _, w := range wants {
		if _, ok := d.listeners[w.addr]; ok {
			continue
		}
		ln, err := alg.Listen(ctx, w.addr)
		if err != nil {
			for _, lr := range fresh {
				lr.ln.Close()
			}
			return err
		}
		fresh[w.addr] = &listenerRun{ln: ln, sw: &switchHandler{}}
	}

	// Pools: keep one whose members and settings are unchanged (its
	// health state and persistence table live on), set new weights;
	// rebuild any other.
	pools := make(map[string]*poolRun, len(cfg.Pools))
	var started []*poolRun
	for _, pc := range cfg.Pools {
		if old, ok := d.pools[pc.Name]; ok && samePool(old.cfg, pc) {
			setWeights(old.p, pc)
			old.cfg = pc
			pools[pc.Name] = old
			continue
		}
		ch, err := checker(pc.Health.Kind, implicitBackend(cfg, pc.Name))
		if d.opts.Checker != nil {
			ch, err = d.opts.Checker, nil
		}
		if err != nil {
			for _, lr := range fresh {
				lr.ln.Close()
			}
			return fmt.Errorf("pool %q: %w", pc.Name, err)
		}
		p := pool.New(pc, ch)
		p.Logger = d.log.With("pool", pc.Name)
		p.Local = d.local
		pr := &poolRun{cfg: pc, p: p}
		pools[pc.Name] = pr
		started = append(started, pr)
	}

	// Nothing can fail from here on.
	d.sessions.SetLimits(cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerClient)
	d.dataShare.SetMax(cfg.Limits.MaxDataPortsPerClient)
	d.mediaShare.SetMax(cfg.Limits.MaxMediaPairsPerClient)
	handlers := make([]*ftp.Handler, len(cfg.FTP))
	proxies := make([]*alg.Proxy, len(cfg.FTP))
	for i, fc := range cfg.FTP {
		proxies[i] = newProxy(fc)
		handlers[i] = d.newHandler(cfg, fc, pools[fc.Pool].p, proxies[i])
	}
	for _, w := range wants {
		lr := d.listeners[w.addr]
		if lr == nil {
			lr = fresh[w.addr]
			d.listeners[w.addr] = lr
		}
		var h alg.Handler = handlers[w.idx]
		if w.implicit {
			h = handlers[w.idx].Implicit()
		}
		lr.sw.cur.Store(&handlerBox{alg.ProxyHandler{Proxy: proxies[w.idx], Next: h, Logger: d.log}})
		if lr.srv == nil {
			lr.srv = &alg.Server{Handler: lr.sw, Logger: d.log, Local: d.local}
			d.startListener(lr)
		}
	}
	// Close what the new file no longer has; its sessions go on.
	keep := make(map[netip.AddrPort]bool, len(wants))
	for _, w := range wants {
		keep[w.addr] = true
	}
	for a, lr := range d.listeners {
		if !keep[a] {
			d.log.Info("listener removed", "addr", a.String())
			lr.ln.Close()
			delete(d.listeners, a)
		}
	}
	// [[rtsp]] listeners are set up once: their handlers take the new
	// pool of their name, or keep the old one running when the file no
	// longer has it.
	for _, r := range d.rtsp {
		if pr, ok := pools[r.cfg.Pool]; ok {
			r.h.SetPool(pr.p)
		} else if old := d.pools[r.cfg.Pool]; old != nil {
			pools[r.cfg.Pool] = old
		}
	}
	for name, pr := range d.pools {
		if pools[name] != pr && pr.stop != nil {
			pr.stop() // its sessions keep their leases; no more checks
		}
	}
	d.pools = pools
	for _, pr := range started {
		d.startPool(pr)
	}
	d.book.retire(d.cfg, d.handlers, d.proxies, time.Now())
	d.handlers, d.proxies, d.cfg = handlers, proxies, cfg
	return nil
}

// newHandler builds the handler of one [[ftp]]; d.mu is held. Passive,
// backend and active port allocators are kept per listener name and moved
// to the new range (DataPorts.SetRange): sessions from before a reload
// share them, so their next PASV or PORT gets a port of the new range,
// while ports they hold stay reserved until their transfers end.
func (d *Daemon) newHandler(cfg *conf.Config, fc conf.FTP, p *pool.Pool, px *alg.Proxy) *ftp.Handler {
	h := &ftp.Handler{
		Name:             fc.Name,
		Pool:             p,
		Sessions:         d.sessions,
		DataPorts:        d.dataPorts("passive", fc.Name, fc.Passive),
		PerClientPorts:   d.dataShare,
		Advertise:        fc.AdvertiseAddr,
		TrustPASVAddress: fc.TrustPASVAddress,
		AllowForeignData: fc.AllowForeignData,
		TLS:              newTLS(fc.TLS, d.certStore(fc.Name)),
		Active:           fc.Active,
		Limits:           cfg.Limits,
		Logger:           d.log.With("listener", fc.Name),
		Registry:         d.registry,
		Local:            d.local,
		SendProxy:        proxyVersion(cfg.Pool(fc.Pool).SendProxyProtocol),
		Offenders:        d.offenders(fc.Name),
		Dial:             d.opts.Dial,
	}
	h.DataPorts.SetProxy(px)
	if r := fc.Active.Range; r.Size() > 1 {
		h.ActivePorts = d.dataPorts("active", fc.Name, r)
	}
	if fc.BackendDataMode == "active" {
		h.BackendPorts = d.dataPorts("backend", fc.Name, fc.BackendRange)
	}
	if fc.BackendSourceAddr.IsValid() {
		h.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: fc.BackendSourceAddr.AsSlice()}}
	}
	return h
}

// dataPorts returns the allocator of kind for listener name, creating it
// on first use, with r as its range from now on.
func (d *Daemon) dataPorts(kind, name string, r conf.PortRange) *alg.DataPorts {
	key := kind + "|" + name
	dp, ok := d.ports[key]
	if !ok {
		dp = alg.NewDataPorts(r.First, r.Last)
		d.ports[key] = dp
	}
	dp.SetRange(r.First, r.Last)
	return dp
}

// offenders returns the table of refused data connections of listener
// name, kept across reloads.
func (d *Daemon) offenders(name string) *alg.Offenders {
	t, ok := d.offenderTabs[name]
	if !ok {
		t = alg.NewOffenders(0)
		d.offenderTabs[name] = t
	}
	return t
}

// proxyVersion turns "v1"/"v2" into 1/2, anything else into 0 (off).
func proxyVersion(s string) byte {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || v < 1 || v > 2 {
		return 0
	}
	return byte(v)
}

// newProxy returns the PROXY protocol policy of fc, nil when off.
func newProxy(fc conf.FTP) *alg.Proxy {
	v := proxyVersion(fc.ProxyProtocol)
	if v == 0 {
		return nil
	}
	return &alg.Proxy{Version: v, From: fc.ProxyFrom}
}

// samePool reports whether b differs from a in weights at most.
func samePool(a, b conf.Pool) bool {
	if len(a.Realservers) != len(b.Realservers) {
		return false
	}
	for i := range a.Realservers {
		if a.Realservers[i].AddrPort != b.Realservers[i].AddrPort {
			return false
		}
	}
	a.Realservers, b.Realservers = nil, nil
	return reflect.DeepEqual(a, b)
}

// setWeights applies the weights of pc to p's realservers.
func setWeights(p *pool.Pool, pc conf.Pool) {
	for i, r := range p.Realservers() {
		if i < len(pc.Realservers) {
			p.SetWeight(r, max(pc.Realservers[i].W(), 0))
		}
	}
}

// writePIDFile writes the process id to path ("" does nothing).
func writePIDFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removePIDFile removes path if it still names this process.
func removePIDFile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("pid file", "err", err)
		}
	}
}
