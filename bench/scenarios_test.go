//go:build bench

package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/bench/ftpload"
	"github.com/algd/algd/bench/stats"
	"github.com/algd/algd/tests/algdrun"
)

// usage is what one measured run cost.
type usage struct {
	wall, proxyCPU, allCPU float64
}

// measure runs fn and returns its wall time, the CPU time of the proxy
// (0 without one) and the busy CPU time of the whole machine.
func measure(t testing.TB, c *contender, fn func()) usage {
	t.Helper()
	var p0, p1 float64
	if c.proxy != nil {
		p0 = must(t)(cpuSeconds(c.proxy.PID()))
	}
	b0 := must(t)(busySeconds())
	start := time.Now()
	fn()
	u := usage{wall: time.Since(start).Seconds()}
	u.allCPU = must(t)(busySeconds()) - b0
	if c.proxy != nil {
		p1 = must(t)(cpuSeconds(c.proxy.PID()))
		u.proxyCPU = p1 - p0
		c.proxy.Alive(t)
	}
	return u
}

// must returns a function that passes a value through and fails t on
// an error.
func must(t testing.TB) func(float64, error) float64 {
	return func(v float64, err error) float64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// perfRecord starts perf on pid when -perf is set and c is one of the
// algd contenders in the first round; the returned function stops it.
// The profiles of algd are NAME.perf.data, those of the others
// CONTENDER-NAME.perf.data.
func perfRecord(t testing.TB, c *contender, round int, name string) func() {
	if *flagPerf == "" || !strings.HasPrefix(c.name, "algd") || round != 0 {
		return func() {}
	}
	if c.name != "algd" {
		name = c.name + "-" + name
	}
	out := filepath.Join(*flagPerf, name+".perf.data")
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(c.proxy.PID()), "-o", out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Logf("perf: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
}

// scenario1: one large passive download and upload with curl.
func (e *env) scenario1(t *testing.T) {
	gib := float64(e.bigSize) / (1 << 30)
	mib := float64(e.bigSize) / (1 << 20)
	for round := range *flagRounds {
		for _, c := range e.contenders {
			base := fmt.Sprintf("ftp://anonymous:bench@%s/upload/", c.addr)
			curl := append(append([]string(nil), c.wrap...), "timeout", "300", "curl", "-sS", "--disable-epsv")
			// Download.
			stop := perfRecord(t, c, round, "s1-download")
			var out string
			u := measure(t, c, func() { out = run(t, append(curl, "-o", "/dev/null", "-w", "%{size_download}", base+"big")...) })
			stop()
			if got, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64); got != e.bigSize {
				t.Fatalf("%s download: %s bytes, want %d", c.name, out, e.bigSize)
			}
			e.results.add("1", "download MiB/s", c.name, mib/u.wall)
			e.results.add("1", "download proxy CPU s/GiB", c.name, u.proxyCPU/gib)
			e.results.add("1", "download machine CPU s/GiB", c.name, u.allCPU/gib)
			// Upload.
			name := fmt.Sprintf("up-%s-%d", c.name, round)
			stop = perfRecord(t, c, round, "s1-upload")
			u = measure(t, c, func() { run(t, append(curl, "-T", e.big, base+name)...) })
			stop()
			fi, err := os.Stat(c.vs.Path(name))
			if err != nil || fi.Size() != e.bigSize {
				t.Fatalf("%s upload: %v, size %v, want %d", c.name, err, fi, e.bigSize)
			}
			os.Remove(c.vs.Path(name))
			e.results.add("1", "upload MiB/s", c.name, mib/u.wall)
			e.results.add("1", "upload proxy CPU s/GiB", c.name, u.proxyCPU/gib)
			e.results.add("1", "upload machine CPU s/GiB", c.name, u.allCPU/gib)
			t.Logf("s1 round %d %s done", round, c.name)
		}
	}
}

// ftploadJSON runs the load generator for contender c and decodes its
// JSON result into v.
func (e *env) ftploadJSON(t *testing.T, c *contender, v any, args ...string) {
	t.Helper()
	argv := append(append(append([]string(nil), c.wrap...), e.ftpload), args...)
	out := run(t, argv...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: %v: %q", strings.Join(argv, " "), err, out)
	}
}

// scenario2: short sessions, 50 concurrent clients.
func (e *env) scenario2(t *testing.T) {
	dur := *flagShortDur
	if dur == 0 {
		dur = 8 * time.Second
	}
	for round := range *flagRounds {
		for _, c := range e.contenders {
			var r ftpload.ShortResult
			stop := perfRecord(t, c, round, "s2-short")
			u := measure(t, c, func() {
				e.ftploadJSON(t, c, &r, "short", "-addr", c.addr.String(), "-path", "upload/1k", "-c", strconv.Itoa(*flagShortC), "-d", dur.String())
			})
			stop()
			if r.Failed > 0 {
				t.Logf("s2 %s: %d failed sessions, first: %s", c.name, r.Failed, r.FirstError)
			}
			e.results.add("2", "sessions/s", c.name, r.PerSecond)
			e.results.add("2", "failed", c.name, float64(r.Failed))
			if r.Sessions > 0 {
				e.results.add("2", "proxy CPU ms/session", c.name, 1000*u.proxyCPU/float64(r.Sessions))
			}
			t.Logf("s2 round %d %s: %.0f sessions/s", round, c.name, r.PerSecond)
		}
	}
}

// scenario4: many concurrent 1 MiB downloads, each checked.
func (e *env) scenario4(t *testing.T) {
	for round := range *flagRounds {
		for _, c := range e.contenders {
			var r ftpload.TransferResult
			u := measure(t, c, func() {
				e.ftploadJSON(t, c, &r, "xfer", "-addr", c.addr.String(), "-path", "upload/1m", "-sha256", e.sum1m, "-n", strconv.Itoa(*flagXfers))
			})
			if r.Failed+r.Corrupt > 0 {
				t.Logf("s4 %s: %d failed, %d corrupt, first: %s", c.name, r.Failed, r.Corrupt, r.FirstError)
			}
			e.results.add("4", "aggregate MiB/s", c.name, r.MiBps)
			e.results.add("4", "failed+corrupt", c.name, float64(r.Failed+r.Corrupt))
			e.results.add("4", "proxy CPU s/GiB", c.name, u.proxyCPU/(float64(r.Bytes)/(1<<30)))
			t.Logf("s4 round %d %s: %.0f MiB/s, %d ok", round, c.name, r.MiBps, r.OK)
		}
	}
}

// scenario3: idle logged-in sessions through a fresh proxy in front of
// ftpserverlib; the proxy's resident memory at each step and the slope.
func (e *env) scenario3(t *testing.T) {
	backend := algdrun.Run(t, "ftpserverlib", []string{e.ftpload, "serve", "-addr", demoAddr.String(), "-passive", "65000-65099"})
	waitBanner(t, backend, demoAddr, nil)
	var steps []float64
	for _, f := range strings.Split(*flagSteps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("-idle-steps: %v", err)
		}
		steps = append(steps, float64(n))
	}
	for round := range *flagRounds {
		for _, name := range []string{"algd", "haproxy"} {
			var p *algdrun.Proc
			var vip = algdIdleVIP
			if name == "algd" {
				p = startAlgd(t, e.algd, algdIdleVIP, demoAddr, 65100, 65199, e.proxyPath)
			} else {
				vip = haproxyIdle
				p = startHAProxy(t, "haproxy-idle", haproxyConfig(haproxyIdle.Addr(), haproxyIdle.Port(), demoAddr.Addr(), 0, 0, false), haproxyIdle)
			}
			rss := e.idleRun(t, p, vip, *flagSteps)
			p.Stop()
			for i, r := range rss {
				e.results.add("3", fmt.Sprintf("RSS MiB at %.0f", steps[i]), name, r/(1<<20))
			}
			slope, err := stats.Slope(steps, rss)
			if err != nil {
				t.Fatal(err)
			}
			e.results.add("3", "bytes/session (slope)", name, slope)
			t.Logf("s3 round %d %s: %.0f bytes/session", round, name, slope)
		}
	}
}

// idleRun holds idle sessions through p at each step and returns p's
// resident memory at each.
func (e *env) idleRun(t *testing.T, p *algdrun.Proc, vip interface{ String() string }, steps string) []float64 {
	t.Helper()
	cmd := exec.Command(e.ftpload, "idle", "-addr", vip.String(), "-user", "demo", "-pass", "demo", "-steps", steps)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	var rss []float64
	for sc.Scan() {
		var m map[string]int
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("idle: %v: %q", err, sc.Text())
		}
		if bad, done := m["bad"]; done {
			if bad != 0 {
				t.Errorf("idle via %s: %d of %d sessions dead at the end", p.Name(), bad, m["held"])
			}
			return rss
		}
		// Let the proxy settle (GC, lazily freed buffers) before reading.
		time.Sleep(2 * time.Second)
		p.Alive(t)
		rss = append(rss, must(t)(rssBytes(p.PID())))
		if _, err := stdin.Write([]byte("next\n")); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("idle via %s ended early: %v\n%s\n%s", p.Name(), sc.Err(), stderr.String(), p.Tail(50))
	return nil
}
