package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// defaultRTSPSessionTimeout is RFC 2326 §12.37's default session timeout,
// used when a realserver's Session header names none.
const defaultRTSPSessionTimeout = 60 * time.Second

// RTSP is one RTSP listener group ([[rtsp]]): control listeners in front of
// a pool of streaming servers, with RTP/RTCP relayed through two UDP
// ranges, one on the VIP towards clients and one towards the realservers.
type RTSP struct {
	// Name labels the listener in logs and metrics. Default: the first
	// listen address.
	Name string `toml:"name"`
	// ListenAddrs are one or more ip:port to accept RTSP control
	// connections on (port 554 by convention). Required; no two listeners
	// of the whole file may share an address and port.
	ListenAddrs []netip.AddrPort `toml:"listen"`
	// AdvertiseAddr is the address announced to clients in Transport
	// server_port/source and in rewritten URLs, and bound by the
	// client-side media sockets: an IP literal, not a wildcard. Default
	// (the zero Addr): the control connection's local address.
	AdvertiseAddr netip.Addr `toml:"advertise"`
	// Pool names the realserver pool. Required.
	Pool string `toml:"pool"`
	// Media is the client-side UDP range, "first-last" with an even first
	// port and an odd last one: each stream takes a pair (RTP on the even
	// port, RTCP on the next). Required.
	Media PortRange `toml:"media_ports"`
	// BackendSourceAddr is the local address of connections to the
	// realservers and of the backend-side media sockets (servers accept
	// media only from the address of the RTSP connection). Default (the
	// zero Addr): what the kernel picks for each realserver connection.
	BackendSourceAddr netip.Addr `toml:"backend_source"`
	// BackendMedia is the backend-side UDP range, pairs as in Media,
	// bound on BackendSourceAddr. Required; when both ranges may be bound
	// on one address they must not overlap.
	BackendMedia PortRange `toml:"backend_media_ports"`
	// SessionTimeout ends a media session that shows no sign of life
	// (no request, no RTCP from the client) for this long, when the
	// realserver's Session header states no timeout. Default 60s.
	SessionTimeout Duration `toml:"session_timeout"`
	// DataPath is how media flows: "kernel" (NAT mappings per media
	// pair), "proxy" (algd relays every packet) or "auto" (kernel where
	// algd can use it). Default "auto".
	DataPath string `toml:"data_path"`
}

// setRTSPDefaults names RTSP listeners and makes "rtsp" (an OPTIONS
// answered 200) the default health check of the pools they use.
func (c *Config) setRTSPDefaults() {
	for i := range c.RTSP {
		r := &c.RTSP[i]
		if r.Name == "" && len(r.ListenAddrs) > 0 {
			r.Name = r.ListenAddrs[0].String()
		}
		setDuration(&r.SessionTimeout, defaultRTSPSessionTimeout)
		for j := range c.Pools {
			if c.Pools[j].Name == r.Pool && c.Pools[j].Health.Kind == "" {
				c.Pools[j].Health.Kind = "rtsp"
			}
		}
	}
}

func (c *Config) validateRTSP(p *problems) {
	names := map[string]int{}
	for i := range c.RTSP {
		r := &c.RTSP[i]
		at := fmt.Sprintf("rtsp[%d]", i)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			p.add(at+".name", "duplicate listener name %q, also rtsp[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if len(r.ListenAddrs) == 0 {
			p.add(at+".listen", "missing: want at least one ip:port such as \"203.0.113.10:554\"")
		}
		checkListens(p, r.ListenAddrs, at+".listen")
		checkLocalAddr(p, &r.AdvertiseAddr, at+".advertise")
		checkLocalAddr(p, &r.BackendSourceAddr, at+".backend_source")
		switch {
		case r.Pool == "":
			p.add(at+".pool", "missing: name the [[pool]] that serves this listener")
		case c.Pool(r.Pool) == nil:
			p.add(at+".pool", "unknown pool %q%s", r.Pool, knownPools(c))
		}
		checkPairRange(p, r.Media, at+".media_ports")
		checkPairRange(p, r.BackendMedia, at+".backend_media_ports")
		if r.SessionTimeout.Duration < 0 {
			p.add(at+".session_timeout", "negative duration %q", r.SessionTimeout.String())
		}
	}
}

// checkPairRange checks a required range of RTP/RTCP pairs: an even first
// port and an odd last one (RFC 3550 §11).
func checkPairRange(p *problems, r PortRange, path string) {
	if r == (PortRange{}) {
		p.add(path, "missing: want a range of port pairs such as \"63400-63499\"")
		return
	}
	switch msg := r.check(); {
	case msg != "":
		p.add(path, "%s", msg)
	case r.First%2 != 0:
		p.add(path, "%q starts on an odd port: RTP takes the even port of each pair, RTCP the next (RFC 3550 §11); start at %d", r, r.First+1)
	case r.Last%2 != 1:
		p.add(path, "%q ends on an even port: each stream takes a whole pair; end at %s", r, strconv.Itoa(int(r.Last)-1))
	}
}

// udpMark prefixes the UDP entries of a firewall, which lines() prints as
// "udp ADDR PORTS".
const udpMark = "udp:"

// addUDP adds UDP ports to open on a.
func (f *firewall) addUDP(a netip.Addr, ports string) { f.add(a, udpMark+ports) }

// checkRTSP adds the RTSP listeners to the check report: their listen
// lines, TCP control ports and UDP media range on the advertised address
// (the backend range faces the realservers and is not opened to clients),
// and warnings about wildcards and the ephemeral range.
func (c *Config) checkRTSP(r *Report, fw *firewall, sys System) {
	eph := PortRange{First: sys.EphemeralFirst, Last: sys.EphemeralLast}
	for i := range c.RTSP {
		rt := &c.RTSP[i]
		for _, ap := range rt.ListenAddrs {
			r.Listens = append(r.Listens, fmt.Sprintf("%s (rtsp %q) -> %s", ap, rt.Name, describePool(c.Pool(rt.Pool))))
			fw.add(ap.Addr(), strconv.Itoa(int(ap.Port())))
		}
		if rt.AdvertiseAddr.IsValid() {
			fw.addUDP(rt.AdvertiseAddr, rt.Media.String())
		} else {
			for _, ap := range rt.ListenAddrs {
				fw.addUDP(ap.Addr(), rt.Media.String())
				if ap.Addr().IsUnspecified() {
					r.Warnings = append(r.Warnings, fmt.Sprintf(
						"rtsp %q listens on wildcard %s without advertise: media sockets are bound on the address each client connected to; set advertise to the VIP",
						rt.Name, ap))
				}
			}
		}
		for _, m := range []struct {
			key string
			r   PortRange
		}{{"media_ports", rt.Media}, {"backend_media_ports", rt.BackendMedia}} {
			if common, ok := m.r.Overlap(eph); ok {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"rtsp %q %s %s overlap the kernel's ephemeral range %s in %s: outgoing connections can take these ports; move the range or reserve it with sysctl net.ipv4.ip_local_reserved_ports=%s",
					rt.Name, m.key, m.r, eph, common, common))
			}
		}
	}
}
