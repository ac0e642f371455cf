// Package fakeftpd is the scripted FTP realserver of algd's tests: the
// hostile or broken ftpd no real one imitates on demand (a passive reply
// that cannot be used, a greeting that never ends, a server that dies in
// the middle of an upload, one that says 226 whatever happened). A test
// writes the script; this package listens, reads the command lines,
// counts what the server wrote and cleans up. Serve and ServeFunc are its
// connection loop alone, for any TCP server a test fakes (one that
// accepts and closes, or speaks another protocol). Suites whose
// realserver is an honest ftpd use ftpserverlib (internal/demo) or the
// Debian ftpds (tests/peers) instead.
package fakeftpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Script answers one command line of a session: verb is upper-cased, arg
// what follows the first space, line the whole line without its CRLF. It
// returns false to end the session (the connection is closed).
type Script func(s *Session, verb, arg, line string) bool

// Server is a running fake ftpd.
type Server struct {
	// Addr is its control address.
	Addr    netip.AddrPort
	written atomic.Int64

	mu     sync.Mutex
	closed bool
	open   []io.Closer // connections and data listeners, closed at cleanup
	wg     sync.WaitGroup
}

// Written is the number of bytes the server's sessions wrote so far on
// their control connections.
func (srv *Server) Written() int64 { return srv.written.Load() }

// Start listens on ip (any free port) and runs every connection as a
// session: greeting written as it is (CRLF included when wanted, so a
// test can leave it out), then script for each command line until it
// returns false or the client leaves. Cleanup closes the listener, every
// connection and data listener, and waits for the sessions.
func Start(t testing.TB, ip, greeting string, script Script) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	srv.serve(t, ln, func(c net.Conn) {
		Converse(&Session{Conn: c, srv: srv}, greeting, script)
	})
	return srv
}

// Serve runs session on every connection accepted on ln, each in its own
// goroutine (nil: the connection is held open and silent, a realserver
// that never greets). Cleanup closes ln and every connection and waits
// for the sessions.
func Serve(t testing.TB, ln net.Listener) *Server {
	return ServeFunc(t, ln, nil)
}

// ServeFunc is Serve with session run on each connection.
func ServeFunc(t testing.TB, ln net.Listener, session func(c net.Conn)) *Server {
	srv := &Server{Addr: netip.MustParseAddrPort(ln.Addr().String())}
	srv.serve(t, ln, session)
	return srv
}

func (srv *Server) serve(t testing.TB, ln net.Listener, session func(c net.Conn)) {
	t.Cleanup(func() {
		ln.Close()
		srv.mu.Lock()
		srv.closed = true
		for _, c := range srv.open {
			c.Close()
		}
		srv.mu.Unlock()
		srv.wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !srv.track(c) || session == nil {
				continue
			}
			srv.wg.Add(1)
			go func() {
				defer srv.wg.Done()
				defer c.Close()
				session(c)
			}()
		}
	}()
}

// track registers c to be closed at cleanup; after cleanup it closes c
// at once and returns false.
func (srv *Server) track(c io.Closer) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		c.Close()
		return false
	}
	srv.open = append(srv.open, c)
	return true
}

// Session is one control connection of a fake ftpd.
type Session struct {
	net.Conn
	// Data is the data listener of the latest Passive, until AcceptData
	// takes it.
	Data net.Listener
	r    *bufio.Reader
	srv  *Server // nil for Converse on a connection of another listener
}

// NewSession wraps a connection accepted elsewhere (after a PROXY header,
// say) for Converse.
func NewSession(c net.Conn) *Session { return &Session{Conn: c} }

// Write writes p to the client, counted in the server's Written.
func (s *Session) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	if s.srv != nil {
		s.srv.written.Add(int64(n))
	}
	return n, err
}

// Say writes one reply line and its CRLF.
func (s *Session) Say(format string, a ...any) {
	fmt.Fprintf(s, format+"\r\n", a...)
}

