package ftp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/algd/algd/alg"
)

// TLS configures FTPS (RFC 4217) on a listener: algd terminates TLS from
// clients, so it keeps reading and rewriting the control channel, and
// speaks TLS or plain FTP to the realservers as configured.
type TLS struct {
	// Server is the configuration for client connections (control and
	// data). Its GetCertificate may swap certificates at run time.
	Server *tls.Config
	// Required refuses USER, PASS and ACCT before AUTH TLS.
	Required bool
	// RequireProtP refuses PROT C (534) and data commands before PROT P
	// (521).
	RequireProtP bool
	// RequireReuse refuses protected data connections that do not resume
	// the control connection's session.
	RequireReuse bool
	// HandshakeTimeout bounds every handshake with a client.
	HandshakeTimeout time.Duration
	// Backend is "plain", "explicit" or "implicit".
	Backend string
	// BackendConfig is the template for realserver connections; each
	// session clones it with its own session cache, so data connections
	// resume the session of their control connection (vsftpd's
	// require_ssl_reuse insists).
	BackendConfig *tls.Config
}

// serveImplicit is the Handler of an implicit FTPS listener.
type serveImplicit struct{ h *Handler }

// Implicit returns the handler for the listener's implicit FTPS addresses:
// TLS from the first byte, then a session as after AUTH TLS, with data
// protection on.
func (h *Handler) Implicit() alg.Handler { return serveImplicit{h} }

// Serve runs one implicit FTPS session.
func (i serveImplicit) Serve(ctx context.Context, c *net.TCPConn) { i.h.serve(ctx, c, true) }

// sessionConfig returns the client-side TLS configuration of one control
// session: Server, with session tickets sealed under a key of that session
// alone. A data connection can then resume the control connection's own
// TLS session and no other (one of another login, say, from the same
// address behind a NAT): with RequireReuse that binds every protected data
// connection to its control session, as vsftpd's require_ssl_reuse does.
func (t *TLS) sessionConfig() *tls.Config {
	cfg := t.Server.Clone()
	var k [32]byte
	rand.Read(k[:])
	cfg.SetSessionTicketKeys([][32]byte{k})
	return cfg
}

