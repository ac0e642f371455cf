package algdrun

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/tests/peers"
)

// Options says how to run algd.
type Options struct {
	// Wrap prefixes the command line (ip netns exec NAME); it must exec
	// algd in place so that the process id stays algd's.
	Wrap []string
	// Ready reports whether a VIP answers; nil uses peers.Banner from this
	// process. It is called for each listener's address.
	Ready func(ctx context.Context, vip netip.AddrPort) error
	// StartTimeout bounds the wait for every VIP to answer. Default 20s.
	StartTimeout time.Duration
}

// Proc is a process started by Run, or algd started by Start or
// StartTOML: in its own process group, its output kept in a file (a long
// benchmark's log does not fill memory), stopped by its id at cleanup.
type Proc struct {
	// Config is the file algd runs with ("" for other programs).
	Config string
	name   string
	cmd    *exec.Cmd
	logf   string
	done   chan struct{}
	err    error
}

// Run starts argv as name and stops it in t.Cleanup: SIGTERM to its
// process group, SIGKILL 5 s later. When the test failed, the end of its
// output is logged.
func Run(t testing.TB, name string, argv []string) *Proc {
	t.Helper()
	p := &Proc{name: name, logf: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.logf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log (last 200 lines):\n%s", name, p.Tail(200))
		}
	})
	return p
}

// Start writes cfg, runs bin with it and stops it in t.Cleanup; it fails
// the test if algd exits or a VIP does not answer a 220 banner in time.
func Start(t testing.TB, bin string, cfg Config, o Options) *Proc {
	t.Helper()
	var vips []netip.AddrPort
	for _, l := range cfg.Listeners {
		vips = append(vips, l.Listen)
	}
	return StartTOML(t, bin, cfg.TOML(), vips, o)
}

// StartTOML is Start for a configuration written by hand (limits, admin,
// several listeners): it writes text, runs bin with it, stops it in
// t.Cleanup and waits until every address of vips answers a 220.
func StartTOML(t testing.TB, bin, text string, vips []netip.AddrPort, o Options) *Proc {
	t.Helper()
	config := filepath.Join(t.TempDir(), "algd.toml")
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatalf("algd config: %v", err)
	}
	p := Run(t, "algd", append(append([]string(nil), o.Wrap...), bin, "run", "-c", config))
	p.Config = config
	ready := o.Ready
	if ready == nil {
		ready = func(ctx context.Context, vip netip.AddrPort) error {
			_, err := peers.Banner(ctx, vip)
			return err
		}
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	for _, vip := range vips {
		if err := p.wait(ready, vip, timeout); err != nil {
			t.Fatalf("algd: VIP %s: %v\nconfig:\n%s\nlog:\n%s", vip, err, text, p.Tail(200))
		}
	}
	return p
}

// wait polls ready until it succeeds, the process exits or timeout
// passes.
func (p *Proc) wait(ready func(context.Context, netip.AddrPort) error, vip netip.AddrPort, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx, vip)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no 220 after %v: %w", timeout, last)
}

// Stop sends SIGTERM to the process group by its id, then SIGKILL after
// a drain deadline, and waits for the process; cleanup calls it too.
func (p *Proc) Stop() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
}

// Name is the name Run was given ("algd" for Start).
func (p *Proc) Name() string { return p.name }

// Alive fails t when the process has exited.
func (p *Proc) Alive(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.Tail(50))
	}
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Log returns the output so far.
func (p *Proc) Log() string { return string(p.logBytes()) }

// Tail returns the last n lines of the output so far.
func (p *Proc) Tail(n int) string { return tail(p.Log(), n) }

func (p *Proc) logBytes() []byte {
	b, _ := os.ReadFile(p.logf)
	return b
}

// Transfers returns every "data done" line logged so far.
func (p *Proc) Transfers() []Transfer { return ParseTransfers(p.logBytes()) }

// TransfersAfter waits up to 15 s until n "data done" lines follow the
// first before and returns the lines after those before (all of them,
// even more than n).
func (p *Proc) TransfersAfter(before, n int) ([]Transfer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	all, err := p.WaitTransfers(ctx, before+n)
	if err != nil {
		return nil, fmt.Errorf("algd data done lines: %w", err)
	}
	return all[before:], nil
}

// WaitTransfers waits until at least n "data done" lines were logged and
// returns them all; algd may log a transfer just after the client exits.
func (p *Proc) WaitTransfers(ctx context.Context, n int) ([]Transfer, error) {
	for {
		ts := p.Transfers()
		if len(ts) >= n {
			return ts, nil
		}
		select {
		case <-ctx.Done():
			return ts, fmt.Errorf("want %d data done lines, have %d: %w", n, len(ts), ctx.Err())
		case <-p.done:
			return p.Transfers(), fmt.Errorf("algd exited: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Entries returns every log line logged so far whose message is msg.
func (p *Proc) Entries(msg string) []Entry { return Entries(p.logBytes(), msg) }
