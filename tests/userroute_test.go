package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/internal/logbuf"
	"github.com/algd/algd/internal/testcert"
	"github.com/algd/algd/tests/fakeftpd"
	"github.com/algd/algd/tests/ftpc"
)

// Routing by FTP user (route_by = "user"): three ftpserverlib realservers
// on 127.0.0.21-23, each serving its own root folder holding a marker file
// rs0.txt, rs1.txt or rs2.txt, so a listing proves which one serves a
// session.

// userPassword is the password of user on every test realserver.
func userPassword(user string) string { return "S3cret-" + user }

// routeUsers are the users every test realserver accepts.
var routeUsers = func() map[string]string {
	m := map[string]string{}
	for _, u := range []string{"alice", "bob", "bert", "dave"} {
		m[u] = userPassword(u)
	}
	for i := range 40 {
		u := fmt.Sprintf("u%03d", i)
		m[u] = userPassword(u)
	}
	return m
}()

// startUserServers starts n realservers with their own roots and marker
// files, accepting routeUsers, and with AUTH TLS when tlsCfg is set.
func startUserServers(t *testing.T, n int, tlsCfg *tls.Config) []*demo.Server {
	t.Helper()
	var out []*demo.Server
	for i := range n {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("rs%d.txt", i)), []byte("realserver"), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, demo.StartTest(t, demo.Options{
			Addr:         fmt.Sprintf("127.0.0.%d:0", 21+i),
			Root:         root,
			PassiveFirst: uint16(62000 + 100*i),
			PassiveLast:  uint16(62099 + 100*i),
			Users:        routeUsers,
			TLS:          tlsCfg,
		}))
	}
	return out
}

// userTable is the routing of TestUserRouting*: alice to pool "pa"
// (rs0), b* to "pb" (rs1), everyone else to the listener's pool "p"
// (rs2).
func userTable(servers []*demo.Server) func(*conf.Config) {
	return func(c *conf.Config) {
		none := conf.Health{Kind: "none"}
		c.Pools = append(c.Pools,
			conf.Pool{Name: "pa", Realservers: []conf.Realserver{{AddrPort: servers[0].Addr()}}, Health: none},
			conf.Pool{Name: "pb", Realservers: []conf.Realserver{{AddrPort: servers[1].Addr()}}, Health: none})
		f := &c.FTP[0]
		f.RouteBy = "user"
		f.Greeting = "userroute test gateway"
		f.UserRoutes = []conf.UserRoute{{User: "alice", Pool: "pa"}, {User: "b*", Pool: "pb"}}
	}
}

// marker returns which realserver a listing comes from (the N of rsN.txt);
// it fails the test unless exactly one marker is listed.
func marker(t *testing.T, names []string) int {
	t.Helper()
	found := -1
	for _, n := range names {
		var i int
		if _, err := fmt.Sscanf(n, "rs%d.txt", &i); err == nil && strings.HasSuffix(n, ".txt") {
			if found != -1 {
				t.Fatalf("listing shows two realservers' markers: %q", names)
			}
			found = i
		}
	}
	if found == -1 {
		t.Fatalf("listing shows no realserver marker: %q", names)
	}
	return found
}

// whereC lists / over c in mode and returns the realserver serving it.
func whereC(t *testing.T, c *ftpc.Client, mode ftpc.Mode) int {
	t.Helper()
	list, _, err := c.List(mode, "NLST", "/")
	if err != nil {
		t.Fatalf("NLST: %v", err)
	}
	return marker(t, strings.Fields(string(list)))
}

