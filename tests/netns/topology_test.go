//go:build interop

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Addresses inside the namespaces.
var (
	clientIP   = netip.MustParseAddr("10.231.1.2")
	directorC  = netip.MustParseAddr("10.231.1.1")  // director, client side
	vip        = netip.MustParseAddr("10.231.1.10") // on the client side
	directorR  = netip.MustParseAddr("10.231.2.1")  // director, realserver side
	realserver = netip.MustParseAddr("10.231.2.2")

	// IPv6 (ULA, only inside the namespaces): the client and the VIP get
	// addresses too, so IPv6 clients reach the IPv4 realserver through
	// algd (mixed families).
	clientIP6  = netip.MustParseAddr("fd00:231:1::2")
	directorC6 = netip.MustParseAddr("fd00:231:1::1")
	vip6       = netip.MustParseAddr("fd00:231:1::10")
)

// topology is the three namespaces and their links.
type topology struct {
	client, director, real string // namespace names
}

// exec returns the command prefix that runs a program in namespace ns.
func nsWrap(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// sh runs argv and fails the test with its output on error.
func sh(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// newTopology creates the namespaces, veth pairs, addresses and routes,
// and deletes the namespaces (and so every link and nft table in them) in
// t.Cleanup, after the processes in them were stopped.
func newTopology(t *testing.T) *topology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netns suite needs root (ip netns, nft); CI runs as root")
	}
	for _, tool := range []string{"ip", "nft", "timeout", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not on PATH: run tests/peers/fetch.sh", tool)
		}
	}
	prefix := fmt.Sprintf("algd-%d-", os.Getpid())
	tp := &topology{client: prefix + "client", director: prefix + "director", real: prefix + "real"}
	for _, ns := range []string{tp.client, tp.director, tp.real} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	// client c0 <-> d0 director d1 <-> r0 realserver; each pair is created
	// with its ends already in their namespaces, so no host name is used.
	sh(t, "ip", "link", "add", "name", "c0", "netns", tp.client, "type", "veth", "peer", "name", "d0", "netns", tp.director)
	sh(t, "ip", "link", "add", "name", "d1", "netns", tp.director, "type", "veth", "peer", "name", "r0", "netns", tp.real)
	addrs := []struct {
		ns, dev string
		addr    netip.Addr
	}{
		{tp.client, "c0", clientIP},
		{tp.director, "d0", directorC},
		{tp.director, "d0", vip},
		{tp.director, "d1", directorR},
		{tp.real, "r0", realserver},
	}
	for _, a := range addrs {
		sh(t, "ip", "-n", a.ns, "addr", "add", a.addr.String()+"/24", "dev", a.dev)
		sh(t, "ip", "-n", a.ns, "link", "set", a.dev, "up")
	}
	// IPv6 on the client side; nodad makes them usable at once (duplicate
	// address detection would hold them tentative for a second or two).
	for _, a := range []struct {
		ns, dev string
		addr    netip.Addr
	}{{tp.client, "c0", clientIP6}, {tp.director, "d0", directorC6}, {tp.director, "d0", vip6}} {
		sh(t, "ip", "-n", a.ns, "-6", "addr", "add", a.addr.String()+"/64", "dev", a.dev, "nodad")
	}
	sh(t, "ip", "-n", tp.client, "-6", "route", "add", "default", "via", directorC6.String())
	sh(t, append(nsWrap(tp.director), "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0")...)
	// The client routes everything through the director, so only the
	// director's missing forwarding keeps it from the realserver.
	sh(t, "ip", "-n", tp.client, "route", "add", "default", "via", directorC.String())
	sh(t, "ip", "-n", tp.real, "route", "add", "default", "via", directorR.String())
	sh(t, append(nsWrap(tp.director), "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")...)
	if got := strings.TrimSpace(sh(t, append(nsWrap(tp.director), "sysctl", "-n", "net.ipv4.ip_forward")...)); got != "0" {
		t.Fatalf("director ip_forward = %q, want 0", got)
	}
	return tp
}

// bannerIn returns a readiness check that reads the FTP greeting of addr
// from inside namespace ns (bash's /dev/tcp; the test process itself
// stays in the host namespace).
func bannerIn(ns string) func(ctx context.Context, addr netip.AddrPort) error {
	return func(ctx context.Context, addr netip.AddrPort) error {
		_, err := tcpProbe(ctx, ns, addr, 2*time.Second)
		return err
	}
}

// tcpProbe connects from namespace ns to addr and returns the greeting's
// final line; it fails unless that line is a 220.
func tcpProbe(ctx context.Context, ns string, addr netip.AddrPort, limit time.Duration) (string, error) {
	// Read lines until one has a space after the code (the final line).
	script := `exec 3<>"/dev/tcp/$0/$1" || exit 1
while IFS= read -r l <&3; do
  case "$l" in [0-9][0-9][0-9]\ *) printf '%s' "$l"; printf 'QUIT\r\n' >&3; exit 0;; esac
done
exit 1`
	secs := fmt.Sprintf("%.0f", limit.Seconds())
	argv := append(nsWrap(ns), "timeout", secs, "bash", "-c", script, addr.Addr().String(), fmt.Sprint(addr.Port()))
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	line := strings.TrimSpace(string(out))
	if err != nil {
		return line, fmt.Errorf("probe %s from %s: %w: %s", addr, ns, err, line)
	}
	if !strings.HasPrefix(line, "220") {
		return line, fmt.Errorf("probe %s from %s: greeting %q", addr, ns, line)
	}
	return line, nil
}
