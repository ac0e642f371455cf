package conf

import (
	"fmt"
	"net/netip"
	"strings"
)

// claimKind is what algd (or the kernel, for a group) does with a port.
type claimKind int

const (
	// kindListen is a control or admin listener: one port, listening.
	kindListen claimKind = iota
	// kindRange is a range algd binds data or media sockets on: passive
	// ports, backend ports, media ranges.
	kindRange
	// kindActive is a source port of active data connections (a fixed
	// port, a range or control-1): bound with SO_REUSEADDR, never
	// listening, so active claims may share a port with each other.
	kindActive
	// kindGroup is a port an IPVS fwmark group marks on its VIP.
	kindGroup
)

// claim is one port range of one address and protocol that algd binds, or
// that a group hands to IPVS.
type claim struct {
	kind  claimKind
	owner string // the table the key belongs to ("ftp[0]", "group[1]")
	proto string // "tcp" or "udp"
	// addr is the local address; the zero Addr stands for an address
	// algd cannot know from the file (a backend side without
	// backend_source: the kernel picks it per realserver), which may be
	// any local address.
	addr  netip.Addr
	ports PortRange
	path  string // key path, for messages
	raw   string // the value as written
}

// key is the claim's path without its table: "media_ports" for
// "rtsp[0].media_ports".
func (c claim) key() string {
	return strings.TrimPrefix(c.path, c.owner+".")
}

// usable returns a local address Validate accepts, or the zero Addr for
// one it refuses (a wildcard, a zone) or that is unset.
func usable(a netip.Addr) netip.Addr {
	if a.IsUnspecified() || a.Zone() != "" {
		return netip.Addr{}
	}
	return a
}

// claimsOverlap reports whether two claims can take one port.
func claimsOverlap(a, b claim) (PortRange, bool) {
	common, ok := a.ports.Overlap(b.ports)
	if !ok || a.proto != b.proto {
		return common, false
	}
	if !a.addr.IsValid() || !b.addr.IsValid() {
		return common, true
	}
	return common, addrsOverlap(a.addr, b.addr)
}

// narrower is the address to name in a message about a and b: the more
// specific of the two.
func narrower(a, b netip.Addr) string {
	switch {
	case !a.IsValid():
		a = b
	case b.IsValid() && a.IsUnspecified():
		a = b
	}
	if !a.IsValid() {
		return "the backend-side address (backend_source unset: any local address)"
	}
	return a.String()
}

// portsOf formats the common ports of a collision: "ports 61500-61999",
// "udp ports 63450-63499".
func portsOf(proto string, r PortRange) string {
	if proto == "udp" {
		return "udp ports " + r.String()
	}
	return "ports " + r.String()
}

