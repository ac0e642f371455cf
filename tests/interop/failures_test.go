//go:build interop

package interop

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// failBackends: one ftpd and one algd listener each, apart from every
// other suite's addresses and ranges.
var failBackends = []backend{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.64:2164"), 63800, 63849, netip.AddrPortFrom(vip, 2240), 63600, 63649},
	{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.65:2165"), 63850, 63949, netip.AddrPortFrom(vip, 2242), 63650, 63699},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.66:2166"), 63950, 63999, netip.AddrPortFrom(vip, 2244), 63700, 63749},
}

// failure is one way a data connection fails, as the client causes it.
type failure string

const (
	unreachable failure = "unreachable" // active: the client's listener is gone
	neverComes  failure = "never"       // passive: the client never connects
	resetUpload failure = "reset"       // uploads: the client resets after 256 KiB
	silentTLS   failure = "silent-tls"  // PROT P: the client connects, never handshakes
)

// TestTransferFailures runs the failure matrix through algd against
// vsftpd, pure-ftpd and proftpd: RETR, STOR, APPE and LIST × passive
// (EPSV) and active (PORT) × plain and FTPS (AUTH TLS, PROT P, plain
// realserver leg), each with every way its data connection can fail from
// the client's side. The client must hear 425 or 426 (or the ftpd's own
// 4xx), never a 2xx, and the session must stay in step (NOOP → 200); an
// upload must not be stored as if complete (no file, an empty one, or the
// part that arrived, but never a 2xx). Timeouts are short
// (data_connect_timeout 3s, handshake_timeout 2s) to keep the run brief.
func TestTransferFailures(t *testing.T) {
	if algdBin == "" {
		t.Skip("ALGD_INTEROP_DIRECT=1: this suite only tests algd")
	}
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vipFiles := ca.Issue(t, "vip", vip)
	roots := ca.Roots()
	for _, b := range failBackends {
		t.Run(string(b.kind), func(t *testing.T) {
			t.Parallel()
			srv := peers.Start(t, b.kind, peers.Options{Addr: b.addr, PassiveFirst: b.passiveFirst, PassiveLast: b.passiveLast})
			p, _ := peers.RandomFile(t, t.TempDir(), "dl", 1<<20)
			if err := srv.Put(p, "dl"); err != nil {
				t.Fatal(err)
			}
			px := algdrun.Start(t, algdBin, algdrun.Config{
				Listeners: []algdrun.Listener{{Name: string(b.kind), Listen: b.vip, Realservers: []netip.AddrPort{b.addr},
					PassiveFirst: b.algdFirst, PassiveLast: b.algdLast,
					TLS: &algdrun.TLS{Cert: vipFiles.Cert, Key: vipFiles.Key, Backend: "plain", HandshakeTimeout: 2 * time.Second}}},
				DataConnectTimeout: 3 * time.Second,
			}, algdrun.Options{})
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("algd log:\n%s\n%s log:\n%s", px.Log(), b.kind, srv.Log())
				}
			})
			for _, prot := range []bool{false, true} {
				for _, active := range []bool{false, true} {
					for _, op := range []string{"RETR", "STOR", "APPE", "LIST"} {
						for _, f := range []failure{unreachable, neverComes, resetUpload, silentTLS} {
							upload := op == "STOR" || op == "APPE"
							if (f == unreachable) != active && f != resetUpload && f != silentTLS ||
								f == resetUpload && !upload || f == silentTLS && !prot {
								continue
							}
							name := fmt.Sprintf("tls=%v/active=%v/%s/%s", prot, active, op, f)
							t.Run(name, func(t *testing.T) {
								c := failCase{t: t, srv: srv, roots: roots, vip: b.vip, tls: prot, active: active, op: op, f: f}
								c.run()
							})
						}
					}
				}
			}
		})
	}
}

// failCase is one cell of the failure matrix.
type failCase struct {
	t      *testing.T
	srv    *peers.Server
	roots  *x509.CertPool
	vip    netip.AddrPort
	tls    bool
	active bool
	op     string
	f      failure
	conn   net.Conn
	r      *bufio.Reader
}

