package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// The operations defaults, as stated on the fields below.
const (
	defaultShutdownTimeout = 30 * time.Second
	defaultProxyProtocol   = "off"
)

// proxyVersions are the values of proxy_protocol and send_proxy_protocol.
var proxyVersions = []string{"off", "v1", "v2"}

// Admin configures the operator's side of algd: the admin HTTP listener
// (/metrics, /healthz, /status), the pid file that `algd reload` signals,
// and how long a SIGTERM drain may take.
type Admin struct {
	// ListenAddr is the ip:port of the admin HTTP listener, for example
	// "127.0.0.1:9021". Default: the zero AddrPort, no admin listener. It
	// serves unauthenticated read-only data: keep it on loopback or a
	// management network.
	ListenAddr netip.AddrPort `toml:"listen"`
	// ShutdownTimeout is how long SIGTERM lets transfers in flight finish
	// after algd has stopped accepting; then every session is closed.
	// Default 30s; not negative.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// PIDFile is written with algd's process id at start and removed at
	// exit, for `algd reload` (SIGHUP). Default "" (none).
	PIDFile string `toml:"pid_file"`
	// TakeoverSocket is the path of a unix socket on which algd hands its
	// listening sockets (control listeners of every protocol, the admin
	// listener) to a new algd started with the same setting, then drains:
	// a restart or an upgrade that refuses no client. Default "" (none:
	// a second algd fails with "address already in use"). Read at start
	// only.
	TakeoverSocket string `toml:"takeover_socket"`
	// TokenFile names a file holding the bearer token that the admin
	// listener's state-changing endpoints (set weight, drain, disable,
	// enable, end a session) require in "Authorization: Bearer <token>".
	// Read at each such request, so it can be rotated in place. Default
	// "" (none): over TCP those endpoints are refused.
	TokenFile string `toml:"token_file"`
	// ControlSocket is the path of a unix socket serving the same
	// endpoints; a request over it needs no token, the socket's file
	// permissions (ControlSocketMode) are the authentication. Default ""
	// (none). Read at start only.
	ControlSocket string `toml:"control_socket"`
	// ControlSocketMode is the permission bits of ControlSocket, as an
	// octal string. Default "0600" (algd's user only).
	ControlSocketMode string `toml:"control_socket_mode"`
}

// SocketMode is ControlSocketMode as bits; validated, so an error here is
// a default.
func (a Admin) SocketMode() uint32 {
	if m, ok := octalMode(a.ControlSocketMode); ok {
		return m
	}
	return 0o600
}

// octalMode parses permission bits such as "0660".
func octalMode(s string) (uint32, bool) {
	m, err := strconv.ParseUint(s, 8, 32)
	return uint32(m), err == nil && m <= 0o777 && len(s) <= 4
}

// maxUnixPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes, one of them the terminating NUL).
const maxUnixPath = 107

// setAdminDefaults applies the defaults of [admin] and of the PROXY
// protocol keys.
func (c *Config) setAdminDefaults() {
	setDuration(&c.Admin.ShutdownTimeout, defaultShutdownTimeout)
	if c.Admin.ControlSocketMode == "" {
		c.Admin.ControlSocketMode = "0600"
	}
	for i := range c.FTP {
		if c.FTP[i].ProxyProtocol == "" {
			c.FTP[i].ProxyProtocol = defaultProxyProtocol
		}
	}
	for i := range c.Pools {
		if c.Pools[i].SendProxyProtocol == "" {
			c.Pools[i].SendProxyProtocol = defaultProxyProtocol
		}
	}
}

// validateAdmin checks [admin] and the PROXY protocol keys of every
// listener and pool.
func (c *Config) validateAdmin(p *problems) {
	a := &c.Admin
	if a.ListenAddr != (netip.AddrPort{}) {
		checkHostPort(p, &a.ListenAddr, "admin.listen")
	}
	if a.ShutdownTimeout.Duration < 0 {
		p.add("admin.shutdown_timeout", "negative duration %q", a.ShutdownTimeout.String())
	}
	if a.TakeoverSocket != "" && len(a.TakeoverSocket) > maxUnixPath {
		p.add("admin.takeover_socket", "path longer than %d bytes, the limit of a unix socket address", maxUnixPath)
	}
	if _, ok := octalMode(a.ControlSocketMode); !ok {
		p.add("admin.control_socket_mode", "%q is not octal permission bits such as \"0660\"", a.ControlSocketMode)
	}
	if a.ControlSocket != "" && !a.ListenAddr.IsValid() {
		p.add("admin.control_socket", "set without admin.listen: the control socket serves the admin listener's endpoints and needs it")
	}
	for i := range c.FTP {
		f := &c.FTP[i]
		at := fmt.Sprintf("ftp[%d]", i)
		if !slices.Contains(proxyVersions, f.ProxyProtocol) {
			p.add(at+".proxy_protocol", "unknown version %q: want one of %q", f.ProxyProtocol, proxyVersions)
		}
		switch {
		case f.ProxyProtocol != "off" && len(f.ProxyFrom) == 0:
			p.add(at+".proxy_protocol_from", "missing: proxy_protocol = %q needs the balancers' addresses; a header from anyone else would let clients choose their address", f.ProxyProtocol)
		case f.ProxyProtocol == "off" && len(f.ProxyFrom) > 0:
			p.add(at+".proxy_protocol_from", "set while proxy_protocol is \"off\": set proxy_protocol to \"v1\" or \"v2\"")
		}
	}
	for i := range c.Pools {
		pl := &c.Pools[i]
		if !slices.Contains(proxyVersions, pl.SendProxyProtocol) {
			p.add(fmt.Sprintf("pool[%d].send_proxy_protocol", i), "unknown version %q: want one of %q", pl.SendProxyProtocol, proxyVersions)
		}
	}
}
