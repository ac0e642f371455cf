package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/algd/algd/admin"

	"github.com/prometheus/client_golang/prometheus"
)

// startAdmin binds [admin] listen, if set, and serves the admin endpoints
// on it until ctx is done. The admin listener is bound once: a reload that
// changes it is applied at the next start.
func (d *Daemon) startAdmin(ctx context.Context) error {
	addr := d.config().Admin.ListenAddr
	if !addr.IsValid() {
		return nil
	}
	var ln net.Listener
	if tl := d.opts.inherit.take(kindAdmin, addr); tl != nil {
		ln = tl
	} else {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", addr.String()); err != nil {
			return fmt.Errorf("admin listen %s: %w", addr, err)
		}
	}
	actx, stop := context.WithCancel(ctx)
	d.mu.Lock()
	d.adminLn, d.adminAddr, d.adminStop = ln.(*net.TCPListener), addr, stop
	d.mu.Unlock()
	d.log.Info("admin listening", "addr", ln.Addr().String())
	src := admin.SourceFunc(d.Status)
	srv := &admin.Server{Source: src, Logger: d.log.With("component", "admin"),
		Collectors: []prometheus.Collector{listenerMetrics{d}}}
	go func() {
		if err := srv.Serve(actx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
			d.log.Error("admin listener failed", "err", err)
		}
	}()
	return nil
}

// closeAdmin stops the admin server, its keep-alive connections included
// (after a takeover: the new algd answers on the listener).
func (d *Daemon) closeAdmin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.adminStop != nil {
		d.adminStop()
	}
}

// Status is the daemon as /status shows it.
func (d *Daemon) Status() admin.Status {
	now := time.Now()
	d.mu.Lock()
	cfg := d.cfg
	st := admin.Status{
		Version:     Version,
		Started:     d.started,
		Time:        now,
		Draining:    d.draining.Load(),
		Reloads:     d.reloads,
		Sessions:    d.sessions.Active(),
		MaxSessions: cfg.Limits.MaxSessions,
	}
	units := d.units
	for _, pc := range cfg.Pools {
		pr := d.pools[pc.Name]
		p := admin.Pool{Name: pc.Name, Scheduler: pc.Scheduler}
		for _, r := range pr.p.Realservers() {
			err, lat, at := r.LastCheck()
			m := admin.Realserver{Address: r.Addr(), Up: r.Up(), Weight: r.Weight(), Active: r.Active(),
				Total: r.Total(), LastCheck: at, CheckLatency: lat, SessionFailures: r.SessionFailures(), Suspect: r.Suspect()}
			if err != nil {
				m.CheckError = err.Error()
			}
			p.Members = append(p.Members, m)
		}
		st.Pools = append(st.Pools, p)
	}
	d.mu.Unlock()
	for _, u := range units {
		st.Listeners = append(st.Listeners, u.status())
	}
	last := d.local.Last()
	st.Local = admin.LocalResources{Errors: d.local.Counts(), LastKind: last.Kind, LastOp: last.Op,
		Last: last.Err, LastAt: last.At}
	if st.Local.Errors == nil {
		st.Local.Errors = map[string]uint64{}
	}
	st.Live = d.registry.Sessions()
	return st
}
