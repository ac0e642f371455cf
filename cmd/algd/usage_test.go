package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

// TestMain runs main instead of the tests when ALGD_TEST_MAIN is set, so
// that the tests can run algd as a process and see its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("ALGD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runAlgd runs this test binary as algd with args and returns its stdout,
// stderr and exit status.
func runAlgd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ALGD_TEST_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestHelpExitsZero: `algd <sub> -h`, -help and --help print the
// command's usage (its synopsis from commands, then its flags) on stdout
// and exit 0, for every command; a bad flag or a stray argument prints the
// problem and the usage on stderr and exits 2.
func TestHelpExitsZero(t *testing.T) {
	for _, c := range commands() {
		args := strings.Fields(c.name)
		for _, h := range []string{"-h", "-help", "--help"} {
			out, errOut, code := runAlgd(t, append(args, h)...)
			want := "usage: " + strings.TrimSpace("algd "+c.name+" "+c.synopsis) + "\n"
			if c.name == "ipvs" {
				want = "usage: algd ipvs <command> [flags]\n"
			}
			if code != 0 || !strings.HasPrefix(out, want) || errOut != "" {
				t.Errorf("algd %s %s: exit %d, stdout %q, stderr %q; want exit 0 and stdout starting %q",
					c.name, h, code, out, errOut, want)
			}
		}
		if c.name == "ipvs" {
			continue
		}
		bads := [][]string{{"-no-such-flag"}}
		if !takesArgs(c.synopsis) {
			bads = append(bads, []string{"stray"})
		}
		for _, bad := range bads {
			out, errOut, code := runAlgd(t, append(args, bad...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, "usage: algd "+c.name) {
				t.Errorf("algd %s %s: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr",
					c.name, bad[0], code, out, errOut)
			}
		}
	}
	out, _, code := runAlgd(t, "help", "check")
	if code != 0 || !strings.HasPrefix(out, "usage: algd check [-c FILE]\n") {
		t.Errorf("algd help check: exit %d, stdout %q", code, out)
	}
	out, _, code = runAlgd(t, "-h")
	if code != 0 || !strings.HasPrefix(out, "usage: algd <command> [flags]\n") {
		t.Errorf("algd -h: exit %d, stdout %q", code, out)
	}
	for _, c := range commands() {
		if c.run != nil && !strings.Contains(out, "\n  "+strings.TrimSpace(c.name+" "+c.synopsis)+"\n") {
			t.Errorf("algd -h does not list %q with its synopsis %q", c.name, c.synopsis)
		}
	}
	if _, errOut, code := runAlgd(t, "bogus"); code != 2 || !strings.Contains(errOut, `unknown command "bogus"`) {
		t.Errorf("algd bogus: exit %d, stderr %q; want exit 2", code, errOut)
	}
	if _, errOut, code := runAlgd(t, "check", "-c", "/nonexistent/algd.toml"); code != 1 || !strings.Contains(errOut, "algd: ") {
		t.Errorf("algd check on a missing file: exit %d, stderr %q; want exit 1 and the error", code, errOut)
	}
}

// TestVersion covers where the version comes from: -X first, then the
// module version, then the VCS revision (with -dirty), and "dev" only
// when the build info has none of them.
func TestVersion(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-05T01:00:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		set  string
		bi   *debug.BuildInfo
		want string
		line string
	}{
		{"ldflags", "1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("false")}, "1.2.3",
			"algd 1.2.3 (revision " + rev + ", 2026-12-05T01:00:00Z, go1.26.8)"},
		{"go install", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0",
			"algd v0.4.0 (go1.26.8)"},
		{"vcs", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")},
			"0123456789ab", "algd 0123456789ab (2026-12-05T01:00:00Z, go1.26.8)"},
		{"vcs dirty", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("true")},
			"0123456789ab-dirty", "algd 0123456789ab-dirty (2026-12-05T01:00:00Z, go1.26.8)"},
		{"nothing", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "dev",
			"algd dev (go1.26.8)"},
		{"no build info", "dev", nil, "dev", "algd dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionOf(tt.set, tt.bi)
			if got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
			if line := versionLine(got, tt.bi); line != tt.line {
				t.Errorf("versionLine = %q, want %q", line, tt.line)
			}
		})
	}
}

// takesArgs reports whether a synopsis has arguments besides its
// [bracketed] flags: "[-c FILE] POOL ADDR" does, "[-c FILE | -pid FILE]"
// does not.
func takesArgs(synopsis string) bool {
	depth := 0
	for _, r := range synopsis {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0 && r != ' ':
			return true
		}
	}
	return false
}

// TestTakesArgs pins takesArgs on the synopses it has to tell apart.
func TestTakesArgs(t *testing.T) {
	for syn, want := range map[string]bool{"": false, "[-c FILE]": false, "[-c FILE | -pid FILE] [-wait]": false,
		"[-c FILE] POOL ADDR show|drain": true, "[-c FILE] end ID": true, "plan [-c FILE] | status [-c FILE]": true} {
		if got := takesArgs(syn); got != want {
			t.Errorf("takesArgs(%q) = %v, want %v", syn, got, want)
		}
	}
}
