package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardPath is the example Grafana dashboard of docs/operations.md.
const dashboardPath = "../../docs/grafana/algd-dashboard.json"

// TestGrafanaDashboardMetrics reads the example Grafana dashboard and
// checks every metric name its queries use (expr of panels and
// annotations, the instance variable's query) against the names /metrics
// of a running algd exposes: an FTP listener after a download, an RTSP
// listener, a realserver gone down. A renamed metric breaks this test,
// not the operators' dashboards.
func TestGrafanaDashboardMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var queries []string
	walkStrings(dash, "", func(key, s string) {
		if key == "expr" || key == "definition" || key == "query" {
			queries = append(queries, s)
		}
	})
	nameRE := regexp.MustCompile(`\b(?:algd|process|go)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, q := range queries {
		for _, n := range nameRE.FindAllString(q, -1) {
			used[n] = true
		}
	}

	exposed := exposedNames(t, metricsText(t))
	var missing []string
	for n := range used {
		if !exposed[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	for _, n := range missing {
		t.Errorf("the dashboard queries %s, which algd does not expose", n)
	}
	// The dashboard covers what the issue asks of it.
	for _, want := range []string{
		"algd_sessions", "algd_data_bytes_total", "algd_rtsp_media_bytes_total", "algd_refused_total",
		"algd_sessions_refused_total", "algd_realserver_up", "algd_realserver_check_failures_total",
		"algd_realserver_check_duration_seconds_bucket", "algd_session_duration_seconds_bucket",
		"algd_transfer_duration_seconds_bucket", "algd_realserver_last_change_timestamp_seconds",
		"algd_traffic_bytes_total", "algd_realserver_bytes_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard does not use %s", want)
		}
	}
	if len(used) < 30 {
		t.Errorf("the dashboard uses %d metric names, want at least 30: %v", len(used), used)
	}
	checkPanels(t, dash["panels"].([]any))
}

// checkPanels checks the layout: every panel of a type Grafana ships,
// with a query (rows aside), a unique id, inside the 24 columns, and no
// two overlapping.
func checkPanels(t *testing.T, panels []any) {
	t.Helper()
	known := []string{"row", "stat", "table", "timeseries", "state-timeline", "heatmap"}
	ids := map[float64]bool{}
	type box struct{ x, y, w, h float64 }
	var boxes []box
	for _, p := range panels {
		pm := p.(map[string]any)
		id := pm["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v twice", id)
		}
		ids[id] = true
		if !slices.Contains(known, pm["type"].(string)) {
			t.Errorf("panel %q of type %v", pm["title"], pm["type"])
		}
		if pm["type"] != "row" && len(pm["targets"].([]any)) == 0 {
			t.Errorf("panel %q has no query", pm["title"])
		}
		g := pm["gridPos"].(map[string]any)
		b := box{g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
		if b.x < 0 || b.w <= 0 || b.h <= 0 || b.x+b.w > 24 {
			t.Errorf("panel %q at %+v: outside the 24 columns", pm["title"], b)
		}
		for _, o := range boxes {
			if b.x < o.x+o.w && o.x < b.x+b.w && b.y < o.y+o.h && o.y < b.y+b.h {
				t.Errorf("panel %q at %+v overlaps another at %+v", pm["title"], b, o)
			}
		}
		boxes = append(boxes, b)
	}
}

// walkStrings calls f with every string in v and the key it is under.
func walkStrings(v any, key string, f func(key, s string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			walkStrings(x, k, f)
		}
	case []any:
		for _, x := range v {
			walkStrings(x, key, f)
		}
	case string:
		f(key, v)
	}
}

// exposedNames are the sample names of a /metrics text (histograms as
// their _bucket, _sum and _count series).
func exposedNames(t *testing.T, text string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		out[name] = true
	}
	if len(out) < 50 {
		t.Fatalf("/metrics has only %d names:\n%s", len(out), text)
	}
	return out
}

// metricsText is /metrics of an algd with an FTP listener (a pool of
// two, one down, after a download) and an RTSP listener, reloaded once.
func metricsText(t *testing.T) string {
	t.Helper()
	f := newFarm(t, 64<<10, "127.0.0.11", "127.0.0.12")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	rtspVIP := "127.0.0.64"
	ctl := fmt.Sprintf("%s:%d", rtspVIP, freePort(t, rtspVIP))
	text := controlConfig(t, f, vip, t.TempDir(), "")
	text = strings.Replace(text, "\n[admin]\n", fmt.Sprintf(`
[[pool]]
name = "media"
scheduler = "rr"
health = { kind = "none" }
realservers = [{ address = "127.0.0.65:8554" }]

[[rtsp]]
name = "cams"
listen = [%q]
pool = "media"
advertise = %q
media_ports = "64210-64229"
backend_source = %q
backend_media_ports = "64230-64249"

[admin]
`, ctl, rtspVIP, rtspVIP), 1)
	d := startDaemon(t, text)
	d.reload(text) // algd_reload_last_timestamp_seconds is there after the first
	return downloadAndFail(t, d, f, vip)
}
