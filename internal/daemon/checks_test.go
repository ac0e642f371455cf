package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/internal/testcert"
	"github.com/algd/algd/tests/fakeftpd"
)

// probePassword is the probe account's password: no log line, status or
// metric may show it.
const probePassword = "Pr0be-s3cret-7f3a9c"

// probeServer is a demo ftpd on ip whose only account is the probe
// account, serving a folder with one file, and the password file.
func probeServer(t *testing.T, ip string) (s *demo.Server, passFile string) {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "probe.txt"), []byte("probe file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = demo.StartTest(t, demo.Options{Addr: ip + ":0", Root: root, User: "probe", Password: probePassword})
	passFile = filepath.Join(t.TempDir(), "probe.pass")
	if err := os.WriteFile(passFile, []byte(probePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, passFile
}

// checkConfig is one FTP listener on 127.0.0.1 leaving from source
// towards a one-realserver pool whose health table is health.
func checkConfig(t *testing.T, rs, source, sendProxy, health string) string {
	return fmt.Sprintf(`[[pool]]
name = "p"
send_proxy_protocol = %q
health = %s
realservers = [{ address = %q }]

[[ftp]]
name = "vip"
listen = ["127.0.0.1:%d"]
pool = "p"
passive_ports = "63500-63599"
backend_source = %q

[admin]
listen = "ADMIN"
`, sendProxy, health, rs, freePort(t, "127.0.0.1"), source)
}

// member is the pool's only realserver in st.
func member(st admin.Status) admin.Realserver {
	if len(st.Pools) == 0 || len(st.Pools[0].Members) == 0 {
		return admin.Realserver{}
	}
	return st.Pools[0].Members[0]
}

// checked waits for the next finished check after the one of st.
func checkedAfter(d *daemonRun, at time.Time) admin.Status {
	return d.waitStatus(func(st admin.Status) bool { return member(st).LastCheck.After(at) })
}

// TestFTPLoginCheck takes a realserver whose ftpd still greets but refuses
// every login out of the pool with kind "ftp-login" (probe "retr"), brings
// it back when logins work again, and takes it out when the password file
// holds a wrong password. The probe password appears in no log line (at
// debug level), nor in /status or /metrics.
func TestFTPLoginCheck(t *testing.T) {
	const interval, fall = 500 * time.Millisecond, 3
	s, passFile := probeServer(t, "127.0.0.61")
	health := fmt.Sprintf(`{ kind = "ftp-login", user = "probe", password_file = %q, probe = "retr", probe_file = "probe.txt", interval = "%s", timeout = "450ms", rise = 2, fall = %d }`,
		passFile, interval, fall)
	d := startDaemonAt(t, checkConfig(t, s.Addr().String(), "127.0.0.62", "off", health), slog.LevelDebug)
	st := d.waitStatus(func(st admin.Status) bool { return !member(st).LastCheck.IsZero() })
	if m := member(st); !m.Up || m.CheckError != "" {
		t.Fatalf("realserver with working logins: up %v, check error %q", m.Up, m.CheckError)
	}

	s.BreakLogins(true)
	broke := time.Now()
	st = d.waitStatus(func(st admin.Status) bool { return !member(st).Up })
	took := time.Since(broke)
	t.Logf("logins broken -> realserver down in %v (interval %v, fall %d)", took, interval, fall)
	if m := member(st); !strings.Contains(m.CheckError, "PASS") || !strings.Contains(m.CheckError, "530") {
		t.Errorf("check error %q, want the refused PASS (530)", m.CheckError)
	}
	greets(t, s.Addr())

	s.BreakLogins(false)
	d.waitStatus(func(st admin.Status) bool { return member(st).Up })

	// A wrong password in the file (read at every check): down.
	if err := os.WriteFile(passFile, []byte("wrong-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(func(st admin.Status) bool { return !member(st).Up })

	for _, path := range []string{"/status.json", "/status", "/metrics"} {
		body := httpGet(t, "http://"+d.admin+path)
		if strings.Contains(body, probePassword) {
			t.Errorf("%s shows the probe password", path)
		}
	}
	logs := d.logs.String()
	if !strings.Contains(logs, "realserver check failed") || !strings.Contains(logs, "level=DEBUG") {
		t.Errorf("no debug log of failed checks: the absence test below tests nothing:\n%s", logs)
	}
	if strings.Contains(logs, probePassword) {
		t.Errorf("the logs show the probe password:\n%s", logs)
	}
}

// greets fails t unless addr answers a connection with 220.
func greets(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("the broken realserver no longer greets: %q, %v", line, err)
	}
}

// httpGet returns the body of url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// proxyFront is a realserver that demands a PROXY v2 header: it reads one
// from every connection, drops the connection without it, and relays the
// rest to an ftpd behind it.
type proxyFront struct {
	ln      net.Listener
	mu      sync.Mutex
	headers []netip.AddrPort // header sources
	peers   []netip.Addr     // connection sources
	refused int
}

func startProxyFront(t *testing.T, ip string, behind netip.AddrPort) *proxyFront {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	f := &proxyFront{ln: ln}
	fakeftpd.ServeFunc(t, ln, func(c net.Conn) { f.serve(c, behind) })
	return f
}

func (f *proxyFront) serve(c net.Conn, behind netip.AddrPort) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	h, err := alg.ReadProxyHeader(c, 2)
	f.mu.Lock()
	if err != nil {
		f.refused++
		f.mu.Unlock()
		return
	}
	f.headers = append(f.headers, alg.AddrPortOf(h.SourceAddr))
	f.peers = append(f.peers, alg.AddrPortOf(c.RemoteAddr()).Addr())
	f.mu.Unlock()
	c.SetReadDeadline(time.Time{})
	b, err := net.Dial("tcp", behind.String())
	if err != nil {
		return
	}
	defer b.Close()
	go func() { io.Copy(b, c); b.Close() }()
	io.Copy(c, b)
}

// seen returns what the front has seen so far.
func (f *proxyFront) seen() (headers []netip.AddrPort, peers []netip.Addr, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]netip.AddrPort(nil), f.headers...), append([]netip.Addr(nil), f.peers...), f.refused
}

