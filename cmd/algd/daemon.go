package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// daemon is one running configuration: pools, handlers and the listeners
// bound for them.
type daemon struct {
	log      *slog.Logger
	certs    map[string]*certStore // by listener name
	pools    []*pool.Pool
	handlers []*ftp.Handler
	servers  []*alg.Server
	lns      []*net.TCPListener
}

// checker returns the health checker for a pool's health kind.
// tlsCfg, when set, is for realservers that speak implicit FTPS.
func checker(kind string, tlsCfg *tls.Config) (pool.Checker, error) {
	switch kind {
	case "tcp":
		return &pool.TCPChecker{}, nil
	case "ftp":
		return &ftp.BannerChecker{TLS: tlsCfg}, nil
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

// newDaemon builds everything cfg describes and binds its listeners, so that
// an address in use is an error before anything is served.
func newDaemon(ctx context.Context, cfg *conf.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{log: log, certs: make(map[string]*certStore)}
	byName := make(map[string]*pool.Pool)
	for _, pc := range cfg.Pools {
		ch, err := checker(pc.Health.Kind, implicitBackend(cfg, pc.Name))
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", pc.Name, err)
		}
		p := pool.New(pc, ch)
		p.Logger = log.With("pool", pc.Name)
		byName[pc.Name] = p
		d.pools = append(d.pools, p)
	}
	sessions := limits.NewSessions(cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerClient)
	for _, fc := range cfg.FTP {
		h := &ftp.Handler{
			Name:             fc.Name,
			Pool:             byName[fc.Pool],
			Sessions:         sessions,
			DataPorts:        alg.NewDataPorts(fc.Passive.First, fc.Passive.Last),
			Advertise:        fc.AdvertiseAddr,
			TrustPASVAddress: fc.TrustPASVAddress,
			AllowForeignData: fc.AllowForeignData,
			TLS:              newTLS(fc.TLS, d.certStore(fc.Name)),
			Active:           fc.Active,
			Limits:           cfg.Limits,
			Logger:           log.With("listener", fc.Name),
		}
		if r := fc.Active.Range; r.Size() > 1 {
			h.ActivePorts = alg.NewDataPorts(r.First, r.Last)
		}
		d.handlers = append(d.handlers, h)
		for _, addr := range fc.ListenAddrs {
			ln, err := alg.Listen(ctx, addr)
			if err != nil {
				d.closeListeners()
				return nil, err
			}
			d.lns = append(d.lns, ln)
			d.servers = append(d.servers, &alg.Server{Handler: h, Logger: log})
		}
		for _, addr := range fc.TLS.ImplicitAddrs {
			ln, err := alg.Listen(ctx, addr)
			if err != nil {
				d.closeListeners()
				return nil, err
			}
			d.lns = append(d.lns, ln)
			d.servers = append(d.servers, &alg.Server{Handler: h.Implicit(), Logger: log})
		}
	}
	return d, nil
}

func (d *daemon) certStore(name string) *certStore {
	s, ok := d.certs[name]
	if !ok {
		s = &certStore{}
		d.certs[name] = s
	}
	return s
}

// reloadCerts swaps in the certificates of cfg, a freshly loaded (and so
// validated) configuration. Sessions are not touched.
func (d *daemon) reloadCerts(cfg *conf.Config) {
	for _, f := range cfg.FTP {
		s, ok := d.certs[f.Name]
		if !ok || f.TLS.Pair == nil {
			continue
		}
		s.cert.Store(f.TLS.Pair)
		d.log.Info("certificate reloaded", "listener", f.Name, "cert", f.TLS.Cert)
	}
}

func (d *daemon) closeListeners() {
	for _, ln := range d.lns {
		ln.Close()
	}
}

// run serves until ctx is done, then waits for sessions to end (they are
// cancelled through ctx).
func (d *daemon) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range d.pools {
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(ctx) }()
	}
	errs := make(chan error, len(d.servers))
	for i, s := range d.servers {
		ln := d.lns[i]
		d.log.Info("listening", "addr", ln.Addr().String())
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.Serve(ctx, ln) }()
	}
	wg.Wait()
	for _, s := range d.servers {
		s.Wait()
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
