package pool

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/logbuf"
)

// writeScript writes an executable shell script into a test folder.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptChecker runs a script check that is up, down with output,
// and too slow: its arguments and environment name the realserver, a
// failure shows the output's tail, and at the timeout the whole process
// group dies (a background child too).
func TestScriptChecker(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, `echo "$@ $ALGD_POOL $ALGD_REALSERVER $ALGD_REALSERVER_ADDR $ALGD_REALSERVER_PORT $ALGD_SOURCE" > "`+dir+`/args"
case "$1" in
up) exit 0 ;;
down) echo "disk full on /srv" >&2; exit 3 ;;
slow) sleep 60 & echo $! > "`+dir+`/child"; sleep 60 ;;
esac
`)
	addr := netip.MustParseAddrPort("127.0.0.71:2121")
	check := func(mode string, timeout time.Duration) error {
		s := &ScriptChecker{Argv: []string{script, mode}, Pool: "ftp", Source: netip.MustParseAddr("127.0.0.72")}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return s.Check(ctx, addr)
	}
	if err := check("up", time.Minute); err != nil {
		t.Fatalf("up: %v", err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got, want := strings.TrimSpace(string(args)), "up 127.0.0.71 2121 ftp 127.0.0.71:2121 127.0.0.71 2121 127.0.0.72"; got != want {
		t.Errorf("script saw %q, want %q", got, want)
	}
	err := check("down", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "disk full on /srv") {
		t.Errorf("down: %v, want exit status 3 and the output", err)
	}
	start := time.Now()
	// Long enough for the shell to start its child under load.
	err = check("slow", 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "killed after the timeout") {
		t.Errorf("slow: %v, want killed after the timeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("slow check returned after %v: not killed", took)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(child, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("the script's background child %d outlived the timeout", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flipChecker fails while down is set.
type flipChecker struct {
	down   atomic.Bool
	checks atomic.Int64
}

func (f *flipChecker) Check(context.Context, netip.AddrPort) error {
	f.checks.Add(1)
	if f.down.Load() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// TestNotify runs notify commands on state changes: the pool's for one
// realserver, the realserver's own for the other, with pool, address and
// state as arguments; a hook that sleeps does not hold up the checks.
func TestNotify(t *testing.T) {
	dir := t.TempDir()
	hook := writeScript(t, `echo "$0 $@ $ALGD_STATE" >> "`+dir+`/calls"; sleep 2; echo "$0 $@" >> "`+dir+`/ended"`)
	own := filepath.Join(dir, "own.sh")
	if err := os.Symlink(hook, own); err != nil {
		t.Fatal(err)
	}
	c := testConf("rr", []int{1, 1}, 0)
	c.Name = "web"
	c.NotifyUp, c.NotifyDown = []string{hook}, []string{hook}
	c.Realservers[1].NotifyDown = []string{own}
	c.NotifyTimeout.Duration = 30 * time.Second
	c.Health = conf.Health{Kind: "tcp", Interval: conf.Duration{Duration: 5 * time.Millisecond},
		Timeout: conf.Duration{Duration: time.Hour}, Rise: 1, Fall: 1}
	fc := &flipChecker{}
	fc.down.Store(true)
	p := New(c, fc)
	logs := &logbuf.Buffer{}
	p.Logger = slog.New(slog.NewTextHandler(logs, nil))
	stop := runPool(p)
	defer stop()

	calls := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "calls"))
		return string(b)
	}
	waitFor(t, func() bool { return strings.Count(calls(), "\n") >= 2 })
	// The hooks sleep two seconds each; meanwhile checks go on.
	n := fc.checks.Load()
	waitFor(t, func() bool { return fc.checks.Load() > n+3 })
	if ended, err := os.ReadFile(filepath.Join(dir, "ended")); err == nil {
		t.Errorf("checks went on only after hooks ended: %q", ended)
	}
	fc.down.Store(false)
	waitFor(t, func() bool { return strings.Count(calls(), "\n") >= 4 })
	rs := p.Realservers()
	for _, want := range []string{
		hook + " web " + rs[0].Addr().String() + " down down",
		own + " web " + rs[1].Addr().String() + " down down",
		hook + " web " + rs[0].Addr().String() + " up up",
		hook + " web " + rs[1].Addr().String() + " up up",
	} {
		if !strings.Contains(calls(), want+"\n") {
			t.Errorf("no call %q in:\n%s", want, calls())
		}
	}
	waitFor(t, func() bool { return strings.Count(logs.String(), "notify command ran") >= 4 })
}

// waitFor polls ok for up to 30s.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition never met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
