package rtsp

import (
	"strings"
	"testing"

	"github.com/algd/algd/internal/scrape"

	"github.com/algd/algd/alg"
)

// TestMetrics checks that an RTSP listener's counters reach /metrics
// under the algd_rtsp_* names and /status under their keys, from one
// table.
func TestMetrics(t *testing.T) {
	h := &Handler{Name: "cams", MediaPorts: alg.NewUDPPorts(20000, 20199), BackendPorts: alg.NewUDPPorts(30000, 30099)}
	s := h.stats()
	s.Conns.Store(13)
	s.Active.Store(2)
	s.Refused.Store(3)
	s.SessionsEnded.Store(9)
	s.Streams.Store(17)
	s.Interleaved.Store(5)
	s.Unsupported.Store(6)
	s.Exhausted.Store(7)
	s.SourcesRefused.Store(8)
	s.Media.UpPackets.Store(1001)
	s.Media.UpBytes.Store(2002)
	s.Media.DownPackets.Store(3003)
	s.Media.DownBytes.Store(4004)
	s.Media.Dropped.Store(55)
	s.Media.DroppedBy[alg.DropSource].Store(50)

	text, err := scrape.Text(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`algd_rtsp_sessions_active{listener="cams"} 2`,
		`algd_rtsp_sessions_total{listener="cams"} 13`,
		`algd_rtsp_sessions_refused_total{listener="cams"} 3`,
		`algd_rtsp_media_sessions{listener="cams"} 0`,
		`algd_rtsp_media_sessions_ended_total{listener="cams"} 9`,
		`algd_rtsp_streams_total{listener="cams",transport="udp"} 17`,
		`algd_rtsp_streams_total{listener="cams",transport="interleaved"} 5`,
		`algd_rtsp_setups_refused_total{listener="cams",reason="unsupported"} 6`,
		`algd_rtsp_setups_refused_total{listener="cams",reason="exhausted"} 7`,
		`algd_rtsp_setups_refused_total{listener="cams",reason="per_client"} 0`,
		`algd_rtsp_media_packets_total{direction="up",listener="cams"} 1001`,
		`algd_rtsp_media_bytes_total{direction="up",listener="cams"} 2002`,
		`algd_rtsp_media_packets_total{direction="down",listener="cams"} 3003`,
		`algd_rtsp_media_bytes_total{direction="down",listener="cams"} 4004`,
		`algd_rtsp_media_dropped_total{listener="cams"} 55`,
		`algd_rtsp_media_dropped_by_reason_total{listener="cams",reason="source"} 50`,
		`algd_rtsp_media_dropped_by_reason_total{listener="cams",reason="truncated"} 0`,
		`algd_rtsp_media_sources_refused_total{listener="cams"} 8`,
		`algd_rtsp_media_pairs_in_use{listener="cams",side="client"} 0`,
		`algd_rtsp_media_pairs{listener="cams",side="client"} 100`,
		`algd_rtsp_media_pairs_exhausted_total{listener="cams",side="client"} 0`,
		`algd_rtsp_media_pairs{listener="cams",side="backend"} 50`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	st := h.Status()
	if st.Proto != "rtsp" || st.Counters["sessions"] != 13 || st.Counters["bytes_down"] != 4004 || st.Counters["dropped.source"] != 50 {
		t.Errorf("Status counters = %v", st.Counters)
	}
	if len(st.Ranges) != 2 || st.Ranges[0] != (alg.RangeUsage{Name: "media", Size: 100}) || st.Ranges[1] != (alg.RangeUsage{Name: "backend_media", Size: 50}) {
		t.Errorf("Status ranges = %+v", st.Ranges)
	}
}
