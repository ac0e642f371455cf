package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/conf"
)

// adminFlags are the flags of every subcommand that talks to a running
// algd's admin listener: the configuration naming it (-c), or the address
// itself (-admin) and a token file (-token-file).
type adminFlags struct {
	cfg, addr, token string
}

// defaultConfig is the configuration the subcommands read without -c.
const defaultConfig = "/etc/algd/algd.toml"

// add registers the flags on fs.
func (a *adminFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&a.cfg, "c", defaultConfig, "configuration file naming the admin listener, token file and control socket")
	fs.StringVar(&a.addr, "admin", "", "the admin listener's ip:port, instead of [admin] listen of -c")
	fs.StringVar(&a.token, "token-file", "", "the bearer token's file, instead of [admin] token_file of -c")
}

// client returns the admin client the flags name. -admin wins over -c;
// without either, the default configuration is read if it exists, else
// 127.0.0.1:9021 is asked. With control, a request that changes state,
// the control socket of the configuration is used when algd's user may
// write to it, else the listener with the token.
func (a *adminFlags) client(fs *flag.FlagSet, control bool) (*admin.Client, error) {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "c" })
	c := &admin.Client{Addr: a.addr}
	var ac conf.Admin
	if a.addr == "" || explicit {
		cfg, err := conf.Load(a.cfg)
		switch {
		case err == nil:
			ac = cfg.Admin
		case !explicit && a.addr == "" && errors.Is(err, os.ErrNotExist):
			c.Addr = "127.0.0.1:9021"
		default:
			return nil, err
		}
	}
	if c.Addr == "" {
		if !ac.ListenAddr.IsValid() {
			return nil, fmt.Errorf("%s sets no [admin] listen: algd has no admin listener; use -admin", a.cfg)
		}
		c.Addr = ac.ListenAddr.String()
	}
	if !control {
		return c, nil
	}
	if ac.ControlSocket != "" && syscall.Access(ac.ControlSocket, 2 /* W_OK */) == nil {
		c.Socket = ac.ControlSocket
		return c, nil
	}
	tf := cmp.Or(a.token, ac.TokenFile)
	if tf == "" {
		return c, nil // algd refuses with 403 and says why
	}
	tok, err := admin.ReadToken(tf)
	if err != nil {
		return nil, err
	}
	c.Token = tok
	return c, nil
}

// cmdStatus prints a running algd's status, read from its admin listener.
func cmdStatus(args []string, out io.Writer) error {
	fs := newFlagSet("status")
	var af adminFlags
	af.add(fs)
	asJSON := fs.Bool("json", false, "print the JSON of /status")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := af.client(fs, false)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(out, st)
	}
	return admin.WriteText(out, st)
}

// cmdRealserver shows or changes one realserver of a running algd:
//
//	algd realserver [-c FILE] POOL ADDR show|weight N|drain|disable|enable
//
// Changes last until the next reload.
func cmdRealserver(args []string, out io.Writer) error {
	fs := newFlagSet("realserver")
	var af adminFlags
	af.add(fs)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 3 {
		return errors.New("realserver: want POOL ADDR show|weight N|drain|disable|enable")
	}
	pool, addr, action := rest[0], rest[1], rest[2]
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	c, err := af.client(fs, action != "show")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	form := url.Values{}
	switch action {
	case "show":
		return showRealserver(ctx, c, pool, ap, out)
	case "weight":
		if len(rest) != 4 {
			return errors.New("realserver: weight wants a number")
		}
		form.Set("weight", rest[3])
	case "drain", "disable", "enable":
	default:
		return fmt.Errorf("realserver: unknown action %q: want show, weight, drain, disable or enable", action)
	}
	if err := c.Post(ctx, "/realservers/"+url.PathEscape(pool)+"/"+url.PathEscape(ap.String())+"/"+action, form); err != nil {
		return err
	}
	return showRealserver(ctx, c, pool, ap, out)
}

// showRealserver prints one realserver as /status has it.
func showRealserver(ctx context.Context, c *admin.Client, pool string, addr netip.AddrPort, out io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	for _, p := range st.Pools {
		for _, m := range p.Members {
			if p.Name == pool && m.Address == addr {
				_, err := fmt.Fprintf(out, "%s %s %s weight %d active %d total %d check_failures %d\n",
					pool, addr, m.State(), m.Weight, m.Active, m.Total, m.CheckFailures)
				return err
			}
		}
	}
	return fmt.Errorf("realserver: pool %q has no realserver %s", pool, addr)
}

