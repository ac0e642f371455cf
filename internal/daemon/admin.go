package daemon

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"

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
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr.String())
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", addr, err)
	}
	d.log.Info("admin listening", "addr", ln.Addr().String())
	src := admin.SourceFunc(d.Status)
	srv := &admin.Server{Source: src, Logger: d.log.With("component", "admin"),
		Collectors: []prometheus.Collector{admin.NewRTSPCollector(src)}}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			d.log.Error("admin listener failed", "err", err)
		}
	}()
	return nil
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
	d.book.fold(now)
	for i, fc := range cfg.FTP {
		h := d.handlers[i]
		l := admin.Listener{
			Name:     fc.Name,
			Pool:     fc.Pool,
			Addrs:    append(slices.Clone(fc.ListenAddrs), fc.TLS.ImplicitAddrs...),
			Counters: d.book.counters(fc.Name).Add(counters(h, d.proxies[i])),
		}
		if fc.ProxyProtocol != "off" {
			l.Proxy = fc.ProxyProtocol
		}
		l.PortsInUse, l.PortsSize, l.PortExhaustions = h.DataPorts.Usage()
		l.DataRefusals, l.DataRefusalsEvicted = dataRefusals(h.Offenders)
		st.Listeners = append(st.Listeners, l)
	}
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
	st.RTSP = d.rtspStatus() // rtspstatus.go
	d.mu.Unlock()
	last := d.local.Last()
	st.Local = admin.LocalResources{Errors: d.local.Counts(), LastKind: last.Kind, LastOp: last.Op,
		Last: last.Err, LastAt: last.At}
	if st.Local.Errors == nil {
		st.Local.Errors = map[string]uint64{}
	}
	st.Live = d.registry.Sessions()
	return st
}

// counters reads a handler's statistics (and its PROXY policy's).
func counters(h *ftp.Handler, px *alg.Proxy) admin.Counters {
	s := &h.Stats
	c := admin.Counters{
		Sessions: s.Sessions.Load(), Active: s.Active.Load(), Refused: s.Refused.Load(),
		DataConns: s.DataConns.Load(), BytesDown: s.BytesDown.Load(), BytesUp: s.BytesUp.Load(),
		Theft: s.Theft.Load(), DataSecond: s.DataSecond.Load(), DataOutsideWindow: s.DataOutsideWindow.Load(),
		Bounce: s.Bounce.Load(), PassiveExhausted: s.PassiveExhausted.Load(),
		PassivePerClient: s.PassivePerClient.Load(),
		TLSHandshakes:    s.TLSHandshakes.Load(), TLSFailures: s.TLSFailures.Load(),
		TLSReuseRefused: s.TLSReuseRefused.Load(), BadBackendReplies: s.BadBackendReplies.Load(),
		TransfersFailed: admin.FailedTransfers{Connect: s.FailedConnect.Load(), TLS: s.FailedTLS.Load(),
			Reset: s.FailedReset.Load(), Cut: s.FailedCut.Load(), Idle: s.FailedIdle.Load()},
		CommandsRefused: s.Commands.Map(),
		Overloaded:      s.Overloaded.Load(),
	}
	if px != nil {
		c.ProxyRefused = px.Refused.Load()
	}
	return c
}

// dataRefusals renders an offenders table for /status.
func dataRefusals(t *alg.Offenders) ([]admin.DataRefusal, uint64) {
	list, evicted := t.Top()
	out := make([]admin.DataRefusal, 0, len(list))
	for _, o := range list {
		out = append(out, admin.DataRefusal{Address: o.Addr, Theft: o.Counts[alg.RefusedForeign],
			Second: o.Counts[alg.RefusedSecond], OutsideWindow: o.Counts[alg.RefusedOutsideWindow], Last: o.Last})
	}
	return out, evicted
}

// statsBook keeps a listener's counters going up across reloads: the
// handlers a reload replaced still count for their sessions, and once
// those have ended their totals are folded into a base.
type statsBook struct {
	base    map[string]admin.Counters
	retired []retiredHandler
}

type retiredHandler struct {
	name string
	h    *ftp.Handler
	px   *alg.Proxy
	at   time.Time
}

// retire records the handlers of cfg being replaced at now.
func (b *statsBook) retire(cfg *conf.Config, hs []*ftp.Handler, pxs []*alg.Proxy, now time.Time) {
	if cfg == nil {
		return
	}
	for i, fc := range cfg.FTP {
		b.retired = append(b.retired, retiredHandler{name: fc.Name, h: hs[i], px: pxs[i], at: now})
	}
}

// fold moves the totals of retired handlers with no session left into the
// base.
func (b *statsBook) fold(now time.Time) {
	if b.base == nil {
		b.base = make(map[string]admin.Counters)
	}
	b.retired = slices.DeleteFunc(b.retired, func(r retiredHandler) bool {
		if now.Sub(r.at) < retireGrace || r.h.Stats.Active.Load() > 0 {
			return false
		}
		c := counters(r.h, r.px)
		c.Active = 0
		b.base[r.name] = b.base[r.name].Add(c)
		return true
	})
}

// counters is what the handlers replaced so far did for listener name.
func (b *statsBook) counters(name string) admin.Counters {
	c := b.base[name]
	for _, r := range b.retired {
		if r.name == name {
			c = c.Add(counters(r.h, r.px))
		}
	}
	return c
}
