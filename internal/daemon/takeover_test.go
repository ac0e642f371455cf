package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/logbuf"
)

// takeoverConfig is the algd.toml of the takeover test: one FTP listener
// on vip with a passive range of ten ports, so that the new algd meets
// ports the old one still holds.
func takeoverConfig(rs []string, vip, sock string) string {
	var b strings.Builder
	b.WriteString("[[pool]]\nname = \"p\"\nscheduler = \"rr\"\nhealth = { kind = \"tcp\", interval = \"500ms\" }\n")
	for _, a := range rs {
		fmt.Fprintf(&b, "  [[pool.realservers]]\n  address = %q\n", a)
	}
	fmt.Fprintf(&b, "\n[[ftp]]\nname = \"one\"\nlisten = [%q]\npool = \"p\"\npassive_ports = \"63000-63009\"\n", vip)
	fmt.Fprintf(&b, "\n[admin]\nlisten = \"ADMIN\"\nshutdown_timeout = \"60s\"\ntakeover_socket = %q\n", sock)
	return b.String()
}

// startTakeover runs a second algd on r's configuration file, as `algd
// run` started again would; it returns once its runDaemon has the
// sockets (its status answers) or failed.
func startTakeover(t *testing.T, r *daemonRun) *daemonRun {
	t.Helper()
	n := &daemonRun{t: t, path: r.path, admin: r.admin, sig: make(chan os.Signal, 1),
		done: make(chan struct{}), logs: &logbuf.Buffer{}}
	cfg, err := conf.Load(n.path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(n.logs, nil))
	go func() {
		n.err = runDaemon(cfg, n.path, Options{Logger: log, KernelOff: "in-package test"}, n.sig)
		close(n.done)
	}()
	t.Cleanup(func() {
		select {
		case <-n.done:
			return
		default:
		}
		n.sig <- syscall.SIGTERM
		<-n.done
		if t.Failed() {
			t.Logf("new algd log:\n%s", n.logs.String())
		}
	})
	return n
}

// TestTakeoverUnderLoad restarts algd while it serves: four slow downloads
// in flight on the old process, four clients looping over new sessions,
// and a second algd started on the same file. The new algd takes the
// listening sockets over the takeover socket, the old one drains. Every
// client is served (no connection refused, no failed session), every
// transfer is byte-exact, the old algd exits once its transfers ended,
// and the new one then serves alone.
func TestTakeoverUnderLoad(t *testing.T) {
	f := newFarm(t, 2<<20, "127.0.0.11", "127.0.0.12")
	var rs []string
	for _, s := range f.servers {
		rs = append(rs, s.Addr().String())
	}
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	sock := filepath.Join(t.TempDir(), "takeover.sock")
	old := startDaemon(t, takeoverConfig(rs, vip, sock))
	pidBefore := old.waitStatus(func(admin.Status) bool { return true }).Started

	// Slow downloads on the old process: 8 chunks, 400 ms apart.
	var slow sync.WaitGroup
	slowErrs := make([]error, 4)
	for i := range slowErrs {
		started := make(chan struct{})
		slow.Go(func() {
			slowErrs[i] = downloadFrom(fmt.Sprintf("127.0.0.3%d", i+1), vip, f.file, f.sum, 400*time.Millisecond, started)
		})
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("slow download did not start")
		}
	}

	// Clients looping over new sessions through the restart.
	var (
		stop              = make(chan struct{})
		load              sync.WaitGroup
		mu                sync.Mutex
		loadErrs          []error
		refused, served   atomic.Int64
		servedAfterSwitch atomic.Int64
		switched          atomic.Bool
	)
	for i := range 4 {
		load.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				err := downloadFrom(fmt.Sprintf("127.0.0.2%d", i+1), vip, f.file, f.sum, 0, nil)
				switch {
				case err == nil:
					served.Add(1)
					if switched.Load() {
						servedAfterSwitch.Add(1)
					}
				case errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
					fallthrough
				default:
					mu.Lock()
					loadErrs = append(loadErrs, fmt.Errorf("client %d session %d: %w", i, n, err))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)

	next := startTakeover(t, old)
	// The old algd drains: its transfers end, then it exits.
	select {
	case <-old.done:
	case <-time.After(90 * time.Second):
		t.Fatal("the old algd did not exit after the takeover")
	}
	switched.Store(true)
	if old.err != nil {
		t.Errorf("old algd: %v", old.err)
	}
	slow.Wait()
	for i, err := range slowErrs {
		if err != nil {
			t.Errorf("slow download %d across the takeover: %v", i, err)
		}
	}
	// The new algd serves alone now.
	deadline := time.Now().Add(30 * time.Second)
	for servedAfterSwitch.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	load.Wait()

	st := next.waitStatus(func(admin.Status) bool { return true })
	if !st.Started.After(pidBefore) {
		t.Errorf("the admin listener still answers for the old algd (started %v)", st.Started)
	}
	t.Logf("sessions served %d (%d after the old algd exited), refused %d, failed %d",
		served.Load(), servedAfterSwitch.Load(), refused.Load(), len(loadErrs))
	if refused.Load() != 0 {
		t.Errorf("%d connections refused during the restart", refused.Load())
	}
	for _, err := range loadErrs {
		t.Error(err)
	}
	if servedAfterSwitch.Load() < 8 {
		t.Errorf("the new algd served %d sessions alone, want 8", servedAfterSwitch.Load())
	}
	if !strings.Contains(old.logs.String(), "taken over by pid") {
		t.Errorf("the old algd did not log the takeover:\n%s", old.logs.String())
	}
	if !strings.Contains(next.logs.String(), "received the listening sockets") {
		t.Errorf("the new algd did not take the sockets over:\n%s", next.logs.String())
	}
	// The new algd met passive ports the old one held, and used others.
	if busy := st.Listeners[0].Range("passive").Busy; busy == 0 {
		t.Errorf("no passive port counted busy: the new algd never met one the old algd held")
	} else {
		t.Logf("passive ports skipped as held by the old algd: %d", busy)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("the new algd does not listen on the takeover socket: %v", err)
	}
}

