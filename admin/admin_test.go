package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// fakeSource serves a Status the test changes.
type fakeSource struct {
	mu sync.Mutex
	st Status
}

func (f *fakeSource) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeSource) set(fn func(*Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

func sample() Status {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Status{
		Version: "test", Started: t0, Time: t0.Add(time.Hour),
		Reloads:  Reloads{OK: 3, Failed: 1, Last: t0.Add(time.Minute), LastError: "a.toml:3: bad"},
		Sessions: 1, MaxSessions: 50,
		Listeners: []alg.ListenerStatus{{
			Proto: "ftp", Name: "vip", Pool: "ftpd", Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2121")}, Proxy: "v2",
			Counters: map[string]int64{"sessions": 7, "active": 1, "refused": 2, "data_conns": 5, "bytes_down": 123456, "bytes_up": 42,
				"theft": 4, "data_second_connection": 12, "bounce": 6, "overloaded": 5, "commands_refused.telnet": 3, "commands_refused.unknown": 0},
			Ranges:              []alg.RangeUsage{{Name: "passive", InUse: 3, Size: 100, Exhaustions: 11}},
			DataRefusals:        []alg.DataRefusal{{Address: netip.MustParseAddr("198.51.100.7"), Theft: 2, Second: 12, Last: t0}},
			DataRefusalsEvicted: 5,
		}, {
			Proto: "rtsp", Name: "cams", Pool: "media", Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.10:554")},
			Counters: map[string]int64{"sessions": 13, "active": 2, "refused": 3, "bytes_down": 4004, "bytes_up": 2002,
				"packets_down": 3003, "media_sessions": 4, "dropped.source": 50},
			Ranges: []alg.RangeUsage{{Name: "media", InUse: 4, Size: 100, Exhaustions: 7}, {Name: "backend_media", InUse: 3, Size: 50}},
		}},
		Pools: []Pool{{Name: "ftpd", Scheduler: "rr", Members: []Realserver{
			{Address: netip.MustParseAddrPort("127.0.0.11:21"), Up: true, Weight: 1, Active: 1, Total: 5, LastCheck: t0, CheckLatency: 2 * time.Millisecond,
				SessionFailures: 13, Suspect: true, BytesDown: 4096, BytesUp: 7},
			{Address: netip.MustParseAddrPort("127.0.0.12:21"), Up: false, Weight: 2, CheckError: "connection refused"},
		}}},
		Live: []alg.SessionInfo{{ID: "vip-7", Proto: "ftp", Listener: "vip", Client: netip.MustParseAddrPort("127.0.0.5:40000"),
			Realserver: netip.MustParseAddrPort("127.0.0.11:21"), User: "alice", Mode: "passive", Transferring: true, BytesDown: 2048, Started: t0},
			{ID: "cams-8", Proto: "rtsp", Listener: "cams", Client: netip.MustParseAddrPort("127.0.0.6:40001"),
				Realserver: netip.MustParseAddrPort("127.0.0.31:554"), Mode: "udp", Transferring: true, Transfers: 2, BytesDown: 4004, Started: t0.Add(time.Second)}},
		Traffic: alg.Traffic{Down: 7 << 20, Up: 5},
		Local: LocalResources{Errors: map[string]uint64{"files": 5}, LastKind: "files", LastOp: "connect to realserver 127.0.0.11:21",
			Last: "dial tcp 127.0.0.11:21: socket: too many open files", LastAt: t0.Add(50 * time.Minute)},
	}
}

// startAdmin serves src on a loopback port and returns its address.
func startAdmin(t *testing.T, src Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Source: src}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func get(t *testing.T, url string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestEndpoints checks that each endpoint shows the source's numbers.
func TestEndpoints(t *testing.T) {
	src := &fakeSource{st: sample()}
	addr := startAdmin(t, src)
	tests := []struct {
		name     string
		path     string
		hdr      map[string]string
		code     int
		ctype    string
		contains []string
	}{
		{"metrics", "/metrics", nil, 200, "text/plain", []string{
			`algd_realserver_up{pool="ftpd",realserver="127.0.0.11:21"} 1`,
			`algd_realserver_up{pool="ftpd",realserver="127.0.0.12:21"} 0`,
			`algd_realserver_weight{pool="ftpd",realserver="127.0.0.12:21"} 2`,
			`algd_realserver_check_latency_seconds{pool="ftpd",realserver="127.0.0.11:21"} 0.002`,
			`algd_reloads_total{result="ok"} 3`,
			`algd_reloads_total{result="failed"} 1`,
			`algd_draining 0`,
			`algd_sessions 1`,
			`go_goroutines`,
			`algd_local_resource_errors_total{kind="files"} 5`,
			`algd_local_resource_errors_total{kind="memory"} 0`,
			`algd_local_resource_errors_total{kind="source_address"} 0`,
			`algd_realserver_session_failures_total{pool="ftpd",realserver="127.0.0.11:21"} 13`,
			`algd_traffic_bytes_total{direction="down"} 7.340032e+06`,
			`algd_traffic_bytes_total{direction="up"} 5`,
			`algd_realserver_bytes_total{direction="down",pool="ftpd",realserver="127.0.0.11:21"} 4096`,
			`algd_realserver_bytes_total{direction="up",pool="ftpd",realserver="127.0.0.11:21"} 7`,
			`algd_realserver_bytes_total{direction="down",pool="ftpd",realserver="127.0.0.12:21"} 0`,
		}},
		{"healthz", "/healthz", nil, 200, "text/plain", []string{"ok"}},
		{"status json", "/status", nil, 200, "application/json", []string{`"id": "vip-7"`, `"user": "alice"`, `"address": "127.0.0.12:21"`, `"bytes_down": 123456`,
			`"address": "198.51.100.7",
          "theft": 2,
          "second_connection": 12,
          "outside_window": 0,`, `"data_refusals_evicted": 5`, `"data_second_connection": 12`,
			`"proto": "rtsp"`, `"packets_down": 3003`, `"name": "backend_media"`, `"id": "cams-8"`,
			`"last_kind": "files"`, `"traffic": {
    "bytes_down": 7340032,`, `"session_failures": 13`, `"suspect": true`, `"overloaded": 5`}},
		{"status.json", "/status.json", nil, 200, "application/json", []string{`"client": "127.0.0.5:40000"`}},
		{"status html", "/status", map[string]string{"Accept": "text/html,application/xhtml+xml"}, 200, "text/html", []string{
			`http-equiv="refresh"`, "127.0.0.11:21", `class="down">down`, "vip-7", "127.0.0.5:40000", "<td>alice</td>", "2.0 KiB", "(transferring)", "passive 3 / 100 (3.0%), exhausted 11×",
			"cams <span class=\"note\">(rtsp)</span>", "vip <span class=\"note\">(ftp, PROXY v2)</span>", "127.0.0.10:554", "media 4 / 100 (4.0%), exhausted 7×",
			"dropped.source 50", "packets_down 3003", "theft 4", "RTSP udp (transferring)", "cams-8",
			"algd ran out of a local resource", "files 5×", "last 10m0s ago", "socket: too many open files", "13 <span class=\"note\">(suspect)"}},
		{"status format=html", "/status?format=html", nil, 200, "text/html", []string{"<table"}},
		{"root redirects", "/", nil, 200, "application/json", []string{`"version": "test"`}},
		{"unknown", "/nothing", nil, 404, "text/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := get(t, "http://"+addr+tt.path, tt.hdr)
			if code != tt.code || !strings.HasPrefix(ctype, tt.ctype) {
				t.Fatalf("%s: %d %q, want %d %q\n%s", tt.path, code, ctype, tt.code, tt.ctype, body)
			}
			for _, w := range tt.contains {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q:\n%s", tt.path, w, body)
				}
			}
		})
	}
}

// TestHealthz follows the state: draining answers 503, a pool with nothing
// available is named.
func TestHealthz(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Status)
		code int
		want string
	}{
		{"serving", func(*Status) {}, 200, "ok\n"},
		{"draining", func(s *Status) { s.Draining = true }, 503, "draining\n"},
		{"pool empty", func(s *Status) { s.Pools[0].Members[0].Weight = 0 }, 200, "ok, but no realserver available in pool ftpd\n"},
	}
	src := &fakeSource{}
	addr := startAdmin(t, src)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src.set(func(s *Status) { *s = sample(); tt.mod(s) })
			code, _, body := get(t, "http://"+addr+"/healthz", nil)
			if code != tt.code || body != tt.want {
				t.Fatalf("healthz = %d %q, want %d %q", code, body, tt.code, tt.want)
			}
		})
	}
}

