package daemon

import (
	"context"
	"fmt"
	"net"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/rtsp"
)

// startRTSP binds the listeners of every [[rtsp]] and serves them until
// ctx (the daemon's) is done; the handlers' media sessions end with it.
// Pools come from d.pools, which apply has built; a reload hands each
// handler the rebuilt pool of its name (apply). The RTSP listeners
// themselves are set up once: a reload does not change their addresses or
// ranges (restart algd for that).
func (d *Daemon) startRTSP(ctx context.Context, cfg *conf.Config) error {
	type bound struct {
		ln *net.TCPListener
		h  *rtsp.Handler
	}
	var all []bound
	fail := func(err error) error {
		for _, b := range all {
			b.ln.Close()
		}
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, rc := range cfg.RTSP {
		pr := d.pools[rc.Pool]
		if pr == nil {
			return fail(fmt.Errorf("rtsp %q: no pool %q", rc.Name, rc.Pool))
		}
		h := &rtsp.Handler{
			Name:           rc.Name,
			Pool:           pr.p,
			Sessions:       d.sessions,
			MediaPorts:     alg.NewUDPPorts(rc.Media.First, rc.Media.Last),
			BackendPorts:   alg.NewUDPPorts(rc.BackendMedia.First, rc.BackendMedia.Last),
			PerClientPairs: d.mediaShare,
			Advertise:      rc.AdvertiseAddr,
			BackendSource:  rc.BackendSourceAddr,
			SessionTimeout: rc.SessionTimeout.Duration,
			Limits:         cfg.Limits,
			Logger:         d.log.With("listener", rc.Name),
			Local:          d.local,
		}
		for _, a := range rc.ListenAddrs {
			ln, err := alg.Listen(ctx, a)
			if err != nil {
				return fail(err)
			}
			all = append(all, bound{ln, h})
		}
		d.rtsp = append(d.rtsp, rtspRun{cfg: rc, h: h})
	}
	for _, b := range all {
		srv := &alg.Server{Handler: b.h, Logger: d.log, Local: d.local}
		d.log.Info("listening", "addr", b.ln.Addr().String(), "proto", "rtsp")
		d.wg.Go(func() {
			if err := srv.Serve(ctx, b.ln); err != nil {
				d.log.Error("listener failed", "addr", b.ln.Addr().String(), "err", err)
			}
			srv.Wait()
			b.h.Close()
		})
	}
	return nil
}

// rtspChecker is the health checker of kind "rtsp".
func rtspChecker() *rtsp.Checker { return &rtsp.Checker{} }
