// Command algd is an FTP application-layer gateway for load-balancer
// directors: it terminates FTP control connections on a VIP, balances them
// over a pool of ftpds and relays passive data connections through a small
// configured port range. See README.md and docs/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
)

func main() {
	os.Exit(exitCode(dispatch(os.Args[1:])))
}

// dispatch runs the command named by args[0] and prints its error, except
// a help request or bad usage, which the flag set has printed already.
func dispatch(args []string) error {
	daemon.Version = buildVersion()
	if len(args) == 0 {
		writeUsage(os.Stderr)
		return errUsage
	}
	var err error
	switch name := args[0]; name {
	case "-version", "--version":
		err = cmdVersion(nil)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return dispatch([]string{args[1], "-h"})
		}
		writeUsage(os.Stdout)
		return nil
	default:
		c, ok := lookup(name)
		if !ok || c.run == nil {
			fmt.Fprintf(os.Stderr, "algd: unknown command %q\n", name)
			writeUsage(os.Stderr)
			return errUsage
		}
		err = c.run(args[1:])
	}
	if err != nil && exitCode(err) == 1 {
		fmt.Fprintln(os.Stderr, "algd:", err)
	}
	return err
}

// configFlag parses the -c flag shared by run and check.
func configFlag(name string, args []string) (string, error) {
	fs := newFlagSet(name)
	path := fs.String("c", "/etc/algd/algd.toml", "configuration `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	return *path, nil
}

func cmdCheck(args []string, out io.Writer) error {
	path, err := configFlag("check", args)
	if err != nil {
		return err
	}
	cfg, err := conf.Load(path)
	if err != nil {
		var errs *conf.Errors
		if errors.As(err, &errs) {
			for _, e := range errs.List {
				fmt.Fprintln(out, e)
			}
			return fmt.Errorf("%s: %d error(s)", path, len(errs.List))
		}
		return err
	}
	sys := conf.ReadSystem()
	if cfg.WantsKernel() {
		sys.NoKernel = daemon.ProbeKernel(cfg)
	}
	conf.Check(cfg, sys).Write(out)
	return nil
}

func cmdRun(args []string) error {
	path, err := configFlag("run", args)
	if err != nil {
		return err
	}
	cfg, err := conf.Load(path)
	if err != nil {
		return err
	}
	log, level := daemon.NewLogger(cfg.Log, os.Stderr)
	return daemon.Serve(cfg, path, daemon.Options{Logger: log, Level: level})
}