var failEPSV = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

func (c *failCase) run() {
	t := c.t
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", c.vip.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c.conn, c.r = conn, bufio.NewReader(conn)
	c.expect("", 220)
	if c.tls {
		c.expect("AUTH TLS", 234)
		tc := tls.Client(conn, &tls.Config{RootCAs: c.roots, ServerName: vip.String()})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c.conn, c.r = tc, bufio.NewReader(tc)
		c.expect("PBSZ 0", 200)
		c.expect("PROT P", 200)
	}
	if code, _ := c.cmd("USER " + c.srv.User); code == 331 {
		c.expect("PASS "+c.srv.Password, 230)
	}
	c.expect("TYPE I", 200)
	c.expect("CWD "+peers.UploadDir, 250)
	name := fmt.Sprintf("%s-%v-%v-%s", strings.ToLower(c.op), c.tls, c.active, c.f)
	arg := map[string]string{"RETR": " dl", "STOR": " " + name, "APPE": " " + name, "LIST": ""}[c.op]

	var dc net.Conn
	var ln net.Listener
	if c.active {
		ln, err = net.Listen("tcp", clientIP.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ap := netip.MustParseAddrPort(ln.Addr().String())
		if c.f == unreachable {
			ln.Close()
		}
		c.expect(fmt.Sprintf("PORT %s,%d,%d", strings.ReplaceAll(ap.Addr().String(), ".", ","), ap.Port()>>8, ap.Port()&0xff), 200)
	} else {
		_, text := c.expectText("EPSV", 229)
		m := failEPSV.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("EPSV: %q", text)
		}
		port, _ := strconv.Atoi(m[1])
		if c.f != neverComes {
			if dc, err = d.Dial("tcp", netip.AddrPortFrom(c.vip.Addr(), uint16(port)).String()); err != nil {
				t.Fatal(err)
			}
			defer dc.Close()
		}
	}
	code, text := c.cmd(c.op + arg)
	if code/100 == 1 {
		if c.active && c.f != unreachable {
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
			if dc, err = ln.Accept(); err != nil {
				t.Fatalf("accept: %v", err)
			}
			defer dc.Close()
		}
		if c.f == resetUpload {
			dc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			dc.Write(make([]byte, 256<<10))
			time.Sleep(100 * time.Millisecond)
			dc.(*net.TCPConn).SetLinger(0)
			dc.Close()
		}
		code, text = c.reply()
	}
	if code/100 != 4 {
		t.Fatalf("%s%s: the transfer ended with %d %q, want 425/426 or another 4xx", c.op, arg, code, text)
	}
	c.expect("NOOP", 200)
	if c.op == "STOR" && c.f != resetUpload {
		if st, err := os.Stat(c.srv.Path(name)); err == nil && st.Size() != 0 {
			t.Fatalf("the ftpd stored %d bytes for a transfer without data", st.Size())
		}
	}
	t.Logf("%d %s", code, text)
}

// cmd sends line (none when empty) and reads the reply.
func (c *failCase) cmd(line string) (int, string) {
	if line != "" {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
			c.t.Fatalf("%s: %v", line, err)
		}
	}
	return c.reply()
}

// reply reads one reply, multi-line aware, within 20 s.
func (c *failCase) reply() (int, string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply: %v (so far %q)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(lines[0]) < 4 {
			c.t.Fatalf("bad reply line %q", l)
		}
		if len(l) >= 4 && l[:3] == lines[0][:3] && l[3] == ' ' {
			code, _ := strconv.Atoi(l[:3])
			return code, strings.Join(lines, "\n")
		}
	}
}

func (c *failCase) expect(line string, code int) { c.expectText(line, code) }

func (c *failCase) expectText(line string, code int) (int, string) {
	c.t.Helper()
	got, text := c.cmd(line)
	if got != code {
		c.t.Fatalf("%q: %q, want %d", line, text, code)
	}
	return got, text
}
