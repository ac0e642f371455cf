package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/internal/testcert"
	ftpc "github.com/jlaffaye/ftp"
)

// controlToken is the admin token of the control tests.
const controlToken = "c0ntrol-t0ken-4b1d"

// controlConfig is a pool of the farm's realservers behind one FTP
// listener at vip, with a token file and a control socket in dir, and
// extra appended ([log] and such).
func controlConfig(t *testing.T, f *farm, vip, dir, extra string) string {
	t.Helper()
	tok := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tok, []byte(controlToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("[[pool]]\nname = \"p\"\nscheduler = \"rr\"\nhealth = { kind = \"ftp\", interval = \"200ms\", rise = 1, fall = 1 }\n")
	for _, s := range f.servers {
		fmt.Fprintf(&b, "  [[pool.realservers]]\n  address = %q\n", s.Addr().String())
	}
	fmt.Fprintf(&b, "\n[[ftp]]\nname = \"vip\"\nlisten = [%q]\npool = \"p\"\npassive_ports = \"63400-63499\"\n", vip)
	fmt.Fprintf(&b, "\n[admin]\nlisten = \"ADMIN\"\ntoken_file = %q\ncontrol_socket = %q\n%s", tok, filepath.Join(dir, "control.sock"), extra)
	return b.String()
}

// post sends a state change to the admin listener at addr with the
// Authorization header auth ("" for none) and returns the status code.
func post(t *testing.T, addr, path, auth string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// memberAt finds realserver addr in st.
func memberAt(t *testing.T, st admin.Status, addr netip.AddrPort) admin.Realserver {
	t.Helper()
	for _, p := range st.Pools {
		for _, m := range p.Members {
			if m.Address == addr {
				return m
			}
		}
	}
	t.Fatalf("no realserver %s in /status", addr)
	return admin.Realserver{}
}

// TestControlAuthentication: a state change without a token is refused
// with 401, with a wrong one 403, and changes nothing; with the token
// it is applied and shown in /status; over the control socket it needs
// no token; a reload puts the file's weight back and enables again.
func TestControlAuthentication(t *testing.T) {
	f := newFarm(t, 1<<10, "127.0.0.11", "127.0.0.12")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	dir := t.TempDir()
	text := controlConfig(t, f, vip, dir, "")
	d := startDaemon(t, text)
	a := f.servers[0].Addr()
	drain := "/realservers/p/" + a.String() + "/drain"
	if raw := httpGet(t, "http://"+d.admin+"/status.json"); !strings.Contains(raw, `"live": []`) {
		t.Errorf("/status without sessions lacks \"live\": []:\n%s", raw)
	}

	if got := post(t, d.admin, drain, ""); got != http.StatusUnauthorized {
		t.Errorf("drain without token: %d, want 401", got)
	}
	if got := post(t, d.admin, drain, "Bearer wrong-token"); got != http.StatusForbidden {
		t.Errorf("drain with a wrong token: %d, want 403", got)
	}
	if got := post(t, d.admin, drain, "Basic "+controlToken); got != http.StatusUnauthorized {
		t.Errorf("drain with a Basic header: %d, want 401", got)
	}
	st, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	if m := memberAt(t, st, a); m.Weight != 1 || m.State() != "up" {
		t.Fatalf("after refused requests: weight %d state %s, want 1 up", m.Weight, m.State())
	}
	if got := post(t, d.admin, drain, "Bearer "+controlToken); got != http.StatusOK {
		t.Fatalf("drain with the token: %d, want 200", got)
	}
	st, _ = d.status()
	if m := memberAt(t, st, a); m.Weight != 0 || m.State() != "drained" {
		t.Errorf("after drain: weight %d state %s, want 0 drained", m.Weight, m.State())
	}
	if got := post(t, d.admin, "/realservers/p/127.0.0.99:21/drain", "Bearer "+controlToken); got != http.StatusNotFound {
		t.Errorf("drain of an unknown realserver: %d, want 404", got)
	}
	if got := post(t, d.admin, "/realservers/p/"+a.String()+"/weight?weight=-1", "Bearer "+controlToken); got != http.StatusBadRequest {
		t.Errorf("negative weight: %d, want 400", got)
	}

	// The control socket: no token, its permissions are the check.
	sock := &admin.Client{Socket: filepath.Join(dir, "control.sock")}
	fi, err := os.Stat(sock.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("control socket mode %o, want 600", perm)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sock.Post(ctx, "/realservers/p/"+a.String()+"/disable", nil); err != nil {
		t.Fatalf("disable over the control socket: %v", err)
	}
	st, _ = d.status()
	if m := memberAt(t, st, a); !m.Disabled || m.State() != "disabled" || m.LastChange.IsZero() {
		t.Errorf("after disable: %+v, want disabled with a last change", m)
	}

	// A reload ends the runtime changes.
	st = d.reload(text)
	if m := memberAt(t, st, a); m.Disabled || m.Weight != 1 || m.State() != "up" {
		t.Errorf("after reload: %+v, want weight 1, enabled, up", m)
	}
	// Without token_file nor socket, state changes are refused outright.
	noAuth := strings.Replace(strings.Replace(text, "token_file", "# token_file", 1), "control_socket", "# control_socket", 1)
	d2 := startDaemon(t, strings.Replace(noAuth, vip, fmt.Sprintf("127.0.0.2:%d", freePort(t, "127.0.0.2")), 1))
	if got := post(t, d2.admin, drain, "Bearer "+controlToken); got != http.StatusForbidden {
		t.Errorf("drain on an algd without token_file: %d, want 403", got)
	}
}

// TestControlEndSession ends a logged-in FTP session by its id: the
// client gets 421 and loses its connection, /status no longer lists it,
// the other session goes on, and ending it again is 404.
func TestControlEndSession(t *testing.T) {
	f := newFarm(t, 1<<10, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, controlConfig(t, f, vip, t.TempDir(), ""))
	login := func() *ftpc.ServerConn {
		c, err := ftpc.Dial(vip, ftpc.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("demo", "demo"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	victim := login()
	defer victim.Quit()
	other := login()
	defer other.Quit()
	st := d.waitStatus(func(st admin.Status) bool { return len(st.Live) == 2 })
	id := st.Live[0].ID // the oldest: victim
	if got := post(t, d.admin, "/sessions/"+id+"/end", ""); got != http.StatusUnauthorized {
		t.Fatalf("end without token: %d, want 401", got)
	}
	if got := post(t, d.admin, "/sessions/"+id+"/end", "Bearer "+controlToken); got != http.StatusOK {
		t.Fatalf("end: %d, want 200", got)
	}
	st = d.waitStatus(func(st admin.Status) bool { return len(st.Live) == 1 })
	if st.Live[0].ID == id {
		t.Fatalf("the ended session %s is still live", id)
	}
	if err := victim.NoOp(); err == nil {
		t.Error("the ended session still answers NOOP")
	}
	if err := other.NoOp(); err != nil {
		t.Errorf("the other session: %v", err)
	}
	if got := post(t, d.admin, "/sessions/"+id+"/end", "Bearer "+controlToken); got != http.StatusNotFound {
		t.Errorf("ending it again: %d, want 404", got)
	}
}

// TestLogLevelReload: [log] level is applied by a reload: debug lines
// appear after a reload to debug, and none at info again.
func TestLogLevelReload(t *testing.T) {
	f := newFarm(t, 1<<10, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	dir := t.TempDir()
	info := controlConfig(t, f, vip, dir, "\n[log]\nlevel = \"info\"\n")
	debug := controlConfig(t, f, vip, dir, "\n[log]\nlevel = \"debug\"\n")
	d := startDaemonAt(t, info, slog.LevelInfo)
	session := func() {
		if err := download(vip, f.file, f.sum, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	session()
	if n := len(d.logs.Lines("level=DEBUG")); n != 0 {
		t.Fatalf("%d debug lines at level info", n)
	}
	if st := d.reload(debug); st.Reloads.LastError != "" {
		t.Fatal(st.Reloads.LastError)
	}
	if len(d.logs.Lines("log level changed", "level=DEBUG")) != 1 {
		t.Errorf("no \"log level changed\" line for debug:\n%s", d.logs.String())
	}
	before := len(d.logs.Lines("level=DEBUG"))
	session()
	if after := len(d.logs.Lines("level=DEBUG")); after <= before {
		t.Errorf("a session after the reload to debug logged %d debug lines", after-before)
	}
	d.reload(info)
	before = len(d.logs.Lines("level=DEBUG"))
	session()
	if after := len(d.logs.Lines("level=DEBUG")); after != before {
		t.Errorf("%d debug lines after the reload back to info", after-before)
	}
}

// TestLogNoDuplicateKeys parses every JSON log line of a run strictly:
// sessions, a runtime weight change and disable, a realserver going
// down, a reload; no line may carry a key twice.
func TestLogNoDuplicateKeys(t *testing.T) {
	f := newFarm(t, 1<<10, "127.0.0.11", "127.0.0.12")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	dir := t.TempDir()
	text := controlConfig(t, f, vip, dir, "\n[log]\nlevel = \"debug\"\nformat = \"json\"\n")
	d := startDaemonLog(t, text, slog.LevelDebug, true)
	for range 2 {
		if err := download(vip, f.file, f.sum, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	a, b := f.servers[0].Addr(), f.servers[1].Addr()
	if got := post(t, d.admin, "/realservers/p/"+a.String()+"/weight?weight=3", "Bearer "+controlToken); got != http.StatusOK {
		t.Fatalf("weight: %d", got)
	}
	if got := post(t, d.admin, "/realservers/p/"+a.String()+"/disable", "Bearer "+controlToken); got != http.StatusOK {
		t.Fatalf("disable: %d", got)
	}
	f.servers[1].Close()
	d.waitStatus(func(st admin.Status) bool { return !memberAt(t, st, b).Up })
	d.reload(text)
	lines := strings.Split(strings.TrimSpace(d.logs.String()), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d log lines", len(lines))
	}
	seen := map[string]bool{}
	for i, line := range lines {
		if err := uniqueKeys([]byte(line)); err != nil {
			t.Errorf("line %d: %v: %s", i, err, line)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			seen[fmt.Sprint(rec["msg"])] = true
		}
	}
	for _, msg := range []string{"realserver down", "realserver weight changed", "realserver disabled by the administrator", "configuration reloaded"} {
		if !seen[msg] {
			t.Errorf("no %q line among %d", msg, len(lines))
		}
	}
}

// uniqueKeys reports an error when a JSON object in b, at any depth,
// has a key twice.
func uniqueKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			keys := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				if keys[k.(string)] {
					return fmt.Errorf("key %q twice", k)
				}
				keys[k.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// TestLogSessionTLS: an explicit-FTPS session logs its upgrade and
// tls=true on its end line (its start line came before AUTH TLS); a
// plain one tls=false. Both end lines name the user. Durations are
// seconds.
func TestLogSessionTLS(t *testing.T) {
	f := newFarm(t, 1<<10, "127.0.0.14")
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "vip.pem"), filepath.Join(dir, "vip.key")
	testcert.New(t, "vip", "127.0.0.1").Write(t, certPath, keyPath)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemonLog(t, fmt.Sprintf(`[admin]
listen = "ADMIN"

[[pool]]
name = "p"
realservers = [{ address = %q }]

[[ftp]]
name = "vip"
listen = [%q]
pool = "p"
passive_ports = "63600-63699"

  [ftp.tls]
  cert = %q
  key = %q
`, f.servers[0].Addr().String(), listen, certPath, keyPath), slog.LevelInfo, true)
	for _, secure := range []bool{true, false} {
		opts := []ftpc.DialOption{ftpc.DialWithTimeout(10 * time.Second)}
		if secure {
			opts = append(opts, ftpc.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
		}
		c, err := ftpc.Dial(listen, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("demo", "demo"); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	d.waitStatus(func(st admin.Status) bool { return len(st.Live) == 0 })
	var ends []map[string]any
	upgrades, upgraded := 0, any(nil)
	for _, line := range strings.Split(strings.TrimSpace(d.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		switch rec["msg"] {
		case "session end":
			ends = append(ends, rec)
		case "control connection upgraded to TLS":
			upgrades++
			upgraded = rec["session"]
			if rec["tls_version"] == nil || rec["session"] == nil {
				t.Errorf("upgrade line without tls_version or session: %s", line)
			}
		}
	}
	if upgrades != 1 || len(ends) != 2 {
		t.Fatalf("%d upgrade lines and %d session end lines, want 1 and 2:\n%s", upgrades, len(ends), d.logs.String())
	}
	for i := range ends {
		if want := ends[i]["session"] == upgraded; ends[i]["tls"] != want {
			t.Errorf("session end %d: tls %v, want %v", i, ends[i]["tls"], want)
		}
		if ends[i]["user"] != "demo" {
			t.Errorf("session end %d: user %v, want demo", i, ends[i]["user"])
		}
		if dur, ok := ends[i]["duration"].(float64); !ok || dur < 0 || dur > 60 {
			t.Errorf("session end %d: duration %v, want seconds", i, ends[i]["duration"])
		}
	}
}

// TestLiveTransferBytes: /status shows the bytes of a download while it
// runs, before the data connection ends.
func TestLiveTransferBytes(t *testing.T) {
	f := newFarm(t, 8<<20, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, controlConfig(t, f, vip, t.TempDir(), ""))
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- download(vip, f.file, f.sum, 20*time.Millisecond, started) }()
	<-started
	st := d.waitStatus(func(st admin.Status) bool {
		return len(st.Live) == 1 && st.Live[0].Transferring && st.Live[0].BytesDown > 0
	})
	if s := st.Live[0]; s.Transfers != 0 || s.BytesDown > 8<<20+64<<10 {
		t.Errorf("live session while transferring: %+v; want no finished transfer and at most the file", s)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// metricsRun is an algd with a pool of two, one of them down, and one
// finished download: every metric family of the issue has samples.
func metricsRun(t *testing.T) string {
	t.Helper()
	f := newFarm(t, 64<<10, "127.0.0.11", "127.0.0.12")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, controlConfig(t, f, vip, t.TempDir(), ""))
	return downloadAndFail(t, d, f, vip)
}

// downloadAndFail downloads the file of f through vip, stops f's second
// realserver, waits for d to take it down and returns /metrics.
func downloadAndFail(t *testing.T, d *daemonRun, f *farm, vip string) string {
	t.Helper()
	if err := download(vip, f.file, f.sum, 0, nil); err != nil {
		t.Fatal(err)
	}
	down := f.servers[1].Addr()
	f.servers[1].Close()
	d.waitStatus(func(st admin.Status) bool {
		m := memberAt(t, st, down)
		return !m.Up && m.CheckFailures > 0 && !m.LastChange.IsZero() && len(st.Live) == 0
	})
	return httpGet(t, "http://"+d.admin+"/metrics")
}

// TestMetricsFamilies: the standard process_* and go_* collectors, the
// old algd_process_* names kept for one release, algd_build_info, check
// failures, last change, and the duration histograms.
func TestMetricsFamilies(t *testing.T) {
	text := metricsRun(t)
	for _, want := range []string{
		"\nprocess_open_fds ", "\nprocess_start_time_seconds ", "\nalgd_process_open_fds ",
		"\ngo_goroutines ", "\ngo_memstats_alloc_bytes ",
		`algd_build_info{goversion="go`,
		"# TYPE algd_realserver_check_failures_total counter",
		"# TYPE algd_realserver_last_change_timestamp_seconds gauge",
		"# TYPE algd_realserver_check_duration_seconds histogram",
		"# TYPE algd_realserver_disabled gauge",
		`algd_session_duration_seconds_count{listener="vip"} 1`,
		`algd_transfer_duration_seconds_count{listener="vip"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "algd_realserver_check_failures_total{") && strings.HasSuffix(line, " 0") {
			continue
		}
		if strings.HasPrefix(line, "algd_realserver_check_failures_total{") {
			return // the down realserver's failures are counted
		}
	}
	t.Errorf("no realserver with check failures:\n%s", text)
}
