//go:build bench

package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// contender is one way from the client to the ftpd.
type contender struct {
	// name labels the contender in the tables.
	name string
	// addr is the control address clients connect to.
	addr netip.AddrPort
	// wrap prefixes every client command (ip netns exec CLIENT).
	wrap []string
	// proxy is the user-space proxy process whose CPU and memory are
	// measured, nil when there is none.
	proxy *algdrun.Proc
	// vs is the ftpd behind it.
	vs *peers.Server
}

// Loopback plan, on 127.77.0.0/24 so that the suites other people run on
// the same machine (127.0.0.x) do not collide with it. Passive ranges lie
// outside 32768-60999.
var (
	vsftpdAddr   = netip.MustParseAddrPort("127.77.0.21:2121") // vsftpd, passive 64000-64999
	demoAddr     = netip.MustParseAddrPort("127.77.0.22:2121") // ftpserverlib, passive 65000-65099
	haproxyVIP   = netip.MustParseAddr("127.77.0.30")          // plain; vsftpd announces it
	algdVIP      = netip.MustParseAddrPort("127.77.0.31:2121") // passive 63000-63999
	spliceVIP    = netip.MustParseAddr("127.77.0.32")          // HAProxy with splice
	algdIdleVIP  = netip.MustParseAddrPort("127.77.0.33:2121") // passive 65100-65199
	haproxyIdle  = netip.MustParseAddrPort("127.77.0.34:2121")
	vsftpdPasvLo = uint16(64000)
	vsftpdPasvHi = uint16(64999)
)

// dataPath is what an algd contender's configuration says of the data
// path: its listeners' data_path, "" to leave the key out (an algd from
// before the kernel data path, issue 15, knows no such key and runs the
// proxy path), and [kernel] nft_table, "" for algd's default. Two algds
// in one namespace need two tables: each replaces its table as a whole
// at start.
type dataPath struct{ mode, table string }

// listener returns the data_path line of a listener table.
func (d dataPath) listener() string {
	if d.mode == "" {
		return ""
	}
	return fmt.Sprintf("data_path = %q\n", d.mode)
}

// kernel returns the [kernel] table, or "".
func (d dataPath) kernel() string {
	if d.table == "" {
		return ""
	}
	return fmt.Sprintf("\n[kernel]\nnft_table = %q\n", d.table)
}

// algdConfig renders an algd.toml for one listener in front of one
// realserver, with the session limits raised for the loads.
func algdConfig(listen, backend netip.AddrPort, first, last uint16, dp dataPath) string {
	return fmt.Sprintf(`[limits]
max_sessions = 9000
max_sessions_per_client = 9000
max_data_ports_per_client = 9000

[[pool]]
name = "bench"
scheduler = "rr"
health = { kind = "ftp", interval = "2s", timeout = "1s", rise = 1, fall = 3 }
realservers = [ { address = %q } ]

[[ftp]]
name = "bench"
listen = [%q]
pool = "bench"
passive_ports = "%d-%d"
%s%s`, backend.String(), listen.String(), first, last, dp.listener(), dp.kernel())
}

// startAlgd runs algd with the config and waits for a banner on listen.
func startAlgd(t testing.TB, bin string, listen, backend netip.AddrPort, first, last uint16, dp dataPath) *algdrun.Proc {
	t.Helper()
	return algdrun.StartTOML(t, bin, algdConfig(listen, backend, first, last, dp), []netip.AddrPort{listen}, algdrun.Options{})
}

// knowsDataPath reports whether the algd binary has the data_path key
// (the kernel data path): algd check refuses unknown keys. Any other
// refusal fails t.
func knowsDataPath(t testing.TB, bin string) bool {
	t.Helper()
	f := filepath.Join(t.TempDir(), "probe.toml")
	cfg := algdConfig(algdVIP, vsftpdAddr, 63000, 63999, dataPath{mode: "proxy"})
	if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runErr(bin, "check", "-c", f)
	switch {
	case err == nil:
		return true
	case strings.Contains(out, `unknown key "data_path"`):
		return false
	}
	t.Fatalf("algd check: %v\n%s\n%s", err, out, cfg)
	return false
}

