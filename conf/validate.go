package conf

import (
	"fmt"
	"net/netip"
	"slices"
)

// Names accepted by the enumerated fields.
var (
	schedulers  = []string{"rr", "wrr", "lc", "wlc", "sh", "hrw"}
	healthKinds = []string{"tcp", "ftp", "ftp-login", "rtsp", "script", "none"}
	logLevels   = []string{"debug", "info", "warn", "error"}
	logFormats  = []string{"text", "json"}
)

// Validate checks the whole configuration, which SetDefaults should have
// completed, whether decoded from a file or built in Go. It unmaps
// IPv4-mapped addresses in place, loads the TLS files and allocates
// fwmarks (the fields tagged `toml:"-"`). It returns nil or an *Errors
// holding every problem, each with its key path.
func (c *Config) Validate() error {
	var p problems
	c.validatePools(&p)
	if len(c.FTP) > 0 || (len(c.Groups) == 0 && len(c.RTSP) == 0) { // groups or RTSP alone are something to serve
		c.validateFTP(&p)
	}
	c.validateRTSP(&p)
	c.validateGroups(&p)
	c.validateKernel(&p)
	c.validateLimits(&p)
	c.validateAdmin(&p)
	c.checkClaims(&p)
	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("log.level", "unknown level %q: want one of %q", c.Log.Level, logLevels)
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		p.add("log.format", "unknown format %q: want one of %q", c.Log.Format, logFormats)
	}
	return p.err()
}

func (c *Config) validatePools(p *problems) {
	names := map[string]int{}
	for i := range c.Pools {
		pl := &c.Pools[i]
		at := fmt.Sprintf("pool[%d]", i)
		switch j, dup := names[pl.Name]; {
		case pl.Name == "":
			p.add(at+".name", "missing: every pool needs a name")
		case dup:
			p.add(at+".name", "duplicate pool name %q, also pool[%d]", pl.Name, j)
		default:
			names[pl.Name] = i
		}
		if !slices.Contains(schedulers, pl.Scheduler) {
			p.add(at+".scheduler", "unknown scheduler %q: want one of %q", pl.Scheduler, schedulers)
		}
		if pl.Persistence.Duration < 0 {
			p.add(at+".persistence", "negative duration %q", pl.Persistence.String())
		}
		validateHealth(p, &pl.Health, at+".health")
		validateNotify(p, pl, at)
		if len(pl.Realservers) == 0 {
			p.add(at+".realservers", "pool %q has no realservers", pl.Name)
		}
		seen := map[netip.AddrPort]int{}
		for j := range pl.Realservers {
			rs := &pl.Realservers[j]
			rat := fmt.Sprintf("%s.realservers[%d]", at, j)
			written := rs.AddrPort
			if checkHostPort(p, &rs.AddrPort, rat+".address") {
				switch k, dup := seen[rs.AddrPort]; {
				case rs.AddrPort.Addr().IsUnspecified():
					p.add(rat+".address", "%q is a wildcard: a realserver needs the address algd connects to", written)
				case dup:
					p.add(rat+".address", "duplicate realserver %q, also realservers[%d]", written, k)
				default:
					seen[rs.AddrPort] = j
				}
			}
			if rs.W() < 0 {
				p.add(rat+".weight", "negative weight %d: 0 drains, 1 is the default", rs.W())
			}
		}
		for j, pf := range pl.MediaSourceNets {
			if pf.IsValid() && pf.Bits() == 0 {
				p.add(fmt.Sprintf("%s.media_sources[%d]", at, j), "%q would accept media from anywhere: name the realservers' networks", pf)
			}
		}
	}
}

func validateHealth(p *problems, h *Health, at string) {
	if !slices.Contains(healthKinds, h.Kind) {
		p.add(at+".kind", "unknown health kind %q: want one of %q", h.Kind, healthKinds)
	}
	if h.Interval.Duration <= 0 {
		p.add(at+".interval", "interval %q is not positive", h.Interval.String())
	}
	if h.Timeout.Duration <= 0 {
		p.add(at+".timeout", "timeout %q is not positive", h.Timeout.String())
	} else if h.Interval.Duration > 0 && h.Timeout.Duration >= h.Interval.Duration {
		p.add(at+".timeout", "timeout %q must be below interval %q", h.Timeout.String(), h.Interval.String())
	}
	if h.Rise < 1 {
		p.add(at+".rise", "rise %d is below 1", h.Rise)
	}
	if h.Fall < 1 {
		p.add(at+".fall", "fall %d is below 1", h.Fall)
	}
	validateProbe(p, h, at)
}

func (c *Config) validateLimits(p *problems) {
	l := &c.Limits
	for _, n := range []struct {
		key string
		v   int
	}{
		{"max_sessions", l.MaxSessions},
		{"max_sessions_per_client", l.MaxSessionsPerClient},
		{"max_data_ports_per_client", l.MaxDataPortsPerClient},
		{"max_media_pairs_per_client", l.MaxMediaPairsPerClient},
	} {
		if n.v < 0 {
			p.add("limits."+n.key, "negative value %d", n.v)
		}
	}
	if l.MaxLineBytes < 512 || l.MaxLineBytes > 65536 {
		p.add("limits.max_line_bytes", "%d is out of range: want 512 to 65536", l.MaxLineBytes)
	}
	if l.MaxReplyBytes < 65536 {
		p.add("limits.max_reply_bytes", "%d is too small: want at least 65536", l.MaxReplyBytes)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"control_idle_timeout", l.ControlIdleTimeout},
		{"data_connect_timeout", l.DataConnectTimeout},
		{"data_idle_timeout", l.DataIdleTimeout},
		{"backend_connect_timeout", l.BackendConnectTimeout},
	} {
		if d.v.Duration < 0 {
			p.add("limits."+d.key, "negative duration %q", d.v.String())
		}
	}
}
