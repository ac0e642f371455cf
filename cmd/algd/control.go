package main

import (
	"context"
	"encoding/json"
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
	fs := newFlagSet("status")
	addr := fs.String("admin", "127.0.0.1:9021", "the admin listener `ADDR` ([admin] listen)")
	asJSON := fs.Bool("json", false, "print the JSON of /status")
	if err := parseFlags(fs, args); err != nil {
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
	fs := newFlagSet("reload")
	pidFile := fs.String("pid", "", "pid `FILE` ([admin] pid_file); default: the one of -c")
	cfgPath := fs.String("c", "/etc/algd/algd.toml", "configuration `FILE` naming the pid file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := *pidFile
	if path == "" {
		cfg, err := conf.Load(*cfgPath)
		if err != nil {
			return fmt.Errorf("reload: the new file has errors, not signalling: %w", err)
		}
		if cfg.Admin.PIDFile == "" {
			return fmt.Errorf("reload: %s sets no [admin] pid_file; use -pid or kill -HUP", *cfgPath)
		}
		path = cfg.Admin.PIDFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("reload: %s does not hold a process id", path)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload: signal %d: %w", pid, err)
	}
	fmt.Printf("sent SIGHUP to algd (pid %d); see its log or `algd status` for the result\n", pid)
	return nil
}

// writeJSON prints v indented.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
