package ipvs

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/algd/algd/tests/fakeftpd"
)

// TestRunnerFollowsHealth runs a Runner on fakes with real TCP health
// checks against listeners on 127.0.0.x: closing one realserver's health
// port drains it in the kernel, a reload changes the scheduler, and
// cleanup_on_exit removes everything at the end.
func TestRunnerFollowsHealth(t *testing.T) {
	var lns []net.Listener
	for _, a := range []string{"127.0.0.61:0", "127.0.0.62:0"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lns = append(lns, ln)
	}
	// Both listeners get the same port only by luck: use the first one's
	// port on both addresses.
	port := lns[0].Addr().(*net.TCPAddr).Port
	lns[1].Close()
	ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.62:%d", port))
	if err != nil {
		t.Fatalf("second listener on port %d: %v", port, err)
	}
	lns[1] = ln2
	defer ln2.Close()
	for _, ln := range lns {
		fakeftpd.ServeFunc(t, ln, func(net.Conn) {}) // accepts, then closes
	}

	doc := func(sched string) string {
		return fmt.Sprintf(`
[ipvs]
fwmark_range = "1-9"
cleanup_on_exit = true
[[pool]]
name = "p"
health = { interval = "50ms", rise = 1, fall = 1 }
realservers = [{ address = "127.0.0.61:1" }, { address = "127.0.0.62:1", weight = 2 }]
[[group]]
name = "g"
vip = "203.0.113.9"
ports = ["udp/5000-5100", "tcp/%d"]
pool = "p"
scheduler = %q
on_down = "drain"
`, port, sched)
	}
	c := loadTest(t, doc("sh"))
	fi, ff := &FakeIPVS{}, &FakeFirewall{}
	quiet := slog.New(slog.DiscardHandler)
	r := &Runner{Reconciler: &Reconciler{IPVS: fi, Firewall: ff, Logger: quiet}, Logger: quiet, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c) }()

	waitFor := func(what string, ok func(Service) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			svcs, _ := fi.Services()
			if len(svcs) == 1 && ok(svcs[0]) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		svcs, _ := fi.Services()
		t.Fatalf("%s: kernel has %+v", what, svcs)
	}
	weights := func(s Service) []uint32 {
		var w []uint32
		for _, d := range s.Dests {
			w = append(w, d.Weight)
		}
		return w
	}
	waitFor("start", func(s Service) bool { return slices.Equal(weights(s), []uint32{2, 1}) })

	ln2.Close() // 127.0.0.62 fails its check
	waitFor("health down drains", func(s Service) bool { return slices.Equal(weights(s), []uint32{0, 1}) })

	r.Reload(loadTest(t, doc("wrr")))
	waitFor("reload", func(s Service) bool { return s.Scheduler == "wrr" && s.Flags&SHFallback == 0 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if svcs, _ := fi.Services(); len(svcs) != 0 {
		t.Errorf("cleanup_on_exit left %+v", svcs)
	}
	if _, exists, _, _ := ff.Marks("algd"); exists {
		t.Error("cleanup_on_exit left the table")
	}
}

// TestRunnerKeep: after Keep (another algd took over), the end of Run
// leaves the services and the table in the kernel although
// cleanup_on_exit is set.
func TestRunnerKeep(t *testing.T) {
	c := loadTest(t, `
[ipvs]
fwmark_range = "1-9"
cleanup_on_exit = true
[[pool]]
name = "p"
health = { kind = "none" }
realservers = [{ address = "127.0.0.63:21" }]
[[group]]
name = "g"
vip = "203.0.113.9"
ports = ["tcp/21"]
pool = "p"
`)
	fi, ff := &FakeIPVS{}, &FakeFirewall{}
	quiet := slog.New(slog.DiscardHandler)
	r := &Runner{Reconciler: &Reconciler{IPVS: fi, Firewall: ff, Logger: quiet}, Logger: quiet, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c) }()
	deadline := time.Now().Add(10 * time.Second)
	for svcs, _ := fi.Services(); len(svcs) != 1; svcs, _ = fi.Services() {
		if time.Now().After(deadline) {
			t.Fatalf("kernel has %+v, want one service", svcs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Keep()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if svcs, _ := fi.Services(); len(svcs) != 1 {
		t.Errorf("after Keep the kernel has %+v, want the service left", svcs)
	}
	if _, exists, _, _ := ff.Marks("algd"); !exists {
		t.Error("after Keep the table was removed")
	}
}
