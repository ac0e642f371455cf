package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCmdReloadRefuses covers what `algd reload` refuses to signal: no pid
// file, one without a process id, a configuration with errors or without
// pid_file.
func TestCmdReloadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.pid", "not a pid\n")
	one := write("init.pid", "1\n")
	okConf := "[[pool]]\nname = \"p\"\nrealservers = [{ address = \"10.0.0.11:21\" }]\n[[ftp]]\nlisten = [\"127.0.0.1:2121\"]\npool = \"p\"\npassive_ports = \"61000-61099\"\n"
	noPID := write("nopid.toml", okConf)
	bad := write("bad.toml", okConf+"[[pool]\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing pid file", []string{"-pid", filepath.Join(dir, "none.pid")}, "no such file"},
		{"garbage pid file", []string{"-pid", garbage}, "does not hold a process id"},
		{"pid 1", []string{"-pid", one}, "does not hold a process id"},
		{"config without pid_file", []string{"-c", noPID}, "sets no [admin] pid_file"},
		{"config with errors", []string{"-c", bad}, "the new file has errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cmdReload(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("cmdReload(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestCmdUpgradeRefuses: `algd upgrade` signals nobody without a running
// algd's pid, and says which command failed.
func TestCmdUpgradeRefuses(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pid")
	if err := os.WriteFile(garbage, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-pid", filepath.Join(dir, "none.pid")}, {"-pid", garbage}} {
		if err := cmdUpgrade(args, io.Discard); err == nil || !strings.HasPrefix(err.Error(), "upgrade: ") {
			t.Errorf("cmdUpgrade(%q) = %v, want an upgrade error", args, err)
		}
	}
}
