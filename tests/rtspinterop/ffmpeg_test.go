//go:build interop

package rtspinterop

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
)

func itoa(n int) string { return strconv.Itoa(n) }

var vip = netip.MustParseAddr("127.0.0.10")

// startGateway runs algd's RTSP gateway on the VIP in front of rs; its
// pool's media_sources are sources.
func startGateway(t *testing.T, rs netip.AddrPort, sources ...netip.Prefix) (*rtsp.Handler, netip.AddrPort) {
	t.Helper()
	pc := conf.Pool{Name: "media", Scheduler: "rr", Health: conf.Health{Kind: "none"},
		Realservers: []conf.Realserver{{AddrPort: rs}}, MediaSourceNets: sources}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := &rtsp.Handler{
		Stats:         &rtsp.Stats{},
		Pool:          pool.New(pc, pool.NoChecker{}),
		Sessions:      limits.NewSessions(100, 50),
		MediaPorts:    alg.NewUDPPorts(63400, 63499),
		BackendPorts:  alg.NewUDPPorts(63500, 63599),
		Advertise:     vip,
		BackendSource: vip,
		Limits: conf.Limits{MaxLineBytes: 4096, ControlIdleTimeout: conf.Duration{Duration: time.Minute},
			BackendConnectTimeout: conf.Duration{Duration: 5 * time.Second}},
		Logger: log,
	}
	ln, err := alg.Listen(context.Background(), netip.AddrPortFrom(vip, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &alg.Server{Handler: h, Logger: log}
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { cancel(); srv.Wait(); h.Close() })
	return h, alg.AddrPortOf(ln.Addr())
}

func need(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not installed (tests/peers/fetch.sh installs it): %v", bin, err)
	}
	return p
}

// publish runs ffmpeg sending a test pattern (25 fps, MPEG-4 part 2)
// to url for d, in the background.
func publish(t *testing.T, url, transport string, d time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(need(t, "ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", fmt.Sprint(d.Seconds()),
		"-c:v", "mpeg4", "-g", "25", "-f", "rtsp", "-rtsp_transport", transport, url)
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if out.Len() > 0 {
			t.Logf("publisher %s: %s", url, out.String())
		}
	})
	return cmd
}

var frameRE = regexp.MustCompile(`frame=\s*(\d+)`)

// readFrames reads url with ffmpeg for d and returns the frames decoded.
func readFrames(ctx context.Context, url, transport string, d time.Duration) (int, string, error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-rtsp_transport", transport,
		"-i", url, "-t", fmt.Sprint(d.Seconds()), "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	m := frameRE.FindAllStringSubmatch(string(out), -1)
	if len(m) == 0 {
		return 0, string(out), fmt.Errorf("no frame count: %v", err)
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n, string(out), err
}

// waitPublished waits until path is published on s.
func waitPublished(t *testing.T, s *relayServer, path string) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if s.get(path) != nil {
			return
		}
	}
	t.Fatalf("nothing published on %s", path)
}

// TestFFmpeg publishes directly and through algd, then reads both ways
// and over both transports at once, in one run: algd's reader must get
// at least 80 % of the frames the direct reader gets (counts vary about
// ±20 % between runs, so they are compared, never fixed).
func TestFFmpeg(t *testing.T) {
	need(t, "ffmpeg")
	rs := startRelayServer(t, "127.0.0.41", 63710)
	h, gw := startGateway(t, rs.addr)
	direct := "rtsp://" + rs.addr.String()
	via := "rtsp://" + gw.String()

	publish(t, direct+"/direct", "tcp", 30*time.Second)
	publish(t, via+"/recorded", "udp", 30*time.Second) // RECORD through algd over UDP
	waitPublished(t, rs, "/direct")
	waitPublished(t, rs, "/recorded")
	if !waitUp(h) || h.Stats.Streams.Load() < 1 { // waitPublished returns at ANNOUNCE, before the SETUP
		t.Fatalf("RECORD through algd: streams %d, up packets %d", h.Stats.Streams.Load(), h.Stats.Media.UpPackets.Load())
	}

	type read struct {
		name, url, transport string
	}
	reads := []read{
		{"direct udp", direct + "/direct", "udp"},
		{"algd udp", via + "/direct", "udp"},
		{"direct tcp", direct + "/direct", "tcp"},
		{"algd tcp", via + "/direct", "tcp"},
		{"recorded via algd, read direct", direct + "/recorded", "tcp"},
		{"recorded via algd, read via algd udp", via + "/recorded", "udp"},
	}
	counts := make([]int, len(reads))
	errs := make([]error, len(reads))
	outs := make([]string, len(reads))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	downBefore := h.Stats.Media.DownPackets.Load()
	var wg sync.WaitGroup
	for i, r := range reads {
		wg.Go(func() {
			// Staggered: gortsplib v5.2.0's server races (go test -race)
			// when two sessions SETUP the same stream at once
			// (ServerStream.readerAdd reads another session's
			// setuppedMedias while that session writes it).
			time.Sleep(time.Duration(i) * 400 * time.Millisecond)
			counts[i], outs[i], errs[i] = readFrames(ctx, r.url, r.transport, 8*time.Second)
		})
	}
	wg.Wait()
	for i, r := range reads {
		t.Logf("%-40s %s: %d frames", r.name, r.transport, counts[i])
		if errs[i] != nil {
			t.Errorf("%s: %v\n%s", r.name, errs[i], outs[i])
		}
		if r.transport == "udp" && (strings.Contains(outs[i], "Falling back to TCP") || strings.Contains(outs[i], "UDP timeout, retrying with TCP")) {
			t.Errorf("%s: ffmpeg fell back to TCP", r.name)
		}
	}
	base := counts[0] // direct udp
	if base < 100 {
		t.Fatalf("direct reader got only %d frames in 8 s at 25 fps", base)
	}
	for i := 1; i < len(reads); i++ {
		if counts[i]*10 < base*8 {
			t.Errorf("%s: %d frames, want at least 80%% of the direct reader's %d", reads[i].name, counts[i], base)
		}
	}
	if down := h.Stats.Media.DownPackets.Load() - downBefore; down < int64(base) {
		t.Errorf("algd relayed %d UDP packets down to the UDP readers, want at least %d", down, base)
	}
	t.Logf("relay: up %d, down %d packets, dropped %d", h.Stats.Media.UpPackets.Load(), h.Stats.Media.DownPackets.Load(), h.Stats.Media.Dropped.Load())
}

func waitUp(h *rtsp.Handler) bool {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if h.Stats.Media.UpPackets.Load() > 50 {
			return true
		}
	}
	return false
}

// TestFFprobe describes a stream through algd over each transport: the
// SDP (with rewritten URLs) must name the codec.
func TestFFprobe(t *testing.T) {
	bin := need(t, "ffprobe")
	rs := startRelayServer(t, "127.0.0.41", 63720)
	_, gw := startGateway(t, rs.addr)
	publish(t, "rtsp://"+rs.addr.String()+"/p", "tcp", 30*time.Second)
	waitPublished(t, rs, "/p")
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-v", "error", "-rtsp_transport", tr,
				"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "rtsp://"+gw.String()+"/p").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "mpeg4,320,240") {
				t.Errorf("ffprobe over %s: %q, %v", tr, out, err)
			}
		})
	}
}
