package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"reflect"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
)

// poolRun is one pool and the cancel of its health checks.
type poolRun struct {
	cfg  conf.Pool
	p    *pool.Pool
	stop context.CancelFunc // nil until started
}

// checker returns the health checker for a pool's health kind.
// tlsCfg, when set, is for realservers that speak implicit FTPS.
func checker(kind string, tlsCfg *tls.Config) (pool.Checker, error) {
	switch kind {
	case "tcp":
		return &pool.TCPChecker{}, nil
	case "ftp":
		return &ftp.BannerChecker{TLS: tlsCfg}, nil
	case "rtsp":
		return &rtsp.Checker{}, nil
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

// buildPools makes the pools of cfg: it keeps a running pool whose members
// and settings are unchanged (its health state and persistence table live
// on; weights are applied by swapPools) and builds any other. started are
// the new ones. d.mu is held; nothing changes until swapPools.
func (d *Daemon) buildPools(cfg *conf.Config) (pools map[string]*poolRun, started []*poolRun, err error) {
	pools = make(map[string]*poolRun, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		if old, ok := d.pools[pc.Name]; ok && samePool(old.cfg, pc) {
			pools[pc.Name] = &poolRun{cfg: pc, p: old.p, stop: old.stop}
			continue
		}
		ch, err := checker(pc.Health.Kind, implicitBackend(cfg, pc.Name))
		if d.opts.Checker != nil {
			ch, err = d.opts.Checker, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("pool %q: %w", pc.Name, err)
		}
		p := pool.New(pc, ch)
		p.Logger = d.log.With("pool", pc.Name)
		p.Local = d.local
		pr := &poolRun{cfg: pc, p: p}
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
