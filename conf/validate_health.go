package conf

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// probes are the values of [pool.health] probe.
var probes = []string{"login", "list", "retr"}

// validateProbe checks the keys of the "ftp-login" and "script" kinds:
// required where their kind needs them, refused elsewhere; the password
// file readable (its content is never quoted), the command executable.
func validateProbe(p *problems, h *Health, at string) {
	login := h.Kind == "ftp-login"
	for _, k := range []struct {
		key string
		set bool
	}{
		{"user", h.User != ""},
		{"password_file", h.PasswordFile != ""},
		{"probe", h.Probe != "" && h.Probe != "login"},
		{"probe_file", h.ProbeFile != ""},
	} {
		if k.set && !login {
			p.add(at+"."+k.key, "only kind \"ftp-login\" uses %s, this pool's kind is %q", k.key, h.Kind)
		}
	}
	if h.Kind != "script" && len(h.Command) > 0 {
		p.add(at+".command", "only kind \"script\" runs a command, this pool's kind is %q", h.Kind)
	}
	switch h.Kind {
	case "ftp-login":
		if h.User == "" {
			p.add(at+".user", "kind \"ftp-login\" needs the probe account's user")
		} else if strings.ContainsAny(h.User, "\r\n") {
			p.add(at+".user", "user %q holds a line break", h.User)
		}
		if h.PasswordFile == "" {
			p.add(at+".password_file", "kind \"ftp-login\" needs a password_file")
		} else if msg := passwordFileProblem(h.PasswordFile); msg != "" {
			p.add(at+".password_file", "%s", msg)
		}
		if !slices.Contains(probes, h.Probe) {
			p.add(at+".probe", "unknown probe %q: want one of %q", h.Probe, probes)
		}
		if h.Probe == "retr" && h.ProbeFile == "" {
			p.add(at+".probe_file", "probe \"retr\" needs the probe_file to fetch")
		}
		if strings.ContainsAny(h.ProbeFile, "\r\n") {
			p.add(at+".probe_file", "probe_file %q holds a line break", h.ProbeFile)
		}
	case "script":
		if len(h.Command) == 0 {
			p.add(at+".command", "kind \"script\" needs a command (argv list)")
		} else {
			checkCommand(p, h.Command, at+".command")
		}
	}
}

// passwordFileProblem says why name is no usable password file, "" when
// it is one. Only its readability and first line are looked at; nothing
// of the content is quoted.
func passwordFileProblem(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("cannot read the password file: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if strings.TrimSuffix(first, "\r") == "" {
		return fmt.Sprintf("the first line of %q (the password) is empty", name)
	}
	return ""
}

// checkCommand wants argv[0] to name an executable file (a path, or a
// name found in PATH): a check or notify command that cannot start is a
// configuration error, not a realserver failure.
func checkCommand(p *problems, argv []string, at string) {
	if len(argv) == 0 {
		return
	}
	if argv[0] == "" {
		p.add(at, "empty command name")
		return
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		p.add(at, "cannot run %q: %v", argv[0], err)
	}
}

// validateNotify checks a pool's notify commands and timeout and its
// realservers' own commands.
func validateNotify(p *problems, pl *Pool, at string) {
	checkCommand(p, pl.NotifyUp, at+".notify_up")
	checkCommand(p, pl.NotifyDown, at+".notify_down")
	if pl.NotifyTimeout.Duration <= 0 {
		p.add(at+".notify_timeout", "timeout %q is not positive", pl.NotifyTimeout.String())
	}
	for j := range pl.Realservers {
		rs := &pl.Realservers[j]
		rat := fmt.Sprintf("%s.realservers[%d]", at, j)
		checkCommand(p, rs.NotifyUp, rat+".notify_up")
		checkCommand(p, rs.NotifyDown, rat+".notify_down")
	}
}
