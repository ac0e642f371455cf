package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"net"
	"net/netip"
	"net/textproto"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// serverIP is where the tests' servers listen.
const serverIP = "127.0.0.21"

// ioTimeout bounds every blocking step of a test so a bug fails instead of
// hanging; it is never asserted on.
const ioTimeout = 20 * time.Second

// startServer starts a server on 127.0.0.21:0 and closes it at cleanup.
func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = serverIP + ":0"
	}
	return StartTest(t, o)
}

// login dials s with jlaffaye/ftp from the default source and logs in.
func login(t *testing.T, s *Server, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(ioTimeout)}, opts...)
	c, err := ftp.Dial(s.Addr().String(), opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(DefaultUser, DefaultPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// rawClient is a hand-driven FTP control connection, for what jlaffaye/ftp
// cannot do: choose source addresses, see exact reply texts.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// dialRaw connects from source (an IP, "" for the default) to s, reads the
// banner and logs in.
func dialRaw(t *testing.T, s *Server, source string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	conn, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial control: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	c.expect(220)
	c.cmd(331, "USER "+DefaultUser)
	c.cmd(230, "PASS "+DefaultPassword)
	c.cmd(200, "TYPE I")
	return c
}

// expect reads one (possibly multi-line) reply and requires its code.
func (c *rawClient) expect(code int) string {
	c.t.Helper()
	got, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	if got != code {
		c.t.Fatalf("reply %d %q, want %d", got, msg, code)
	}
	return msg
}

// cmd sends one command and requires the reply code; it returns the text.
func (c *rawClient) cmd(code int, line string) string {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
	return c.expect(code)
}

var (
	pasvRe = regexp.MustCompile(`^Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)$`)
	epsvRe = regexp.MustCompile(`^Entering Extended Passive Mode \(\|\|\|(\d+)\|\)$`)
)

// pasv sends PASV and returns the announced address.
func (c *rawClient) pasv() netip.AddrPort {
	c.t.Helper()
	msg := c.cmd(227, "PASV")
	m := pasvRe.FindStringSubmatch(msg)
	if m == nil {
		c.t.Fatalf("227 text %q does not match %v", msg, pasvRe)
	}
	var n [6]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil || v > 255 {
			c.t.Fatalf("227 text %q: bad number %q", msg, m[i+1])
		}
		n[i] = v
	}
	ip := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(ip, uint16(n[4]<<8|n[5]))
}

// epsv sends EPSV and returns the announced port.
func (c *rawClient) epsv() uint16 {
	c.t.Helper()
	msg := c.cmd(229, "EPSV")
	m := epsvRe.FindStringSubmatch(msg)
	if m == nil {
		c.t.Fatalf("229 text %q does not match %v", msg, epsvRe)
	}
	p, err := strconv.ParseUint(m[1], 10, 16)
	if err != nil {
		c.t.Fatalf("229 text %q: %v", msg, err)
	}
	return uint16(p)
}

// dialData opens a data connection from source to the server's IP at port.
func dialData(t *testing.T, s *Server, source string, port uint16) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	conn, err := d.Dial("tcp", netip.AddrPortFrom(s.Addr().Addr(), port).String())
	if err != nil {
		t.Fatalf("dial data from %s: %v", source, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	return conn
}
