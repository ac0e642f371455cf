package daemon

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/tests/rtspsource"
)

// startRTSPSource runs a tests/rtspsource realserver playing "/stream"
// on ip and returns its RTSP address.
func startRTSPSource(t *testing.T, ip string, udpPort int) netip.AddrPort {
	t.Helper()
	return rtspsource.Start(t, ip, udpPort).Addr()
}

// scrape reads /metrics and returns the value of each sample, keyed by
// its line's name and labels as printed ("name{a=\"x\",b=\"y\"}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	out := make(map[string]float64)
	for _, line := range strings.Split(httpGet(t, "http://"+addr+"/metrics"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestRTSPMetrics plays a stream through algd's RTSP listener, UDP
// forced and interleaved, and finds what it relayed in /metrics
// (algd_rtsp_*) and /status.
func TestRTSPMetrics(t *testing.T) {
	const vip = "127.0.0.64"
	rs := startRTSPSource(t, "127.0.0.65", 64100)
	ctl := fmt.Sprintf("%s:%d", vip, freePort(t, vip))
	r := startDaemon(t, rtspConfig(ctl, vip, "64110-64129", "64130-64149", rs.String()))

	const l = `listener="cams"`
	for _, tc := range []struct {
		name  string
		proto gortsplib.Protocol
		// want are counters that must have grown by at least min.
		want map[string]float64
		// now are gauges that must be at least min.
		now map[string]float64
		// same are samples that must not change.
		same []string
	}{
		{"udp", gortsplib.ProtocolUDP, map[string]float64{
			`algd_rtsp_sessions_total{` + l + `}`:                       1,
			`algd_rtsp_streams_total{` + l + `,transport="udp"}`:        1,
			`algd_rtsp_media_packets_total{direction="down",` + l + `}`: 50,
			`algd_rtsp_media_bytes_total{direction="down",` + l + `}`:   50 * 100,
			`algd_rtsp_media_packets_total{direction="up",` + l + `}`:   1, // the client's punch packets
		}, map[string]float64{
			`algd_rtsp_media_pairs_in_use{` + l + `,side="client"}`:  1,
			`algd_rtsp_media_pairs_in_use{` + l + `,side="backend"}`: 1,
			`algd_rtsp_media_pairs{` + l + `,side="client"}`:         10,
			`algd_rtsp_media_pairs{` + l + `,side="backend"}`:        10,
			`algd_rtsp_media_sessions{` + l + `}`:                    1,
			`algd_rtsp_sessions_active{` + l + `}`:                   1,
		}, []string{`algd_rtsp_streams_total{` + l + `,transport="interleaved"}`}},
		{"tcp interleaved", gortsplib.ProtocolTCP, map[string]float64{
			`algd_rtsp_sessions_total{` + l + `}`:                        1,
			`algd_rtsp_streams_total{` + l + `,transport="interleaved"}`: 1,
		}, map[string]float64{
			`algd_rtsp_sessions_active{` + l + `}`: 1,
		}, []string{
			`algd_rtsp_streams_total{` + l + `,transport="udp"}`,
			`algd_rtsp_media_packets_total{direction="down",` + l + `}`,
			`algd_rtsp_media_bytes_total{direction="down",` + l + `}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The previous stream's last datagrams may still be on their
			// way through the relay: start from counters that have
			// stopped moving.
			before := scrape(t, r.admin)
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
				time.Sleep(200 * time.Millisecond)
				now := scrape(t, r.admin)
				moving := false
				for k, v := range now {
					if strings.HasPrefix(k, "algd_rtsp_media") && before[k] != v {
						moving = true
					}
				}
				before = now
				if !moving {
					break
				}
			}
			p := play(t, ctl, tc.proto)
			for end := time.Now().Add(20 * time.Second); p.got.Load() < 100 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			}
			if p.got.Load() < 100 {
				t.Fatalf("the client got %d packets through algd", p.got.Load())
			}
			after := scrape(t, r.admin)
			for k, min := range tc.want {
				v, ok := after[k]
				if !ok {
					t.Errorf("%s missing from /metrics", k)
					continue
				}
				if v-before[k] < min {
					t.Errorf("%s = %v (before %v), want it up by at least %v", k, v, before[k], min)
				}
			}
			for k, min := range tc.now {
				if v, ok := after[k]; !ok || v < min {
					t.Errorf("%s = %v (present %v), want at least %v", k, v, ok, min)
				}
			}
			for _, k := range tc.same {
				if after[k] != before[k] {
					t.Errorf("%s went from %v to %v, want no change over %s", k, before[k], after[k], tc.name)
				}
			}
			st, err := r.status()
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := st.Listener("cams"); !ok || l.Proto != "rtsp" || l.Pool != "media" || l.Counters["active"] < 1 {
				t.Errorf("/status listeners = %+v, want the rtsp listener cams on pool media with a session", st.Listeners)
			}
			var text strings.Builder
			if err := admin.WriteText(&text, st); err != nil || !strings.Contains(text.String(), "cams") {
				t.Errorf("algd status text lacks the RTSP listener (%v):\n%s", err, text.String())
			}
		})
	}
	// Both players are gone: their control connections and media
	// sessions are in the duration histograms.
	conns, media := `algd_rtsp_session_duration_seconds_count{`+l+`}`, `algd_rtsp_media_session_duration_seconds_count{`+l+`}`
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m := scrape(t, r.admin)
		if m[conns] >= 2 && m[media] >= 2 {
			break
		}
		if time.Now().After(end) {
			t.Errorf("%s = %v, %s = %v; want both at least 2", conns, m[conns], media, m[media])
			break
		}
	}
}
