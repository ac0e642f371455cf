package daemon

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	algftp "github.com/algd/algd/ftp"
)

// portsConfig is an algd.toml with one listener whose passive range is r.
func portsConfig(rs, listen, r string) string {
	return fmt.Sprintf("[[pool]]\nname = \"p\"\nscheduler = \"rr\"\nhealth = { kind = \"ftp\", interval = \"500ms\" }\n"+
		"  [[pool.realservers]]\n  address = %q\n\n"+
		"[[ftp]]\nname = \"one\"\nlisten = [%q]\npool = \"p\"\npassive_ports = %q\n\n"+
		"[admin]\nlisten = \"ADMIN\"\nshutdown_timeout = \"30s\"\n", rs, listen, r)
}

// ctlConn is a line-level FTP control connection.
type ctlConn struct {
	t *testing.T
	*textproto.Conn
}

func dialCtl(t *testing.T, addr string) *ctlConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	tc := &ctlConn{t, textproto.NewConn(c)}
	t.Cleanup(func() { tc.Close() })
	tc.expect("", 220)
	tc.expect("USER demo", 331)
	tc.expect("PASS demo", 230)
	tc.expect("TYPE I", 200)
	return tc
}

// expect sends line (unless empty) and reads a reply with code want.
func (c *ctlConn) expect(line string, want int) string {
	c.t.Helper()
	if line != "" {
		if err := c.PrintfLine("%s", line); err != nil {
			c.t.Fatal(err)
		}
	}
	code, msg, err := c.ReadResponse(want)
	if err != nil {
		c.t.Fatalf("%q: %d %s: %v", line, code, msg, err)
	}
	return msg
}

// epsv asks for a passive port and returns it.
func (c *ctlConn) epsv() uint16 {
	c.t.Helper()
	msg := c.expect("EPSV", 229)
	port, err := algftp.ParseEPSV("229 " + msg)
	if err != nil {
		c.t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	return port
}

// TestReloadShrinksPassivePorts reloads a smaller passive range while a
// transfer runs on a port of the old one: the transfer ends byte-exact,
// the same session's next passive ports (its handler is the old one) and a
// new session's come from the new range only, and the old port is released
// when its transfer ends.
func TestReloadShrinksPassivePorts(t *testing.T) {
	f := newFarm(t, 8<<20, "127.0.0.11")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	rs := f.servers[0].Addr().String()
	d := startDaemon(t, portsConfig(rs, listen, "64000-64099"))
	d.waitStatus(func(st admin.Status) bool { return len(st.Pools) == 1 && st.Pools[0].Members[0].Up })

	s := dialCtl(t, listen)
	port := s.epsv()
	if port < 64000 || port > 64099 {
		t.Fatalf("EPSV port %d outside 64000-64099", port)
	}
	dc, err := net.DialTimeout("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if err := s.PrintfLine("RETR %s", f.file); err != nil {
		t.Fatal(err)
	}
	s.expect("", 150)
	h := sha256.New()
	dc.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.CopyN(h, dc, 1<<20); err != nil {
		t.Fatal(err)
	}

	st := d.reload(portsConfig(rs, listen, "64000-64009"))
	if st.Reloads.LastError != "" || st.Listeners[0].Range("passive").Size != 10 {
		t.Fatalf("reload: %q, ports size %d", st.Reloads.LastError, st.Listeners[0].Range("passive").Size)
	}
	if in := st.Listeners[0].Range("passive").InUse; in != 1 {
		t.Fatalf("ports in use after the reload %d, want 1 (the running transfer's)", in)
	}
	if _, err := io.Copy(h, dc); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	if [32]byte(h.Sum(nil)) != f.sum {
		t.Fatal("the transfer across the reload differs from the file")
	}
	s.expect("", 226)

	other := dialCtl(t, listen)
	for i := range 20 {
		for _, c := range []*ctlConn{s, other} {
			if p := c.epsv(); p < 64000 || p > 64009 {
				t.Fatalf("EPSV #%d after the reload got port %d, outside 64000-64009", i, p)
			}
		}
	}
	d.waitStatus(func(st admin.Status) bool { return st.Listeners[0].Range("passive").InUse <= 2 })
	s.expect("QUIT", 221)
	other.expect("QUIT", 221)
	d.waitStatus(func(st admin.Status) bool { return st.Listeners[0].Range("passive").InUse == 0 })
	if !strings.Contains(d.logs.String(), "configuration reloaded") {
		t.Fatal("the reload was not logged")
	}
}
