// Command algd is an FTP application-layer gateway for load-balancer
// directors: it terminates FTP control connections on a VIP, balances them
// over a pool of ftpds and relays passive data connections through a small
// configured port range. See README.md and docs/.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: algd <command> [flags]

commands:
  run -c FILE     serve the configuration in FILE
  check -c FILE   validate FILE, print what would listen where and the firewall ports
  demo            run two embedded FTP servers behind algd on loopback
  status [-c FILE | -admin ADDR] [-json]   print a running algd's pools, listeners and sessions
  reload [-c FILE | -pid FILE] [-wait]     make a running algd reload its configuration (SIGHUP);
                                           -wait: exit 1 with algd's error if it refused the file
  upgrade [-c FILE | -pid FILE]  restart a running algd from its binary without refusing clients (SIGUSR2; needs [admin] takeover_socket)
  realserver [-c FILE] POOL ADDR show|weight N|drain|disable|enable
                                           show or change a realserver until the next reload
  session [-c FILE] end ID                 end a live session now
  ipvs plan -c FILE | status [-c FILE]   print the IPVS/nftables plan of the [[group]]s, or the kernel's state
  version         print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	daemon.Version = version
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "check":
		err = cmdCheck(os.Args[2:], os.Stdout)
	case "demo":
		err = cmdDemo(os.Args[2:])
	case "status":
		err = cmdStatus(os.Args[2:], os.Stdout)
	case "reload":
		err = cmdReload(os.Args[2:], os.Stdout)
	case "realserver":
		err = cmdRealserver(os.Args[2:], os.Stdout)
	case "session":
		err = cmdSession(os.Args[2:], os.Stdout)
	case "upgrade":
		err = cmdUpgrade(os.Args[2:], os.Stdout)
	case "ipvs":
		err = cmdIPVS(os.Args[2:], os.Stdout)
	case "version", "-version", "--version":
		fmt.Println("algd", version)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "algd: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "algd:", err)
		os.Exit(1)
	}
}

// configFlag parses the -c flag shared by run and check.
func configFlag(name string, args []string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("c", "/etc/algd/algd.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
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
	conf.Check(cfg, conf.ReadSystem()).Write(out)
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
