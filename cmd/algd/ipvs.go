package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool/ipvs"
)

const ipvsUsage = `usage: algd ipvs <command> [flags]

commands:
  plan -c FILE      print the [[group]]s of FILE as ipvsadm-restore lines and an
                    nft -f script (realservers as configured, all up); changes nothing
  status [-c FILE]  list the kernel's fwmark services like ipvsadm -Ln, with the
                    group of FILE that owns each, and whether algd's table is in place
`

// cmdIPVS runs `algd ipvs plan|status`.
func cmdIPVS(args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, ipvsUsage)
		return errors.New("ipvs: missing command")
	}
	switch args[0] {
	case "plan":
		path, err := configFlag("ipvs plan", args[1:])
		if err != nil {
			return err
		}
		cfg, err := loadReport(path, out)
		if err != nil {
			return err
		}
		if len(cfg.Groups) == 0 {
			fmt.Fprintf(out, "# %s has no [[group]]: algd programs nothing\n", path)
		}
		return ipvs.WritePlan(out, ipvs.Desired(cfg, nil))
	case "status":
		return ipvsStatus(args[1:], out)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(out, ipvsUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, ipvsUsage)
	return fmt.Errorf("ipvs: unknown command %q", args[0])
}

// loadReport loads path and prints every problem to out.
func loadReport(path string, out io.Writer) (*conf.Config, error) {
	cfg, err := conf.Load(path)
	var errs *conf.Errors
	if errors.As(err, &errs) {
		for _, e := range errs.List {
			fmt.Fprintln(out, e)
		}
		return nil, fmt.Errorf("%s: %d error(s)", path, len(errs.List))
	}
	return cfg, err
}

// ipvsStatus prints the kernel's fwmark services with their owners.
func ipvsStatus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ipvs status", flag.ContinueOnError)
	path := fs.String("c", "", "configuration file naming the groups (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var want ipvs.State
	if *path != "" {
		cfg, err := loadReport(*path, out)
		if err != nil {
			return err
		}
		want = ipvs.Desired(cfg, nil)
	}
	k, err := ipvs.NewIPVS()
	if err != nil {
		return err
	}
	svcs, err := k.Services()
	if err != nil {
		return fmt.Errorf("ipvs status: %w", err)
	}
	if err := ipvs.WriteStatus(out, svcs, want); err != nil {
		return err
	}
	if want.Table == "" {
		return nil
	}
	fw, err := ipvs.NewFirewall(0)
	if err != nil {
		return err
	}
	marks, exists, ok, err := fw.Marks(want.Table)
	switch {
	case err != nil:
		return fmt.Errorf("ipvs status: %w", err)
	case !exists:
		fmt.Fprintf(out, "nft table inet %s: missing\n", want.Table)
	case !ok:
		fmt.Fprintf(out, "nft table inet %s: edited outside algd (replaced by the next reconcile)\n", want.Table)
	default:
		fmt.Fprintf(out, "nft table inet %s: %d rules\n", want.Table, len(marks))
	}
	return nil
}

// ipvsRun is the daemon's IPVS side: the Runner that keeps the kernel in
// step with the groups. nil when the configuration has no group.
type ipvsRun struct {
	runner *ipvs.Runner
}

// newIPVSRun connects to the kernel when cfg has groups. A kernel without
// IPVS (or nftables) is an error: algd must not pretend to serve groups.
func newIPVSRun(cfg *conf.Config, log *slog.Logger) (*ipvsRun, error) {
	if len(cfg.Groups) == 0 {
		return nil, nil
	}
	k, err := ipvs.NewIPVS()
	if err != nil {
		return nil, fmt.Errorf("[[group]] needs kernel IPVS: %w", err)
	}
	fw, err := ipvs.NewFirewall(0)
	if err != nil {
		return nil, fmt.Errorf("[[group]] needs nftables: %w", err)
	}
	l := log.With("component", "ipvs")
	return &ipvsRun{runner: &ipvs.Runner{
		Reconciler: &ipvs.Reconciler{IPVS: k, Firewall: fw, Logger: l},
		Logger:     l,
	}}, nil
}

// start runs the reconciler until ctx is done; spawn is the daemon's
// WaitGroup.Go, so that shutdown waits for the cleanup.
func (r *ipvsRun) start(ctx context.Context, cfg *conf.Config, spawn func(func()), log *slog.Logger) {
	if r == nil {
		return
	}
	spawn(func() {
		if err := r.runner.Run(ctx, cfg); err != nil {
			log.Error("ipvs cleanup on exit failed", "err", err)
		}
	})
}

// reload hands a reloaded configuration to the reconciler. Groups added
// to a configuration that started without any need a restart.
func (r *ipvsRun) reload(cfg *conf.Config, log *slog.Logger) {
	if r == nil {
		if len(cfg.Groups) > 0 {
			log.Warn("[[group]]s added by a reload are not programmed: restart algd")
		}
		return
	}
	r.runner.Reload(cfg)
}
