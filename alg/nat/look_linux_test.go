//go:build linux && interop

package nat

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// TestNftLists checks that nft (the operator's tool) can list the table
// with elements in it, and shows the fixed rules as nft statements.
func TestNftLists(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft not on PATH: run tests/peers/fetch.sh")
	}
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	f4, f6 := families[0], families[1]
	for _, m := range []alg.Mapping{
		{Proto: alg.TCP, From: netip.AddrPortFrom(f4.client, 0), Dst: netip.AddrPortFrom(f4.vip, 5000), To: netip.AddrPortFrom(f4.real, 6000), Source: netip.AddrPortFrom(f4.dirR, 0), Timeout: time.Minute},
		{Proto: alg.UDP, From: netip.AddrPortFrom(f6.client, 7000), Dst: netip.AddrPortFrom(f6.vip, 5000), To: netip.AddrPortFrom(f6.real, 6000), Source: netip.AddrPortFrom(f6.dirR, 9000), Timeout: time.Minute},
	} {
		if _, err := tb.Map(m); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, "ip", "netns", "exec", tp.names[1], "nft", "list", "table", "inet", DefaultTable)
	for _, want := range []string{
		"tcp . 10.232.1.2 . 10.232.1.10 . 5000 timeout 1m",
		": 10.232.2.2 . 6000",
		"udp . fd00:232:1::2 . 7000 . fd00:232:2::2 . 6000 timeout 1m",
		": fd00:232:2::1 . 9000",
		"dnat ip to meta l4proto . ip saddr . ip daddr . th dport map @dnat4",
		"snat ip6 to meta l4proto . ip6 saddr . th sport . ip6 daddr . th dport map @snat6_port",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list lacks %q:\n%s", want, out)
		}
	}
}

// TestProbe: as root in a namespace with forwarding on, the kernel path
// is usable; where forwarding is off, Probe says so for each family.
func TestProbe(t *testing.T) {
	tp := newTopology(t)
	if r := Probe(Options{NetNS: tp.director}); !r.Usable() || len(r.NoForward) != 0 {
		t.Errorf("director: %+v", r)
	}
	r := Probe(Options{NetNS: tp.client})
	if !r.Usable() || len(r.NoForward) != 2 || !strings.Contains(r.NoForward[0], "net.ipv4.ip_forward=0") {
		t.Errorf("client (no forwarding): %+v", r)
	}
}
