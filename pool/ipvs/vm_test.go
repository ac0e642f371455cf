//go:build linux && ipvsvm

// Tests against real kernel IPVS. The host kernel has none: they run in
// the qemu guest of tests/vm, as root in the guest's root namespace:
//
//	tests/vm/setup.sh
//	CGO_ENABLED=0 go test -tags ipvsvm -exec "$PWD/tests/vm/go-exec.sh" ./pool/ipvs
//
// Without IPVS they fail: a VM suite that cannot see IPVS proves nothing.

package ipvs

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
)

// kernel returns a Reconciler on the guest's IPVS and nftables, with
// whatever an earlier test left in its range removed.
func kernel(t *testing.T, c *conf.Config) *Reconciler {
	t.Helper()
	k, err := NewIPVS()
	if err != nil {
		t.Fatalf("NewIPVS: %v", err)
	}
	fw, err := NewFirewall(0)
	if err != nil {
		t.Fatalf("NewFirewall: %v", err)
	}
	r := &Reconciler{IPVS: k, Firewall: fw}
	if _, err := r.Remove(c.IPVS.NFTTable, c.IPVS.Marks); err != nil {
		t.Fatalf("clean start: %v", err)
	}
	t.Cleanup(func() { r.Remove(c.IPVS.NFTTable, c.IPVS.Marks) })
	return r
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// vmConfig adds an IPv6 tunnel group and a one-packet UDP group to
// testConfig.
const vmConfig = testConfig + `
[[pool]]
name = "v6"
realservers = [{ address = "[2001:db8:1::2]:80" }, { address = "[2001:db8:2::2]:80", weight = 3 }]

[[group]]
name = "web6"
vip = "2001:db8::20"
ports = ["tcp/80", "tcp/443"]
pool = "v6"
scheduler = "wlc"
persistence = "30s"
forward = "dr"

[[group]]
name = "radius"
vip = "203.0.113.18"
ports = ["udp/1812-1813"]
pool = "dns"
scheduler = "rr"
one_packet = true
health = { kind = "none" }
`

// TestVMReconcile programs the groups, compares the kernel with the plan
// through ipvsadm, and checks idempotence, repair of outside edits and
// that cleanup leaves foreign services alone.
func TestVMReconcile(t *testing.T) {
	c := loadTest(t, vmConfig)
	r := kernel(t, c)
	want := Desired(c, nil)
	if _, err := r.Apply(want); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	saved := run(t, "ipvsadm", "-Sn")
	t.Logf("ipvsadm -Sn:\n%s", saved)
	var plan strings.Builder
	WriteIPVSRestore(&plan, want)
	for _, line := range strings.Split(strings.TrimSpace(plan.String()), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(saved, line+"\n") {
			t.Errorf("ipvsadm -Sn lacks %q", line)
		}
	}
	// The kernel's own list (ipvsadm sorts its output) is in reverse
	// configuration order, the order pool's sh assumes.
	svcs, err := r.IPVS.Services()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		w := want.service(s.Mark, s.IPv6)
		if w == nil || len(w.Dests) != len(s.Dests) {
			t.Errorf("kernel service %+v not as planned", s)
			continue
		}
		for i, d := range s.Dests {
			if wd := w.Dests[len(w.Dests)-1-i]; !wd.same(d) {
				t.Errorf("fwmark %d: kernel destination %d is %+v, want %+v", s.Mark, i, d, wd)
			}
		}
	}
	t.Logf("ipvsadm -Ln:\n%s", run(t, "ipvsadm", "-Ln"))

	if ch, err := r.Apply(want); err != nil || !ch.Zero() {
		t.Errorf("second pass changed %+v (err %v)", ch, err)
	}

	// Outside edits: a weight, a stray service in the range, a foreign
	// one outside it, a rule added to algd's chain.
	run(t, "ipvsadm", "-e", "-f", "1", "-r", "10.0.0.22:0", "-m", "-w", "7")
	run(t, "ipvsadm", "-A", "-f", "50", "-s", "rr")
	run(t, "ipvsadm", "-A", "-f", "500", "-s", "rr")
	t.Cleanup(func() { exec.Command("ipvsadm", "-D", "-f", "500").Run() })
	run(t, "nft", "add", "rule", "inet", "algd", "prerouting", "counter")
	ch, err := r.Apply(want)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if ch.DestsUpdated != 1 || ch.ServicesDeleted != 1 || !ch.TableReplaced {
		t.Errorf("repair changes %+v, want 1 destination updated, 1 service deleted, table replaced", ch)
	}
	if ch, err := r.Apply(want); err != nil || !ch.Zero() {
		t.Errorf("pass after repair changed %+v (err %v)", ch, err)
	}

	if _, err := r.Remove(c.IPVS.NFTTable, c.IPVS.Marks); err != nil {
		t.Fatal(err)
	}
	saved = run(t, "ipvsadm", "-Sn")
	if saved != "-A -f 500 -s rr\n" {
		t.Errorf("after Remove, ipvsadm -Sn:\n%s\nwant only the foreign fwmark 500", saved)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", "algd").CombinedOutput(); err == nil {
		t.Errorf("table still there after Remove:\n%s", out)
	}
}