// handshake runs a server handshake on c with cfg (a sessionConfig)
// within the configured timeout.
func (t *TLS) handshake(ctx context.Context, c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, t.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// clientHandshake upgrades a client connection with cfg (the session's
// sessionConfig) and accounts the result.
func (h *Handler) clientHandshake(ctx context.Context, c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc, err := h.TLS.handshake(ctx, c, cfg)
	if err != nil {
		h.stats().TLSFailures.Add(1)
		return nil, err
	}
	h.stats().TLSHandshakes.Add(1)
	return tc, nil
}

// security handles AUTH, PBSZ, PROT and CCC (RFC 2228 §3, RFC 4217 §§4-9),
// which algd answers itself: the client's TLS and the realserver's are
// separate legs. upgrade is true when the reply must be followed by a
// handshake.
func (s *session) security(cmd Command) (r Reply, upgrade bool) {
	t := s.h.TLS
	if t == nil || t.Server == nil {
		return NewReply(502, "Security extensions are not available on this server."), false
	}
	arg := strings.ToUpper(strings.TrimSpace(cmd.Arg))
	switch cmd.Verb {
	case "AUTH":
		if s.tlsOn {
			return NewReply(503, "TLS is already on."), false
		}
		switch arg {
		case "TLS", "TLS-C":
			return NewReply(234, "AUTH "+arg+" successful."), true
		case "SSL", "TLS-P":
			s.prot = 'P' // these mechanisms protect data too
			return NewReply(234, "AUTH "+arg+" successful."), true
		}
		return NewReply(504, "Unknown security mechanism; use AUTH TLS."), false
	case "PBSZ":
		if !s.tlsOn {
			return NewReply(503, "PBSZ needs AUTH TLS first."), false
		}
		s.pbsz = true
		return NewReply(200, "PBSZ=0"), false
	case "PROT":
		if !s.tlsOn {
			return NewReply(503, "PROT needs AUTH TLS first."), false
		}
		switch arg {
		case "C":
			if t.RequireProtP {
				s.h.stats().Commands.Add(RefusedProt)
				return NewReply(534, "PROT C refused: data connections must be protected (PROT P)."), false
			}
			s.prot = 'C'
			return NewReply(200, "Protection level set to C."), false
		case "P":
			s.prot = 'P'
			return NewReply(200, "Protection level set to "+arg+"."), false
		case "S", "E":
			return NewReply(536, "Protection level "+arg+" not supported."), false
		}
		return NewReply(504, "Unknown protection level."), false
	case "CCC":
		return NewReply(534, "CCC refused: the control channel stays encrypted."), false
	}
	return NewReply(502, "Command not implemented."), false
}

// protCheck enforces require_prot_p on a data command (PASV, EPSV, PORT,
// EPRT and the transfer commands): before PROT P it is refused with 521
// (RFC 4217 §9), so no data connection is ever set up in the clear.
func (s *session) protCheck() (Reply, bool) {
	if s.h.TLS == nil || !s.h.TLS.RequireProtP || s.prot == 'P' {
		return Reply{}, true
	}
	s.h.stats().Commands.Add(RefusedProt)
	return NewReply(521, "Data connections must be protected: send PBSZ 0 and PROT P first."), false
}

// protectData wraps the client side of a data connection in TLS when the
// client asked for PROT P. With RequireReuse a connection that did not
// resume the control session (its own: sessionConfig) is refused.
func (s *session) protectData(d *dataConn, c *net.TCPConn) (alg.Conn, error) {
	if d.prot != 'P' {
		return c, nil
	}
	tc, err := s.h.clientHandshake(d.ctx, c, s.tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("data TLS handshake: %w", err)
	}
	if s.h.TLS.RequireReuse && !tc.ConnectionState().DidResume {
		s.h.stats().TLSReuseRefused.Add(1)
		tc.Close()
		return nil, errors.New("data TLS did not resume the control session (require_reuse)")
	}
	return tc, nil
}

// backendTLS is the realserver leg's TLS: the per-session configuration
// (its own session cache, the name verified) or nil for plain FTP.
func (h *Handler) backendTLS(rs netip.AddrPort) *tls.Config {
	if h.TLS == nil || h.TLS.Backend == "" || h.TLS.Backend == "plain" {
		return nil
	}
	cfg := h.TLS.BackendConfig.Clone()
	if cfg.ServerName == "" {
		// Also the session cache's key: set, so that data connections to
		// other ports find the control connection's session.
		cfg.ServerName = rs.Addr().String()
	}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	return cfg
}

// greet reads the realserver's greeting within timeout and, as configured,
// puts the control connection under TLS: for implicit TLS the handshake
// comes first; for explicit TLS algd asks AUTH TLS after a 220, then PBSZ 0
// and PROT P, so every data connection to the realserver is protected as
// well. A greeting other than 220 is returned with no error: the caller
// decides (a full ftpd says 421).
func greet(ctx context.Context, c net.Conn, cfg *tls.Config, mode string, timeout time.Duration) (net.Conn, Reply, error) {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	var conn net.Conn = c
	if mode == "implicit" {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, Reply{}, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	br := bufio.NewReaderSize(conn, 512)
	r, err := ReadReply(br, 8192, 100)
	if err != nil {
		return nil, r, fmt.Errorf("greeting: %w", err)
	}
	if r.Code != 220 {
		return conn, r, nil
	}
	if mode == "explicit" {
		if err := expect(conn, br, "AUTH TLS", 234); err != nil {
			return nil, r, err
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, r, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
		br = bufio.NewReaderSize(conn, 512)
	}
	if mode != "" {
		// Reading these replies also takes in a TLS 1.3 session ticket,
		// which arrives after the handshake: data connections can then
		// resume.
		if err := expect(conn, br, "PBSZ 0", 200); err != nil {
			return nil, r, err
		}
		if err := expect(conn, br, "PROT P", 200); err != nil {
			return nil, r, err
		}
	}
	if br.Buffered() > 0 {
		return nil, r, errors.New("realserver sent more than its greeting before any command")
	}
	return conn, r, nil
}

// expect sends one command and requires a reply code.
func expect(c net.Conn, br *bufio.Reader, cmd string, code int) error {
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return err
	}
	r, err := ReadReply(br, 8192, 100)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if r.Code != code {
		return fmt.Errorf("%s: realserver answered %d %q", cmd, r.Code, r.Text())
	}
	return nil
}
