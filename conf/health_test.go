package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateHealthProbes checks the keys of kinds "ftp-login" and
// "script" and the notify commands: each bad setting is refused at its
// key path and line; a good one loads.
func TestValidateHealthProbes(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "probe.pass")
	empty := filepath.Join(dir, "empty.pass")
	script := filepath.Join(dir, "check.sh")
	plain := filepath.Join(dir, "plain.sh")
	for name, f := range map[string]struct {
		body string
		mode os.FileMode
	}{pass: {"secret-x\n", 0o600}, empty: {"\nsecond\n", 0o600}, script: {"#!/bin/sh\n", 0o755}, plain: {"#!/bin/sh\n", 0o644}} {
		if err := os.WriteFile(name, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	q := func(s string) string { return `"` + s + `"` }
	tests := []struct {
		name, pool string
		want       string // key path of the error; "" loads
	}{
		{"login ok", `health = { kind = "ftp-login", user = "probe", password_file = ` + q(pass) + `, probe = "retr", probe_file = "p.txt" }`, ""},
		{"script ok", `health = { kind = "script", command = [` + q(script) + `, "-q"] }` + "\nnotify_up = [" + q(script) + "]", ""},
		{"no user", `health = { kind = "ftp-login", password_file = ` + q(pass) + ` }`, "pool[0].health.user"},
		{"no password file", `health = { kind = "ftp-login", user = "probe" }`, "pool[0].health.password_file"},
		{"unreadable password file", `health = { kind = "ftp-login", user = "probe", password_file = ` + q(filepath.Join(dir, "missing")) + ` }`, "pool[0].health.password_file"},
		{"empty password", `health = { kind = "ftp-login", user = "probe", password_file = ` + q(empty) + ` }`, "pool[0].health.password_file"},
		{"unknown probe", `health = { kind = "ftp-login", user = "probe", password_file = ` + q(pass) + `, probe = "stor" }`, "pool[0].health.probe"},
		{"retr without file", `health = { kind = "ftp-login", user = "probe", password_file = ` + q(pass) + `, probe = "retr" }`, "pool[0].health.probe_file"},
		{"user on tcp", `health = { kind = "tcp", user = "probe" }`, "pool[0].health.user"},
		{"script without command", `health = { kind = "script" }`, "pool[0].health.command"},
		{"script missing", `health = { kind = "script", command = [` + q(filepath.Join(dir, "nope.sh")) + `] }`, "pool[0].health.command"},
		{"script not executable", `health = { kind = "script", command = [` + q(plain) + `] }`, "pool[0].health.command"},
		{"command on ftp", `health = { kind = "ftp", command = [` + q(script) + `] }`, "pool[0].health.command"},
		{"notify not executable", `notify_down = [` + q(plain) + `]`, "pool[0].notify_down"},
		{"bad notify timeout", `notify_timeout = "-1s"`, "pool[0].notify_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := "[[pool]]\nname = \"p\"\n" + tc.pool + "\nrealservers = [{ address = \"10.0.0.11:21\", notify_up = [" + q(script) + "] }]\n\n[[ftp]]\nname = \"f\"\nlisten = [\"127.0.0.1:2121\"]\npool = \"p\"\npassive_ports = \"50000-50099\"\n"
			_, err := Parse([]byte(text), "algd.toml")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "algd.toml:") {
				t.Fatalf("Parse: %v, want an error at algd.toml:line for %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-x") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestCheckPasswordFileMode warns about a probe password file other users
// can read, and not about one only its owner can.
func TestCheckPasswordFileMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o644, true}} {
		pass := filepath.Join(dir, "probe.pass")
		if err := os.WriteFile(pass, []byte("secret-y\n"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(pass, tc.mode); err != nil {
			t.Fatal(err)
		}
		c, err := Parse([]byte(okPool+`health = { kind = "ftp-login", user = "probe", password_file = "`+pass+`" }`+"\n"+okFTP), "check.toml")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		all := strings.Join(Check(c, hostOK).Warnings, "\n")
		if got := strings.Contains(all, "readable by other users"); got != tc.warn {
			t.Errorf("mode %04o: warned %v, want %v: %q", tc.mode, got, tc.warn, all)
		}
		if strings.Contains(all, "secret-y") {
			t.Errorf("a warning shows the password: %q", all)
		}
	}
}
