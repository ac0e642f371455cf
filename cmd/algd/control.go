package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/conf"
)

// cmdStatus prints a running algd's status, read from its admin listener.
func cmdStatus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	addr := fs.String("admin", "127.0.0.1:9021", "the admin listener ([admin] listen)")
	asJSON := fs.Bool("json", false, "print the JSON of /status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := admin.Fetch(ctx, nil, *addr)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(out, st)
	}
	return admin.WriteText(out, st)
}

// cmdReload asks a running algd to reload its configuration: SIGHUP to
// the process named by its pid file (the same as `kill -HUP <pid>`).
func cmdReload(args []string) error {
	pid, _, err := signalAlgd("reload", args, syscall.SIGHUP)
	if err != nil {
		return err
	}
	fmt.Printf("sent SIGHUP to algd (pid %d); see its log or `algd status` for the result\n", pid)
	return nil
}

// cmdUpgrade asks a running algd to start its binary again (SIGUSR2): the
// new process takes the listening sockets over [admin] takeover_socket
// and the old one drains. It waits until the pid file names the new
// process.
func cmdUpgrade(args []string) error {
	pid, path, err := signalAlgd("upgrade", args, syscall.SIGUSR2)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if now, err := readPID(path); err == nil && now != pid {
			fmt.Printf("algd upgraded: pid %d serves, pid %d drains\n", now, pid)
			return nil
		}
	}
	return fmt.Errorf("upgrade: %s still names pid %d after a minute; see its log (is [admin] takeover_socket set?)", path, pid)
}

// signalAlgd sends s to the algd named by the pid file of -pid, or of
// the configuration of -c, after checking that configuration. It returns
// the process id and the pid file.
func signalAlgd(name string, args []string, s syscall.Signal) (int, string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	pidFile := fs.String("pid", "", "pid file ([admin] pid_file); default: the one of -c")
	cfgPath := fs.String("c", "/etc/algd/algd.toml", "configuration file naming the pid file")
	if err := fs.Parse(args); err != nil {
		return 0, "", err
	}
	path := *pidFile
	if path == "" {
		cfg, err := conf.Load(*cfgPath)
		if err != nil {
			return 0, "", fmt.Errorf("%s: the new file has errors, not signalling: %w", name, err)
		}
		if cfg.Admin.PIDFile == "" {
			return 0, "", fmt.Errorf("%s: %s sets no [admin] pid_file; use -pid or kill", name, *cfgPath)
		}
		path = cfg.Admin.PIDFile
	}
	pid, err := readPID(path)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", name, err)
	}
	if err := syscall.Kill(pid, s); err != nil {
		return 0, "", fmt.Errorf("%s: signal %d: %w", name, pid, err)
	}
	return pid, path, nil
}

// readPID reads the process id in the pid file path.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s does not hold a process id", path)
	}
	return pid, nil
}

// writeJSON prints v indented.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
