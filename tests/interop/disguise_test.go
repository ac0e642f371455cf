//go:build interop

package interop

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/disguise"
	"github.com/algd/algd/tests/peers"
)

// disguiseServer is one ftpd and the algd listener in front of it.
type disguiseServer struct {
	kind        peers.Kind
	addr        netip.AddrPort // the ftpd
	first, last uint16         // the ftpd's passive range
	vip         netip.AddrPort // algd's listener
	algdFirst   uint16         // algd's passive range: 10 ports; backend_ports the next 10
}

// disguiseServers: every ftpd of the suite, on addresses and ranges apart
// from every other suite's.
var disguiseServers = []disguiseServer{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.61:2161"), 62500, 62509, netip.AddrPortFrom(vip, 2190), 62600},
	{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.62:2162"), 62510, 62529, netip.AddrPortFrom(vip, 2192), 62620},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.63:2163"), 62530, 62539, netip.AddrPortFrom(vip, 2194), 62640},
}

// Where algd talks to the ftpds from (backend_source), and its admin
// listener.
var (
	disguiseBackendSide = netip.MustParseAddr("127.0.0.64")
	disguiseAdmin       = netip.MustParseAddrPort("127.0.0.10:9190")
)

// TestDisguises runs the disguise table (tests/disguise: Telnet sequences
// in and around the verb and the argument, every ASCII control character
// as separator, inside and around the verb, case variants, leading,
// trailing and doubled spaces, overlong verbs, a bare LF) through algd in
// front of vsftpd, pure-ftpd and proftpd, with [ftp.tls] required and
// require_prot_p, bounce refusal (allow_foreign_data off) and
// backend_data_mode "active". Each line is refused by algd (500, counted
// in algd_ftp_commands_refused_total by reason) or read by algd as the
// ftpd then acts on it: no disguised USER or PASS logs in without TLS (the
// ftpd still says 530 to PWD), no disguised PORT or EPRT naming algd's
// backend-side address makes a connection there (it is 504, counted as a
// bounce, and a LIST after it fails), no disguised PROT C turns
// protection off (534).
func TestDisguises(t *testing.T) {
	if algdBin == "" {
		t.Fatal("TestDisguises needs algd (ALGD_INTEROP_DIRECT is set)")
	}
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vipFiles := ca.Issue(t, "vip", vip)
	roots := ca.Roots()

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[log]\nformat = \"json\"\nlevel = \"debug\"\n\n[admin]\nlisten = %q\n", disguiseAdmin.String())
	var vips []netip.AddrPort
	for _, s := range disguiseServers {
		fmt.Fprintf(&cfg, `
[[pool]]
name = %[1]q
scheduler = "rr"
health = { kind = "ftp", interval = "1s", timeout = "900ms", rise = 1, fall = 3 }
realservers = [ { address = %[2]q } ]

[[ftp]]
name = %[1]q
listen = [%[3]q]
pool = %[1]q
passive_ports = "%[4]d-%[5]d"
backend_data_mode = "active"
backend_ports = "%[6]d-%[7]d"
backend_source = %[8]q

  [ftp.tls]
  cert = %[9]q
  key = %[10]q
  required = true
  require_prot_p = true
`, string(s.kind), s.addr.String(), s.vip.String(), s.algdFirst, s.algdFirst+9, s.algdFirst+10, s.algdFirst+19,
			disguiseBackendSide.String(), vipFiles.Cert, vipFiles.Key)
		vips = append(vips, s.vip)
	}
	servers := make([]*peers.Server, len(disguiseServers))
	for i, s := range disguiseServers {
		servers[i] = peers.Start(t, s.kind, peers.Options{Addr: s.addr, PassiveFirst: s.first, PassiveLast: s.last})
	}
	proc := algdrun.StartTOML(t, algdBin, cfg.String(), vips, algdrun.Options{})

	for i, s := range disguiseServers {
		t.Run(string(s.kind), func(t *testing.T) {
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(disguiseBackendSide, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			label := fmt.Sprintf("listener=%q", string(s.kind))
			disguise.Run(t, disguise.Env{
				VIP:      s.vip,
				From:     clientIP,
				TLS:      &tls.Config{RootCAs: roots, ServerName: vip.String()},
				User:     servers[i].User,
				Password: servers[i].Password,
				Target:   ln,
				Counters: func() (map[string]int64, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					m, err := algdrun.Scrape(ctx, disguiseAdmin)
					if err != nil {
						return nil, err
					}
					out := map[string]int64{"bounce": int64(m.Sum("algd_refused_total", label, `reason="bounce"`))}
					for _, r := range []string{"telnet", "control", "syntax", "unknown", "tls", "prot"} {
						out[r] = int64(m.Sum("algd_ftp_commands_refused_total", label, fmt.Sprintf("reason=%q", r)))
					}
					return out, nil
				},
			})
			// The password follows PASS in every disguise: algd's log, at
			// debug level, must never show it there.
			leak := regexp.MustCompile(`(?i)pass[^"*]{0,12}` + regexp.QuoteMeta(servers[i].Password))
			if m := leak.FindString(proc.Log()); m != "" {
				t.Errorf("algd's log shows the password: %q", m)
			}
		})
	}
}