// cmdSession ends a live session of a running algd:
//
//	algd session [-c FILE] end ID
func cmdSession(args []string, out io.Writer) error {
	fs := newFlagSet("session")
	var af adminFlags
	af.add(fs)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "end" {
		return errors.New("session: want end ID")
	}
	c, err := af.client(fs, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Post(ctx, "/sessions/"+url.PathEscape(fs.Arg(1))+"/end", nil); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "session %s ended\n", fs.Arg(1))
	return err
}

// cmdReload asks a running algd to reload its configuration: SIGHUP to
// the process named by its pid file (the same as `kill -HUP <pid>`).
// With -wait it then watches the admin listener's reload counters and
// fails with algd's error when the file was refused.
func cmdReload(args []string, out io.Writer) error {
	fs := newFlagSet("reload")
	pidFile := fs.String("pid", "", "pid file ([admin] pid_file); default: the one of -c")
	var af adminFlags
	af.add(fs)
	wait := fs.Bool("wait", false, "wait for the result through the admin listener; fail if algd refused the file")
	timeout := fs.Duration("timeout", 30*time.Second, "how long -wait waits")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pid, _, err := findAlgd("reload", *pidFile, af.cfg)
	if err != nil {
		return err
	}
	if !*wait {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			return fmt.Errorf("reload: signal %d: %w", pid, err)
		}
		fmt.Fprintf(out, "sent SIGHUP to algd (pid %d); see its log or `algd status` for the result\n", pid)
		return nil
	}
	c, err := af.client(fs, false)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return reloadWait(ctx, c, pid, out)
}

// reloadWait signals pid and waits until its admin listener counts one
// more reload; a refused one is an error carrying algd's reason.
func reloadWait(ctx context.Context, c *admin.Client, pid int, out io.Writer) error {
	before, err := c.Status(ctx)
	if err != nil {
		return err
	}
	n := before.Reloads.OK + before.Reloads.Failed
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload: signal %d: %w", pid, err)
	}
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Reloads.OK+st.Reloads.Failed > n {
			if st.Reloads.LastError != "" {
				return fmt.Errorf("reload refused, algd keeps the running configuration: %s", st.Reloads.LastError)
			}
			_, err := fmt.Fprintf(out, "algd (pid %d) reloaded its configuration\n", pid)
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reload: no result from algd (pid %d): %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cmdUpgrade asks a running algd to start its binary again (SIGUSR2): the
// new process takes the listening sockets over [admin] takeover_socket
// and the old one drains. It waits until the pid file names the new
// process.
func cmdUpgrade(args []string, out io.Writer) error {
	fs := newFlagSet("upgrade")
	pidFile := fs.String("pid", "", "pid file ([admin] pid_file); default: the one of -c")
	cfgPath := fs.String("c", defaultConfig, "configuration file naming the pid file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pid, path, err := findAlgd("upgrade", *pidFile, *cfgPath)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		return fmt.Errorf("upgrade: signal %d: %w", pid, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if now, err := readPID(path); err == nil && now != pid {
			_, err := fmt.Fprintf(out, "algd upgraded: pid %d serves, pid %d drains\n", now, pid)
			return err
		}
	}
	return fmt.Errorf("upgrade: %s still names pid %d after a minute; see its log (is [admin] takeover_socket set?)", path, pid)
}

// findAlgd returns the process id and pid file of the running algd: the
// file pidFile, or the [admin] pid_file of the configuration cfgPath.
// That configuration is checked first: a running algd is not signalled to
// read a file with errors.
func findAlgd(name, pidFile, cfgPath string) (int, string, error) {
	if pidFile == "" {
		cfg, err := conf.Load(cfgPath)
		if err != nil {
			return 0, "", fmt.Errorf("%s: the new file has errors, not signalling: %w", name, err)
		}
		if cfg.Admin.PIDFile == "" {
			return 0, "", fmt.Errorf("%s: %s sets no [admin] pid_file; use -pid or kill", name, cfgPath)
		}
		pidFile = cfg.Admin.PIDFile
	}
	pid, err := readPID(pidFile)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", name, err)
	}
	return pid, pidFile, nil
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
