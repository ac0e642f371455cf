package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand of algd: its name, the synopsis of its
// arguments, a sentence on what it does and the function running it.
// main's usage, every `algd <sub> -h`, algd(8) and the bash completion
// list the same commands (usage_test.go keeps them in step).
type command struct {
	name     string
	synopsis string
	about    string
	run      func(args []string) error
}

// commands lists algd's subcommands in the order the usage shows them.
// "ipvs plan" and "ipvs status" are reached through "ipvs".
func commands() []command {
	return []command{
		{"run", "[-c FILE]", "serve the configuration in FILE", cmdRun},
		{"check", "[-c FILE]", "validate FILE, print what would listen where and the firewall ports",
			func(a []string) error { return cmdCheck(a, os.Stdout) }},
		{"demo", "[-listen ADDR] [-passive-ports RANGE] [-v]", "run two embedded FTP servers behind algd on loopback", cmdDemo},
		{"status", "[-c FILE | -admin ADDR] [-json]", "print a running algd's pools, listeners and sessions",
			func(a []string) error { return cmdStatus(a, os.Stdout) }},
		{"reload", "[-c FILE | -pid FILE] [-wait]", "make a running algd reload its configuration (SIGHUP); -wait: exit 1 with algd's error if it refused the file",
			func(a []string) error { return cmdReload(a, os.Stdout) }},
		{"upgrade", "[-c FILE | -pid FILE]", "restart a running algd from its binary without refusing clients (SIGUSR2; needs [admin] takeover_socket)",
			func(a []string) error { return cmdUpgrade(a, os.Stdout) }},
		{"realserver", "[-c FILE] POOL ADDR show|weight N|drain|disable|enable", "show or change a realserver of a running algd until the next reload",
			func(a []string) error { return cmdRealserver(a, os.Stdout) }},
		{"session", "[-c FILE] end ID", "end a live session of a running algd now",
			func(a []string) error { return cmdSession(a, os.Stdout) }},
		{"ipvs", "plan [-c FILE] | status [-c FILE]", "print the IPVS/nftables plan of the [[group]]s, or the kernel's state",
			func(a []string) error { return cmdIPVS(a, os.Stdout) }},
		{"ipvs plan", "[-c FILE]", "print the [[group]]s of FILE as ipvsadm-restore lines and an nft -f script", nil},
		{"ipvs status", "[-c FILE]", "list the kernel's fwmark services like ipvsadm -Ln, with the group of FILE that owns each", nil},
		{"version", "", "print the version, the VCS revision and the Go version", cmdVersion},
	}
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeUsage prints algd's usage: every command with its synopsis.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "usage: algd <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace(c.name+" "+c.synopsis), c.about)
	}
	fmt.Fprint(w, "\n`algd <command> -h` prints the flags of a command; man algd(8), algd.toml(5).\n")
}

// errUsage marks a command line that could not be parsed: main exits 2.
var errUsage = errors.New("bad usage")

// newFlagSet returns the flag set of `algd <name>`; its usage is the
// command's synopsis and sentence from commands, then its flags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c, _ := lookup(name)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\n%s.\n", strings.TrimSpace("algd "+name+" "+c.synopsis), c.about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args into fs, for a command without arguments after
// its flags. -h, -help and --help print the usage on stdout and return
// flag.ErrHelp (main exits 0); a bad flag or a stray argument prints the
// problem and the usage on stderr and returns an error wrapping errUsage
// (main exits 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parse(fs, args, false)
}

// parseArgs is parseFlags for a command that takes arguments after its
// flags (fs.Args()).
func parseArgs(fs *flag.FlagSet, args []string) error {
	return parse(fs, args, true)
}

// parse is parseFlags, with arguments after the flags allowed or not.
func parse(fs *flag.FlagSet, args []string, positional bool) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	if err == nil && !positional && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(&buf, err)
		fs.Usage()
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Stdout.Write(buf.Bytes())
		return err
	case err != nil:
		os.Stderr.Write(buf.Bytes())
		return fmt.Errorf("%s: %w: %w", fs.Name(), errUsage, err)
	}
	return nil
}

// exitCode maps the error of a command to algd's exit status: 0 for a
// help request, 2 for bad usage, 1 for any other failure.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}