// claims lists every port claim of c that Validate has not refused on its
// own: FTP listeners, implicit FTPS listeners,
// passive ranges, active source ports (control-1 is each listen port minus
// one), backend ports; RTSP listeners and both media ranges; the admin
// listener; the ports of every group on its VIP. A range bound on the
// advertised address, or per connection on the listen address when there is
// none, is claimed on each listen address.
func (c *Config) claims() []claim {
	var out []claim
	one := func(kind claimKind, owner, proto string, ap netip.AddrPort, path, raw string) {
		if !ap.IsValid() || ap.Port() == 0 {
			return // reported by Validate
		}
		out = append(out, claim{kind: kind, owner: owner, proto: proto, addr: ap.Addr(),
			ports: PortRange{ap.Port(), ap.Port()}, path: path, raw: raw})
	}
	// ranges claims r on each address when it is set and valid.
	ranges := func(kind claimKind, owner, proto string, addrs []netip.Addr, r PortRange, path, raw string) {
		if r.Size() == 0 || r.check() != "" {
			return // unset, or reported by Validate
		}
		for _, a := range addrs {
			out = append(out, claim{kind: kind, owner: owner, proto: proto, addr: a, ports: r, path: path, raw: raw})
		}
	}
	on := func(adv netip.Addr, listens []netip.AddrPort) []netip.Addr {
		if adv = usable(adv); adv.IsValid() {
			return []netip.Addr{adv}
		}
		var addrs []netip.Addr
		for _, ap := range listens {
			if ap.IsValid() {
				addrs = append(addrs, ap.Addr())
			}
		}
		return addrs
	}
	for i := range c.FTP {
		f := &c.FTP[i]
		at := fmt.Sprintf("ftp[%d]", i)
		for j, ap := range f.ListenAddrs {
			one(kindListen, at, "tcp", ap, fmt.Sprintf("%s.listen[%d]", at, j), ap.String())
		}
		for j, ap := range f.TLS.ImplicitAddrs {
			one(kindListen, at, "tcp", ap, fmt.Sprintf("%s.tls.implicit_listen[%d]", at, j), ap.String())
		}
	}
	for i := range c.RTSP {
		r := &c.RTSP[i]
		at := fmt.Sprintf("rtsp[%d]", i)
		for j, ap := range r.ListenAddrs {
			one(kindListen, at, "tcp", ap, fmt.Sprintf("%s.listen[%d]", at, j), ap.String())
		}
	}
	one(kindListen, "admin", "tcp", c.Admin.ListenAddr, "admin.listen", c.Admin.ListenAddr.String())
	for i := range c.FTP {
		f := &c.FTP[i]
		at := fmt.Sprintf("ftp[%d]", i)
		addrs := on(f.AdvertiseAddr, f.ListenAddrs)
		ranges(kindRange, at, "tcp", addrs, f.Passive, at+".passive_ports", f.Passive.String())
		ranges(kindActive, at, "tcp", addrs, f.Active.Range, at+".active_source_port", f.Active.String())
		if f.Active.ControlMinusOne {
			// The source port is the control connection's local port
			// minus one, bound on the advertised address.
			for _, ap := range append(append([]netip.AddrPort(nil), f.ListenAddrs...), f.TLS.ImplicitAddrs...) {
				if !ap.IsValid() || ap.Port() < 2 {
					continue // reported by validateFTP
				}
				for _, a := range on(f.AdvertiseAddr, []netip.AddrPort{ap}) {
					one(kindActive, at, "tcp", netip.AddrPortFrom(a, ap.Port()-1), at+".active_source_port", f.Active.String())
				}
			}
		}
		if f.BackendDataMode == "active" {
			ranges(kindRange, at, "tcp", []netip.Addr{usable(f.BackendSourceAddr)}, f.BackendRange, at+".backend_ports", f.BackendRange.String())
		}
	}
	for i := range c.RTSP {
		r := &c.RTSP[i]
		at := fmt.Sprintf("rtsp[%d]", i)
		ranges(kindRange, at, "udp", on(r.AdvertiseAddr, r.ListenAddrs), r.Media, at+".media_ports", r.Media.String())
		ranges(kindRange, at, "udp", []netip.Addr{usable(r.BackendSourceAddr)}, r.BackendMedia, at+".backend_media_ports", r.BackendMedia.String())
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if !usable(g.VIPAddr.Addr).IsValid() {
			continue
		}
		at := fmt.Sprintf("group[%d]", i)
		for j, gp := range g.PortSet {
			if gp.check() == "" {
				ranges(kindGroup, at, gp.Proto, []netip.Addr{g.VIPAddr.Addr}, gp.Ports, fmt.Sprintf("%s.ports[%d]", at, j), gp.String())
			}
		}
	}
	return out
}

