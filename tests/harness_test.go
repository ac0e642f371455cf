// Package tests holds algd's end-to-end suites. The files without a build
// tag run in `go test ./...` with no system packages: real FTP servers
// (ftpserverlib) and a real client (jlaffaye/ftp) in-process, on distinct
// loopback addresses for client (127.0.0.5), VIP (127.0.0.10) and
// realservers (127.0.0.2x), so a broken rewrite cannot pass unseen.
package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/tests/inproc"
)

const (
	clientIP = "127.0.0.5"
	vipIP    = "127.0.0.10"
)

// proxy is an in-process algd (internal/daemon, wired as production
// wires it) serving one FTP listener "vip" in front of pool "p".
type proxy struct {
	addr     netip.AddrPort
	implicit netip.AddrPort // the implicit FTPS listener, when tls has a certificate
	d        *daemon.Daemon
}

// proxyOpts tune startProxy.
type proxyOpts struct {
	first, last uint16 // passive range; default 61100-61199
	perClient   int
	health      conf.Health
	vip         string // the VIP address; default vipIP
	active      string // active_source_port; default control-1
	port        uint16 // listen port; default: any free one
	// tls is the listener's [ftp.tls] (tlsSettings); with a certificate
	// an implicit FTPS listener is added on a free port of the VIP.
	tls *conf.TLS
	// connectTimeout is backend_connect_timeout (and so the greeting's
	// while another member is left to try; the last gets idle);
	// default 5s.
	connectTimeout time.Duration
	// idle is control_idle_timeout (also how long a realserver may keep
	// a reply waiting); default 5m.
	idle time.Duration
	// dataIdle is data_idle_timeout; default 5m.
	dataIdle time.Duration
	// backendPorts, when set, is backend_data_mode "active" with this
	// range on algd's backend-side address.
	backendPorts [2]uint16
	// maxReply is max_reply_bytes; default 16 MiB.
	maxReply int
	// backendSource, when set, is backend_source: algd's address towards
	// the realservers.
	backendSource string
	// checker, when set, health-checks the realservers instead of the
	// checker of health's kind.
	checker pool.Checker
	// dial, when set, is the daemon's Dial seam; local its LocalErrors.
	dial  func(context.Context, netip.AddrPort) (net.Conn, error)
	local *limits.LocalErrors
	// edit, when set, changes the configuration before it is validated
	// (more pools, user routing).
	edit func(*conf.Config)
	// log, when set, is the daemon's logger instead of warnings to
	// stderr.
	log *slog.Logger
	// kernel, when set, is the kernel data path (a fake), and
	// data_path is "kernel"; else "proxy".
	kernel alg.Kernel
	// backendRange, when set, is backend_ports without
	// backend_data_mode "active" (PORT/EPRT on the kernel path).
	backendRange [2]uint16
}

// startFTPServers starts n ftpserverlib servers on 127.0.0.21... sharing
// one root folder, as a farm shares its storage.
func startFTPServers(t *testing.T, n int) []*demo.Server {
	t.Helper()
	return startFTPServersAnnouncing(t, n, "")
}

// startFTPServersAnnouncing is startFTPServers with every server announcing
// publicHost in its 227 replies (a misconfigured realserver) when set.
func startFTPServersAnnouncing(t *testing.T, n int, publicHost string) []*demo.Server {
	t.Helper()
	return startFTPServersWith(t, n, publicHost, nil)
}

// startFTPServersWith starts n servers announcing publicHost (when set)
// and offering AUTH TLS with tlsCfg (when set).
func startFTPServersWith(t *testing.T, n int, publicHost string, tlsCfg *tls.Config) []*demo.Server {
	t.Helper()
	root := t.TempDir()
	var out []*demo.Server
	for i := range n {
		s := demo.StartTest(t, demo.Options{
			Addr:         fmt.Sprintf("127.0.0.%d:0", 21+i),
			Root:         root,
			PassiveFirst: uint16(62000 + 100*i),
			PassiveLast:  uint16(62099 + 100*i),
			PublicHost:   publicHost,
			TLS:          tlsCfg,
		})
		out = append(out, s)
	}
	return out
}