// Passive opens a data listener on the session's own address, as Data
// (closing the one before), and announces it: 229 for EPSV, 227 for
// anything else. Data is closed when the session ends.
func (s *Session) Passive(verb string) error {
	if s.Data != nil {
		s.Data.Close()
		s.Data = nil
	}
	ip := addrOf(s.Conn.LocalAddr()).Addr()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		return err
	}
	if s.srv != nil && !s.srv.track(ln) {
		return net.ErrClosed
	}
	s.Data = ln
	p := addrOf(ln.Addr()).Port()
	if verb == "EPSV" {
		s.Say("229 Entering Extended Passive Mode (|||%d|)", p)
		return nil
	}
	a := ip.As4()
	s.Say("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)", a[0], a[1], a[2], a[3], p>>8, p&0xff)
	return nil
}

// AcceptData takes the data connection of the latest Passive, waiting
// at most timeout (0: until cleanup), and closes Data.
func (s *Session) AcceptData(timeout time.Duration) (net.Conn, error) {
	ln := s.Data
	if ln == nil {
		return nil, errors.New("fakeftpd: no PASV before the transfer")
	}
	s.Data = nil
	defer ln.Close()
	if timeout > 0 {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(timeout))
	}
	return ln.Accept()
}

func addrOf(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }

// Converse runs one session on s: greeting, then script for each command
// line until it returns false or the client leaves.
func Converse(s *Session, greeting string, script Script) {
	if s.r == nil {
		s.r = bufio.NewReader(s.Conn)
	}
	defer func() {
		if s.Data != nil {
			s.Data.Close()
		}
	}()
	if _, err := io.WriteString(s, greeting); err != nil {
		return
	}
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !script(s, strings.ToUpper(verb), arg, line) {
			return
		}
	}
}

// Logins answers what every scripted ftpd answers alike, USER 331, PASS
// 230 and QUIT 221 (which ends the session), and passes other commands
// to script.
func Logins(script Script) Script {
	return func(s *Session, verb, arg, line string) bool {
		switch verb {
		case "USER":
			s.Say("331 password")
		case "PASS":
			s.Say("230 in")
		case "QUIT":
			s.Say("221 bye")
			return false
		default:
			return script(s, verb, arg, line)
		}
		return true
	}
}

// Stat starts a fake ftpd on ip whose STAT reply is written by stat, as
// fast as the connection takes it (through a 64 KiB buffer); QUIT gets
// 221, anything else "200 ok".
func Stat(t testing.TB, ip string, stat func(w io.Writer) error) *Server {
	t.Helper()
	return Start(t, ip, "220 stat server\r\n", func(s *Session, verb, _, _ string) bool {
		switch verb {
		case "STAT":
			bw := bufio.NewWriterSize(s, 64<<10)
			return stat(bw) == nil && bw.Flush() == nil
		case "QUIT":
			s.Say("221 bye")
			return false
		}
		s.Say("200 ok")
		return true
	})
}

// StatLines writes a 211 reply of n inner lines of about width bytes: a
// directory of many long names.
func StatLines(n, width int) func(w io.Writer) error {
	return func(w io.Writer) error {
		pad := strings.Repeat("x", max(width-40, 0))
		if _, err := io.WriteString(w, "211-Status of /big:\r\n"); err != nil {
			return err
		}
		for i := range n {
			if _, err := fmt.Fprintf(w, "-rw-r--r-- 1 ftp ftp 0 Jan 1 file%06d%s\r\n", i, pad); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, "211 End of status\r\n")
		return err
	}
}

// WaitBlocked returns Written once it has not moved for a second: the
// server writes until nobody reads, and then every session is blocked.
func (srv *Server) WaitBlocked() int64 {
	var last int64 = -1
	for srv.Written() != last {
		last = srv.Written()
		time.Sleep(time.Second)
	}
	return last
}
