//go:build interop

package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	ftpc "github.com/jlaffaye/ftp"
)

// TestStatusPageInChromium loads /status in headless Chromium (Debian's
// chromium, installed by tests/peers/fetch.sh) the way an operator's
// browser does, from a daemon with traffic: finished downloads, one in
// flight, a refused session. It checks that the rendered page shows the
// realservers with their state, bytes and check columns, a live session
// with its client and realserver, and the three charts with a line per
// series; then it takes a screenshot and checks that the charts' lines
// are drawn in it. With ALGD_STATUS_SCREENSHOT set, the PNG is written
// there (docs/status-page.png comes from it).
func TestStatusPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("chromium not found: run tests/peers/fetch.sh")
	}
	f := newFarm(t, 1<<20, "127.0.0.41", "127.0.0.42")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	text := fmt.Sprintf(`[[pool]]
name = "farm"
scheduler = "rr"
health = { kind = "ftp", interval = "500ms" }
realservers = [{ address = %q }, { address = %q, weight = 0 }]

[[ftp]]
name = "vip"
listen = [%q]
pool = "farm"
passive_ports = "63500-63599"

[limits]
max_sessions = 3

[admin]
listen = "ADMIN"
`, f.servers[0].Addr(), f.servers[1].Addr(), listen)
	d := startDaemonWith(t, text, slog.LevelInfo, false, Options{HistoryEvery: 250 * time.Millisecond})

	// A live session that has downloaded the file once.
	c, err := ftpc.Dial(listen, ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}
	if err := retrieve(c, f); err != nil {
		t.Fatal(err)
	}
	// Traffic for the charts: downloads one after another, then one slow
	// one in flight beside the idle session; a third session fills
	// max_sessions and a fourth is refused.
	for i := range 4 {
		if err := download(listen, f.file, f.sum, 0, nil); err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	started, resume := make(chan struct{}), make(chan struct{})
	slow := make(chan error, 1)
	go func() { slow <- gatedDownload(listen, f, started, resume) }()
	<-started
	idle, err := ftpc.Dial(listen, ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Quit()
	if rc, err := net.DialTimeout("tcp", listen, 5*time.Second); err == nil {
		rc.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, _ := rc.Read(buf)
		rc.Close()
		if !bytes.HasPrefix(buf[:n], []byte("421")) {
			t.Errorf("fourth session got %q, want a 421", buf[:n])
		}
	}
	st := d.waitStatus(func(st admin.Status) bool {
		refused := false
		for _, s := range st.History {
			refused = refused || s.Refused > 0
		}
		return len(st.Live) == 3 && refused && len(st.History) >= 12 && !st.Pools[0].Members[0].LastCheck.IsZero()
	})
	var live, running alg.SessionInfo
	for _, in := range st.Live {
		switch {
		case in.Transferring:
			running = in // the gated download
		case in.Transfers == 1:
			live = in // the first session, idle after its download
		}
	}
	if running.ID == "" || live.ID == "" || running.BytesDown == 0 {
		t.Fatalf("want an idle session after its download and one with bytes in flight: %+v", st.Live)
	}

	dom := chromium(t, bin, "--dump-dom", "http://"+d.admin+"/status")
	for _, want := range []string{
		"<title>algd status</title>",
		f.servers[0].Addr().String(), `class="up">up`,
		f.servers[1].Addr().String(), `class="drained">drained`,
		live.ID, live.Client.String(), live.Realserver.String(), "1.0 MiB",
		`http-equiv="refresh"`,
		"<th>last change</th>", "<th>check failures</th>", "none since start",
		`id="chart-sessions"`, `id="chart-throughput"`, `id="chart-refused"`,
		"<td>" + running.ID + "</td>", "FTP passive (transferring)",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium rendered lacks %q", want)
		}
	}
	// Each series a polyline of one point per sample.
	lines := regexp.MustCompile(`<polyline class="line s\d" data-series="(\w+)" points="([^"]*)"`).FindAllStringSubmatch(dom, -1)
	series := map[string]int{}
	for _, m := range lines {
		series[m[1]] = len(strings.Fields(m[2]))
	}
	for _, name := range []string{"sessions", "transferring", "down", "up", "refused"} {
		if series[name] < 12 {
			t.Errorf("series %s drawn with %d points, want at least 12", name, series[name])
		}
	}
	if strings.Contains(dom, "collecting samples") {
		t.Error("a chart still collects samples")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	// The screenshot: the charts' lines are there in their colours.
	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, bin, "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars", "http://"+d.admin+"/status")
	blue, orange := countColours(t, shot)
	t.Logf("screenshot: %d pixels of the first series' blue, %d of the second's orange", blue, orange)
	if blue < 300 || orange < 200 {
		t.Errorf("screenshot has %d blue and %d orange pixels: the charts are not drawn", blue, orange)
	}
	if out := os.Getenv("ALGD_STATUS_SCREENSHOT"); out != "" {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	close(resume)
	if err := <-slow; err != nil {
		t.Errorf("gated download: %v", err)
	}
}

// gatedDownload logs in at addr and fetches the farm's file, reading the
// first 256 KiB, closing started, and the rest once resume is closed; it
// checks every byte.
func gatedDownload(addr string, f *farm, started, resume chan struct{}) error {
	c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Quit()
	if err := c.Login("demo", "demo"); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	resp, err := c.Retr(f.file)
	if err != nil {
		return fmt.Errorf("retr: %w", err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, resp, 256<<10); err != nil {
		resp.Close()
		return fmt.Errorf("read: %w", err)
	}
	close(started)
	<-resume
	if _, err := io.Copy(h, resp); err != nil {
		resp.Close()
		return fmt.Errorf("read: %w", err)
	}
	if err := resp.Close(); err != nil {
		return fmt.Errorf("transfer reply: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), f.sum[:]) {
		return fmt.Errorf("content differs from the file")
	}
	return nil
}

// chromium runs headless Chromium with args and returns its output.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, args...)
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	return string(out)
}

// countColours counts the pixels of the PNG at path close to the charts'
// first (#1565c0) and second (#e65100) series colours.
func countColours(t *testing.T, path string) (blue, orange int) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	near := func(r, g, b uint32, want [3]int) bool {
		d := func(a uint32, w int) int { return max(int(a>>8)-w, w-int(a>>8)) }
		return d(r, want[0]) < 40 && d(g, want[1]) < 40 && d(b, want[2]) < 40
	}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			switch {
			case near(r, g, b, [3]int{0x15, 0x65, 0xc0}):
				blue++
			case near(r, g, b, [3]int{0xe6, 0x51, 0x00}):
				orange++
			}
		}
	}
	return blue, orange
}
