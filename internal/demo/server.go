// Package demo runs an in-process FTP server built on
// github.com/fclairamb/ftpserverlib: the embedded pool of `algd demo`, and a
// real FTP server, written by nobody here, for the end-to-end tests.
//
// It behaves like the ftpds algd sits in front of: a data connection to a
// passive port must come from the control connection's peer IP (otherwise
// 425), PORT/EPRT must name that IP, and Close kills the server the way a
// crashed realserver dies, cutting every control and data connection.
//
// A known ftpserverlib v0.30.0 defect: after refusing a foreign data
// connection with 425 it keeps that connection open, and a next transfer
// command sent without a new PASV/EPSV goes over it (TestForeignDataConnReused).
package demo

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// Defaults of Options.
const (
	DefaultAddr     = "127.0.0.1:0"
	DefaultUser     = "demo"
	DefaultPassword = "demo"
	DefaultBanner   = "algd demo server"
)

// closeWait bounds how long Close waits for client handlers and open files
// once every socket is closed. They end at once in practice; the bound only
// keeps a hung handler from hanging the caller.
const closeWait = 10 * time.Second

// Options configure one server. Zero values take defaults.
type Options struct {
	// Addr is the control listen address "ip:port". Default "127.0.0.1:0".
	Addr string
	// Root is the directory served, created if missing. Default: a new
	// temporary directory, removed by Close.
	Root string
	// User and Password are the only accepted login; default "demo"/"demo".
	// Anonymous login is not allowed.
	User, Password string
	// Users are further accepted logins, user name to password (tests
	// route several users through one proxy). Default none.
	Users map[string]string
	// PassiveFirst and PassiveLast bound the passive data ports (both set,
	// First <= Last). Default (both zero): ftpserverlib's own choice, a
	// port picked by the kernel from its ephemeral range (":0"). Either
	// way ftpserverlib binds passive listeners on the wildcard address,
	// not the control address.
	PassiveFirst, PassiveLast uint16
	// PublicHost is the IPv4 address announced in 227 replies. Default:
	// the listen IP, or, when listening on a wildcard, the local address
	// of each control connection. Tests set a wrong one on purpose.
	// ftpserverlib can only announce IPv4 in a 227: on an IPv6 control
	// connection PASV fails (421) and only EPSV works.
	PublicHost string
	// Banner is the text of the 220 greeting. Default "algd demo server".
	Banner string
	// Logger receives ftpserverlib's logs. Default: discard.
	Logger *slog.Logger
	// TLS enables AUTH TLS (explicit FTPS) when set; nil means no TLS and
	// AUTH is refused.
	TLS *tls.Config
	// Implicit makes the server speak implicit FTPS (TLS from the first
	// byte, data connections under TLS too); it needs TLS.
	Implicit bool
}

// Server is one running FTP server.
type Server struct {
	addr     netip.AddrPort
	root     string
	tempRoot bool
	log      *slog.Logger
	t        *tracker
	drv      *driver
	served   chan struct{} // closed when ftpserverlib's Serve returns
	closing  sync.Once
	closeErr error
}

// Start starts a server; it is listening when Start returns.
func Start(o Options) (*Server, error) {
	o, err := withDefaults(o)
	if err != nil {
		return nil, fmt.Errorf("demo: start: %w", err)
	}
	root, tempRoot, err := makeRoot(o.Root)
	if err != nil {
		return nil, fmt.Errorf("demo: start: %w", err)
	}
	s, err := start(o, root, tempRoot)
	if err != nil {
		if tempRoot {
			_ = os.RemoveAll(root)
		}
		return nil, fmt.Errorf("demo: start: %w", err)
	}
	return s, nil
}

func start(o Options, root string, tempRoot bool) (*Server, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	tcpAddr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("listen: unexpected address %v", ln.Addr())
	}
	addr := tcpAddr.AddrPort()
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if o.PublicHost == "" && !addr.Addr().IsUnspecified() && addr.Addr().Is4() {
		o.PublicHost = addr.Addr().String()
	}

	t := newTracker()
	control := &listener{Listener: ln, t: t, countWork: true}
	t.add(control)
	var transfers atomic.Uint64
	var served net.Listener = control
	if o.Implicit {
		// ftpserverlib wraps only a listener it opens itself.
		served = tls.NewListener(control, o.TLS)
	}
	drv := &driver{
		settings: settings(o, served),
		banner:   o.Banner,
		user:     o.User,
		password: o.Password,
		users:    o.Users,
		tls:      o.TLS,
		fs:       &fs{Fs: afero.NewBasePathFs(afero.NewOsFs(), root), t: t, transfers: &transfers},
		t:        t,
	}
	srv := ftpserver.NewFtpServer(drv)
	srv.Logger = o.Logger
	if err := srv.Listen(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s := &Server{
		addr:     addr,
		root:     root,
		tempRoot: tempRoot,
		log:      o.Logger,
		t:        t,
		drv:      drv,
		served:   make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := srv.Serve(); err != nil {
			s.log.Error("demo: serve", "err", err)
		}
	}()
	return s, nil
}

