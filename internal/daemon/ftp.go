package daemon

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
	"github.com/algd/algd/pool"
)

// ftpBuilder builds the [[ftp]] listeners.
type ftpBuilder struct {
	d     *Daemon
	sites map[string]*ftpSite // by listener name, across reloads
}

// ftpSite is what an [[ftp]] listener keeps across reloads: its counters,
// port allocators (moved to a new range by SetRange), the table of
// refused data connections and its certificate.
type ftpSite struct {
	stats     ftp.Stats
	ports     map[string]*alg.DataPorts // by kind: passive, active, backend
	offenders *alg.Offenders
	cert      certStore
}

func newFTPBuilder(d *Daemon) *ftpBuilder {
	return &ftpBuilder{d: d, sites: make(map[string]*ftpSite)}
}

// site returns the state of listener name, made on first use.
func (b *ftpBuilder) site(name string) *ftpSite {
	s, ok := b.sites[name]
	if !ok {
		s = &ftpSite{ports: make(map[string]*alg.DataPorts), offenders: alg.NewOffenders(0)}
		b.sites[name] = s
	}
	return s
}

// addrs returns every [[ftp]] control address, implicit FTPS ones
// included.
func (b *ftpBuilder) addrs(cfg *conf.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, fc := range cfg.FTP {
		out = append(append(out, fc.ListenAddrs...), fc.TLS.ImplicitAddrs...)
	}
	return out
}

// build makes one handler per [[ftp]]; sessions from before a reload share
// the port allocators with it, so their next PASV or PORT gets a port of
// the new range, while ports they hold stay reserved until their
// transfers end.
func (b *ftpBuilder) build(cfg *conf.Config, pools map[string]*pool.Pool) []*unit {
	d := b.d
	out := make([]*unit, 0, len(cfg.FTP))
	for _, fc := range cfg.FTP {
		s := b.site(fc.Name)
		h := &ftp.Handler{
			Name:             fc.Name,
			Pool:             pools[fc.Pool],
			Sessions:         d.sessions,
			DataPorts:        s.dataPorts("passive", fc.Passive),
			PerClientPorts:   d.dataShare,
			Advertise:        fc.AdvertiseAddr,
			TrustPASVAddress: fc.TrustPASVAddress,
			AllowForeignData: fc.AllowForeignData,
			TLS:              newTLS(fc.TLS, &s.cert),
			Active:           fc.Active,
			Limits:           cfg.Limits,
			Logger:           d.log.With("listener", fc.Name),
			Registry:         d.registry,
			Local:            d.local,
			SendProxy:        proxyVersion(cfg.Pool(fc.Pool).SendProxyProtocol),
			Offenders:        s.offenders,
			Stats:            &s.stats,
			Dial:             d.opts.Dial,
			RouteByUser:      fc.RouteBy == "user",
			Greeting:         fc.Greeting,
		}
		for _, r := range fc.Routes() {
			h.Users = append(h.Users, ftp.UserRoute{User: r.User, Pool: pools[r.Pool],
				SendProxy: proxyVersion(cfg.Pool(r.Pool).SendProxyProtocol)})
		}
		px := newProxy(fc, &s.stats)
		h.DataPorts.SetProxy(px)
		if r := fc.Active.Range; r.Size() > 1 {
			h.ActivePorts = s.dataPorts("active", r)
		}
		if fc.BackendDataMode == "active" {
			h.BackendPorts = s.dataPorts("backend", fc.BackendRange)
		}
		if h.Kernel = d.kernel.forListener(fc.DataPath); h.Kernel != nil && fc.BackendRange != (conf.PortRange{}) {
			h.KernelBackendPorts = s.dataPorts("backend", fc.BackendRange)
		}
		h.BackendSource = fc.BackendSourceAddr
		u := &unit{proto: "ftp", collect: h.Collect}
		for _, a := range fc.ListenAddrs {
			u.binds = append(u.binds, bind{a, alg.ProxyHandler{Proxy: px, Next: h, Logger: d.log}})
		}
		for _, a := range fc.TLS.ImplicitAddrs {
			u.binds = append(u.binds, bind{a, alg.ProxyHandler{Proxy: px, Next: h.Implicit(), Logger: d.log}})
		}
		u.status = func() alg.ListenerStatus {
			st := h.Status()
			st.Pool = fc.Pool
			st.Addrs = append(slices.Clone(fc.ListenAddrs), fc.TLS.ImplicitAddrs...)
			if px != nil {
				st.Proxy = fc.ProxyProtocol
			}
			return st
		}
		out = append(out, u)
	}
	return out
}

// describe sends the FTP metrics' descriptions.
func (b *ftpBuilder) describe(ch chan<- *prometheus.Desc) { (&ftp.Handler{}).Describe(ch) }

// close has nothing to end: FTP sessions end with the daemon's context.
func (b *ftpBuilder) close() {}

// dataPorts returns the allocator of kind, creating it on first use, with
// r as its range from now on.
func (s *ftpSite) dataPorts(kind string, r conf.PortRange) *alg.DataPorts {
	dp, ok := s.ports[kind]
	if !ok {
		dp = alg.NewDataPorts(r.First, r.Last)
		s.ports[kind] = dp
	}
	dp.SetRange(r.First, r.Last)
	return dp
}

// proxyVersion turns "v1"/"v2" into 1/2, anything else into 0 (off).
func proxyVersion(s string) byte {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || v < 1 || v > 2 {
		return 0
	}
	return byte(v)
}

// newProxy returns the PROXY protocol policy of fc, nil when off; what it
// refuses is counted in the listener's stats.
func newProxy(fc conf.FTP, st *ftp.Stats) *alg.Proxy {
	v := proxyVersion(fc.ProxyProtocol)
	if v == 0 {
		return nil
	}
	return &alg.Proxy{Version: v, From: fc.ProxyFrom, Refused: &st.ProxyRefused}
}