// TestTakeoverAbort: a second algd whose file cannot be served (an
// address nobody can bind) hangs up before "ready"; the running algd keeps
// serving and can still be taken over.
func TestTakeoverAbort(t *testing.T) {
	f := newFarm(t, 64<<10, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	sock := filepath.Join(t.TempDir(), "takeover.sock")
	text := takeoverConfig([]string{f.servers[0].Addr().String()}, vip, sock)
	old := startDaemon(t, text)

	// 192.0.2.1 (TEST-NET-1) is no address of this host: bind fails.
	bad := strings.Replace(text, "name = \"one\"", "name = \"zero\"\nlisten = [\"192.0.2.1:2121\"]\npool = \"p\"\npassive_ports = \"63100-63109\"\n\n[[ftp]]\nname = \"one\"", 1)
	badPath := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(badPath, []byte(strings.ReplaceAll(bad, "ADMIN", old.admin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(badPath)
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	if err := runDaemon(cfg, badPath, Options{Logger: slog.New(slog.DiscardHandler)}, sig); err == nil {
		t.Fatal("the second algd started on an address it cannot bind")
	}
	if err := download(vip, f.file, f.sum, 0, nil); err != nil {
		t.Fatalf("the running algd stopped serving after an aborted takeover: %v", err)
	}
	select {
	case <-old.done:
		t.Fatal("the running algd exited after an aborted takeover")
	default:
	}
	next := startTakeover(t, old)
	select {
	case <-old.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the old algd did not exit after the takeover")
	}
	if err := download(vip, f.file, f.sum, 0, nil); err != nil {
		t.Fatalf("after the takeover: %v", err)
	}
	next.sig <- syscall.SIGTERM
	<-next.done
}

// TestTakeoverRTSP takes over an RTSP listener while a UDP stream plays
// on the old algd: the new one sets up and plays a stream of its own,
// skipping (and counting) the media pair the old one holds; the old
// stream goes on until its client tears it down, and then the old algd
// exits.
func TestTakeoverRTSP(t *testing.T) {
	const vip = "127.0.0.72"
	rs := startRTSPSource(t, "127.0.0.73", 64390)
	ctl := net.JoinHostPort(vip, strconv.Itoa(freePort(t, vip)))
	sock := filepath.Join(t.TempDir(), "takeover.sock")
	old := startDaemon(t, rtspConfig(ctl, vip, "64400-64409", "64410-64419", rs.String())+
		fmt.Sprintf("takeover_socket = %q\n", sock))
	before := play(t, ctl, gortsplib.ProtocolUDP)

	next := startTakeover(t, old)
	for end := time.Now().Add(30 * time.Second); !strings.Contains(old.logs.String(), "taken over by pid"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the old algd never handed over")
		}
	}
	after := play(t, ctl, gortsplib.ProtocolUDP)
	before.flowing(t) // the old algd's stream goes on
	st := next.waitStatus(func(st admin.Status) bool { l, _ := st.Listener("cams"); return l.Counters["sessions"] >= 1 })
	if l, _ := st.Listener("cams"); l.Range("media").Busy == 0 {
		t.Errorf("the new algd counted no media pair busy; ranges %+v", l.Ranges)
	}
	select {
	case <-old.done:
		t.Fatal("the old algd exited while its stream played")
	default:
	}
	before.c.Close() // TEARDOWN
	select {
	case <-old.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the old algd did not exit after its stream was torn down")
	}
	after.flowing(t)
}
