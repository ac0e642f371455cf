package conf

import (
	"fmt"
	"net/netip"
	"strconv"
)

// binding is one TCP port range that algd will listen on: a control
// listener (one port) or a passive range on one address.
type binding struct {
	ftp   int // index into Config.FTP
	addr  netip.Addr
	ports PortRange
	path  string // key path, for messages
	raw   string // the value as written
}

func (c *Config) validateFTP(p *problems) {
	if len(c.FTP) == 0 {
		p.add("", "nothing to serve: no [[ftp]] listener is configured")
		return
	}
	var listens, ranges []binding
	names := map[string]int{}
	for i := range c.FTP {
		f := &c.FTP[i]
		at := fmt.Sprintf("ftp[%d]", i)
		if j, dup := names[f.Name]; dup && f.Name != "" {
			p.add(at+".name", "duplicate listener name %q, also ftp[%d]", f.Name, j)
		} else {
			names[f.Name] = i
		}

		f.ListenAddrs = f.ListenAddrs[:0]
		if len(f.Listen) == 0 {
			p.add(at+".listen", "missing: want at least one ip:port such as \"203.0.113.10:21\"")
		}
		for j, s := range f.Listen {
			ap, msg := parseHostPort(s)
			if msg != "" {
				p.add(fmt.Sprintf("%s.listen[%d]", at, j), "%s", msg)
				continue
			}
			f.ListenAddrs = append(f.ListenAddrs, ap)
			listens = append(listens, binding{ftp: i, addr: ap.Addr(), ports: PortRange{ap.Port(), ap.Port()},
				path: fmt.Sprintf("%s.listen[%d]", at, j), raw: s})
		}

		f.AdvertiseAddr = netip.Addr{}
		if f.Advertise != "" {
			a, msg := parseAdvertise(f.Advertise)
			if msg != "" {
				p.add(at+".advertise", "%s", msg)
			} else {
				f.AdvertiseAddr = a
				checkFamily(p, f, at)
			}
		}

		switch {
		case f.Pool == "":
			p.add(at+".pool", "missing: name the [[pool]] that serves this listener")
		case c.Pool(f.Pool) == nil:
			p.add(at+".pool", "unknown pool %q%s", f.Pool, knownPools(c))
		}

		validateTLS(p, &f.TLS, at)
		for j, ap := range f.TLS.ImplicitAddrs {
			listens = append(listens, binding{ftp: i, addr: ap.Addr(), ports: PortRange{ap.Port(), ap.Port()},
				path: fmt.Sprintf("%s.tls.implicit_listen[%d]", at, j), raw: f.TLS.ImplicitListen[j]})
		}

		f.Active = ActiveSource{}
		switch f.ActiveSourcePort {
		case "control-1", "":
			f.Active.ControlMinusOne = true
			for _, ap := range f.ListenAddrs {
				if ap.Port() < 2 {
					p.add(at+".active_source_port", "\"control-1\" needs listen ports above 1, %q has %d", ap, ap.Port())
				}
			}
		case "any":
		default:
			r, msg := parsePortRange(f.ActiveSourcePort)
			if msg != "" {
				if n, err := strconv.ParseUint(f.ActiveSourcePort, 10, 16); err == nil && n > 0 {
					r, msg = PortRange{uint16(n), uint16(n)}, ""
				}
			}
			if msg != "" {
				p.add(at+".active_source_port", "%q: want \"control-1\", \"any\", a port such as \"20\" or a range such as \"60000-60999\"", f.ActiveSourcePort)
			} else {
				f.Active.Range = r
			}
		}

		f.BackendRange, f.BackendSourceAddr = PortRange{}, netip.Addr{}
		if f.BackendSource != "" {
			a, msg := parseAdvertise(f.BackendSource)
			if msg != "" {
				p.add(at+".backend_source", "%s", msg)
			} else {
				f.BackendSourceAddr = a
			}
		}
		switch f.BackendDataMode {
		case "passive":
		case "active":
			if f.BackendPorts == "" {
				p.add(at+".backend_ports", "missing: backend_data_mode \"active\" needs a range such as \"60000-60999\" on algd's backend-side address")
			} else if r, msg := parsePortRange(f.BackendPorts); msg != "" {
				p.add(at+".backend_ports", "%s", msg)
			} else {
				f.BackendRange = r
			}
		default:
			p.add(at+".backend_data_mode", "unknown mode %q: want \"passive\" or \"active\"", f.BackendDataMode)
		}

		f.Passive = PortRange{}
		if f.PassivePorts == "" {
			p.add(at+".passive_ports", "missing: want a range such as \"61000-61999\"")
			continue
		}
		r, msg := parsePortRange(f.PassivePorts)
		if msg != "" {
			p.add(at+".passive_ports", "%s", msg)
			continue
		}
		f.Passive = r
		if _, ok := r.Overlap(f.Active.Range); ok && f.Active.Range.Size() > 0 {
			p.add(at+".active_source_port", "%q overlaps passive_ports %q", f.ActiveSourcePort, f.PassivePorts)
		}
		rb := binding{ftp: i, ports: r, path: at + ".passive_ports", raw: f.PassivePorts}
		if f.AdvertiseAddr.IsValid() {
			rb.addr = f.AdvertiseAddr
			ranges = append(ranges, rb)
		} else {
			for _, ap := range f.ListenAddrs {
				rb.addr = ap.Addr()
				ranges = append(ranges, rb)
			}
		}
	}
	checkBindings(p, listens, ranges)
}