// startIn runs algd with cfg in the namespace of wrap and waits until vip
// answers a 220 from the namespace of from, for 20 s. Unlike startAlgd it
// returns an error (algd refused to start, no banner) instead of failing
// t: the contender is then left out, with the reason in the report.
func startIn(t testing.TB, bin, name, cfg string, wrap, from []string, vip netip.AddrPort) (*algdrun.Proc, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := algdrun.Run(t, name, append(append([]string(nil), wrap...), bin, "run", "-c", f))
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) && !p.Exited() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = bannerFrom(ctx, from, vip)
		cancel()
		if last == nil {
			return p, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.Exited() {
		return nil, fmt.Errorf("algd exited: %s", strings.TrimSpace(p.Tail(3)))
	}
	p.Stop()
	return nil, fmt.Errorf("no 220 from %s after 20 s: %v; algd's log ends:\n%s", vip, last, p.Tail(5))
}

// haproxyConfig renders a TCP-mode HAProxy in front of backend: the
// control port and, when the range is not empty, the passive range, each
// forwarded to the same port of the backend, sticking clients to their
// server by source address; splice forces splice(2) both ways.
func haproxyConfig(vip netip.Addr, port uint16, backend netip.Addr, first, last uint16, splice bool) string {
	// HAProxy needs 2 descriptors a connection, one per bound port and,
	// with splice, 2 per pipe (a quarter of maxconn): keep the total under
	// the hard limit of 20,000 open files.
	maxconn := 9000
	if first != 0 {
		maxconn = 7000
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global\n\tmaxconn %d\n\tlog stdout format raw local0 err\n\n", maxconn)
	b.WriteString("defaults\n\tmode tcp\n\ttimeout connect 5s\n\ttimeout client 10m\n\ttimeout server 10m\n")
	if splice {
		b.WriteString("\toption splice-request\n\toption splice-response\n")
	}
	fmt.Fprintf(&b, "\nfrontend ftp\n\tmaxconn %d\n\tbind %s:%d\n", maxconn, vip, port)
	if first != 0 {
		fmt.Fprintf(&b, "\tbind %s:%d-%d\n", vip, first, last)
	}
	b.WriteString("\tdefault_backend ftpd\n\nbackend ftpd\n\tstick-table type ip size 100k expire 30m\n\tstick on src\n")
	// No port: the connection goes to the port the client connected to.
	fmt.Fprintf(&b, "\tserver s1 %s\n", backend)
	return b.String()
}

// startHAProxy runs haproxy in the foreground with cfg and waits for a
// banner on vip:port.
func startHAProxy(t testing.TB, name, cfg string, ctl netip.AddrPort) *algdrun.Proc {
	t.Helper()
	f := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runErr("haproxy", "-c", "-f", f)
	if err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	p := algdrun.Run(t, name, []string{"haproxy", "-db", "-f", f})
	waitBanner(t, p, ctl, nil)
	return p
}

// waitBanner polls addr (from namespace ns when wrap is set) until it
// answers 220, for 20s; p, when not nil, must stay alive.
func waitBanner(t testing.TB, p *algdrun.Proc, addr netip.AddrPort, wrap []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p != nil {
			p.Alive(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = bannerFrom(ctx, wrap, addr)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log := ""
	if p != nil {
		log = p.Tail(50)
	}
	t.Fatalf("no 220 from %s: %v\n%s", addr, last, log)
}

// bannerFrom reads the greeting of addr, from this process or, with wrap,
// with bash's /dev/tcp inside the namespace.
func bannerFrom(ctx context.Context, wrap []string, addr netip.AddrPort) error {
	if len(wrap) == 0 {
		_, err := peers.Banner(ctx, addr)
		return err
	}
	script := `exec 3<>"/dev/tcp/$0/$1" || exit 1
while IFS= read -r l <&3; do
  case "$l" in 220\ *) printf 'QUIT\r\n' >&3; exit 0;; [0-9][0-9][0-9]\ *) exit 1;; esac
done
exit 1`
	argv := append(append([]string(nil), wrap...), "timeout", "2", "bash", "-c", script, addr.Addr().String(), fmt.Sprint(addr.Port()))
	out, err := runCtx(ctx, argv...)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// startVsftpd runs vsftpd with the benchmark's settings.
func startVsftpd(t *testing.T, addr netip.AddrPort, masquerade netip.Addr, wrap, readyWrap []string) *peers.Server {
	t.Helper()
	o := peers.Options{Addr: addr, PassiveFirst: vsftpdPasvLo, PassiveLast: vsftpdPasvHi, Masquerade: masquerade, Wrap: wrap}
	if len(readyWrap) > 0 {
		o.Ready = func(ctx context.Context, a netip.AddrPort) error { return bannerFrom(ctx, readyWrap, a) }
	}
	return peers.Start(t, peers.Vsftpd, o)
}
