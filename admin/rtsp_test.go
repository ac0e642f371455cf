package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRTSPListeners checks that an RTSP listener's numbers reach
// /metrics (through NewRTSPCollector), /status as JSON and HTML, and the
// text of `algd status`.
func TestRTSPListeners(t *testing.T) {
	st := sample()
	st.RTSP = []RTSPListener{{
		Name: "cams", Pool: "media", Addrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.10:554")},
		Conns: 13, Active: 2, Refused: 3, MediaSessions: 4, SessionsEnded: 9,
		Streams: 17, Interleaved: 5, Unsupported: 6, Exhausted: 7,
		UpPackets: 1001, UpBytes: 2002, DownPackets: 3003, DownBytes: 4004, Dropped: 55,
		DroppedBy: map[string]int64{"source": 50, "truncated": 4, "unsendable": 1}, SourcesRefused: 8,
		MediaPairs:   PairUsage{InUse: 4, Size: 100, Exhaustions: 7},
		BackendPairs: PairUsage{InUse: 3, Size: 50, Exhaustions: 1},
	}}
	src := &fakeSource{st: st}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Server{Source: src, Collectors: []prometheus.Collector{NewRTSPCollector(src)}}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	tests := []struct {
		name     string
		path     string
		hdr      map[string]string
		contains []string
	}{
		{"metrics", "/metrics", nil, []string{
			`algd_rtsp_sessions_active{listener="cams"} 2`,
			`algd_rtsp_sessions_total{listener="cams"} 13`,
			`algd_rtsp_sessions_refused_total{listener="cams"} 3`,
			`algd_rtsp_media_sessions{listener="cams"} 4`,
			`algd_rtsp_media_sessions_ended_total{listener="cams"} 9`,
			`algd_rtsp_streams_total{listener="cams",transport="udp"} 17`,
			`algd_rtsp_streams_total{listener="cams",transport="interleaved"} 5`,
			`algd_rtsp_setups_refused_total{listener="cams",reason="unsupported"} 6`,
			`algd_rtsp_setups_refused_total{listener="cams",reason="exhausted"} 7`,
			`algd_rtsp_media_packets_total{direction="up",listener="cams"} 1001`,
			`algd_rtsp_media_bytes_total{direction="up",listener="cams"} 2002`,
			`algd_rtsp_media_packets_total{direction="down",listener="cams"} 3003`,
			`algd_rtsp_media_bytes_total{direction="down",listener="cams"} 4004`,
			`algd_rtsp_media_dropped_total{listener="cams"} 55`,
			`algd_rtsp_media_dropped_by_reason_total{listener="cams",reason="source"} 50`,
			`algd_rtsp_media_dropped_by_reason_total{listener="cams",reason="truncated"} 4`,
			`algd_rtsp_media_dropped_by_reason_total{listener="cams",reason="unsendable"} 1`,
			`algd_rtsp_media_sources_refused_total{listener="cams"} 8`,
			`algd_rtsp_media_pairs_in_use{listener="cams",side="client"} 4`,
			`algd_rtsp_media_pairs{listener="cams",side="client"} 100`,
			`algd_rtsp_media_pairs_exhausted_total{listener="cams",side="client"} 7`,
			`algd_rtsp_media_pairs_in_use{listener="cams",side="backend"} 3`,
			`algd_rtsp_media_pairs{listener="cams",side="backend"} 50`,
			`algd_rtsp_media_pairs_exhausted_total{listener="cams",side="backend"} 1`,
			`algd_sessions_total{listener="vip"} 7`, // the FTP metrics are still there
		}},
		{"html", "/status", map[string]string{"Accept": "text/html"}, []string{"RTSP listeners", "<td>cams</td>", "127.0.0.10:554", "3003", "4 / 100", "exhausted 7×"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, base+tc.path, tc.hdr)
			if code != 200 {
				t.Fatalf("%s: status %d", tc.path, code)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Errorf("%s lacks %q", tc.path, want)
				}
			}
		})
	}

	_, _, body := get(t, base+"/status.json", nil)
	var got Status
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("/status.json: %v", err)
	}
	if !reflect.DeepEqual(got.RTSP, st.RTSP) {
		t.Errorf("/status.json rtsp = %+v, want %+v", got.RTSP, st.RTSP)
	}

	var text strings.Builder
	if err := WriteText(&text, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "cams") || !strings.Contains(text.String(), "3003") {
		t.Errorf("text status lacks the RTSP listener:\n%s", text.String())
	}
	// Without RTSP listeners the status says nothing about RTSP.
	text.Reset()
	if err := WriteText(&text, sample()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "rtsp") {
		t.Errorf("text status without RTSP listeners mentions rtsp:\n%s", text.String())
	}
}