// TestFetchAndText reads the status as `algd status` does and prints it.
func TestFetchAndText(t *testing.T) {
	src := &fakeSource{st: sample()}
	addr := startAdmin(t, src)
	st, err := Fetch(context.Background(), nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Live) != 2 || st.Live[0].ID != "vip-7" || st.Pools[0].Members[1].CheckError != "connection refused" ||
		st.Listeners[0].Counters["bytes_down"] != 123456 || st.Listeners[1].Ranges[1].Size != 50 || !st.Started.Equal(sample().Started) {
		t.Fatalf("Fetch lost data: %+v", st)
	}
	st.Pools[0].Members[1].LastChange, st.Pools[0].Members[1].CheckFailures = st.Time.Add(-125*time.Second), 9
	var buf bytes.Buffer
	if err := WriteText(&buf, st); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"algd test, up 1h0m0s, 1 of 50 sessions, reloads 3 ok 1 failed (last: a.toml:3: bad)",
		"127.0.0.12:21  down", "vip-7", "realserver     state  changed    weight  active  total  down     up   check     failed  error",
		"127.0.0.11:21  up     -          1       1       5      4.0 KiB  7 B  2ms       0",
		"127.0.0.12:21  down   2m05s ago  2       0       0      0 B      0 B  none yet  9       connection refused", "alice", "FTP passive*", "120.6 KiB", "passive 3/100",
		"cams-8", "RTSP udp*", "media 4/100 backend_media 3/50", "dropped.source=50", "theft=4",
		"OUT OF LOCAL RESOURCES (not a realserver failure): map[files:5]; last 10m0s ago, files on connect to realserver 127.0.0.11:21"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, buf.String())
		}
	}
	if _, err := Fetch(context.Background(), nil, "127.0.0.1:1"); err == nil {
		t.Error("Fetch from a closed port succeeded")
	}
}

// TestHumanBytes covers the unit steps.
func TestHumanBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