// loginUser dials the proxy from from and logs user in.
func loginUser(t *testing.T, addr netip.AddrPort, from, user string) *ftpc.Client {
	t.Helper()
	c, err := ftpc.DialLogin(addr, netip.MustParseAddr(from), 30*time.Second, user, userPassword(user))
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUserRoutingTable routes users by the TOML table and the default
// pool, in PASV, EPSV, PORT and EPRT, with sha256 round trips through the
// realserver each user belongs to.
func TestUserRoutingTable(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399, edit: userTable(servers)})
	want := map[string]int{"alice": 0, "bob": 1, "bert": 1, "dave": 2}
	for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.EPSV, ftpc.PORT, ftpc.EPRT} {
		for _, user := range []string{"alice", "bob", "bert", "dave"} {
			t.Run(mode.String()+"/"+user, func(t *testing.T) {
				c := loginUser(t, px.addr, clientIP, user)
				if g := c.Greeting(); g.Code != 220 || !strings.Contains(g.String(), "userroute test gateway") {
					t.Fatalf("greeting %q, want algd's own 220", g)
				}
				if got := whereC(t, c, mode); got != want[user] {
					t.Fatalf("%s served by rs%d, want rs%d", user, got, want[user])
				}
				data := randomBytes(1<<20 + 7)
				name := fmt.Sprintf("%s-%s", user, mode)
				if _, err := c.Stor(mode, name, data); err != nil {
					t.Fatalf("STOR: %v", err)
				}
				got, _, err := c.Retr(mode, name)
				if err != nil {
					t.Fatalf("RETR: %v", err)
				}
				if sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("%d bytes sent, %d back, sha256 differs", len(data), len(got))
				}
				if _, err := os.Stat(filepath.Join(servers[want[user]].Root(), name)); err != nil {
					t.Fatalf("the upload is not on rs%d: %v", want[user], err)
				}
			})
		}
	}
}

// TestUserRoutingBeforeLogin checks what algd answers itself before USER,
// and that a realserver refusing the user is heard by the client.
func TestUserRoutingBeforeLogin(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	// No health checks: their connections would count as realserver
	// connections before USER.
	px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399, edit: userTable(servers),
		health: conf.Health{Kind: "none"}})
	c, err := ftpc.Dial(px.addr, netip.MustParseAddr(clientIP), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tt := range []struct {
		cmd  string
		code int
		has  string
	}{
		{"SYST", 215, "UNIX"},
		{"FEAT", 211, " EPSV"},
		{"NOOP", 200, ""},
		{"HELP", 214, ""},
		{"OPTS UTF8 ON", 200, ""},
		{"OPTS MLST type;", 501, ""},
		{"PASV", 530, "USER and PASS"},
		{"LIST", 530, ""},
		{"CWD /", 530, ""},
		{"PASS " + userPassword("alice"), 503, ""},
		{"AUTH TLS", 502, ""}, // no certificate on this listener
	} {
		r, err := c.Cmd(tt.cmd)
		if err != nil {
			t.Fatalf("%s: %v", strings.Fields(tt.cmd)[0], err)
		}
		if r.Code != tt.code || !strings.Contains(r.String(), tt.has) {
			t.Errorf("%s: %q, want %d %q", strings.Fields(tt.cmd)[0], r, tt.code, tt.has)
		}
	}
	if total := servers[0].Clients() + servers[1].Clients() + servers[2].Clients(); total != 0 {
		t.Errorf("%d realserver connections before USER, want none", total)
	}
	// A wrong password: the realserver's own 530 reaches the client.
	if _, err := c.Expect("USER alice", 331); err != nil {
		t.Fatal(err)
	}
	r, err := c.Cmd("PASS wrong")
	if err != nil || r.Code != 530 {
		t.Fatalf("wrong password: %q, %v; want the realserver's 530", r, err)
	}
	// A new USER after the failed login goes to its own realserver.
	if err := c.Login("bob", userPassword("bob")); err != nil {
		t.Fatal(err)
	}
	if got := whereC(t, c, ftpc.EPSV); got != 1 {
		t.Fatalf("bob after alice's failed login served by rs%d, want rs1", got)
	}
	if _, err := c.Expect("QUIT", 221); err != nil {
		t.Fatal(err)
	}
}

