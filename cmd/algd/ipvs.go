package main

import (
	"errors"
	"fmt"
	"io"
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
	fs := newFlagSet("ipvs status")
	path := fs.String("c", "", "configuration `FILE` naming the groups (optional)")
	if err := parseFlags(fs, args); err != nil {
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
