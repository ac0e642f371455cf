package admin

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// withHistory is sample() with per-realserver bytes, state changes and a
// history of n samples 5 s apart: sessions i, transferring i/2, down
// 1000·i B/s, refused 0.2/s from the middle on.
func withHistory(n int) Status {
	st := sample()
	m := st.Pools[0].Members
	m[0].BytesDown, m[0].BytesUp, m[0].CheckFailures = 3<<20, 1536, 4
	m[0].LastChange = st.Time.Add(-90 * time.Second)
	m[1].CheckFailures = 17
	for i := range n {
		s := Sample{Time: st.Time.Add(time.Duration(i-n) * 5 * time.Second), Sessions: i, Transferring: i / 2, Down: 1000 * float64(i)}
		if i >= n/2 {
			s.Refused = 0.2
		}
		st.History = append(st.History, s)
	}
	return st
}

// render executes the page template over st.
func render(t *testing.T, st Status, maxLive int) string {
	t.Helper()
	var b strings.Builder
	if err := pageTemplate.Execute(&b, newPage(st, 2, maxLive)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPageRealservers checks the per-realserver columns: time since the
// last state change (or since start), bytes both ways, check failures,
// latency and age of the last check.
func TestPageRealservers(t *testing.T) {
	html := render(t, withHistory(10), 100)
	for _, want := range []string{
		"<th>last change</th>", "<th>down</th><th>up</th>", "<th>check failures</th>",
		// 127.0.0.11:21: changed 90 s ago, 3 MiB down, 1.5 KiB up, 4 failures, checked an hour ago.
		`<td class="since">1m30s ago</td>`, "<td class=\"num\">3.0 MiB</td><td class=\"num\">1.5 KiB</td>",
		"2.0 ms, 1h00m ago", `<td class="num">4</td>`,
		// 127.0.0.12:21: no change since start (an hour), 17 failures.
		`<td class="since"><span class="note">none since start, 1h00m ago</span></td>`, `<td class="num">17</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// polylines returns the points of every polyline of the chart id.
func polylines(t *testing.T, html, id string) map[string][][2]float64 {
	t.Helper()
	i := strings.Index(html, `<svg class="chart" id="chart-`+id+`"`)
	if i < 0 {
		t.Fatalf("no chart %s", id)
	}
	svg := html[i : i+strings.Index(html[i:], "</svg>")]
	out := make(map[string][][2]float64)
	for _, m := range regexp.MustCompile(`<polyline class="line s\d" data-series="(\w+)" points="([^"]*)"`).FindAllStringSubmatch(svg, -1) {
		for _, p := range strings.Fields(m[2]) {
			var x, y float64
			if _, err := fmt.Sscanf(p, "%g,%g", &x, &y); err != nil {
				t.Fatalf("point %q: %v", p, err)
			}
			out[m[1]] = append(out[m[1]], [2]float64{x, y})
		}
	}
	return out
}

// TestPageCharts checks the three charts: inline SVG with one polyline
// per series, a point per sample left to right, scaled so that the
// largest value touches the top and zero lies on the axis.
func TestPageCharts(t *testing.T) {
	const n = 12
	html := render(t, withHistory(n), 100)
	if strings.Contains(html, "<script") || strings.Contains(html, "src=") || strings.Contains(html, "<link") {
		t.Error("page uses scripts or external assets")
	}
	for id, names := range map[string][]string{"sessions": {"sessions", "transferring"}, "throughput": {"down", "up"}, "refused": {"refused"}} {
		lines := polylines(t, html, id)
		if len(lines) != len(names) {
			t.Errorf("chart %s: %d series, want %d", id, len(lines), len(names))
		}
		for _, name := range names {
			pts := lines[name]
			if len(pts) != n {
				t.Fatalf("chart %s series %s: %d points, want %d", id, name, len(pts), n)
			}
			for i := 1; i < n; i++ {
				if pts[i][0] <= pts[i-1][0] {
					t.Errorf("chart %s series %s: x not increasing at %d: %v", id, name, i, pts)
				}
			}
			if pts[0][0] != chartLeft || pts[n-1][0] != chartLeft+chartPlotW {
				t.Errorf("chart %s series %s: x from %v to %v, want the plot's width", id, name, pts[0][0], pts[n-1][0])
			}
		}
	}
	// Sessions 0..11 on a top of 20: the first on the axis, the last at 11/20.
	s := polylines(t, html, "sessions")["sessions"]
	bottom := float64(chartTop + chartPlotH)
	if s[0][1] != bottom {
		t.Errorf("0 sessions drawn at y=%v, want the axis %v", s[0][1], bottom)
	}
	if want := bottom - chartPlotH*11.0/20; s[n-1][1] < want-0.1 || s[n-1][1] > want+0.1 {
		t.Errorf("11 sessions drawn at y=%v, want %v", s[n-1][1], want)
	}
	// Refusals step up in the middle.
	r := polylines(t, html, "refused")["refused"]
	if r[n/2-1][1] != bottom || r[n/2][1] >= bottom {
		t.Errorf("refusals not stepping up at sample %d: %v", n/2, r)
	}
	for _, want := range []string{"max 20", "sessions 11", "down 10.7 KiB/s", "refused 0.2/s", "Since start:"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestPageChartsEmpty: before two samples the charts say they collect.
func TestPageChartsEmpty(t *testing.T) {
	html := render(t, withHistory(1), 100)
	if c := strings.Count(html, "collecting samples"); c != 3 {
		t.Errorf("%d charts collecting samples, want 3", c)
	}
	if strings.Contains(html, "<polyline") {
		t.Error("a chart drew a line from one sample")
	}
}

// TestPageSessionCap: the table lists at most maxLive sessions, the
// oldest, and says how many it left out.
func TestPageSessionCap(t *testing.T) {
	st := sample()
	st.Live = nil
	for i := range 250 {
		st.Live = append(st.Live, alg.SessionInfo{ID: fmt.Sprintf("vip-%d", i), Proto: "ftp",
			Client: netip.MustParseAddrPort("127.0.0.5:40000"), Started: st.Time.Add(time.Duration(i) * time.Second)})
	}
	html := render(t, st, 100)
	if c := strings.Count(html, `<tr class="session">`); c != 100 {
		t.Errorf("%d sessions listed, want 100", c)
	}
	for _, want := range []string{"Live sessions (250)", "150 more sessions not shown", "<td>vip-99</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<td>vip-100</td>") {
		t.Error("the 101st session is listed")
	}
	html = render(t, sample(), 100)
	if strings.Contains(html, "not shown") {
		t.Error("a short list says sessions are hidden")
	}
}

// TestAgo checks the short durations of the page.
func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 90 * time.Second: "1m30s", 3*time.Hour + 4*time.Minute: "3h04m",
		53 * time.Hour: "2d05h", -time.Second: "0s",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}
