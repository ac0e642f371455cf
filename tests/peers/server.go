package peers

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Kind names an FTP server implementation.
type Kind string

// The servers fetch.sh provides.
const (
	Vsftpd   Kind = "vsftpd"
	PureFTPd Kind = "pure-ftpd"
	ProFTPd  Kind = "proftpd"
)

// Kinds lists every server kind, in a stable order.
func Kinds() []Kind { return []Kind{Vsftpd, PureFTPd, ProFTPd} }

// UploadDir is the writable directory, relative to the login directory,
// that clients read from and write to.
const UploadDir = "upload"

// Options says where and how a server runs.
type Options struct {
	// Addr is the control address to listen on; required.
	Addr netip.AddrPort
	// PassiveFirst and PassiveLast are the server's passive port range;
	// keep it outside 32768-60999. Required.
	PassiveFirst, PassiveLast uint16
	// Masquerade, when valid, is the (wrong) address the server announces
	// in its 227 replies instead of its own: vsftpd pasv_address,
	// pure-ftpd -P, proftpd MasqueradeAddress.
	Masquerade netip.Addr
	// Wrap prefixes the server's command line, for example
	// {"ip", "netns", "exec", "NAME"}; it must exec the command in place
	// so that the process id stays the server's.
	Wrap []string
	// Ready reports whether the server answers its banner; nil dials Addr
	// from this process (see Banner).
	Ready func(ctx context.Context, addr netip.AddrPort) error
	// StartTimeout bounds the wait for the banner. Default 15s.
	StartTimeout time.Duration
	// TLS, when set, turns on explicit FTPS (AUTH TLS) with these
	// certificate files: vsftpd ssl_enable, pure-ftpd -Y 1, proftpd
	// mod_tls. TLS stays optional, so plain clients still log in.
	TLS *TLSFiles
	// RequireReuse makes the server refuse a protected data connection
	// that does not resume the control connection's TLS session: vsftpd
	// require_ssl_reuse=YES (its default), proftpd's default (without
	// TLSOptions NoSessionReuseRequired). pure-ftpd has no such setting.
	// Without it both servers accept any data connection.
	RequireReuse bool
	// AnonPassword, when set, makes vsftpd's anonymous login ask for a
	// password and accept only this one (secure_email_list_enable with an
	// email_password_file): a login whose password vsftpd checks, without
	// PAM files under /etc. Server.Password is then it. The other servers
	// ignore it (their virtual user has a password anyway).
	AnonPassword string
}

// Server is a running FTP server started by Start.
type Server struct {
	// Kind is the implementation.
	Kind Kind
	// Addr is the control address.
	Addr netip.AddrPort
	// User and Password log in; for vsftpd the login is anonymous.
	User, Password string
	// Home is the login directory on this host's file system; clients see
	// it as their current directory, with UploadDir inside.
	Home string
	// Masquerade is the wrong 227 address, or invalid.
	Masquerade netip.Addr
	// PassiveFirst and PassiveLast are the server's passive range.
	PassiveFirst, PassiveLast uint16
	// TLS and RequireReuse are the options the server runs with.
	TLS          *TLSFiles
	RequireReuse bool

	anonPassword string // Options.AnonPassword (vsftpd)
	dir          string
	logf         string
	cmd          *exec.Cmd
	done         chan struct{}
	err          error
}

