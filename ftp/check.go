package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/algd/algd/pool"
)

var (
	_ pool.Checker = (*BannerChecker)(nil)
	_ pool.Checker = (*LoginChecker)(nil)
)

// BannerChecker is the "ftp" health check: a realserver is healthy when it
// answers a connection with a 220 greeting (RFC 959 §5.4, connection
// establishment), not merely when the port accepts.
type BannerChecker struct {
	// Dial connects to the realserver (from backend_source, with a PROXY
	// header when the pool sends them); nil dials plainly.
	Dial pool.Dial
	// TLS, when set, is used for implicit FTPS realservers: the greeting
	// comes after a handshake.
	TLS *tls.Config
}

// Check connects, reads the greeting, says QUIT and closes.
func (b *BannerChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	c, stop, err := b.Dial.Connect(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	defer stop()
	if b.TLS != nil {
		tc := tls.Client(c, checkTLS(b.TLS, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		c = tc
	}
	r, err := ReadReply(bufio.NewReaderSize(c, 512), 4096, 100)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if r.Code != 220 {
		return fmt.Errorf("greeting: %d %q", r.Code, r.Text())
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}

// checkTLS is a check's TLS client configuration from template: the
// realserver's address as the name when none is set (also the session
// cache's key), and a cache of its own, so that a data connection
// resumes the control connection's session (vsftpd insists).
func checkTLS(template *tls.Config, addr netip.AddrPort) *tls.Config {
	cfg := template.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = addr.Addr().String()
	}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(2)
	return cfg
}

// Probes of LoginChecker.
const (
	ProbeLogin = "login" // USER and PASS
	ProbeList  = "list"  // and a LIST over a passive data connection
	ProbeRetr  = "retr"  // and a RETR of ProbeFile
)

// probeReadLimit bounds the bytes a list or retr probe reads: the probe
// proves the data path works, it does not need a whole large file.
const probeReadLimit = 1 << 20

// LoginChecker is the "ftp-login" health check: the realserver must
// greet, log the probe account in (USER, PASS), and, as Probe says, list
// a directory or send a file over a passive data connection, then QUIT.
// A realserver whose ftpd still greets but can log nobody in (a full
// disk, a broken PAM or LDAP backend) fails it. The password is read from
// PasswordFile at every check (a rotated password needs no reload) and
// never appears in an error.
type LoginChecker struct {
	// Dial connects to the realserver (from backend_source, with a PROXY
	// header when the pool sends them); nil dials plainly. Data
	// connections leave from the control connection's local address and
	// carry no header.
	Dial pool.Dial
	// TLSMode is "implicit" or "explicit" for an FTPS realserver (AUTH
	// TLS, then PBSZ 0 and PROT P: data connections are protected too),
	// "" or "plain" for plain FTP.
	TLSMode string
	// TLS is the client configuration template when TLSMode is set.
	TLS *tls.Config
	// User is the probe account.
	User string
	// PasswordFile holds its password: the first line, without the line
	// end.
	PasswordFile string
	// Probe is ProbeLogin (default), ProbeList or ProbeRetr.
	Probe string
	// ProbeFile is the path RETR asks for (ProbeRetr), or LIST lists
	// (ProbeList; empty lists the login directory).
	ProbeFile string
}

// Check runs the probe against addr.
func (l *LoginChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	pass, err := ReadPasswordFile(l.PasswordFile)
	if err != nil {
		return err
	}
	c, stop, err := l.Dial.Connect(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	defer stop()
	mode := l.TLSMode
	if mode == "plain" {
		mode = ""
	}
	var cfg *tls.Config
	if mode != "" {
		cfg = checkTLS(l.TLS, addr)
	}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	conn, r, err := greet(ctx, c, cfg, mode, timeout)
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return fmt.Errorf("greeting: %d %q", r.Code, r.Text())
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl) // greet cleared it
	}
	s := &probe{c: conn, br: bufio.NewReaderSize(conn, 512), tls: cfg}
	r, err = s.cmd("USER", "USER "+l.User, 230, 331)
	if err != nil {
		return err
	}
	if r.Code == 331 {
		// The command is not named in errors: it holds the password.
		if _, err := s.cmd("PASS", "PASS "+pass, 230, 202); err != nil {
			return err
		}
	}
	switch l.Probe {
	case ProbeList:
		err = s.transfer(ctx, addr, "LIST", strings.TrimSpace("LIST "+l.ProbeFile))
	case ProbeRetr:
		if _, err = s.cmd("TYPE", "TYPE I", 200); err == nil {
			err = s.transfer(ctx, addr, "RETR", "RETR "+l.ProbeFile)
		}
	}
	if err != nil {
		return err
	}
	if r, err := s.cmd("QUIT", "QUIT", 221); err != nil && r.Code != 0 {
		return err // an answer other than 221; a closed connection is a goodbye too
	}
	return nil
}

// ReadPasswordFile returns the first line of a probe password file
// without its line end. Its errors name the file, never its content.
func ReadPasswordFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password file %s: empty first line", name)
	}
	return line, nil
}

