package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// commandFlags runs `algd <command> -h` and returns the flags its usage
// lists.
func commandFlags(t *testing.T, c command) []string {
	t.Helper()
	out, _, code := runAlgd(t, append(strings.Fields(c.name), "-h")...)
	if code != 0 {
		t.Fatalf("algd %s -h: exit %d", c.name, code)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(out, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// TestManPageCoversCommands keeps algd(8)'s source, dist/man/algd.8.md,
// in step with the commands: each is listed as `algd <name> <synopsis>`,
// exactly as its -h prints it, and each of its flags is named.
func TestManPageCoversCommands(t *testing.T) {
	raw, err := os.ReadFile("../../dist/man/algd.8.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	for _, c := range commands() {
		if c.name == "ipvs" {
			continue // as "ipvs plan" and "ipvs status"
		}
		if syn := "`" + strings.TrimSpace("algd "+c.name+" "+c.synopsis) + "`"; !strings.Contains(page, syn) {
			t.Errorf("algd.8.md does not list %s", syn)
		}
		for _, f := range commandFlags(t, c) {
			if !strings.Contains(page, "`"+f) && !strings.Contains(page, "["+f) {
				t.Errorf("algd.8.md does not name flag %s of %s", f, c.name)
			}
		}
	}
}

// TestBashCompletion sources dist/algd.bash in bash and asks it for
// completions: the first word completes to every command, and after each
// command a "-" completes to exactly that command's flags and -h.
func TestBashCompletion(t *testing.T) {
	complete := func(words ...string) []string {
		t.Helper()
		script := `source ../../dist/algd.bash; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _algd; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command("bash", append([]string{"-c", script, "bash"}, words...)...).Output()
		if err != nil {
			t.Fatalf("bash completion of %q: %v", words, err)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		return got
	}
	var top []string
	for _, c := range commands() {
		if c.run != nil {
			top = append(top, c.name)
		}
	}
	top = append(top, "help")
	slices.Sort(top)
	if got := complete("algd", ""); !slices.Equal(got, top) {
		t.Errorf("algd <TAB> completes to %q, want %q", got, top)
	}
	if got := complete("algd", "ipvs", ""); !slices.Equal(got, []string{"plan", "status"}) {
		t.Errorf("algd ipvs <TAB> completes to %q, want plan status", got)
	}
	for _, c := range commands() {
		if c.name == "ipvs" {
			continue
		}
		want := append(commandFlags(t, c), "-h")
		slices.Sort(want)
		words := append(append([]string{"algd"}, strings.Fields(c.name)...), "-")
		if got := complete(words...); !slices.Equal(got, want) {
			t.Errorf("%s <TAB> completes to %q, want %q", strings.Join(words, " "), got, want)
		}
	}
	if got := complete("algd", "check", "-c", "../../dist/algd.t"); !slices.Equal(got, []string{"../../dist/algd.toml"}) {
		t.Errorf("algd check -c <TAB> completes to %q, want the file", got)
	}
}
