// Package conf is algd's configuration: the TOML schema, its defaults, its
// validation and the report of `algd check`. It knows no behaviour: other
// packages read the values, which are decoded into their types (netip
// addresses, port ranges, durations) as the file is read, each stored
// once; Load and Parse return a Config only when every one of them is
// valid.
//
// Loading goes: syntax, then decoding (unknown keys, types and values that
// do not parse, every one of them with its key path), then SetDefaults,
// then Validate. A zero value always means "the default"; the defaults are
// stated on each field.
package conf

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
)

// Config is the whole algd.toml.
type Config struct {
	// Pools are the realserver pools, referenced by name from listeners.
	Pools []Pool `toml:"pool"`
	// FTP are the FTP listeners (one [[ftp]] table each).
	FTP []FTP `toml:"ftp"`
	// RTSP are the RTSP listeners (one [[rtsp]] table each, see rtsp.go).
	RTSP []RTSP `toml:"rtsp"`
	// Limits bounds every resource; zero values take the documented defaults.
	Limits Limits `toml:"limits"`
	// Log configures logging.
	Log Log `toml:"log"`
	// Groups are the fwmark groups handed to kernel IPVS (see group.go).
	Groups []Group `toml:"group"`
	// IPVS configures how the groups are programmed into the kernel.
	IPVS IPVS `toml:"ipvs"`
	// Admin configures the admin HTTP listener, the pid file and the
	// SIGTERM drain (see admin.go).
	Admin Admin `toml:"admin"`
	// Kernel configures the kernel data path (see datapath.go).
	Kernel Kernel `toml:"kernel"`
}

// Pool returns the pool called name, or nil. The pointer is into c.Pools.
func (c *Config) Pool(name string) *Pool {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i]
		}
	}
	return nil
}

// Pool is a named set of realservers and how one of them is chosen.
type Pool struct {
	// Name identifies the pool; required, unique.
	Name string `toml:"name"`
	// Scheduler is rr, wrr, lc, wlc, sh or hrw (weighted rendezvous
	// hashing of the FTP user name on a listener with route_by "user",
	// of the client address otherwise). Default "wlc".
	Scheduler string `toml:"scheduler"`
	// Persistence keeps a client address on the realserver it was given for
	// this long after its last session ended. Default 0 (off); not negative.
	Persistence Duration `toml:"persistence"`
	// Health configures the health check of every realserver of the pool.
	Health Health `toml:"health"`
	// Realservers are the pool's members; at least one.
	Realservers []Realserver `toml:"realservers"`
	// SendProxyProtocol sends a PROXY protocol header ("v1" or "v2") with
	// the client's address first on every control connection to the
	// realservers. Default "off".
	SendProxyProtocol string `toml:"send_proxy_protocol"`
	// MediaSources are further addresses (or CIDRs) RTSP media of this
	// pool's realservers may come from, besides each realserver's own
	// control address and a source= naming a member of the pool: a
	// server's other interfaces, or the address its wildcard media sockets
	// send from. Default none. A /0 is refused. IPv4-mapped addresses are
	// unmapped and host bits masked.
	MediaSourceNets []netip.Prefix `toml:"media_sources"`
	// NotifyUp and NotifyDown are commands (argv, no shell) run when a
	// realserver of the pool comes up or goes down, with the pool's name,
	// the realserver's address:port and "up" or "down" appended as three
	// arguments (and in the environment). A realserver's own commands
	// replace these. At most one runs per realserver at a time; the
	// checks never wait for them. Default none.
	NotifyUp   []string `toml:"notify_up"`
	NotifyDown []string `toml:"notify_down"`
	// NotifyTimeout bounds one notify command; it is killed (its process
	// group) after it. Default 10s.
	NotifyTimeout Duration `toml:"notify_timeout"`
}