// TestUserRoutingUserTwice: a USER after a successful login, and a USER
// while another one awaits its PASS, both start over at the new user's
// realserver; nothing of the earlier session shows (its files, its
// status), and the old realserver connection is closed.
func TestUserRoutingUserTwice(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399, edit: userTable(servers)})
	c := loginUser(t, px.addr, clientIP, "alice")
	if got := whereC(t, c, ftpc.PASV); got != 0 {
		t.Fatalf("alice served by rs%d, want rs0", got)
	}
	if _, err := c.Stor(ftpc.PASV, "alice-only", []byte("alice's file")); err != nil {
		t.Fatal(err)
	}
	// A PASV left unused for the old user must not serve the new one.
	if _, err := c.Expect("PASV", 227); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("bob", userPassword("bob")); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.List(ftpc.EPSV, "NLST", "/")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(list))
	if got := marker(t, names); got != 1 || slices.Contains(names, "alice-only") {
		t.Fatalf("bob after alice sees rs%d: %q", got, names)
	}
	if !eventually(func() bool { return servers[0].Clients() == 0 }) {
		t.Fatalf("alice's realserver connection still open after bob's USER (%d clients)", servers[0].Clients())
	}
	s := sessionOf(t, px, c.LocalAddr())
	if s.User != "bob" || s.Realserver != servers[1].Addr() {
		t.Fatalf("status shows user %q on %s, want bob on %s", s.User, s.Realserver, servers[1].Addr())
	}

	// USER, then another USER before PASS: the PASS is the second
	// user's, at the second user's realserver.
	if _, err := c.Expect("USER alice", 331); err != nil {
		t.Fatal(err)
	}
	if err := c.Login("dave", userPassword("dave")); err != nil {
		t.Fatal(err)
	}
	if got := whereC(t, c, ftpc.PORT); got != 2 {
		t.Fatalf("dave served by rs%d, want rs2", got)
	}
	// Alice's password at dave's realserver is refused there.
	if _, err := c.Expect("USER dave", 331); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Cmd("PASS " + userPassword("alice")); err != nil || r.Code != 530 {
		t.Fatalf("alice's password for dave: %q, %v", r, err)
	}
}

// sessionOf finds the live session of the client at from in /status.
func sessionOf(t *testing.T, px *proxy, from netip.AddrPort) alg.SessionInfo {
	t.Helper()
	for _, s := range px.d.Status().Live {
		if s.Client == from {
			return s
		}
	}
	t.Fatalf("status shows no session of %s", from)
	return alg.SessionInfo{}
}

// TestUserRoutingHash spreads users over three realservers by the hrw
// scheduler: a user lands on one realserver from any client address, and
// removing a realserver (a reload) moves only its own users.
func TestUserRoutingHash(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	var cfg *conf.Config
	px := startProxy(t, servers, proxyOpts{first: 61300, last: 61399, edit: func(c *conf.Config) {
		c.Pools[0].Scheduler = "hrw"
		c.FTP[0].RouteBy = "user"
		cfg = c
	}})
	where := func(user, from string) int {
		c := loginUser(t, px.addr, from, user)
		defer c.Close()
		return whereC(t, c, ftpc.EPSV)
	}
	before := map[string]int{}
	used := map[int]int{}
	for i := range 30 {
		u := fmt.Sprintf("u%03d", i)
		before[u] = where(u, clientIP)
		if again := where(u, "127.0.0.6"); again != before[u] {
			t.Fatalf("%s on rs%d from %s, rs%d from 127.0.0.6", u, before[u], clientIP, again)
		}
		used[before[u]]++
	}
	if used[2] == 0 || len(used) < 3 {
		t.Fatalf("30 users over three realservers: %v", used)
	}

	next := *cfg
	next.Pools = slices.Clone(cfg.Pools)
	next.FTP = slices.Clone(cfg.FTP)
	next.Pools[0].Realservers = next.Pools[0].Realservers[:2]
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := px.d.Reload(context.Background(), &next, "test"); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for u, b := range before {
		after := where(u, "127.0.0.7")
		switch {
		case b == 2 && after == 2:
			t.Fatalf("%s still on the removed rs2", u)
		case b == 2:
			moved++
		case after != b:
			t.Fatalf("%s moved from rs%d to rs%d, though rs%d stayed", u, b, after, b)
		}
	}
	if moved != used[2] {
		t.Fatalf("%d users moved, want the %d of rs2", moved, used[2])
	}
}