// TestCheckSendsProxy checks a realserver that demands a PROXY v2 header
// with kinds tcp, ftp and ftp-login: every check leaves from the
// listener's backend_source with a header naming it, and the realserver
// stays up. Without the header (send_proxy_protocol off) the ftp-login
// check takes it down.
func TestCheckSendsProxy(t *testing.T) {
	s, passFile := probeServer(t, "127.0.0.64")
	source := netip.MustParseAddr("127.0.0.65")
	login := fmt.Sprintf(`{ kind = "ftp-login", user = "probe", password_file = %q, interval = "1s", timeout = "900ms" }`, passFile)
	for _, tc := range []struct{ kind, health string }{
		{"tcp", `{ kind = "tcp", interval = "1s", timeout = "900ms" }`},
		{"ftp", `{ kind = "ftp", interval = "1s", timeout = "900ms" }`},
		{"ftp-login", login},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			front := startProxyFront(t, "127.0.0.66", s.Addr())
			d := startDaemon(t, checkConfig(t, alg.AddrPortOf(front.ln.Addr()).String(), source.String(), "v2", tc.health))
			first := d.waitStatus(func(st admin.Status) bool { return !member(st).LastCheck.IsZero() })
			st := checkedAfter(d, member(first).LastCheck)
			st = checkedAfter(d, member(st).LastCheck)
			if m := member(st); !m.Up || m.CheckError != "" {
				t.Errorf("realserver demanding PROXY: up %v, check error %q", m.Up, m.CheckError)
			}
			headers, peers, refused := front.seen()
			if len(headers) < 3 || refused != 0 {
				t.Fatalf("front saw %d headers, refused %d connections; want 3 or more and none", len(headers), refused)
			}
			for i := range headers {
				if peers[i] != source || headers[i].Addr() != source {
					t.Errorf("check %d came from %v with a header naming %v, want %v for both", i, peers[i], headers[i], source)
				}
			}
		})
	}
	// A pool that only a user route leads to: its checks take the
	// listener's backend_source too.
	t.Run("pool of a user route", func(t *testing.T) {
		front := startProxyFront(t, "127.0.0.66", s.Addr())
		text := checkConfig(t, "127.0.0.69:2121", source.String(), "off", `{ kind = "none" }`)
		text = strings.Replace(text, "[[ftp]]", fmt.Sprintf(`[[pool]]
name = "users"
send_proxy_protocol = "v2"
health = %s
realservers = [{ address = %q }]

[[ftp]]`, login, alg.AddrPortOf(front.ln.Addr())), 1)
		text = strings.Replace(text, "\n\n[admin]", "\nroute_by = \"user\"\nuser_route = [{ user = \"probe\", pool = \"users\" }]\n\n[admin]", 1)
		d := startDaemon(t, text)
		users := func(st admin.Status) admin.Realserver {
			for _, p := range st.Pools {
				if p.Name == "users" && len(p.Members) == 1 {
					return p.Members[0]
				}
			}
			return admin.Realserver{}
		}
		first := d.waitStatus(func(st admin.Status) bool { return !users(st).LastCheck.IsZero() })
		st := d.waitStatus(func(st admin.Status) bool { return users(st).LastCheck.After(users(first).LastCheck) })
		if m := users(st); !m.Up || m.CheckError != "" {
			t.Errorf("user-routed pool behind a PROXY-demanding realserver: up %v, check error %q", m.Up, m.CheckError)
		}
		headers, peers, refused := front.seen()
		if len(headers) < 2 || refused != 0 || peers[0] != source {
			t.Errorf("front saw headers %v from %v, refused %d; want checks from %v", headers, peers, refused, source)
		}
	})
	t.Run("ftp-login without header", func(t *testing.T) {
		front := startProxyFront(t, "127.0.0.66", s.Addr())
		d := startDaemon(t, checkConfig(t, alg.AddrPortOf(front.ln.Addr()).String(), source.String(), "off", login))
		d.waitStatus(func(st admin.Status) bool { return !member(st).LastCheck.IsZero() && !member(st).Up })
		if _, _, refused := front.seen(); refused == 0 {
			t.Error("the front refused nothing, yet the realserver went down")
		}
	})
}