// Start runs a server of kind with o and stops it in t.Cleanup. A missing
// binary, a bad configuration or a server that does not answer its banner
// fails the test.
func Start(t testing.TB, kind Kind, o Options) *Server {
	t.Helper()
	bin, err := Binary(kind)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if !o.Addr.IsValid() || o.PassiveFirst == 0 || o.PassiveLast < o.PassiveFirst {
		t.Fatalf("peers: start %s: need Addr and a passive range, got %+v", kind, o)
	}
	if len(o.Wrap) == 0 {
		// A leftover server on the address would answer the banner and
		// take this one's place unseen.
		ln, err := net.Listen("tcp", o.Addr.String())
		if err != nil {
			t.Fatalf("peers: start %s: %s is taken (a leftover server?): %v", kind, o.Addr, err)
		}
		ln.Close()
	}
	dir, err := os.MkdirTemp("", "algd-"+string(kind)+"-")
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Servers that drop to nobody must reach their home: the temporary
	// directory is 0700 by default.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("peers: %v", err)
	}
	s := &Server{
		Kind:         kind,
		Addr:         o.Addr,
		User:         "algd",
		Password:     "algd",
		Home:         filepath.Join(dir, "home"),
		Masquerade:   o.Masquerade,
		PassiveFirst: o.PassiveFirst,
		PassiveLast:  o.PassiveLast,
		TLS:          o.TLS,
		RequireReuse: o.RequireReuse,
		anonPassword: o.AnonPassword,
		dir:          dir,
		logf:         filepath.Join(dir, "server.log"),
		done:         make(chan struct{}),
	}
	upload := filepath.Join(s.Home, UploadDir)
	if err := os.MkdirAll(upload, 0o755); err != nil {
		t.Fatalf("peers: %v", err)
	}
	// World-writable: pure-ftpd and proftpd write as nobody.
	if err := os.Chmod(upload, 0o777); err != nil {
		t.Fatalf("peers: %v", err)
	}
	var args []string
	switch kind {
	case Vsftpd:
		args, err = s.vsftpd(bin)
	case PureFTPd:
		args, err = s.pureFTPd(bin)
	case ProFTPd:
		args, err = s.proFTPd(bin)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatalf("peers: configure %s: %v", kind, err)
	}
	args = append(append([]string(nil), o.Wrap...), args...)
	if err := s.start(args); err != nil {
		t.Fatalf("peers: start %s: %v", kind, err)
	}
	t.Cleanup(s.stop)

	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	ready := o.Ready
	if ready == nil {
		ready = func(ctx context.Context, addr netip.AddrPort) error {
			_, err := Banner(ctx, addr)
			return err
		}
	}
	if err := s.wait(ready, timeout); err != nil {
		t.Fatalf("peers: %s on %s did not start: %v\n%s", kind, o.Addr, err, s.Log())
	}
	return s
}

// start launches args with output to the log file, in its own process
// group so that stop also ends the per-session children.
func (s *Server) start(args []string) error {
	logf, err := os.Create(s.logf)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return nil
}

// wait polls ready until it succeeds, the server exits or timeout passes.
func (s *Server) wait(ready func(context.Context, netip.AddrPort) error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx, s.Addr)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no banner after %v: %w", timeout, last)
}

// stop ends the server's process group by its id: SIGTERM, then SIGKILL.
func (s *Server) stop() {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	// Session children that outlived the master belong to the same group.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// PID is the server's (master) process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log returns what the server wrote to stdout, stderr and its log file.
func (s *Server) Log() string {
	var b strings.Builder
	for _, p := range []string{s.logf, filepath.Join(s.dir, "xfer.log"), filepath.Join(s.dir, "tls.log")} {
		if data, err := os.ReadFile(p); err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// Path returns the host path of name inside the server's upload directory.
func (s *Server) Path(name string) string {
	return filepath.Join(s.Home, UploadDir, name)
}

// Remote returns the path a client uses for name in the upload directory.
func (s *Server) Remote(name string) string { return UploadDir + "/" + name }

// Put copies the local file src into the upload directory as name,
// readable by every server user.
func (s *Server) Put(src, name string) error {
	return CopyFile(src, s.Path(name))
}

// Banner dials addr and reads the server's greeting up to the final 220
// line (pure-ftpd's is multi-line); it returns the greeting.
func Banner(ctx context.Context, addr netip.AddrPort) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return "", fmt.Errorf("banner: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	r := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), fmt.Errorf("banner: %w", err)
		}
		if len(line) >= 4 && line[3] == ' ' {
			if !strings.HasPrefix(line, "220") {
				return b.String(), fmt.Errorf("banner: greeting is not 220: %q", line)
			}
			_, _ = c.Write([]byte("QUIT\r\n"))
			return b.String(), nil
		}
	}
}
