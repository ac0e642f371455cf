package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/inproc"
	"github.com/algd/algd/tests/peers"
)

// TestEMFILE runs the built algd with a limit of 48 open files and holds
// sessions through it until it runs out. Whether the last descriptor goes
// to an accept (the client waits in the backlog) or to the realserver
// connection (the client is told 421 "proxy overloaded"), algd counts the
// error as its own in /status and /metrics, never answers "no server
// reachable", never takes the realserver down or blames it, and serves
// again once the sessions are gone.
func TestEMFILE(t *testing.T) {
	bin, err := algdrun.Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rs := demo.StartTest(t, demo.Options{Addr: "127.0.0.38:0", PassiveFirst: 62800, PassiveLast: 62899})
	vip, adm := inproc.FreePort(t, "127.0.0.39"), inproc.FreePort(t, "127.0.0.39")
	p := algdrun.Start(t, bin, algdrun.Config{Admin: adm, Listeners: []algdrun.Listener{{
		Name: "emfile", Listen: vip, Realservers: []netip.AddrPort{rs.Addr()}, PassiveFirst: 61750, PassiveLast: 61759,
	}}}, algdrun.Options{
		// The hard limit too, so that Go's runtime cannot raise it again.
		Wrap: []string{"sh", "-c", `ulimit -n 48 && exec "$@"`, "sh"},
	})

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	overloaded, waiting := 0, 0
	for i := 0; i < 60 && overloaded < 3 && waiting < 2; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", vip.String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err != nil: // no reply: waiting in the backlog while accept fails
			waiting++
			held = append(held, c)
		case strings.HasPrefix(line, "220"):
			held = append(held, c)
		case strings.HasPrefix(line, "421 ") && strings.Contains(line, "overloaded"):
			overloaded++
			c.Close()
		default:
			c.Close()
			t.Fatalf("connection %d (%d held): %q, want 220, 421 overloaded or no reply", i, len(held), line)
		}
	}
	if overloaded == 0 && waiting == 0 {
		t.Fatalf("%d sessions held and algd never ran out of descriptors", len(held))
	}
	t.Logf("%d sessions held, %d answered 421 overloaded, %d waiting in the backlog", len(held)-waiting, overloaded, waiting)
	for _, c := range held {
		c.Close()
	}
	held = nil

	// Descriptors back: a new session is served.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		banner, err := peers.Banner(ctx, vip)
		cancel()
		if err == nil && strings.HasPrefix(banner, "220") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 220 after the sessions ended: %q, %v", banner, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	st := getStatus(t, adm)
	if n := st.Local.Errors["files"]; n == 0 || st.Local.LastKind != "files" || st.Local.LastAt.IsZero() ||
		!strings.Contains(st.Local.Last, "too many open files") {
		t.Errorf("/status local_resources = %+v, want files errors and the last one", st.Local)
	}
	m := st.Pools[0].Members[0]
	if !m.Up || m.SessionFailures != 0 {
		t.Errorf("/status realserver %+v: want up, no session failures", m)
	}
	if got := st.Listeners[0].Counters["overloaded"]; got != int64(overloaded) {
		t.Errorf("/status overloaded = %d, clients told so %d", got, overloaded)
	}
	metrics := httpGet(t, "http://"+adm.String()+"/metrics")
	if !strings.Contains(metrics, `algd_local_resource_errors_total{kind="files"} `) ||
		strings.Contains(metrics, `algd_local_resource_errors_total{kind="files"} 0`) {
		t.Errorf("/metrics lacks a moved algd_local_resource_errors_total{kind=\"files\"}:\n%s", grepLines(metrics, "local_resource"))
	}
	for _, msg := range []string{"realserver down", "no realserver"} {
		if e := p.Entries(msg); len(e) > 0 {
			t.Errorf("algd logged %q %d times: local exhaustion blamed on the realserver", msg, len(e))
		}
	}
	if len(p.Entries("algd out of a local resource (not a realserver failure)")) == 0 {
		t.Error("algd did not log its own exhaustion")
	}
}

// getStatus reads /status.json of the admin listener at adm.
func getStatus(t *testing.T, adm netip.AddrPort) admin.Status {
	t.Helper()
	var st admin.Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+adm.String()+"/status.json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Pools) != 1 || len(st.Pools[0].Members) != 1 || len(st.Listeners) != 1 {
		t.Fatalf("/status: %+v", st)
	}
	return st
}

// httpGet returns the body of url, failing t on anything but 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b.String()
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return fmt.Sprint(out)
}
