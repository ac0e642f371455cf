package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
	"github.com/algd/algd/internal/demo"
)

// cmdDemo starts two embedded FTP servers (ftpserverlib on temporary
// folders) on 127.0.0.11 and 127.0.0.12, and algd in front of them on
// 127.0.0.1, then serves until Ctrl-C. Distinct addresses make the rewrite
// visible: a client can only follow the 227 reply to the VIP.
func cmdDemo(args []string) error {
	fs := newFlagSet("demo")
	var vip netip.AddrPort
	var passive conf.PortRange
	fs.TextVar(&vip, "listen", netip.MustParseAddrPort("127.0.0.1:2121"), "the VIP `ADDR`: where algd listens")
	fs.TextVar(&passive, "passive-ports", conf.PortRange{First: 61000, Last: 61099}, "algd's passive `RANGE` on the VIP")
	verbose := fs.Bool("v", false, "log every command")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	lvl := "info"
	if *verbose {
		lvl = "debug"
	}
	log, _ := daemon.NewLogger(conf.Log{Level: lvl}, os.Stderr)

	// One folder for both servers, as a farm shares its storage: a file
	// uploaded through one realserver is there for the next session.
	root, err := os.MkdirTemp("", "algd-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	var servers []*demo.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	var rss []conf.Realserver
	for i, ip := range []string{"127.0.0.11", "127.0.0.12"} {
		s, err := demo.Start(demo.Options{
			Addr:         ip + ":0",
			Root:         root,
			PassiveFirst: uint16(62000 + 100*i),
			PassiveLast:  uint16(62099 + 100*i),
			Logger:       log.With("demo_ftpd", ip),
		})
		if err != nil {
			return fmt.Errorf("demo server on %s: %w", ip, err)
		}
		servers = append(servers, s)
		rss = append(rss, conf.Realserver{AddrPort: s.Addr()})
		log.Info("demo ftpd", "addr", s.Addr().String(), "root", s.Root())
	}
	cfg := &conf.Config{
		Pools: []conf.Pool{{Name: "demo", Scheduler: "rr", Realservers: rss,
			Health: conf.Health{Kind: "ftp"}}},
		// The proxy path: the demo runs unprivileged and touches no
		// nftables, whoever starts it.
		FTP: []conf.FTP{{Name: "demo", ListenAddrs: []netip.AddrPort{vip}, Pool: "demo", Passive: passive,
			DataPath: conf.DataPathProxy}},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	printDemo(vip, root)
	return daemon.Serve(cfg, "", daemon.Options{Logger: log.With("component", "algd")})
}

func printDemo(vip netip.AddrPort, root string) {
	url := fmt.Sprintf("ftp://demo:demo@%s", vip)
	fmt.Printf(`algd demo: two FTP servers behind the VIP %[1]s (user demo, password demo).

Try, in another terminal:
  echo hello > hello.txt
  curl -sS -T hello.txt %[2]s/                       # upload (EPSV)
  curl -sS --disable-epsv --no-ftp-skip-pasv-ip %[2]s/hello.txt   # download with PASV, following the 227 address
  curl -sS %[2]s/                                    # list
  lftp -e 'set ftp:ssl-allow no; ls; get hello.txt -o hello.copy; bye' -u demo,demo %[3]s -p %[4]d

Each new session goes to the next server (scheduler rr); both serve %[5]s.
Ctrl-C stops.
`, vip, url, vip.Addr(), vip.Port(), root)
}
