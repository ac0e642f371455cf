package algdrun

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the part of algd.toml the suites use: JSON logs, one pool and
// one [[ftp]] listener per Listener.
type Config struct {
	// Level is the log level. Default "info".
	Level string
	// Listeners are the FTP listeners, each with its own pool.
	Listeners []Listener
	// DataConnectTimeout and DataIdleTimeout, when set, are [limits]
	// data_connect_timeout and data_idle_timeout.
	DataConnectTimeout, DataIdleTimeout time.Duration
	// Admin, when valid, is [admin] listen.
	Admin netip.AddrPort
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
	// TLS, when set, is the listener's [ftp.tls] table.
	TLS *TLS
	// BackendFirst and BackendLast, when set, are backend_ports with
	// backend_data_mode = "active".
	BackendFirst, BackendLast uint16
	// Extra are further "key = value" lines of the [[ftp]] table
	// (data_path, backend_source, backend_ports).
	Extra []string
}

// TLS is one listener's [ftp.tls]: FTPS towards clients and the
// realserver leg. Zero values leave algd's defaults.
type TLS struct {
	// Cert and Key are the PEM files algd presents to clients.
	Cert, Key string
	// Implicit are the implicit FTPS addresses (implicit_listen).
	Implicit []netip.AddrPort
	// Backend is "plain", "explicit" or "implicit".
	Backend string
	// BackendCA is the CA algd verifies realservers with (backend_ca);
	// NoBackendVerify turns verification off (backend_verify = false).
	BackendCA       string
	NoBackendVerify bool
	// BackendServerName is the name verified in realserver certificates.
	BackendServerName string
	// MinVersion is min_version ("1.2").
	MinVersion string
	// Required refuses USER and PASS before AUTH TLS.
	Required bool
	// RequireReuse refuses protected data connections that do not resume
	// the control session.
	RequireReuse bool
	// HandshakeTimeout bounds client handshakes.
	HandshakeTimeout time.Duration
}

// toml renders t as an [ftp.tls] table for the [[ftp]] just written.
func (t *TLS) toml(b *strings.Builder) {
	b.WriteString("\n  [ftp.tls]\n")
	str := func(k, v string) {
		if v != "" {
			fmt.Fprintf(b, "  %s = %q\n", k, v)
		}
	}
	boolean := func(k string, v bool) {
		if v {
			fmt.Fprintf(b, "  %s = true\n", k)
		}
	}
	str("cert", t.Cert)
	str("key", t.Key)
	if len(t.Implicit) > 0 {
		addrs := make([]string, len(t.Implicit))
		for i, a := range t.Implicit {
			addrs[i] = fmt.Sprintf("%q", a.String())
		}
		fmt.Fprintf(b, "  implicit_listen = [%s]\n", strings.Join(addrs, ", "))
	}
	str("backend", t.Backend)
	str("backend_ca", t.BackendCA)
	if t.NoBackendVerify {
		b.WriteString("  backend_verify = false\n")
	}
	str("backend_server_name", t.BackendServerName)
	str("min_version", t.MinVersion)
	boolean("required", t.Required)
	boolean("require_reuse", t.RequireReuse)
	if t.HandshakeTimeout > 0 {
		str("handshake_timeout", t.HandshakeTimeout.String())
	}
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
	if c.Admin.IsValid() {
		fmt.Fprintf(&b, "\n[admin]\nlisten = %q\n", c.Admin.String())
	}
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
		if l.BackendFirst != 0 {
			fmt.Fprintf(&b, "backend_data_mode = \"active\"\nbackend_ports = \"%d-%d\"\n", l.BackendFirst, l.BackendLast)
		}
		for _, x := range l.Extra {
			b.WriteString(x + "\n")
		}
		if l.TLS != nil {
			l.TLS.toml(&b)
		}
	}
	if c.DataConnectTimeout > 0 || c.DataIdleTimeout > 0 {
		b.WriteString("\n[limits]\n")
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"data_connect_timeout", c.DataConnectTimeout}, {"data_idle_timeout", c.DataIdleTimeout}} {
			if d.v > 0 {
				fmt.Fprintf(&b, "%s = %q\n", d.key, d.v.String())
			}
		}
	}
	return b.String()
}
