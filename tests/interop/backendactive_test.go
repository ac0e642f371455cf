//go:build interop

package interop

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// TestBackendActive runs backend_data_mode = "active" against each real
// ftpd: for the client's PORT/EPRT algd gives the ftpd a PORT to a random,
// one-shot port of backend_ports, paired only while the transfer command
// is outstanding, and the ftpd connects there. Uploads and downloads of
// 0 B, 1 B and 5 MiB (python ftplib, PORT and EPRT) must be byte-exact,
// every ftpd connection must have been paired (none refused as outside
// its window), and the backend ports must all be free at the end.
func TestBackendActive(t *testing.T) {
	peers.RequireTools(t, "timeout", "python3")
	if algdBin == "" {
		t.Fatal("backend active mode needs algd (ALGD_INTEROP_DIRECT is set)")
	}
	backends := []struct {
		kind                peers.Kind
		addr                netip.AddrPort
		first, last         uint16
		vip                 netip.AddrPort
		algdFirst, algdLast uint16
		backFirst, backLast uint16
	}{
		{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.57:2171"), 65050, 65059, netip.AddrPortFrom(vip, 2171), 65060, 65069, 65500, 65509},
		{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.58:2172"), 65070, 65079, netip.AddrPortFrom(vip, 2172), 65080, 65089, 65510, 65519},
		{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.59:2173"), 65090, 65099, netip.AddrPortFrom(vip, 2173), 65520, 65529, 65530, 65535},
	}
	for _, b := range backends {
		t.Run(string(b.kind), func(t *testing.T) {
			srv := peers.Start(t, b.kind, peers.Options{Addr: b.addr, PassiveFirst: b.first, PassiveLast: b.last})
			proc := algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
				Name: string(b.kind), Listen: b.vip, Realservers: []netip.AddrPort{b.addr},
				PassiveFirst: b.algdFirst, PassiveLast: b.algdLast, BackendFirst: b.backFirst, BackendLast: b.backLast,
			}}}, algdrun.Options{})
			for _, mode := range []peers.Mode{peers.PORT, peers.EPRT} {
				for _, size := range peers.Sizes {
					name := fmt.Sprintf("backend-active-%s-%s", mode, size.Name)
					dir := t.TempDir()
					local, sum := peers.RandomFile(t, dir, name, size.Bytes)
					run := func(op peers.Op, file string) {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
						defer cancel()
						res := peers.Run(ctx, peers.Request{Client: peers.Ftplib, Mode: mode, Op: op, Server: b.vip,
							User: srv.User, Password: srv.Password, Remote: srv.Remote(name), Local: file,
							Source: clientIP, Dir: dir})
						if res.Err != nil {
							t.Fatalf("%s %s %s: %v\n%s", mode, op, size.Name, res.Err, res.Transcript)
						}
					}
					run(peers.Upload, local)
					if got, err := peers.SHA256File(srv.Path(name)); err != nil || got != sum {
						t.Fatalf("%s upload %s: the ftpd stored sha256 %s (%v), sent %s", mode, size.Name, got, err, sum)
					}
					back := local + ".back"
					run(peers.Download, back)
					if got, err := peers.SHA256File(back); err != nil || got != sum {
						t.Fatalf("%s download %s: sha256 %s (%v), want %s", mode, size.Name, got, err, sum)
					}
				}
			}
			log := proc.Log()
			if n := strings.Count(log, `"reason":"outside_window"`) + strings.Count(log, `"reason":"second_connection"`) +
				strings.Count(log, `"reason":"theft"`); n != 0 {
				t.Errorf("algd refused %d backend data connections of an honest ftpd:\n%s", n, log)
			}
			if n := strings.Count(log, "realserver did not connect to its PORT"); n != 0 {
				t.Errorf("%d transfers without the ftpd's connection", n)
			}
		})
	}
}