// probe is one LoginChecker conversation.
type probe struct {
	c   net.Conn
	br  *bufio.Reader
	tls *tls.Config // nil for plain data connections
}

// cmd sends line and wants one of codes as the final reply; errors name
// the command by verb only.
func (s *probe) cmd(verb, line string, codes ...int) (Reply, error) {
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		return Reply{}, fmt.Errorf("%s: %w", verb, err)
	}
	return s.want(verb, codes...)
}

// want reads the next final reply and wants one of codes.
func (s *probe) want(verb string, codes ...int) (Reply, error) {
	for {
		r, err := ReadReply(s.br, 8192, 100)
		if err != nil {
			return Reply{}, fmt.Errorf("%s: %w", verb, err)
		}
		switch {
		case slices.Contains(codes, r.Code):
			return r, nil
		case !r.Final():
			continue
		}
		return r, fmt.Errorf("%s: realserver answered %d %q", verb, r.Code, r.Text())
	}
}

// transfer opens a passive data connection (PASV, or EPSV towards IPv6),
// sends line and reads the data to its end (at most probeReadLimit bytes)
// and the final reply.
func (s *probe) transfer(ctx context.Context, addr netip.AddrPort, verb, line string) error {
	target, err := s.passive(addr)
	if err != nil {
		return err
	}
	local := s.localAddr()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}}
	dc, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return fmt.Errorf("%s data connection: %w", verb, err)
	}
	defer dc.Close()
	if dl, ok := ctx.Deadline(); ok {
		dc.SetDeadline(dl)
	}
	if _, err := s.cmd(verb, line, 150, 125); err != nil {
		return err
	}
	var data net.Conn = dc
	if s.tls != nil {
		tc := tls.Client(dc, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("%s data TLS: %w", verb, err)
		}
		data = tc
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(data, probeReadLimit)); err != nil {
		return fmt.Errorf("%s data: %w", verb, err)
	}
	data.Close()
	_, err = s.want(verb, 226, 250)
	return err
}

// passive asks for a data port; the address is the control connection's
// realserver whatever the reply names.
func (s *probe) passive(addr netip.AddrPort) (netip.AddrPort, error) {
	if addr.Addr().Unmap().Is4() {
		r, err := s.cmd("PASV", "PASV", 227)
		if err != nil {
			return netip.AddrPort{}, err
		}
		ap, err := ParsePASV(r.Text())
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("PASV: %w", err)
		}
		if ap.Port() == 0 {
			return netip.AddrPort{}, errors.New("PASV: port 0")
		}
		return netip.AddrPortFrom(addr.Addr(), ap.Port()), nil
	}
	r, err := s.cmd("EPSV", "EPSV", 229)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := ParseEPSV(r.Text())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("EPSV: %w", err)
	}
	return netip.AddrPortFrom(addr.Addr(), port), nil
}

// localAddr is the control connection's local address (under TLS too).
func (s *probe) localAddr() netip.Addr {
	if ta, ok := s.c.LocalAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
