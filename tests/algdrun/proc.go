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

// Proc is a running algd started by Start.
type Proc struct {
	// Config is the file algd runs with.
	Config string
	cmd    *exec.Cmd
	log    logBuffer
	done   chan struct{}
	err    error
}

// Start writes cfg, runs bin with it and stops it in t.Cleanup; it fails
// the test if algd exits or a VIP does not answer a 220 banner in time.
func Start(t testing.TB, bin string, cfg Config, o Options) *Proc {
	t.Helper()
	dir := t.TempDir()
	p := &Proc{Config: filepath.Join(dir, "algd.toml"), done: make(chan struct{})}
	if err := os.WriteFile(p.Config, []byte(cfg.TOML()), 0o644); err != nil {
		t.Fatalf("algd config: %v", err)
	}
	argv := append(append([]string(nil), o.Wrap...), bin, "run", "-c", p.Config)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout = &p.log
	p.cmd.Stderr = &p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start algd: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("algd log:\n%s", p.Log())
		}
	})

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
	for _, l := range cfg.Listeners {
		if err := p.wait(ready, l.Listen, timeout); err != nil {
			t.Fatalf("algd: VIP %s: %v\nconfig:\n%s\nlog:\n%s", l.Listen, err, cfg.TOML(), p.Log())
		}
	}
	return p
}

// wait polls ready until it succeeds, algd exits or timeout passes.
func (p *Proc) wait(ready func(context.Context, netip.AddrPort) error, vip netip.AddrPort, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("algd exited: %v", p.err)
		default:
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

// stop sends SIGTERM to algd's process group by its id, then SIGKILL
// after a drain deadline.
func (p *Proc) stop() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
}

// PID is algd's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Log returns algd's output so far.
func (p *Proc) Log() string { return string(p.log.Bytes()) }

// Transfers returns every "data done" line logged so far.
func (p *Proc) Transfers() []Transfer { return ParseTransfers(p.log.Bytes()) }

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
func (p *Proc) Entries(msg string) []Entry { return Entries(p.log.Bytes(), msg) }
