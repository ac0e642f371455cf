package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

// successor starts a new algd from the binary at exe (the path algd was
// started from: after a package upgrade, the new binary) with args, the
// same command line; it takes the listening sockets over the takeover
// socket, and this algd then drains. It is what SIGUSR2 does, so that
// under systemd the new process is started inside the service (its
// cgroup, its NOTIFY_SOCKET). WATCHDOG_PID is left out of its
// environment: it names this process, and the new one pings as soon as
// it serves.
func successor(exe string, args []string, log *slog.Logger) error {
	if exe == "" {
		return fmt.Errorf("upgrade: the path of the algd binary is unknown")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WATCHDOG_PID=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	log.Info("upgrade: started a new algd; it takes over when it serves", "pid", cmd.Process.Pid, "binary", exe)
	go func() {
		// A new algd that fails exits before the takeover: say so (this
		// one keeps serving). One that took over outlives this process.
		if err := cmd.Wait(); err != nil {
			log.Error("upgrade: the new algd exited", "pid", cmd.Process.Pid, "err", err)
		}
	}()
	return nil
}