// checkFamily refuses an advertise address that no listener can serve:
// the data listener binds the advertised address, and a client connects
// to it over the family of its control connection (229 carries only a
// port, 227 only IPv4).
func checkFamily(p *problems, f *FTP, at string) {
	if len(f.ListenAddrs) == 0 {
		return
	}
	a := f.AdvertiseAddr
	for _, l := range f.ListenAddrs {
		if l.Addr().Is4() == a.Is4() || (a.Is4() && l.Addr().IsUnspecified()) {
			return
		}
	}
	fam, other := "IPv4", "IPv6"
	if a.Is6() {
		fam, other = other, fam
	}
	p.add(at+".advertise", "%s address %q but every listen address is %s: clients of this listener can never reach it", fam, f.Advertise, other)
}

// checkBindings reports two listeners on one address and port, a passive
// range holding a listen port of the same address, and the passive ranges
// of two [[ftp]] overlapping on one address.
func checkBindings(p *problems, listens, ranges []binding) {
	for j, b := range listens {
		for _, a := range listens[:j] {
			if a.ports.First == b.ports.First && addrsOverlap(a.addr, b.addr) {
				p.add(b.path, "%q listens on the port of %s %q: port %d of one address taken twice",
					b.raw, a.path, a.raw, b.ports.First)
				break
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range ranges {
		for _, l := range listens {
			key := r.path + " " + l.path
			if seen[key] || !r.ports.Contains(l.ports.First) || !addrsOverlap(r.addr, l.addr) {
				continue
			}
			seen[key] = true
			p.add(r.path, "%q contains port %d of %s %q on %s", r.raw, l.ports.First, l.path, l.raw, addrString(r.addr))
		}
	}
	for j, b := range ranges {
		for _, a := range ranges[:j] {
			key := a.path + " " + b.path
			common, ok := a.ports.Overlap(b.ports)
			if a.ftp == b.ftp || seen[key] || !ok || !addrsOverlap(a.addr, b.addr) {
				continue
			}
			seen[key] = true
			p.add(b.path, "%q overlaps %s %q on %s (ports %s)", b.raw, a.path, a.raw, addrString(b.addr), common)
		}
	}
}

// knownPools lists the pool names for an "unknown pool" message.
func knownPools(c *Config) string {
	if len(c.Pools) == 0 {
		return ": there is no [[pool]]"
	}
	s := ": known pools are"
	for i, pl := range c.Pools {
		if i > 0 {
			s += ","
		}
		s += " " + strconv.Quote(pl.Name)
	}
	return s
}