// TestVMSourceHashAgreement sends one UDP datagram from each of 1,000
// client addresses to a sh group and checks that the kernel's choice (its
// connection table) is algd's pool.Pick for every client, for several
// destination orders, uneven weights and a drained realserver.
func TestVMSourceHashAgreement(t *testing.T) {
	const clients = 1000
	cl, _ := netns(t, "shcl")
	veth := "vsh"
	run(t, "ip", "link", "add", veth+"d", "type", "veth", "peer", "name", veth+"c", "netns", cl)
	run(t, "ip", "addr", "add", "10.99.0.1/30", "dev", veth+"d")
	run(t, "ip", "link", "set", veth+"d", "up")
	run(t, "ip", "route", "add", "10.77.0.0/16", "dev", veth+"d")
	run(t, "ip", "addr", "add", "10.0.100.1/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "addr", "del", "10.0.100.1/32", "dev", "lo").Run() })
	ipIn(t, cl, "link", "set", veth+"c", "up")
	ipIn(t, cl, "link", "set", "lo", "up")
	var batch strings.Builder
	var addrs []netip.Addr
	for i := range clients {
		// Spread over the /16: consecutive addresses would test little of the hash.
		a := netip.AddrFrom4([4]byte{10, 77, byte(i * 37 % 251), byte(1 + i*101%253)})
		for slices.Contains(addrs, a) {
			a = a.Next()
		}
		addrs = append(addrs, a)
		fmt.Fprintf(&batch, "addr add %s/32 dev %sc\n", a, veth)
	}
	cmd := exec.Command("ip", "-n", cl, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	ipIn(t, cl, "route", "add", "default", "dev", veth+"c")
	// No ARP in the way (its queue drops a burst while resolving) and a
	// backlog that holds the whole burst.
	mac, err := os.ReadFile("/sys/class/net/" + veth + "d/address")
	if err != nil {
		t.Fatal(err)
	}
	ipIn(t, cl, "neigh", "replace", "10.0.100.1", "lladdr", strings.TrimSpace(string(mac)), "dev", veth+"c", "nud", "permanent")
	if err := os.WriteFile("/proc/sys/net/core/netdev_max_backlog", []byte("10000"), 0o644); err != nil {
		t.Fatal(err)
	}

	type rs struct {
		addr   string
		weight int
	}
	scenarios := []struct {
		name string
		rs   []rs
	}{
		{"equal weights", []rs{{"10.0.1.2", 1}, {"10.0.2.2", 1}, {"10.0.3.2", 1}}},
		{"uneven weights", []rs{{"10.0.1.2", 1}, {"10.0.2.2", 3}, {"10.0.3.2", 2}, {"10.0.4.2", 5}}},
		{"same members, other order", []rs{{"10.0.4.2", 5}, {"10.0.2.2", 3}, {"10.0.1.2", 1}, {"10.0.3.2", 2}}},
		{"one drained", []rs{{"10.0.4.2", 5}, {"10.0.2.2", 0}, {"10.0.1.2", 1}, {"10.0.3.2", 2}}},
		{"heavy weight", []rs{{"10.0.5.2", 100}, {"10.0.1.2", 7}}},
	}
	for n, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var doc strings.Builder
			doc.WriteString("[ipvs]\nfwmark_range = \"1-99\"\n[[pool]]\nname = \"p\"\nscheduler = \"sh\"\nrealservers = [")
			for i, x := range sc.rs {
				if i > 0 {
					doc.WriteString(", ")
				}
				fmt.Fprintf(&doc, "{ address = %q, weight = %d }", x.addr+":9", x.weight)
			}
			doc.WriteString("]\n[[group]]\nname = \"sh\"\nvip = \"10.0.100.1\"\nports = [\"udp/9000-9099\"]\npool = \"p\"\nscheduler = \"sh\"\non_down = \"drain\"\nhealth = { kind = \"none\" }\n")
			c := loadTest(t, doc.String())
			r := kernel(t, c)
			if _, err := r.Apply(Desired(c, nil)); err != nil {
				t.Fatal(err)
			}
			t.Logf("ipvsadm -Ln:\n%s", run(t, "ipvsadm", "-Ln"))
			port := uint16(9000 + n) // a new port: no connection entry of an earlier scenario matches
			inNetns(t, cl, func() {
				for _, a := range addrs {
					conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)),
						net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fmt.Sprintf("10.0.100.1:%d", port))))
					if err != nil {
						t.Errorf("dial from %s: %v", a, err)
						return
					}
					conn.Write([]byte("x"))
					conn.Close()
				}
			})
			// The guest handles the burst in softirq after the sends
			// return: wait until every client has its entry (or the
			// table stops growing for a while).
			var kernelChoice map[netip.Addr]netip.Addr
			for stable, last := 0, -1; stable < 20; {
				kernelChoice = connTable(t, port)
				if len(kernelChoice) >= len(addrs) {
					break
				}
				if len(kernelChoice) == last {
					stable++
				} else {
					stable, last = 0, len(kernelChoice)
				}
				time.Sleep(50 * time.Millisecond)
			}
			p := pool.New(*c.Pool("p"), pool.NoChecker{})
			agree, missing := 0, 0
			for _, a := range addrs {
				k, ok := kernelChoice[a]
				if !ok {
					missing++
					continue
				}
				l, err := p.Pick(a)
				if err != nil {
					t.Fatalf("Pick(%s): %v", a, err)
				}
				if got := l.Realserver().Addr().Addr(); got != k {
					t.Errorf("client %s: algd picks %s, the kernel %s", a, got, k)
				} else {
					agree++
				}
				l.Release()
			}
			if missing > 0 {
				t.Errorf("%d of %d clients have no kernel connection entry", missing, len(addrs))
				t.Logf("ipvsadm -Ln --stats:\n%s", run(t, "ipvsadm", "-Ln", "--stats"))
			}
			t.Logf("%d of %d clients on the same realserver", agree, len(addrs))
		})
	}
}

// connTable reads /proc/net/ip_vs_conn: the destination of each client
// that sent to port vport.
func connTable(t *testing.T, vport uint16) map[netip.Addr]netip.Addr {
	t.Helper()
	// thread-self: /proc/net follows the main thread, which a finished
	// inNetns goroutine may have left parked in the client namespace.
	f, err := os.Open("/proc/thread-self/net/ip_vs_conn")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hexAddr := func(s string) netip.Addr {
		n, _ := strconv.ParseUint(s, 16, 32)
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	out := map[netip.Addr]netip.Addr{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
		x := strings.Fields(sc.Text())
		if len(x) < 7 || x[0] != "UDP" {
			continue
		}
		if p, _ := strconv.ParseUint(x[4], 16, 16); uint16(p) != vport {
			continue
		}
		out[hexAddr(x[1])] = hexAddr(x[5])
	}
	return out
}