// TestFTPLoginCheckTLS runs the ftp-login check (probe "retr") over
// explicit and implicit FTPS towards ftpserverlib realservers, as a pool
// whose listener talks FTPS to them does: the realserver stays up; with
// a backend_ca that did not sign its certificate, the check fails on the
// certificate (so the check really spoke TLS).
func TestFTPLoginCheckTLS(t *testing.T) {
	cert := testcert.New(t, "ftpd", "127.0.0.67")
	other := testcert.New(t, "other", "127.0.0.67")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "probe.txt"), []byte("probe file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	explicit := demo.StartTest(t, demo.Options{Addr: "127.0.0.67:0", Root: root, User: "probe", Password: probePassword, TLS: serverTLS})
	implicit := demo.StartTest(t, demo.Options{Addr: "127.0.0.67:0", Root: root, User: "probe", Password: probePassword,
		TLS: serverTLS, Implicit: true})
	passFile := filepath.Join(t.TempDir(), "probe.pass")
	if err := os.WriteFile(passFile, []byte(probePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		s      *demo.Server
		mode   string
		ca     *testcert.Cert
		wantUp bool
	}{
		{"explicit trusted", explicit, "explicit", cert, true},
		{"explicit untrusted", explicit, "explicit", other, false},
		{"implicit trusted", implicit, "implicit", cert, true},
		{"implicit untrusted", implicit, "implicit", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caFile, _ := tc.ca.Write(t, "", "")
			health := fmt.Sprintf(`{ kind = "ftp-login", user = "probe", password_file = %q, probe = "retr", probe_file = "probe.txt", interval = "1s", timeout = "900ms" }`, passFile)
			text := checkConfig(t, tc.s.Addr().String(), "127.0.0.68", "off", health) +
				fmt.Sprintf("\n  [ftp.tls]\n  backend = %q\n  backend_ca = %q\n", tc.mode, caFile)
			// [ftp.tls] must follow its [[ftp]]: move [admin] after it.
			text = strings.Replace(text, "[admin]\nlisten = \"ADMIN\"\n", "", 1) + "\n[admin]\nlisten = \"ADMIN\"\n"
			d := startDaemon(t, text)
			first := d.waitStatus(func(st admin.Status) bool { return !member(st).LastCheck.IsZero() })
			st := checkedAfter(d, member(first).LastCheck)
			m := member(st)
			if tc.wantUp && (!m.Up || m.CheckError != "") {
				t.Errorf("FTPS probe: up %v, check error %q", m.Up, m.CheckError)
			}
			if !tc.wantUp && (m.Up || !strings.Contains(m.CheckError, "certificate")) {
				t.Errorf("FTPS probe towards an untrusted certificate: up %v, check error %q", m.Up, m.CheckError)
			}
		})
	}
}

// TestScriptCheckAndNotify wires kind "script" and notify_down through a
// configuration file: the script is up while a flag file exists, gets
// the listener's backend_source, and the notify command hears of the
// realserver going down.
func TestScriptCheckAndNotify(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "up")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "check.sh")
	notify := filepath.Join(dir, "notify.sh")
	for p, body := range map[string]string{
		script: "#!/bin/sh\necho \"$1 $2 $ALGD_SOURCE\" > " + dir + "/seen\nif [ -e " + flag + " ]; then exit 0; fi\necho 'service stopped'; exit 2\n",
		notify: "#!/bin/sh\necho \"$@\" >> " + dir + "/notified\n",
	} {
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	health := fmt.Sprintf(`{ kind = "script", command = [%q], interval = "1s", timeout = "900ms", fall = 2 }`+"\nnotify_down = [%q]", script, notify)
	d := startDaemon(t, checkConfig(t, "127.0.0.69:2121", "127.0.0.68", "off", health))
	first := d.waitStatus(func(st admin.Status) bool { return !member(st).LastCheck.IsZero() })
	if m := member(first); !m.Up || m.CheckError != "" {
		t.Fatalf("script exiting 0: up %v, check error %q", m.Up, m.CheckError)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "seen")); strings.TrimSpace(string(b)) != "127.0.0.69 2121 127.0.0.68" {
		t.Errorf("script got %q, want the realserver's address, port and the backend_source", b)
	}
	os.Remove(flag)
	st := d.waitStatus(func(st admin.Status) bool { return !member(st).Up })
	if m := member(st); !strings.Contains(m.CheckError, "exit status 2") || !strings.Contains(m.CheckError, "service stopped") {
		t.Errorf("check error %q, want the exit status and the output", m.CheckError)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "notified"))
		if strings.TrimSpace(string(b)) == "p 127.0.0.69:2121 down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify_down got %q, want \"p 127.0.0.69:2121 down\"", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
