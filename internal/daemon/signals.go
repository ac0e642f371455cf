package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
)

// Serve runs cfg until SIGINT or SIGTERM, then drains. On SIGHUP it reads
// path again (when set) and applies what changed. On SIGUSR2 it starts
// the binary it was started from again, with the same arguments, which
// takes over (upgrade.go; needs [admin] takeover_socket).
// o.Logger nil means slog.Default().
func Serve(cfg *conf.Config, path string, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger
	exe, err := os.Executable()
	if err != nil {
		log.Warn("the path of the algd binary is unknown: SIGUSR2 cannot upgrade", "err", err)
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sig)
	return runDaemonExec(cfg, path, o, sig, func() error { return successor(exe, os.Args[1:], log) })
}

// runDaemon is serve with the signals coming from sig: SIGHUP reloads,
// anything else drains for [admin] shutdown_timeout and stops (a second
// one stops at once). With [admin] takeover_socket it first takes the
// listening sockets of an algd running there (takeover.go), and hands
// its own to the next one, then drains as on SIGTERM.
func runDaemon(cfg *conf.Config, path string, o Options, sig <-chan os.Signal) error {
	return runDaemonExec(cfg, path, o, sig, func() error { return errors.New("upgrade: not supported here") })
}

// runDaemonExec is runDaemon where SIGUSR2 calls upgrade, which starts
// the algd that takes over.
func runDaemonExec(cfg *conf.Config, path string, o Options, sig <-chan os.Signal, upgrade func() error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger
	sdn := notifier{log: log}
	in, err := takeOver(ctx, cfg.Admin.TakeoverSocket, log)
	if err != nil {
		return err
	}
	o.inherit = in
	d, err := New(ctx, cfg, o)
	if err != nil {
		in.abort()
		return err
	}
	if err := writePIDFile(cfg.Admin.PIDFile); err != nil {
		in.abort()
		d.stopAccepting()
		return err
	}
	defer removePIDFile(cfg.Admin.PIDFile, log)
	if err := d.startAdmin(ctx); err != nil {
		in.abort()
		d.stopAccepting()
		return err
	}
	in.closeUnused(log)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if err := in.ready(); err != nil {
		log.Warn("takeover: the old algd did not hear ready; both serve until it drains", "err", err)
	}
	ts, err := d.listenTakeover(cfg.Admin.TakeoverSocket)
	if err != nil {
		log.Error("no takeover socket: a restart will refuse clients", "err", err)
	}
	var handed <-chan int
	if ts != nil {
		handed = ts.handed
	}
	sdn.ready()
	go sdn.watchdog(ctx, func() { d.config() })
	drain := func(why string) error {
		timeout := d.config().Admin.ShutdownTimeout.Duration
		log.Info("draining: accepting no more sessions", "why", why, "timeout", alg.Seconds(timeout),
			"sessions", d.registry.Len())
		dctx, dcancel := context.WithTimeout(ctx, timeout)
		go func() {
			select {
			case s := <-sig:
				if s != syscall.SIGHUP && s != syscall.SIGUSR2 {
					log.Warn("second signal: stopping now", "signal", s.String())
					dcancel()
				}
			case <-dctx.Done():
			}
		}()
		if d.Drain(dctx) {
			log.Info("drained: every session ended")
		} else {
			log.Warn("drain timeout: closing the remaining sessions", "sessions", d.registry.Len())
		}
		dcancel()
		cancel()
		err := <-done
		log.Info("stopped")
		return err
	}
	for {
		select {
		case err := <-done:
			ts.close(false)
			return err
		case pid := <-handed:
			// The new algd serves and is the service's process now; this
			// one is not stopping the service, only its own sessions.
			sdn.mainPID(pid)
			d.closeAdmin()
			d.ipvs.handOver()
			d.kernel.handOver()
			ts.close(true)
			return drain(fmt.Sprintf("taken over by pid %d", pid))
		case s := <-sig:
			switch s {
			case syscall.SIGHUP:
				sdn.reloading()
				d.reloadFile(ctx, path)
				sdn.ready()
				continue
			case syscall.SIGUSR2:
				if ts == nil {
					log.Error("SIGUSR2: no [admin] takeover_socket, no upgrade")
				} else if err := upgrade(); err != nil {
					log.Error("SIGUSR2", "err", err)
				}
				continue
			}
			sdn.stopping()
			ts.close(false)
			return drain("signal " + s.String())
		}
	}
}

// reloadFile reads path and applies it; a file with any error changes
// nothing. Either way the result is logged and counted.
func (d *Daemon) reloadFile(ctx context.Context, path string) {
	if path == "" {
		d.log.Warn("SIGHUP: no configuration file to reload")
		return
	}
	next, err := conf.Load(path)
	if err != nil {
		d.reloaded(path, nil, err)
		return
	}
	d.Reload(ctx, next, path)
}

// Reload applies next, a validated configuration, as SIGHUP does; from
// names where it came from in the log. A configuration that cannot be
// applied changes nothing. Either way the result is logged and counted.
func (d *Daemon) Reload(ctx context.Context, next *conf.Config, from string) error {
	err := d.apply(ctx, next)
	d.reloaded(from, next, err)
	return err
}

// reloaded logs a reload of from that gave err, applies what is not part
// of apply (IPVS, the log level) and counts it, last: whoever sees the
// count (algd reload -wait, /status) sees the reload's whole effect.
func (d *Daemon) reloaded(from string, next *conf.Config, err error) {
	if err != nil {
		d.log.Error("reload refused, keeping the running configuration", "file", from, "err", err)
	} else {
		d.ipvs.reload(next, d.log)
		d.applyLevel(next.Log)
		d.log.Info("configuration reloaded", "file", from)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloads.Last = time.Now()
	if err != nil {
		d.reloads.Failed++
		d.reloads.LastError = err.Error()
	} else {
		d.reloads.OK++
		d.reloads.LastError = ""
	}
}

// writePIDFile writes the process id to path ("" does nothing).
func writePIDFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removePIDFile removes path if it still names this process.
func removePIDFile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("pid file", "err", err)
		}
	}
}