// settings are the ftpserverlib settings of one server.
func settings(o Options, ln net.Listener) ftpserver.Settings {
	s := ftpserver.Settings{
		Listener:   ln,
		PublicHost: o.PublicHost,
		Banner:     o.Banner,
		// Active data comes from an ephemeral port, as with vsftpd and
		// proftpd; binding port 20 would need privileges.
		ActiveTransferPortNon20: true,
		// Data connections must come from the control peer's IP, as with
		// every real ftpd (spelled out although it is the zero value).
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
		ActiveConnectionsCheck: ftpserver.IPMatchRequired,
		// Without TYPE, move bytes unchanged (ftpserverlib's zero value is
		// ASCII with line-ending conversion).
		DefaultTransferType: ftpserver.TransferTypeBinary,
	}
	if o.Implicit {
		s.TLSRequired = ftpserver.ImplicitEncryption
	}
	if o.PassiveFirst != 0 {
		s.PassiveTransferPortRange = ftpserver.PortRange{Start: int(o.PassiveFirst), End: int(o.PassiveLast)}
	}
	return s
}

// withDefaults fills in the zero fields of o and checks the others.
func withDefaults(o Options) (Options, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.Banner == "" {
		o.Banner = DefaultBanner
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if (o.PassiveFirst == 0) != (o.PassiveLast == 0) || o.PassiveFirst > o.PassiveLast {
		return o, fmt.Errorf("passive range %d-%d: set both, first <= last", o.PassiveFirst, o.PassiveLast)
	}
	if o.Implicit && o.TLS == nil {
		return o, errors.New("implicit FTPS needs TLS")
	}
	if o.PublicHost != "" {
		a, err := netip.ParseAddr(o.PublicHost)
		if err != nil || !a.Is4() {
			return o, fmt.Errorf("public host %q: not an IPv4 address", o.PublicHost)
		}
	}
	return o, nil
}

// makeRoot returns the absolute served directory, creating it if needed,
// and whether it is a temporary one of ours.
func makeRoot(root string) (string, bool, error) {
	if root == "" {
		dir, err := os.MkdirTemp("", "algd-demo-")
		if err != nil {
			return "", false, fmt.Errorf("root: %w", err)
		}
		return dir, true, nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", false, fmt.Errorf("root: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", false, fmt.Errorf("root: %w", err)
	}
	return abs, false, nil
}

// Addr is the control address the server listens on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Root is the absolute path of the served directory.
func (s *Server) Root() string { return s.root }

// Clients is the number of control connections currently being served.
func (s *Server) Clients() int { return int(s.drv.clients.Load()) }

// Transfers is the number of file transfers (RETR, STOR, APPE) completed
// since Start. A transfer is counted before its 226 is sent.
func (s *Server) Transfers() uint64 { return s.drv.fs.transfers.Load() }

// Close stops listening and cuts every control and data connection, like
// a realserver being killed, then waits for the client handlers to end and
// removes the root if Start created it. It is idempotent: later calls
// return the first call's result.
func (s *Server) Close() error {
	s.closing.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	s.t.shutdown()
	<-s.served // Serve returns once the control listener is closed
	done := make(chan struct{})
	go func() {
		s.t.work.Wait()
		close(done)
	}()
	var errs []error
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		errs = append(errs, errors.New("demo: close: client handlers still running"))
	}
	if s.tempRoot {
		if err := os.RemoveAll(s.root); err != nil {
			errs = append(errs, fmt.Errorf("demo: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*Server)(nil)

// BreakLogins makes the server refuse every login (530) while broken is
// true, as an ftpd with a full disk or a dead PAM backend does: it still
// greets, so only a check that logs in notices.
func (s *Server) BreakLogins(broken bool) { s.drv.broken.Store(broken) }
