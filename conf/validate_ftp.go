package conf

import (
	"fmt"
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

		if len(f.ListenAddrs) == 0 {
			p.add(at+".listen", "missing: want at least one ip:port such as \"203.0.113.10:21\"")
		}
		checkListens(p, f.ListenAddrs, at+".listen")
		if checkLocalAddr(p, &f.AdvertiseAddr, at+".advertise") {
			checkFamily(p, f, at)
		}

		switch {
		case f.Pool == "":
			p.add(at+".pool", "missing: name the [[pool]] that serves this listener")
		case c.Pool(f.Pool) == nil:
			p.add(at+".pool", "unknown pool %q%s", f.Pool, knownPools(c))
		}

		validateTLS(p, &f.TLS, at)
		c.validateUserRouting(p, f, at)

		switch a := f.Active; {
		case a.ControlMinusOne:
			for _, ap := range f.ListenAddrs {
				if ap.Port() == 1 { // port 0 is the listen address's problem
					p.add(at+".active_source_port", "\"control-1\" needs listen ports above 1, %q has %d", ap, ap.Port())
				}
			}
		case a.Any:
		default:
			if msg := a.Range.check(); msg != "" {
				p.add(at+".active_source_port", "%s", msg)
			}
		}

		checkLocalAddr(p, &f.BackendSourceAddr, at+".backend_source")
		switch f.BackendDataMode {
		case "passive":
		case "active":
			if f.BackendRange == (PortRange{}) {
				p.add(at+".backend_ports", "missing: backend_data_mode \"active\" needs a range such as \"60000-60999\" on algd's backend-side address")
			} else if msg := f.BackendRange.check(); msg != "" {
				p.add(at+".backend_ports", "%s", msg)
			}
		default:
			p.add(at+".backend_data_mode", "unknown mode %q: want \"passive\" or \"active\"", f.BackendDataMode)
		}

		if f.Passive == (PortRange{}) {
			p.add(at+".passive_ports", "missing: want a range such as \"61000-61999\"")
		} else if msg := f.Passive.check(); msg != "" {
			p.add(at+".passive_ports", "%s", msg)
		}
	}
}

// checkFamily refuses an advertise address that no listener can serve:
// the data listener binds the advertised address, and a client connects
// to it over the family of its control connection (229 carries only a
// port, 227 only IPv4).
func checkFamily(p *problems, f *FTP, at string) {
	a := f.AdvertiseAddr
	listens := 0
	for _, l := range f.ListenAddrs {
		if !l.IsValid() {
			continue
		}
		listens++
		if l.Addr().Is4() == a.Is4() || (a.Is4() && l.Addr().IsUnspecified()) {
			return
		}
	}
	if listens == 0 {
		return
	}
	fam, other := "IPv4", "IPv6"
	if a.Is6() {
		fam, other = other, fam
	}
	p.add(at+".advertise", "%s address %q but every listen address is %s: clients of this listener can never reach it", fam, a, other)
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