// TestUserRoutingFTPS routes users over explicit and implicit FTPS (the
// client's TLS ends at algd, which reads USER inside it), towards plain
// and TLS realservers, with sha256 round trips in EPSV and PASV.
func TestUserRoutingFTPS(t *testing.T) {
	cert := testcert.New(t, "algd test", vipIP, "127.0.0.21", "127.0.0.22", "127.0.0.23")
	for _, backend := range []string{"plain", "explicit"} {
		var srvTLS *tls.Config
		if backend != "plain" {
			srvTLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
		}
		servers := startUserServers(t, 3, srvTLS)
		px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399, tls: tlsSettings(t, cert, backend),
			edit: userTable(servers)})
		for _, implicit := range []bool{false, true} {
			for _, epsv := range []bool{true, false} {
				t.Run(fmt.Sprintf("backend=%s/implicit=%v/epsv=%v", backend, implicit, epsv), func(t *testing.T) {
					addr := px.addr
					if implicit {
						addr = px.implicit
					}
					for user, want := range map[string]int{"alice": 0, "bob": 1, "dave": 2} {
						c := dialTLSUser(t, addr, implicit, epsv, cert, user)
						names, err := c.NameList("/")
						if err != nil {
							t.Fatal(err)
						}
						if got := marker(t, names); got != want {
							t.Fatalf("%s served by rs%d, want rs%d", user, got, want)
						}
						if err := roundTrip(c, fmt.Sprintf("%s-%s-%v-%v", user, backend, implicit, epsv), randomBytes(300001)); err != nil {
							t.Fatal(err)
						}
						c.Quit()
					}
				})
			}
		}
	}
}

// dialTLSUser logs user in over FTPS through addr.
func dialTLSUser(t *testing.T, addr netip.AddrPort, implicit, epsv bool, cert *testcert.Cert, user string) *ftp.ServerConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: cert.Pool(), ServerName: vipIP}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}, Timeout: 10 * time.Second}
	opts := []ftp.DialOption{ftp.DialWithDialer(d), ftp.DialWithTimeout(30 * time.Second)}
	if !epsv {
		opts = append(opts, ftp.DialWithDisabledEPSV(true), ftp.DialWithTrustPasvIP(true))
	}
	if implicit {
		opts = append(opts, ftp.DialWithTLS(cfg))
	} else {
		opts = append(opts, ftp.DialWithExplicitTLS(cfg))
	}
	c, err := ftp.Dial(addr.String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, userPassword(user)); err != nil {
		c.Quit()
		t.Fatalf("%s: %v", user, err)
	}
	return c
}