// Health configures a pool's health checks.
type Health struct {
	// Kind is "tcp" (connect), "ftp" (a 220 banner), "ftp-login" (log a
	// probe account in, optionally list or fetch a file), "rtsp" (OPTIONS),
	// "script" (run Command: exit 0 is up) or "none" (always up).
	// Default: the protocol of the listener using the pool ("ftp" for FTP),
	// "tcp" for a pool no listener uses.
	Kind string `toml:"kind"`
	// User is the probe account of kind "ftp-login"; required there.
	User string `toml:"user"`
	// PasswordFile is the file whose first line is User's password (kind
	// "ftp-login"; required there). It is read at every check and its
	// content is never logged or shown.
	PasswordFile string `toml:"password_file"`
	// Probe is what "ftp-login" does after logging in: "login" (nothing,
	// the default), "list" (LIST over a passive data connection) or
	// "retr" (RETR of ProbeFile).
	Probe string `toml:"probe"`
	// ProbeFile is the file "retr" fetches (required there) or the path
	// "list" lists (default: the login directory).
	ProbeFile string `toml:"probe_file"`
	// Command is the script check (kind "script"; required there): argv,
	// no shell, with the realserver's address and port appended as two
	// arguments; exit status 0 is up; killed at Timeout.
	Command []string `toml:"command"`
	// Interval between checks. Default 2s.
	Interval Duration `toml:"interval"`
	// Timeout of one check. Default 1s, or half of Interval when Interval
	// is 1s or less; must be below Interval.
	Timeout Duration `toml:"timeout"`
	// Rise is how many consecutive successes bring a realserver up.
	// Default 2 (0 means the default); at least 1.
	Rise int `toml:"rise"`
	// Fall is how many consecutive failures take it down. Default 3 (0
	// means the default); at least 1.
	Fall int `toml:"fall"`
}

// Realserver is one member of a pool.
type Realserver struct {
	// AddrPort is the address, ip:port with an IP address literal
	// ("10.0.0.11:21", "[2001:db8::11]:21"); host names are refused,
	// since nothing re-resolves them. Required, unique within the pool,
	// port not 0. Validate unmaps IPv4-mapped IPv6 addresses.
	AddrPort netip.AddrPort `toml:"address"`
	// Weight for wrr, wlc and sh. Default 1 when absent; 0 drains: the
	// realserver keeps its sessions but gets no new ones. Not negative.
	Weight *int `toml:"weight"`
	// NotifyUp and NotifyDown replace the pool's notify_up and
	// notify_down for this realserver. Default: the pool's.
	NotifyUp   []string `toml:"notify_up"`
	NotifyDown []string `toml:"notify_down"`
}

// W returns the weight with its default applied.
func (r Realserver) W() int {
	if r.Weight == nil {
		return 1
	}
	return *r.Weight
}

