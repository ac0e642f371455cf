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

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
	"github.com/algd/algd/tests/inproc"
)

func itoa(n int) string { return strconv.Itoa(n) }

var vip = netip.MustParseAddr("127.0.0.10")

// gateway is algd (internal/daemon, wired as production wires it) with
// one [[rtsp]] listener "cams" on the VIP in front of pool "media".
type gateway struct {
	addr netip.AddrPort
	d    *daemon.Daemon
}

// startGateway runs algd on the VIP in front of rs until the test ends;
// its pool's media_sources are sources.
func startGateway(t *testing.T, rs netip.AddrPort, sources ...netip.Prefix) *gateway {
	t.Helper()
	gw := &gateway{addr: inproc.FreePort(t, vip.String())}
	cfg := &conf.Config{
		Pools: []conf.Pool{{Name: "media", Scheduler: "rr", Health: conf.Health{Kind: "none"},
			Realservers: []conf.Realserver{{AddrPort: rs}}, MediaSourceNets: sources}},
		RTSP: []conf.RTSP{{Name: "cams", ListenAddrs: []netip.AddrPort{gw.addr}, Pool: "media",
			AdvertiseAddr: vip, Media: conf.PortRange{First: 63400, Last: 63499},
			BackendSourceAddr: vip, BackendMedia: conf.PortRange{First: 63500, Last: 63599}}},
		Limits: conf.Limits{MaxSessions: 100, MaxSessionsPerClient: 50, MaxLineBytes: 4096,
			ControlIdleTimeout:    conf.Duration{Duration: time.Minute},
			BackendConnectTimeout: conf.Duration{Duration: 5 * time.Second}},
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	gw.d = inproc.Start(t, cfg, daemon.Options{Logger: log})
	return gw
}

// counter reads one counter of the listener by its /status name (the
// keys of rtsp/metrics.go: "streams.udp", "packets_down",
// "dropped.source"): the one place these suites read algd's counters.
func (g *gateway) counter(t *testing.T, name string) int64 {
	t.Helper()
	return inproc.Counter(t, g.d, "cams", name)
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
	gw := startGateway(t, rs.addr)
	direct := "rtsp://" + rs.addr.String()
	via := "rtsp://" + gw.addr.String()

	publish(t, direct+"/direct", "tcp", 30*time.Second)
	publish(t, via+"/recorded", "udp", 30*time.Second) // RECORD through algd over UDP
	waitPublished(t, rs, "/direct")
	waitPublished(t, rs, "/recorded")
	if !waitUp(t, gw) || gw.counter(t, "streams.udp") < 1 { // waitPublished returns at ANNOUNCE, before the SETUP
		t.Fatalf("RECORD through algd: streams %d, up packets %d", gw.counter(t, "streams.udp"), gw.counter(t, "packets_up"))
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
	downBefore := gw.counter(t, "packets_down")
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
	if down := gw.counter(t, "packets_down") - downBefore; down < int64(base) {
		t.Errorf("algd relayed %d UDP packets down to the UDP readers, want at least %d", down, base)
	}
	t.Logf("relay: up %d, down %d packets, dropped %d", gw.counter(t, "packets_up"), gw.counter(t, "packets_down"), gw.counter(t, "dropped"))
}

// waitUp waits until algd relayed more than 50 packets up.
func waitUp(t *testing.T, gw *gateway) bool {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if gw.counter(t, "packets_up") > 50 {
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
	gw := startGateway(t, rs.addr)
	publish(t, "rtsp://"+rs.addr.String()+"/p", "tcp", 30*time.Second)
	waitPublished(t, rs, "/p")
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-v", "error", "-rtsp_transport", tr,
				"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "rtsp://"+gw.addr.String()+"/p").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "mpeg4,320,240") {
				t.Errorf("ffprobe over %s: %q, %v", tr, out, err)
			}
		})
	}
}
