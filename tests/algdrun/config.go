package algdrun

import (
	"fmt"
	"net/netip"
	"strings"
)

// Config is the part of algd.toml the suites use: JSON logs, one pool and
// one [[ftp]] listener per Listener.
type Config struct {
	// Level is the log level. Default "info".
	Level string
	// Listeners are the FTP listeners, each with its own pool.
	Listeners []Listener
}

// Listener is one [[ftp]] table and the [[pool]] behind it.
type Listener struct {
	// Name names the listener and its pool.
	Name string
	// Listen is the VIP address and port.
	Listen netip.AddrPort
	// Realservers are the pool's members.
	Realservers []netip.AddrPort
	// PassiveFirst and PassiveLast are the client-side passive range.
	PassiveFirst, PassiveLast uint16
}

// TOML renders c as an algd configuration file. Health checks read the
// FTP banner every second and need one success, so a backend is up
// about a second after algd starts. They allow 900ms and three misses:
// proftpd greets a connection that follows another within about a second
// only after 0.35-0.4s (measured here), more under the suites' load, and
// a flapping pool would fail cases with 421 for reasons that are not the
// data path's.
func (c Config) TOML() string {
	level := c.Level
	if level == "" {
		level = "info"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[log]\nformat = \"json\"\nlevel = %q\n", level)
	for _, l := range c.Listeners {
		rs := make([]string, len(l.Realservers))
		for i, r := range l.Realservers {
			rs[i] = fmt.Sprintf("{ address = %q }", r.String())
		}
		fmt.Fprintf(&b, "\n[[pool]]\nname = %q\nscheduler = \"rr\"\n", l.Name)
		b.WriteString("health = { kind = \"ftp\", interval = \"1s\", timeout = \"900ms\", rise = 1, fall = 3 }\n")
		fmt.Fprintf(&b, "realservers = [ %s ]\n", strings.Join(rs, ", "))
		fmt.Fprintf(&b, "\n[[ftp]]\nname = %q\nlisten = [%q]\npool = %q\npassive_ports = \"%d-%d\"\n",
			l.Name, l.Listen.String(), l.Name, l.PassiveFirst, l.PassiveLast)
	}
	return b.String()
}
