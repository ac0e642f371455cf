//go:build interop

package daemon

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	ftpc "github.com/jlaffaye/ftp"
)

// TestStatusPageInChromium loads /status in headless Chromium (Debian's
// chromium, installed by tests/peers/fetch.sh) the way an operator's
// browser does, and checks that the rendered page shows the realservers
// with their state and a live session with its client and realserver.
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

[admin]
listen = "ADMIN"
`, f.servers[0].Addr(), f.servers[1].Addr(), listen)
	d := startDaemon(t, text)

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
	st := d.waitStatus(func(st admin.Status) bool {
		return len(st.Live) == 1 && st.Live[0].Transfers == 1 && !st.Pools[0].Members[0].LastCheck.IsZero()
	})
	live := st.Live[0]

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "http://"+d.admin+"/status")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	dom := string(out)
	for _, want := range []string{
		"<title>algd status</title>",
		f.servers[0].Addr().String(), `class="up">up`,
		f.servers[1].Addr().String(), `class="drained">drained`,
		live.ID, live.Client.String(), live.Realserver.String(), "1.0 MiB",
		`http-equiv="refresh"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium rendered lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
