package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"

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
	a := d.config().Admin
	src := admin.SourceFunc(d.Status)
	srv := &admin.Server{Source: src, Logger: d.log.With("component", "admin"),
		Collectors: []prometheus.Collector{listenerMetrics{d}},
		Control:    d, Auth: admin.Auth{TokenFile: a.TokenFile}}
	var sock net.Listener
	if a.ControlSocket != "" {
		var err error
		if sock, err = listenControl(a.ControlSocket, os.FileMode(a.SocketMode())); err != nil {
			ln.Close()
			return err
		}
		d.log.Info("control socket listening", "path", a.ControlSocket)
		go func() {
			if err := srv.ServeControl(actx, sock); err != nil && !errors.Is(err, net.ErrClosed) {
				d.log.Error("control socket failed", "err", err)
			}
		}()
	}
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

// listenControl binds the control socket at path with mode: a stale
// socket file left by a crash is replaced, and the file gets its mode
// before the first request can come (umask, then chmod before Serve).
func listenControl(path string, mode os.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin control_socket: %w", err)
	}
	// After a takeover the new algd has bound a socket at the same path:
	// closing this one must not remove it (a stale file is replaced at
	// the next start).
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin control_socket: %w", err)
	}
	return ln, nil
}

// Status is the daemon as /status shows it.
func (d *Daemon) Status() admin.Status {
	now := time.Now()
	sn := d.snapshot()
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
			h := r.CheckLatencies()
			m := admin.Realserver{Address: r.Addr(), Up: r.Up(), Weight: r.Weight(), Active: r.Active(),
				Total: r.Total(), LastCheck: at, CheckLatency: lat, SessionFailures: r.SessionFailures(), Suspect: r.Suspect(),
				Disabled: r.Disabled(), CheckFailures: r.CheckFailures(), LastChange: r.LastChange(),
				CheckLatencies: admin.Histogram{Count: h.Count, Sum: h.Sum, Buckets: h.Buckets},
				BytesDown:      sn.ByRealserver[r.Addr()].Down, BytesUp: sn.ByRealserver[r.Addr()].Up}
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
	st.Live = sn.Live
	if st.Live == nil {
		st.Live = []alg.SessionInfo{} // "live": [], never null
	}
	st.Traffic = sn.Total
	st.History = d.history.Samples()
	return st
}
