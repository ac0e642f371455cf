//go:build bench

package bench

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Namespace plan: client c0 10.232.1.2 <-> d0 10.232.1.1 (and the VIPs
// 10.232.1.10-13) director d1 10.232.2.1 <-> r0 10.232.2.2 realserver.
// Each contender in the director has its own VIP, so that nft's DNAT rule
// and algd's own nftables table never see each other's connections.
var (
	nsClientIP = netip.MustParseAddr("10.232.1.2")
	nsDirC     = netip.MustParseAddr("10.232.1.1")
	nsVIP      = netip.MustParseAddr("10.232.1.10") // nft
	nsKernel   = netip.MustParseAddr("10.232.1.11") // algd-kernel
	nsProxy    = netip.MustParseAddr("10.232.1.12") // algd-ns
	nsNaive    = netip.MustParseAddr("10.232.1.13") // naive-ns (scenario 5)
	nsDirR     = netip.MustParseAddr("10.232.2.1")
	nsReal     = netip.MustParseAddr("10.232.2.2")
	nsFTPPort  = uint16(2121)
)

// topology is the three namespaces of the contenders routed, nft,
// algd-kernel and algd-ns (and scenario 5's naive-ns).
type topology struct {
	client, director, real string
}

// wrap returns the prefix that runs a command in namespace ns.
func wrap(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// newTopology creates the namespaces and links, and deletes the
// namespaces in t.Cleanup (registered first, so it runs after the
// processes inside were stopped).
func newTopology(t *testing.T) *topology {
	t.Helper()
	p := fmt.Sprintf("algdbench-%d-", os.Getpid())
	tp := &topology{client: p + "c", director: p + "d", real: p + "r"}
	for _, ns := range []string{tp.client, tp.director, tp.real} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := runErr("ip", "netns", "del", ns); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// Many short connections from one address: reuse TIME_WAIT ports.
		run(t, append(wrap(ns), "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1")...)
	}
	run(t, "ip", "link", "add", "name", "c0", "netns", tp.client, "type", "veth", "peer", "name", "d0", "netns", tp.director)
	run(t, "ip", "link", "add", "name", "d1", "netns", tp.director, "type", "veth", "peer", "name", "r0", "netns", tp.real)
	for _, a := range []struct {
		ns, dev string
		ip      netip.Addr
	}{
		{tp.client, "c0", nsClientIP}, {tp.director, "d0", nsDirC}, {tp.director, "d0", nsVIP},
		{tp.director, "d0", nsKernel}, {tp.director, "d0", nsProxy}, {tp.director, "d0", nsNaive},
		{tp.director, "d1", nsDirR}, {tp.real, "r0", nsReal},
	} {
		run(t, "ip", "-n", a.ns, "addr", "add", a.ip.String()+"/24", "dev", a.dev)
		run(t, "ip", "-n", a.ns, "link", "set", a.dev, "up")
	}
	run(t, "ip", "-n", tp.client, "route", "add", "default", "via", nsDirC.String())
	run(t, "ip", "-n", tp.real, "route", "add", "default", "via", nsDirR.String())
	run(t, append(wrap(tp.director), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")...)
	return tp
}

// nftRuleset is the director's kernel NAT: DNAT of VIP:port to the
// realserver and the ftp conntrack helper on those control connections
// (assigned after conntrack, before DNAT), which rewrites the 227 reply
// and creates the NATed expectation for the data connection. Traffic to
// the realserver's own address (the routed reference) gets neither.
func nftRuleset() string {
	return fmt.Sprintf(`table ip algdbench {
	ct helper ftp-std {
		type "ftp" protocol tcp
	}
	chain pre_helper {
		type filter hook prerouting priority -150; policy accept;
		ip daddr %[1]s tcp dport %[3]d ct helper set "ftp-std"
	}
	chain pre_nat {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[1]s tcp dport %[3]d dnat to %[2]s:%[3]d
	}
}
`, nsVIP, nsReal, nsFTPPort)
}

// loadNft installs the ruleset in the director, or returns why the
// kernel refused it (no ftp helper, no nat).
func (tp *topology) loadNft() error {
	cmd := exec.Command("ip", "netns", "exec", tp.director, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nftRuleset())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f: %v: %s", err, out)
	}
	return nil
}
