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
	sites map[string]*rtspSite // by listener name, across reloads
}

// rtspSite is what an [[rtsp]] listener keeps across reloads: its
// counters, its media sessions (a request carrying a Session id finds its
// session whichever handler generation took the control connection) and
// its UDP pair allocators (moved to a new range by SetRange).
type rtspSite struct {
	stats                   rtsp.Stats
	media                   *rtsp.Media
	mediaPorts, backendPort *alg.UDPPorts
}

func newRTSPBuilder(d *Daemon) *rtspBuilder {
	return &rtspBuilder{d: d, sites: make(map[string]*rtspSite)}
}

// site returns the state of listener rc, made on first use, with its
// ranges set to rc's.
func (b *rtspBuilder) site(rc conf.RTSP) *rtspSite {
	s, ok := b.sites[rc.Name]
	if !ok {
		s = &rtspSite{media: rtsp.NewMedia(),
			mediaPorts:  alg.NewUDPPorts(rc.Media.First, rc.Media.Last),
			backendPort: alg.NewUDPPorts(rc.BackendMedia.First, rc.BackendMedia.Last)}
		b.sites[rc.Name] = s
	}
	s.mediaPorts.SetRange(rc.Media.First, rc.Media.Last)
	s.backendPort.SetRange(rc.BackendMedia.First, rc.BackendMedia.Last)
	return s
}

// addrs returns every [[rtsp]] control address.
func (b *rtspBuilder) addrs(cfg *conf.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, rc := range cfg.RTSP {
		out = append(out, rc.ListenAddrs...)
	}
	return out
}

// build makes the handler of each [[rtsp]]: a new generation over the
// listener's counters, media sessions and port ranges.
func (b *rtspBuilder) build(cfg *conf.Config, pools map[string]*pool.Pool) []*unit {
	d := b.d
	out := make([]*unit, 0, len(cfg.RTSP))
	for _, rc := range cfg.RTSP {
		s := b.site(rc)
		h := &rtsp.Handler{
			Name:           rc.Name,
			Pool:           pools[rc.Pool],
			Sessions:       d.sessions,
			MediaPorts:     s.mediaPorts,
			BackendPorts:   s.backendPort,
			PerClientPairs: d.mediaShare,
			Advertise:      rc.AdvertiseAddr,
			BackendSource:  rc.BackendSourceAddr,
			SessionTimeout: rc.SessionTimeout.Duration,
			Limits:         cfg.Limits,
			Logger:         d.log.With("listener", rc.Name),
			Local:          d.local,
			Dial:           d.opts.Dial,
			Stats:          &s.stats,
			Media:          s.media,
			Registry:       d.registry,
			Kernel:         d.kernel.forListener(rc.DataPath),
		}
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
	for _, s := range b.sites {
		s.media.Close()
	}
}