// checkClaims reports every two claims of c that can take one port of one
// address: each problem is put on one claim and names the other, whose line
// Parse adds. Sharing that is meant stays allowed: one key claimed on
// several addresses, a group naming a port twice, and active source ports
// (bound with SO_REUSEADDR for outgoing connections only, so every session
// of a listener, and listeners among themselves, may share them).
func (c *Config) checkClaims(p *problems) {
	list := c.claims()
	seen := map[[2]string]bool{}
	for j, b := range list {
		for _, a := range list[:j] {
			if a.path == b.path || (a.kind == kindGroup && b.kind == kindGroup && a.owner == b.owner) ||
				(a.kind == kindActive && b.kind == kindActive) {
				continue
			}
			common, ok := claimsOverlap(a, b)
			pair := [2]string{a.path, b.path}
			if !ok || seen[pair] {
				continue
			}
			seen[pair] = true
			reportClaims(p, a, b, common)
		}
	}
	c.checkLoops(p)
}

// reportClaims words the collision of a (found first) and b.
func reportClaims(p *problems, a, b claim, common PortRange) {
	where := narrower(a.addr, b.addr)
	switch {
	case a.kind == kindGroup && b.kind == kindGroup:
		p.addRef(b.path, a.path, "%q overlaps %s %q on %s (%s ports %s): a VIP port has one owner",
			b.raw, a.path, a.raw, where, b.proto, common)
	case a.kind == kindGroup || b.kind == kindGroup:
		g, l := a, b
		if b.kind == kindGroup {
			g, l = b, a
		}
		p.addRef(g.path, l.path, "%q claims %s ports %s that %s %q terminates in algd on %s: a VIP port has one owner",
			g.raw, g.proto, common, l.path, l.raw, where)
	case a.kind == kindListen && b.kind == kindListen:
		p.addRef(b.path, a.path, "%q listens on the port of %s %q: port %d of one address taken twice",
			b.raw, a.path, a.raw, b.ports.First)
	case a.kind == kindListen || b.kind == kindListen:
		l, r := a, b
		if b.kind == kindListen {
			l, r = b, a
		}
		if r.kind == kindActive {
			p.addRef(r.path, l.path, "%q takes port %d on %s as the source of active data connections, where %s %q listens: every active transfer would fail with \"address already in use\"",
				r.raw, l.ports.First, where, l.path, l.raw)
			return
		}
		p.addRef(r.path, l.path, "%q contains port %d of %s %q on %s", r.raw, l.ports.First, l.path, l.raw, where)
	default:
		other := a.path
		if a.owner == b.owner {
			other = a.key()
		}
		p.addRef(b.path, a.path, "%q overlaps %s %q on %s (%s)", b.raw, other, a.raw, where, portsOf(b.proto, common))
	}
}

// checkLoops refuses an FTP or RTSP listener that is also a member of a
// pool a listener uses: algd would connect to itself. A wildcard listener
// loops into a loopback member on its port.
func (c *Config) checkLoops(p *problems) {
	used := map[string]bool{}
	for _, f := range c.FTP {
		for _, n := range f.PoolNames() {
			used[n] = true
		}
	}
	for _, r := range c.RTSP {
		used[r.Pool] = true
	}
	var listens []claim
	for _, cl := range c.claims() {
		if cl.kind == kindListen && cl.path != "admin.listen" {
			listens = append(listens, cl)
		}
	}
	for i := range c.Pools {
		pl := &c.Pools[i]
		if !used[pl.Name] {
			continue
		}
		for j, rs := range pl.Realservers {
			m := rs.AddrPort
			if !m.IsValid() {
				continue
			}
			for _, l := range listens {
				a := l.addr
				if l.ports.First != m.Port() || !(a == m.Addr() || (a.IsUnspecified() && m.Addr().IsLoopback() && addrsOverlap(a, m.Addr()))) {
					continue
				}
				rpath := fmt.Sprintf("pool[%d].realservers[%d]", i, j)
				p.addRef(l.path, rpath+".address", "%q is also %s %q of pool %q: algd would connect to itself, a loop",
					l.raw, rpath, rs.AddrPort, pl.Name)
			}
		}
	}
}
