package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/algd/algd/conf"
)

// TestUnitFile reads dist/algd.service and checks what the code relies
// on: Type=notify (this package sends READY/RELOADING/STOPPING),
// NotifyAccess=all (after an upgrade the new process notifies), a
// watchdog, reload by SIGHUP, the two ambient capabilities and a
// LimitNOFILE of at least 6 descriptors per session of the default
// max_sessions plus 1024 (docs/operations.md#systemd).
func TestUnitFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "dist", "algd.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	for k, want := range map[string]string{"Type": "notify", "NotifyAccess": "all",
		"ExecReload": "/bin/kill -HUP $MAINPID", "NoNewPrivileges": "yes"} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	if keys["WatchdogSec"] == "" {
		t.Error("no WatchdogSec")
	}
	for _, c := range []string{"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"} {
		if !strings.Contains(keys["AmbientCapabilities"], c) || !strings.Contains(keys["CapabilityBoundingSet"], c) {
			t.Errorf("%s missing from AmbientCapabilities %q or CapabilityBoundingSet %q", c,
				keys["AmbientCapabilities"], keys["CapabilityBoundingSet"])
		}
	}
	path := filepath.Join(t.TempDir(), "algd.toml")
	min := "[[pool]]\nname = \"p\"\nrealservers = [{ address = \"127.0.0.11:21\" }]\n[[ftp]]\nlisten = [\"127.0.0.1:2121\"]\npool = \"p\"\npassive_ports = \"61000-61099\"\n"
	if err := os.WriteFile(path, []byte(min), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(keys["LimitNOFILE"])
	if want := 6*cfg.Limits.MaxSessions + 1024; err != nil || n < want {
		t.Errorf("LimitNOFILE=%q, want at least %d (6 x max_sessions %d + 1024)", keys["LimitNOFILE"], want, cfg.Limits.MaxSessions)
	}
}
