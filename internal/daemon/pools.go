package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
)

// poolRun is one pool and the cancel of its health checks.
type poolRun struct {
	cfg   conf.Pool
	check checkFrom // what its checker took from the listeners
	p     *pool.Pool
	stop  context.CancelFunc // nil until started
}

// checkFrom is what a pool's health checks take from the listeners using
// it: the address they leave from and the TLS mode towards the
// realservers.
type checkFrom struct {
	source netip.Addr
	mode   string // "", "explicit" or "implicit"
	tls    *tls.Config
}

// checkSettings finds the listeners' settings for pool name's checks:
// the first [[ftp]] (then [[rtsp]]) using the pool (as its pool or one
// its users are routed to) that sets backend_source, and the TLS towards
// the realservers of the first such [[ftp]] that speaks it.
func checkSettings(cfg *conf.Config, name string) checkFrom {
	var cf checkFrom
	for _, f := range cfg.FTP {
		if !slices.Contains(f.PoolNames(), name) {
			continue // neither its pool nor one its users are routed to
		}
		if !cf.source.IsValid() {
			cf.source = f.BackendSourceAddr
		}
		if cf.mode == "" && (f.TLS.Backend == "implicit" || f.TLS.Backend == "explicit") {
			cf.mode = f.TLS.Backend
			cf.tls = newTLS(f.TLS, &certStore{}).BackendConfig
		}
	}
	for _, r := range cfg.RTSP {
		if r.Pool == name && !cf.source.IsValid() {
			cf.source = r.BackendSourceAddr
		}
	}
	return cf
}

// checker returns the health checker of pool pc. Every kind that
// connects dials from cf.source with the pool's PROXY header.
func checker(pc conf.Pool, cf checkFrom) (pool.Checker, error) {
	dial := alg.CheckDial(cf.source, proxyVersion(pc.SendProxyProtocol))
	h := pc.Health
	switch h.Kind {
	case "tcp":
		return &pool.TCPChecker{Dial: dial}, nil
	case "ftp":
		b := &ftp.BannerChecker{Dial: dial}
		if cf.mode == "implicit" {
			b.TLS = cf.tls
		}
		return b, nil
	case "ftp-login":
		return &ftp.LoginChecker{Dial: dial, TLSMode: cf.mode, TLS: cf.tls, User: h.User,
			PasswordFile: h.PasswordFile, Probe: h.Probe, ProbeFile: h.ProbeFile}, nil
	case "rtsp":
		return &rtsp.Checker{Dial: dial}, nil
	case "script":
		return &pool.ScriptChecker{Argv: h.Command, Pool: pc.Name, Source: cf.source}, nil
	case "none":
		return pool.NoChecker{}, nil
	}
	return nil, fmt.Errorf("health kind %q has no checker", h.Kind)
}

// buildPools makes the pools of cfg: it keeps a running pool whose members
// and settings are unchanged (its health state and persistence table live
// on; weights are applied by swapPools) and builds any other. started are
// the new ones. d.mu is held; nothing changes until swapPools.
func (d *Daemon) buildPools(cfg *conf.Config) (pools map[string]*poolRun, started []*poolRun, err error) {
	pools = make(map[string]*poolRun, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		cf := checkSettings(cfg, pc.Name)
		if old, ok := d.pools[pc.Name]; ok && samePool(old.cfg, pc) && sameCheck(old.check, cf) {
			pools[pc.Name] = &poolRun{cfg: pc, check: cf, p: old.p, stop: old.stop}
			continue
		}
		ch, err := checker(pc, cf)
		if d.opts.Checker != nil {
			ch, err = d.opts.Checker, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pool %q: %w", pc.Name, err)
		}
		p := pool.New(pc, ch)
		p.Logger = d.log // the pool adds its name
		p.Local = d.local
		pr := &poolRun{cfg: pc, check: cf, p: p}
		pools[pc.Name] = pr
		started = append(started, pr)
	}
	return pools, started, nil
}

// swapPools puts pools in force: new weights on kept pools, health checks
// of new ones started, those of replaced ones stopped (their sessions keep
// their leases). d.mu is held.
func (d *Daemon) swapPools(pools map[string]*poolRun, started []*poolRun) {
	for name, pr := range pools {
		if old := d.pools[name]; old != nil && old.p == pr.p {
			setWeights(pr.p, pr.cfg)
		}
	}
	for name, old := range d.pools {
		if pr := pools[name]; (pr == nil || pr.p != old.p) && old.stop != nil {
			old.stop()
		}
	}
	d.pools = pools
	for _, pr := range started {
		d.startPool(pr)
	}
}

// samePool reports whether b differs from a in weights at most.
func samePool(a, b conf.Pool) bool {
	if len(a.Realservers) != len(b.Realservers) {
		return false
	}
	for i := range a.Realservers {
		ra, rb := a.Realservers[i], b.Realservers[i]
		ra.Weight, rb.Weight = nil, nil
		if !reflect.DeepEqual(ra, rb) {
			return false
		}
	}
	a.Realservers, b.Realservers = nil, nil
	return reflect.DeepEqual(a, b)
}

// sameCheck reports whether a pool's checks can go on as they are: same
// source address and TLS mode (a new certificate authority or name in
// the TLS settings alone does not rebuild the pool).
func sameCheck(a, b checkFrom) bool { return a.source == b.source && a.mode == b.mode }

// setWeights applies the weights of pc to p's realservers and enables
// every one: a reload ends the runtime changes of the admin listener
// (control.go).
func setWeights(p *pool.Pool, pc conf.Pool) {
	for i, r := range p.Realservers() {
		if i < len(pc.Realservers) {
			p.SetWeight(r, max(pc.Realservers[i].W(), 0))
		}
		p.SetDisabled(r, false)
	}
}