// FTP is one FTP listener group: a set of listen addresses in front of a pool.
type FTP struct {
	// Name labels the listener in logs and metrics. Default: the first
	// listen address.
	Name string `toml:"name"`
	// ListenAddrs are one or more ip:port to accept control connections
	// on: IP literals, "0.0.0.0:21" or "[::]:21" for every address of a
	// family ("[::]" is dual-stack and takes IPv4 too). Required; no two
	// listeners of the whole file may share an address and port.
	ListenAddrs []netip.AddrPort `toml:"listen"`
	// AdvertiseAddr is the address announced in 227/229 replies and bound
	// by the passive data listeners: an IP literal without port, not a
	// wildcard, of a family some listen address can serve. Default (the
	// zero Addr): the control connection's local address (per
	// connection, IPv4-mapped addresses unmapped).
	AdvertiseAddr netip.Addr `toml:"advertise"`
	// Pool names the realserver pool. Required.
	Pool string `toml:"pool"`
	// Passive is the client-side data port range, "first-last"
	// ("61000-61999"), bound on AdvertiseAddr (or each listen address).
	// Required; it may not contain a listen port of the same address nor
	// overlap the range of another [[ftp]] on the same address. Keep it out
	// of the kernel's ephemeral range (algd check warns).
	Passive PortRange `toml:"passive_ports"`
	// TrustPASVAddress connects to the address a backend names in its 227
	// reply instead of the backend's control address. Default false.
	TrustPASVAddress bool `toml:"trust_pasv_address"`
	// AllowForeignData accepts PORT/EPRT naming another address than the
	// control peer's, or a port below 1024 (FXP, and the bounce attack
	// RFC 2577 warns of). Default false: such commands are refused 504.
	AllowForeignData bool `toml:"allow_foreign_data"`
	// Active is the source port of active-mode data connections to
	// clients: "control-1" (the listen port minus one, 20 for 21), a port
	// such as "20", a range "first-last" handed out per connection, or
	// "any" (the kernel's choice). Default "control-1".
	Active ActiveSource `toml:"active_source_port"`
	// BackendDataMode is how algd asks a realserver for the data
	// connection of a client's PORT/EPRT: "passive" (PASV/EPSV: the
	// realserver never connects out) or "active" (PORT/EPRT to a port of
	// BackendPorts on algd's backend-side address). Client PASV/EPSV are
	// always passive towards the realserver. Default "passive".
	BackendDataMode string `toml:"backend_data_mode"`
	// BackendRange is the range algd listens on towards realservers in
	// backend_data_mode "active", "first-last". Required then.
	BackendRange PortRange `toml:"backend_ports"`
	// BackendSourceAddr is algd's address towards the realservers:
	// control and data connections leave from it, and backend_ports are
	// bound on it. Default (the zero Addr): the kernel's choice for each
	// realserver connection.
	BackendSourceAddr netip.Addr `toml:"backend_source"`
	// TLS terminates FTPS at the VIP (RFC 4217); off without a certificate.
	TLS TLS `toml:"tls"`
	// ProxyProtocol requires a PROXY protocol header ("v1" or "v2") on
	// every control and passive data connection from ProxyProtocolFrom,
	// and drops connections from anyone else. Default "off".
	ProxyProtocol string `toml:"proxy_protocol"`
	// ProxyFrom are the balancers allowed to send PROXY headers:
	// addresses or CIDRs (IPv4-mapped addresses unmapped, host bits
	// masked). Required when ProxyProtocol is on.
	ProxyFrom []netip.Prefix `toml:"proxy_protocol_from"`
	// RouteBy is when the realserver is chosen: "connection" (as the
	// client connects; the realserver greets it) or "user" (algd greets
	// the client itself, answers what needs no realserver, and on USER
	// picks the realserver for that user: the pool of the first matching
	// UserRoutes or UserFile line, else Pool). Default "connection".
	RouteBy string `toml:"route_by"`
	// Greeting is the text of algd's own 220 with route_by "user": one
	// line, at most 200 bytes. Default "FTP gateway ready.".
	Greeting string `toml:"greeting"`
	// UserRoutes map user names or globs to pools, first match wins;
	// checked before UserFile. Needs route_by "user".
	UserRoutes []UserRoute `toml:"user_route"`
	// UserFile is a file of "user pool" lines (user a name or glob, #
	// comments), matched after UserRoutes, read by Validate: at start,
	// by algd check and on every reload (SIGHUP). Needs route_by "user".
	UserFile string `toml:"user_file"`
	// FileRoutes are UserFile's routes as Validate read them.
	FileRoutes []UserRoute `toml:"-"`
	// DataPath is how data connections go: "kernel" (one-shot NAT
	// mappings, the bytes never enter algd; per transfer, what needs
	// algd stays on the proxy path: PROT P, TLS towards the realservers,
	// passive data through a PROXY balancer, PORT/EPRT without
	// BackendRange), "proxy" (algd splices every byte) or "auto" (kernel
	// where algd can use it, proxy elsewhere). Default "auto".
	DataPath string `toml:"data_path"`
}

