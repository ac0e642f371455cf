package conf

import (
	"fmt"
	"net/netip"
	"strconv"
)

func (c *Config) validateFTP(p *problems) {
	if len(c.FTP) == 0 {
		p.add("", "nothing to serve: no [[ftp]] listener is configured")
		return
	}
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
	}
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
