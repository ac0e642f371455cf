package daemon

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	ftpc "github.com/jlaffaye/ftp"
)

// reloadConfig is one algd.toml of the reload test: the pool's
// realservers (address and weight) and whether the second listener is on.
// Its health checks connect only: under the test's 50 looping clients
// (and -race) a banner can take longer than a check's timeout, and the
// test is about reloads, not health.
func reloadConfig(rs []string, weights []int, second bool, l1, l2 string) string {
	var b strings.Builder
	b.WriteString("[[pool]]\nname = \"p\"\nscheduler = \"rr\"\nhealth = { kind = \"tcp\", interval = \"500ms\" }\n")
	for i, a := range rs {
		fmt.Fprintf(&b, "  [[pool.realservers]]\n  address = %q\n  weight = %d\n", a, weights[i])
	}
	fmt.Fprintf(&b, "\n[[ftp]]\nname = \"one\"\nlisten = [%q]\npool = \"p\"\npassive_ports = \"63000-63199\"\n", l1)
	if second {
		fmt.Fprintf(&b, "\n[[ftp]]\nname = \"two\"\nlisten = [%q]\npool = \"p\"\npassive_ports = \"63200-63399\"\n", l2)
	}
	b.WriteString("\n[limits]\nmax_sessions_per_client = 200\nmax_data_ports_per_client = 200\n\n[admin]\nlisten = \"ADMIN\"\nshutdown_timeout = \"30s\"\n")
	return b.String()
}

// TestReloadUnderLoad runs 50 clients downloading in a loop while the
// configuration is reloaded 20 times: a file with a syntax error, a
// realserver removed (and back), a listener added (and removed), weights
// changed. Every transfer must be byte-exact, and each change visible
// afterwards: the bad file changed nothing and was counted, the new
// listener answers, the removed realserver gets no new session.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	f := newFarm(t, 4<<20, "127.0.0.11", "127.0.0.12", "127.0.0.13")
	var rs []string
	for _, s := range f.servers {
		rs = append(rs, s.Addr().String())
	}
	l1 := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	l2 := fmt.Sprintf("127.0.0.2:%d", freePort(t, "127.0.0.2"))
	full := reloadConfig(rs, []int{1, 1, 1}, false, l1, l2)
	reduced := reloadConfig(rs[:2], []int{2, 1}, true, l1, l2)
	bad := full + "\n[[pool]\n"
	d := startDaemon(t, full)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	done := 0
	for i := range 50 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				err := download(l1, f.file, f.sum, time.Millisecond, nil)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("client %d transfer %d: %w", i, n, err))
				} else {
					done++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	// Let the load build up before the first reload.
	d.waitStatus(func(st admin.Status) bool { return st.Sessions >= 20 })

	type step struct {
		name    string
		text    string
		check   func(admin.Status) string
		members int
	}
	steps := []step{
		{"bad file", bad, func(st admin.Status) string {
			if st.Reloads.LastError == "" || !strings.Contains(st.Reloads.LastError, "algd.toml") {
				return "no error recorded: " + st.Reloads.LastError
			}
			return ""
		}, -1},
		{"realserver removed, listener added", reduced, func(st admin.Status) string {
			if len(st.Listeners) != 2 || st.Pools[0].Members[0].Weight != 2 {
				return fmt.Sprintf("listeners %d, weight %d", len(st.Listeners), st.Pools[0].Members[0].Weight)
			}
			return ""
		}, 2},
		{"back to full", full, func(st admin.Status) string {
			if len(st.Listeners) != 1 {
				return fmt.Sprintf("listeners %d", len(st.Listeners))
			}
			return ""
		}, 3},
	}
	members := 3
	var failed uint64
	for i := range 20 {
		s := steps[i%len(steps)]
		st := d.reload(s.text)
		if s.members < 0 {
			failed++
		} else {
			members = s.members
		}
		if st.Reloads.Failed != failed {
			t.Fatalf("reload %d (%s): failed reloads %d, want %d (%s)", i, s.name, st.Reloads.Failed, failed, st.Reloads.LastError)
		}
		if got := len(st.Pools[0].Members); got != members {
			t.Fatalf("reload %d (%s): %d realservers, want %d", i, s.name, got, members)
		}
		if msg := s.check(st); msg != "" {
			t.Fatalf("reload %d (%s): %s", i, s.name, msg)
		}
	}
	close(stop)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	st, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Reloads.OK != 13 || st.Reloads.Failed != 7 {
		t.Errorf("reloads %d ok %d failed, want 13 and 7", st.Reloads.OK, st.Reloads.Failed)
	}
	if got := st.Listeners[0].Counters["data_conns"]; got < int64(done) {
		t.Errorf("listener one counts %d data connections after reloads, %d transfers were made", got, done)
	}

	// The last reload removed the third realserver and added a listener:
	// new sessions, on both listeners, never reach the third.
	before := f.servers[2].Transfers()
	for i := range 12 {
		addr := l1
		if i%2 == 1 {
			addr = l2
		}
		if err := download(addr, f.file, f.sum, 0, nil); err != nil {
			t.Fatalf("after the reloads, %s: %v", addr, err)
		}
	}
	if got := f.servers[2].Transfers(); got != before {
		t.Errorf("removed realserver served %d new transfers", got-before)
	}
	if f.servers[0].Transfers() == 0 || f.servers[1].Transfers() == 0 {
		t.Errorf("remaining realservers served %d and %d transfers", f.servers[0].Transfers(), f.servers[1].Transfers())
	}
	t.Logf("%d transfers under 20 reloads", done)
}

// TestDrain sends SIGTERM while transfers are in flight: they finish
// byte-exact, an idle session is told 421, new connections are refused,
// /healthz says draining, and algd stops once the transfers are through.
func TestDrain(t *testing.T) {
	f := newFarm(t, 16<<20, "127.0.0.21")
	l1 := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, reloadConfig([]string{f.servers[0].Addr().String()}, []int{1}, false, l1, ""))

	idle, err := ftpc.Dial(l1, ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Quit()
	if err := idle.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}

	const n = 5
	results := make(chan error, n)
	var started []chan struct{}
	for range n {
		ch := make(chan struct{})
		started = append(started, ch)
		go func() { results <- download(l1, f.file, f.sum, 20*time.Millisecond, ch) }()
	}
	for _, ch := range started {
		<-ch
	}
	d.sig <- syscall.SIGTERM

	// New connections are refused once the listener is closed.
	d.waitStatus(func(st admin.Status) bool { return st.Draining })
	if c, err := net.DialTimeout("tcp", l1, 5*time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted while draining")
	}
	resp, err := http.Get("http://" + d.admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("healthz while draining: %s", resp.Status)
	}
	// The idle session is closed with 421 once it has been quiet for a
	// second (ftp's drainQuiet; it logged in before the downloads began).
	time.Sleep(1500 * time.Millisecond)
	if err := idle.NoOp(); err == nil || !strings.Contains(err.Error(), "421") {
		t.Errorf("idle session while draining: NOOP = %v, want a 421", err)
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("transfer in flight at SIGTERM: %v", err)
		}
	}
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("runDaemon: %v", d.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("algd did not stop after the transfers ended")
	}
	if !strings.Contains(d.logs.String(), "drained: every session ended") {
		t.Errorf("log lacks the drain result:\n%s", d.logs.String())
	}
}