// TLS configures FTPS for one [[ftp]] listener: towards clients (explicit
// AUTH TLS on the listen addresses, implicit on ImplicitAddrs) and towards
// the realservers (Backend).
type TLS struct {
	// Cert and Key are PEM files: the certificate (chain allowed) and its
	// private key. Both or neither; without them AUTH is refused with 502.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Min is the lowest TLS version accepted from clients: "1.0", "1.1",
	// "1.2" or "1.3". Default "1.2".
	Min TLSVersion `toml:"min_version"`
	// Required refuses USER and PASS (530) before AUTH TLS. Default false.
	Required bool `toml:"required"`
	// RequireProtP refuses PROT C (534) and every data command (PASV,
	// EPSV, PORT, EPRT, RETR, STOR, STOU, APPE, LIST, NLST, MLSD) until
	// the client has set PROT P (521, RFC 4217 §9). Needs Cert. Default
	// false.
	RequireProtP bool `toml:"require_prot_p"`
	// ImplicitAddrs are ip:port addresses for implicit FTPS (port 990
	// style: TLS from the first byte). Needs Cert.
	ImplicitAddrs []netip.AddrPort `toml:"implicit_listen"`
	// RequireReuse refuses a protected data connection that does not resume
	// the control connection's TLS session. Default false (python's ftplib
	// never resumes).
	RequireReuse bool `toml:"require_reuse"`
	// HandshakeTimeout bounds every TLS handshake with a client. Default 10s.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// Backend is how algd talks to the realservers: "plain", "explicit"
	// (AUTH TLS after the greeting) or "implicit". Default "plain".
	Backend string `toml:"backend"`
	// BackendVerify checks the realservers' certificates against
	// BackendCA (or the system roots) and BackendServerName (or the
	// realserver's IP address). Default true.
	BackendVerify *bool `toml:"backend_verify"`
	// BackendCA is a PEM file of CA certificates for BackendVerify.
	BackendCA string `toml:"backend_ca"`
	// BackendServerName is the name verified in realserver certificates
	// and sent as SNI.
	BackendServerName string `toml:"backend_server_name"`

	// Pair is Cert and Key, loaded; nil without a certificate.
	Pair *tls.Certificate `toml:"-"`
	// CAPool is BackendCA, loaded; nil for the system roots.
	CAPool *x509.CertPool `toml:"-"`
}

// Verify returns BackendVerify with its default applied.
func (t TLS) Verify() bool { return t.BackendVerify == nil || *t.BackendVerify }

// Limits bounds sessions, lines and waits.
type Limits struct {
	// MaxSessions caps concurrent control sessions over all listeners.
	// Default 5000. Zero means the default, negative values are refused
	// (this holds for every field of Limits).
	MaxSessions int `toml:"max_sessions"`
	// MaxSessionsPerClient caps concurrent sessions from one client IP.
	// Default 20.
	MaxSessionsPerClient int `toml:"max_sessions_per_client"`
	// ControlIdleTimeout closes a control session when neither a command
	// nor data on one of its data connections has come for this long.
	// Default 5m.
	ControlIdleTimeout Duration `toml:"control_idle_timeout"`
	// DataIdleTimeout cuts a data connection on which no byte has moved
	// either way for this long; the transfer is answered 426. Default 5m.
	DataIdleTimeout Duration `toml:"data_idle_timeout"`
	// DataConnectTimeout is how long a passive port waits for the client's
	// data connection. Default 30s.
	DataConnectTimeout Duration `toml:"data_connect_timeout"`
	// BackendConnectTimeout bounds each connect to a realserver. Default
	// DefaultBackendConnectTimeout (5s).
	BackendConnectTimeout Duration `toml:"backend_connect_timeout"`
	// MaxLineBytes is the longest control line accepted, CRLF included.
	// Default 4096; 512 to 65536.
	MaxLineBytes int `toml:"max_line_bytes"`
	// MaxReplyBytes bounds one multi-line realserver reply relayed to a
	// client (STAT, HELP), line ends included: past it, the rest is dropped
	// and the reply ends with "ddd Reply truncated by algd.". Replies are
	// relayed as they come, so this bounds bytes on the wire, not memory.
	// Default DefaultMaxReplyBytes (16 MiB); at least 65536.
	MaxReplyBytes int `toml:"max_reply_bytes"`
	// MaxDataPortsPerClient caps the passive data ports one client address
	// holds at a time over all its sessions and every listener: reserved
	// by PASV/EPSV until the data connection ends or the port expires.
	// Default 8.
	MaxDataPortsPerClient int `toml:"max_data_ports_per_client"`
	// MaxMediaPairsPerClient caps the RTSP media port pairs (client side)
	// one client address holds at a time over all its sessions and every
	// listener. Default 8.
	MaxMediaPairsPerClient int `toml:"max_media_pairs_per_client"`
}

// DefaultMaxReplyBytes is the default of Limits.MaxReplyBytes.
const DefaultMaxReplyBytes = 16 << 20

// Log configures the logger.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `toml:"level"`
	// Format is text or json. Default text.
	Format string `toml:"format"`
}