// startProxy runs algd's FTP handler on the VIP in front of servers.
func startProxy(t *testing.T, servers []*demo.Server, o proxyOpts) *proxy {
	t.Helper()
	var addrs []netip.AddrPort
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	return startProxyAddrs(t, addrs, o)
}

// startProxyAddrs runs algd on the VIP in front of the realservers at
// addrs: the configuration o describes, served by internal/daemon.
func startProxyAddrs(t *testing.T, addrs []netip.AddrPort, o proxyOpts) *proxy {
	t.Helper()
	if o.first == 0 {
		o.first, o.last = 61100, 61199
	}
	if o.vip == "" {
		o.vip = vipIP
	}
	if o.health.Kind == "" {
		// Two failed checks take a realserver down: one slow banner on a
		// loaded machine must not empty the pool under a running test.
		o.health = conf.Health{Kind: "ftp", Interval: conf.Duration{Duration: 250 * time.Millisecond},
			Timeout: conf.Duration{Duration: 200 * time.Millisecond}, Rise: 1, Fall: 2}
	}
	listen := inproc.FreePort(t, o.vip)
	if o.port != 0 {
		listen = netip.AddrPortFrom(listen.Addr(), o.port)
	}
	var rss []conf.Realserver
	for _, a := range addrs {
		rss = append(rss, conf.Realserver{AddrPort: a})
	}
	var active conf.ActiveSource
	if err := active.UnmarshalText([]byte(o.active)); err != nil {
		t.Fatal(err)
	}
	fc := conf.FTP{Name: "vip", ListenAddrs: []netip.AddrPort{listen}, Pool: "p",
		Passive: conf.PortRange{First: o.first, Last: o.last}, Active: active}
	if o.backendSource != "" {
		fc.BackendSourceAddr = netip.MustParseAddr(o.backendSource)
	}
	if o.backendPorts[0] != 0 {
		fc.BackendDataMode = "active"
		fc.BackendRange = conf.PortRange{First: o.backendPorts[0], Last: o.backendPorts[1]}
	}
	if o.backendRange[0] != 0 {
		fc.BackendRange = conf.PortRange{First: o.backendRange[0], Last: o.backendRange[1]}
	}
	fc.DataPath = conf.DataPathProxy
	if o.kernel != nil {
		fc.DataPath = conf.DataPathKernel
	}
	if o.tls != nil {
		fc.TLS = *o.tls
		if fc.TLS.Cert != "" {
			fc.TLS.ImplicitAddrs = []netip.AddrPort{inproc.FreePort(t, o.vip)}
		}
	}
	cfg := &conf.Config{
		Pools: []conf.Pool{{Name: "p", Scheduler: "rr", Realservers: rss, Health: o.health}},
		FTP:   []conf.FTP{fc},
		Limits: conf.Limits{MaxSessionsPerClient: o.perClient,
			BackendConnectTimeout: conf.Duration{Duration: o.connectTimeout},
			ControlIdleTimeout:    conf.Duration{Duration: o.idle},
			DataIdleTimeout:       conf.Duration{Duration: o.dataIdle},
			MaxReplyBytes:         o.maxReply},
	}
	if o.edit != nil {
		o.edit(cfg)
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	px := &proxy{addr: listen,
		d: inproc.Start(t, cfg, daemon.Options{Logger: log, Dial: o.dial, Checker: o.checker, Local: o.local, Kernel: o.kernel})}
	if len(cfg.FTP[0].TLS.ImplicitAddrs) > 0 {
		px.implicit = cfg.FTP[0].TLS.ImplicitAddrs[0]
	}
	return px
}

// dialFTP logs in through the proxy from the client address. epsv false
// means PASV, following the address of the 227 reply (as jlaffaye/ftp does
// not by default), so a wrong rewrite fails the transfer. The control
// dialogue is written to log.
func dialFTP(t *testing.T, addr netip.AddrPort, epsv bool, log io.Writer) (*ftp.ServerConn, error) {
	t.Helper()
	if log == nil {
		return dialFTPWith(t, addr, epsv)
	}
	return dialFTPWith(t, addr, epsv, ftp.DialWithDebugOutput(log))
}

// dialFTPWith is dialFTP with more options (TLS) instead of a log.
func dialFTPWith(t *testing.T, addr netip.AddrPort, epsv bool, more ...ftp.DialOption) (*ftp.ServerConn, error) {
	t.Helper()
	from := clientIP
	if addr.Addr().Is6() {
		from = "::1"
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	opts := []ftp.DialOption{ftp.DialWithDialer(d), ftp.DialWithTimeout(30 * time.Second)}
	if !epsv {
		opts = append(opts, ftp.DialWithDisabledEPSV(true), ftp.DialWithTrustPasvIP(true))
	}
	c, err := ftp.Dial(addr.String(), append(opts, more...)...)
	if err != nil {
		return nil, err
	}
	if err := c.Login("demo", "demo"); err != nil {
		c.Quit()
		return nil, err
	}
	return c, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// roundTrip uploads data as name, lists it, downloads it and compares
// sha256.
func roundTrip(c *ftp.ServerConn, name string, data []byte) error {
	if err := c.Stor(name, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("STOR %s: %w", name, err)
	}
	entries, err := c.List("/")
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	found := false
	for _, e := range entries {
		if e.Name == name {
			found = true
			if e.Size != uint64(len(data)) {
				return fmt.Errorf("LIST says %s has %d bytes, want %d", name, e.Size, len(data))
			}
		}
	}
	if !found {
		return fmt.Errorf("LIST does not show %s", name)
	}
	r, err := c.Retr(name)
	if err != nil {
		return fmt.Errorf("RETR %s: %w", name, err)
	}
	got, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("RETR %s: %w", name, err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("RETR %s: %d bytes back, sha256 differs from the %d sent", name, len(got), len(data))
	}
	return nil
}

// rawSession is a line-level control connection for what no library client
// shows: the exact replies.
type rawSession struct {
	t *testing.T
	c net.Conn
}

func rawDial(t *testing.T, from string, addr netip.AddrPort) *rawSession {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawSession{t: t, c: c}
}

// reply reads one reply (multi-line aware) and returns its last line.
func (s *rawSession) reply() string {
	s.t.Helper()
	var line []byte
	buf := make([]byte, 1)
	var first string
	for {
		line = line[:0]
		for {
			if _, err := s.c.Read(buf); err != nil {
				s.t.Fatalf("reading reply: %v (so far %q)", err, line)
			}
			if buf[0] == '\n' {
				break
			}
			if buf[0] != '\r' {
				line = append(line, buf[0])
			}
		}
		l := string(line)
		if first == "" {
			first = l
		}
		if len(l) >= 4 && l[:3] == first[:3] && l[3] == ' ' {
			return l
		}
		if len(first) >= 4 && first[3] == ' ' {
			return l
		}
	}
}

// rawLogin is rawDial past the 220 greeting and a demo login (230).
func rawLogin(t *testing.T, from string, addr netip.AddrPort) *rawSession {
	t.Helper()
	s := rawDial(t, from, addr)
	if r := s.reply(); !strings.HasPrefix(r, "220") {
		t.Fatalf("banner %q", r)
	}
	s.cmd("USER demo")
	if r := s.cmd("PASS demo"); !strings.HasPrefix(r, "230") {
		t.Fatalf("login: %q", r)
	}
	return s
}

// expect sends line and fails the test unless the reply starts with
// want; it returns the reply.
func (s *rawSession) expect(line, want string) string {
	s.t.Helper()
	r := s.cmd(line)
	if !strings.HasPrefix(r, want) {
		s.t.Fatalf("%s: %q, want %s", line, r, want)
	}
	return r
}

func (s *rawSession) cmd(line string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
	return s.reply()
}

// eventually polls cond for up to 10 s: algd accounts a data connection
// when both of its directions have ended, which may trail the client's
// view of the transfer by a moment.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
