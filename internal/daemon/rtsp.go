package daemon

import (
	"net/netip"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
)

// rtspBuilder builds the [[rtsp]] listeners.
type rtspBuilder struct {
	d     *Daemon
	sites map[string]*rtsp.Handler // by listener name, across reloads
}

func newRTSPBuilder(d *Daemon) *rtspBuilder {
	return &rtspBuilder{d: d, sites: make(map[string]*rtsp.Handler)}
}

// addrs returns every [[rtsp]] control address.
func (b *rtspBuilder) addrs(cfg *conf.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, rc := range cfg.RTSP {
		out = append(out, rc.ListenAddrs...)
	}
	return out
}

// build makes the handler of each [[rtsp]].
func (b *rtspBuilder) build(cfg *conf.Config, pools map[string]*pool.Pool) []*unit {
	d := b.d
	out := make([]*unit, 0, len(cfg.RTSP))
	for _, rc := range cfg.RTSP {
		h, ok := b.sites[rc.Name]
		if !ok {
			h = &rtsp.Handler{
				Name:           rc.Name,
				Pool:           pools[rc.Pool],
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
			b.sites[rc.Name] = h
		}
		h.SetPool(pools[rc.Pool])
		u := &unit{proto: "rtsp", collect: h.Collect}
		for _, a := range rc.ListenAddrs {
			u.binds = append(u.binds, bind{a, h})
		}
		u.status = func() alg.ListenerStatus {
			st := h.Status()
			st.Pool = rc.Pool
			st.Addrs = slices.Clone(rc.ListenAddrs)
			return st
		}
		out = append(out, u)
	}
	return out
}

// describe sends the RTSP metrics' descriptions.
func (b *rtspBuilder) describe(ch chan<- *prometheus.Desc) { (&rtsp.Handler{}).Describe(ch) }

// close ends every media session at shutdown: relays stop and ports go
// back.
func (b *rtspBuilder) close() {
	for _, h := range b.sites {
		h.Close()
	}
}
