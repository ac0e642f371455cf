package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens on a unixgram socket as systemd does for a
// Type=notify service, with NOTIFY_SOCKET (and the watchdog variables)
// pointing at it for the test. States arrive on the returned channel,
// except WATCHDOG=1 pings, which are counted.
func notifySocket(t *testing.T, watchdog time.Duration) (<-chan string, *atomic.Int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	states := make(chan string, 64)
	pings := &atomic.Int64{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(states)
				return
			}
			if msg := string(buf[:n]); msg == "WATCHDOG=1" {
				pings.Add(1)
			} else {
				states <- msg
			}
		}
	}()
	return states, pings
}

// nextState waits for the next state sent to the notify socket.
func nextState(t *testing.T, states <-chan string) string {
	t.Helper()
	select {
	case s := <-states:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no sd_notify state within 30 s")
		return ""
	}
}

// TestNotify runs algd as systemd's Type=notify would see it through a
// real notify socket: READY=1 once the listeners accept, RELOADING=1 with
// a CLOCK_MONOTONIC timestamp then READY=1 around a SIGHUP, WATCHDOG=1
// pings while it runs (WatchdogSec=1s), STOPPING=1 on SIGTERM.
func TestNotify(t *testing.T) {
	states, pings := notifySocket(t, time.Second)
	f := newFarm(t, 1024, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	text := fmt.Sprintf(`[[pool]]
name = "p"
  [[pool.realservers]]
  address = %q

[[ftp]]
name = "one"
listen = [%q]
pool = "p"
passive_ports = "63000-63009"

[admin]
listen = "ADMIN"
`, f.servers[0].Addr().String(), vip)
	d := startDaemon(t, text)

	if s := nextState(t, states); s != "READY=1" {
		t.Fatalf("first state %q, want READY=1", s)
	}
	// READY=1 came after the control listener was bound.
	c, err := net.DialTimeout("tcp", vip, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but the listener refuses: %v", err)
	}
	c.Close()

	before := monotonicUsec()
	d.sig <- syscall.SIGHUP
	s := nextState(t, states)
	after := monotonicUsec()
	head, stamp, ok := strings.Cut(s, "\nMONOTONIC_USEC=")
	if !ok || head != "RELOADING=1" {
		t.Fatalf("state on SIGHUP %q, want RELOADING=1 and MONOTONIC_USEC", s)
	}
	if us, err := strconv.ParseInt(stamp, 10, 64); err != nil || us < before || us > after {
		t.Errorf("MONOTONIC_USEC=%s, want CLOCK_MONOTONIC between %d and %d", stamp, before, after)
	}
	if s := nextState(t, states); s != "READY=1" {
		t.Fatalf("state after the reload %q, want READY=1", s)
	}

	// Pings every WatchdogSec/2: wait for three.
	deadline := time.Now().Add(30 * time.Second)
	for pings.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := pings.Load(); n < 3 {
		t.Errorf("%d watchdog pings, want 3 or more", n)
	}

	d.sig <- syscall.SIGTERM
	if s := nextState(t, states); s != "STOPPING=1" {
		t.Fatalf("state on SIGTERM %q, want STOPPING=1", s)
	}
	<-d.done
	if d.err != nil {
		t.Errorf("algd: %v", d.err)
	}
}

// TestNotifyTakeover: after a takeover the old algd names the new one as
// the service's main process (MAINPID=, the peer of the takeover socket)
// and does not say STOPPING=1: the service goes on.
func TestNotifyTakeover(t *testing.T) {
	states, _ := notifySocket(t, time.Minute)
	f := newFarm(t, 1024, "127.0.0.11")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	sock := filepath.Join(t.TempDir(), "takeover.sock")
	old := startDaemon(t, takeoverConfig([]string{f.servers[0].Addr().String()}, vip, sock))
	if s := nextState(t, states); s != "READY=1" {
		t.Fatalf("first state %q, want READY=1", s)
	}
	next := startTakeover(t, old)
	<-old.done
	var got []string
	for len(got) < 2 {
		got = append(got, nextState(t, states))
	}
	want := fmt.Sprintf("MAINPID=%d", os.Getpid())
	if !(got[0] == want || got[1] == want) || !(got[0] == "READY=1" || got[1] == "READY=1") {
		t.Errorf("states of the takeover %q, want %q and READY=1 (the new algd)", got, want)
	}
	select {
	case s := <-states:
		t.Errorf("unexpected state %q after the takeover", s)
	case <-time.After(200 * time.Millisecond):
	}
	next.sig <- syscall.SIGTERM
	<-next.done
	if s := nextState(t, states); s != "STOPPING=1" {
		t.Errorf("state on SIGTERM of the new algd %q, want STOPPING=1", s)
	}
}