// TestUserRoutingPROXYAndAudit: behind a balancer sending PROXY headers,
// the session's client is the header's; the user name is on every
// session log line after USER and in /status; no password appears in the
// debug log or in /status, whether the login worked or not.
func TestUserRoutingPROXYAndAudit(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	logs := &logbuf.Buffer{}
	table := userTable(servers)
	// carol's realserver wants a PROXY header (send_proxy_protocol on its
	// pool only): it reports the client the header names.
	proxied, seen := proxiedRealserver(t)
	px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		edit: func(c *conf.Config) {
			table(c)
			c.Pools = append(c.Pools, conf.Pool{Name: "px", SendProxyProtocol: "v1", Health: conf.Health{Kind: "none"},
				Realservers: []conf.Realserver{{AddrPort: proxied}}})
			f := &c.FTP[0]
			f.UserRoutes = append([]conf.UserRoute{{User: "carol", Pool: "px"}}, f.UserRoutes...)
			f.ProxyProtocol = "v1"
			f.ProxyFrom = []netip.Prefix{netip.MustParsePrefix(clientIP + "/32")}
		}})
	carol := rawDial(t, clientIP, px.addr)
	if _, err := io.WriteString(carol.c, "PROXY TCP4 198.51.100.8 "+vipIP+" 40001 21\r\n"); err != nil {
		t.Fatal(err)
	}
	carol.reply()
	carol.expect("USER carol", "331")
	carol.expect("PASS "+userPassword("carol"), "230 proxied")
	if got := <-seen; got != "198.51.100.8:40001" {
		t.Fatalf("carol's realserver got a PROXY header naming %s, want 198.51.100.8:40001", got)
	}
	carol.expect("QUIT", "221")
	s := rawDial(t, clientIP, px.addr)
	if _, err := io.WriteString(s.c, "PROXY TCP4 198.51.100.9 "+vipIP+" 40000 21\r\n"); err != nil {
		t.Fatal(err)
	}
	if r := s.reply(); !strings.HasPrefix(r, "220 userroute test gateway") {
		t.Fatalf("greeting %q", r)
	}
	s.expect("USER alice", "331")
	s.expect("PASS wrong-"+userPassword("alice"), "530")
	s.expect("USER bob", "331")
	s.expect("PASS "+userPassword("bob"), "230")
	info := sessionOf(t, px, netip.MustParseAddrPort("198.51.100.9:40000"))
	if info.User != "bob" || info.Realserver != servers[1].Addr() {
		t.Fatalf("status: user %q on %s, want bob on %s", info.User, info.Realserver, servers[1].Addr())
	}
	status, err := json.Marshal(px.d.Status())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(status, []byte(`"user":"bob"`)) {
		t.Errorf("/status JSON lacks the user: %s", status)
	}
	s.expect("QUIT", "221")
	if !eventually(func() bool { return strings.Contains(logs.String(), "session end") }) {
		t.Fatal("no session end logged")
	}
	out := logs.String()
	for _, secret := range []string{"S3cret", "wrong-"} {
		if strings.Contains(out, secret) || bytes.Contains(status, []byte(secret)) {
			t.Errorf("a password (%q) appears in the debug log or /status:\n%s", secret, out)
		}
	}
	// Every session line after the first USER names the user.
	after := false
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "session=") {
			continue
		}
		if strings.Contains(line, "USER alice") {
			after = true
			continue
		}
		if after && !strings.Contains(line, `user=`) {
			t.Errorf("session log line after USER without the user: %s", line)
		}
	}
	if !after || !strings.Contains(out, `user=bob`) {
		t.Errorf("the debug log does not show USER and then the user bob:\n%s", out)
	}
}

// proxiedRealserver is a realserver on 127.0.0.24 that requires a PROXY v1
// header: it sends the header's client on seen, then greets and accepts
// any login. It serves one session.
func proxiedRealserver(t *testing.T) (netip.AddrPort, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.24:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h, err := alg.ReadProxyHeader(c, 1)
		if err != nil {
			seen <- "no header: " + err.Error()
			return
		}
		src, _, _ := h.TCPAddrs()
		seen <- src.String()
		fakeftpd.Converse(fakeftpd.NewSession(c), "220 proxied ftpd\r\n", func(s *fakeftpd.Session, verb, _, _ string) bool {
			switch verb {
			case "USER":
				s.Say("331 password please")
			case "PASS":
				s.Say("230 proxied login")
			case "QUIT":
				s.Say("221 bye")
				return false
			default:
				s.Say("502 no")
			}
			return true
		})
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), seen
}

// TestUserRoutingFileReload: user_file lines route users, and a reload
// (what SIGHUP does: the configuration validated again, the file read
// again) applies an edited file to the next logins.
func TestUserRoutingFileReload(t *testing.T) {
	servers := startUserServers(t, 3, nil)
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("# user pool\ndave pa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	table := userTable(servers)
	var cfg *conf.Config
	px := startProxy(t, servers[2:], proxyOpts{first: 61300, last: 61399, edit: func(c *conf.Config) {
		table(c)
		c.FTP[0].UserFile = file
		cfg = c
	}})
	where := func(user string) int {
		c := loginUser(t, px.addr, clientIP, user)
		defer c.Close()
		return whereC(t, c, ftpc.EPSV)
	}
	if got := where("dave"); got != 0 {
		t.Fatalf("dave (user_file: pa) served by rs%d, want rs0", got)
	}
	if err := os.WriteFile(file, []byte("dave pb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next := *cfg
	next.FTP = slices.Clone(cfg.FTP)
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := px.d.Reload(context.Background(), &next, "test"); err != nil {
		t.Fatal(err)
	}
	if got := where("dave"); got != 1 {
		t.Fatalf("dave after the file changed to pb served by rs%d, want rs1", got)
	}
	if got := where("alice"); got != 0 {
		t.Fatalf("alice (table, before the file) served by rs%d, want rs0", got)
	}
}
