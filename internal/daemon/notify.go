package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier tells systemd (Type=notify, sd_notify(3)) what algd is doing:
// READY=1 once every listener is bound and served, RELOADING=1 with
// MONOTONIC_USEC around a SIGHUP reload then READY=1 again, STOPPING=1
// when the drain begins, MAINPID= when a new algd took over, and
// WATCHDOG=1 pings while the daemon answers. Without NOTIFY_SOCKET every
// call does nothing.
type notifier struct {
	log *slog.Logger
}

// send sends state; a failure is logged, never fatal.
func (n notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "state", state, "err", err)
	}
}

// ready says algd serves.
func (n notifier) ready() { n.send(sd.SdNotifyReady) }

// reloading says a reload began; MONOTONIC_USEC is CLOCK_MONOTONIC, as
// systemd (Type=notify-reload) wants it.
func (n notifier) reloading() {
	n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, monotonicUsec()))
}

// stopping says the drain began.
func (n notifier) stopping() { n.send(sd.SdNotifyStopping) }

// mainPID says pid (the algd that took over) is the service's process now.
func (n notifier) mainPID(pid int) { n.send(fmt.Sprintf("MAINPID=%d", pid)) }

// monotonicUsec reads CLOCK_MONOTONIC in microseconds.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// watchdog pings systemd at half of WatchdogSec (WATCHDOG_USEC) until ctx
// is done, each time after alive returned: a daemon stuck on its lock
// misses pings and systemd restarts it. WATCHDOG_PID, when set, must be
// this process (go-systemd checks it).
func (n notifier) watchdog(ctx context.Context, alive func()) {
	every, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog", "err", err)
		return
	}
	if every <= 0 {
		return
	}
	n.log.Info("systemd watchdog", "timeout", every.Seconds())
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			alive()
			n.send(sd.SdNotifyWatchdog)
		}
	}
}
