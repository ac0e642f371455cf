//go:build linux && ipvsvm

package ipvs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// vmWait bounds every wait of the VM tests: TCG is slow, but a wait that
// never ends would only be seen as the guest's TIMEOUT.
const vmWait = 30 * time.Second

// waitFor polls cond until it holds or vmWait passes; then it fails the
// test with what cond last said.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(vmWait)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last state:\n%s", vmWait, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// link connects namespace ns to the guest's root namespace (the director)
// with a veth pair: host side hostAddr, namespace side nsAddrs (the first
// is primary); the namespace's default route points at the director.
func link(t *testing.T, ns, name, hostAddr string, nsAddrs ...string) {
	t.Helper()
	run(t, "ip", "link", "add", name+"d", "type", "veth", "peer", "name", name+"n", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", name+"d").Run() })
	run(t, "ip", "addr", "add", hostAddr, "dev", name+"d")
	run(t, "ip", "link", "set", name+"d", "up")
	for _, a := range nsAddrs {
		ipIn(t, ns, "addr", "add", a, "dev", name+"n")
	}
	ipIn(t, ns, "link", "set", name+"n", "up")
	ipIn(t, ns, "link", "set", "lo", "up")
	gw, _, _ := strings.Cut(hostAddr, "/")
	ipIn(t, ns, "route", "add", "default", "via", gw)
}

// sysctl writes a sysctl of the namespace the calling thread is in.
func sysctl(t *testing.T, key, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}

// nameServer answers every connection with its name and a newline, then
// closes it: a realserver that says who it is.
type nameServer struct {
	name string
	mu   sync.Mutex
	lns  map[uint16]net.Listener
	wg   sync.WaitGroup
}

// listen opens port on every address of namespace ns (the socket lives in
// ns whichever thread accepts) and serves it.
func (s *nameServer) listen(t *testing.T, ns string, port uint16) {
	t.Helper()
	var ln net.Listener
	var err error
	inNetns(t, ns, func() { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)) })
	if err != nil {
		t.Fatalf("%s: listen :%d: %v", s.name, port, err)
	}
	s.mu.Lock()
	if s.lns == nil {
		s.lns = map[uint16]net.Listener{}
	}
	s.lns[port] = ln
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, s.name+"\n")
			c.Close()
		}
	})
}

// stop closes the listener of port.
func (s *nameServer) stop(port uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln := s.lns[port]; ln != nil {
		ln.Close()
		delete(s.lns, port)
	}
}

func (s *nameServer) close() {
	s.mu.Lock()
	for p, ln := range s.lns {
		ln.Close()
		delete(s.lns, p)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// askName connects from client ns, address from, to vip:port and returns
// the name the realserver answered.
func askName(t *testing.T, ns string, from netip.Addr, to netip.AddrPort) string {
	t.Helper()
	var got string
	var err error
	inNetns(t, ns, func() {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
		var c net.Conn
		if c, err = d.Dial("tcp4", to.String()); err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var b []byte
		b, err = io.ReadAll(c)
		got = strings.TrimSpace(string(b))
	})
	if err != nil {
		t.Fatalf("from %s to %s: %v", from, to, err)
	}
	return got
}

// fwdConfig: two groups of one VIP on the same two realservers, checked
// on tcp/9000. "web" groups 8080 and 8081 with persistence and removes a
// down realserver; "drain" (8090) keeps it with weight 0.
const fwdConfig = `
[ipvs]
fwmark_range = "1-99"

[[pool]]
name = "web"
health = { interval = "300ms", timeout = "150ms", rise = 1, fall = 1 }
realservers = [{ address = "10.98.1.2:80" }, { address = "10.98.2.2:80" }]

[[group]]
name = "web"
vip = "10.98.100.1"
ports = ["tcp/8080", "tcp/8081"]
pool = "web"
scheduler = "rr"
persistence = "300s"
forward = "masq"
on_down = "remove"
health = { kind = "tcp", port = 9000 }

[[group]]
name = "drain"
vip = "10.98.100.1"
ports = ["tcp/8090"]
pool = "web"
scheduler = "rr"
persistence = "300s"
forward = "masq"
on_down = "drain"
health = { kind = "tcp", port = 9000 }
`

// TestVMForwarding runs the Runner with real health checks on the guest's
// root namespace as an LVS-NAT director: clients in one namespace reach
// realserver namespaces through the VIP, stick to one realserver across
// the group's ports, and when a realserver's health service stops, the
// kernel's destinations follow on_down and new connections go to the
// other realserver; when it comes back, so does its destination.
func TestVMForwarding(t *testing.T) {
	c := loadTest(t, fwdConfig)
	r := kernel(t, c)
	vip := netip.MustParseAddr("10.98.100.1")

	cl, _ := netns(t, "fwcl")
	var clients []netip.Addr
	var clAddrs []string
	for i := range 8 {
		a := netip.AddrFrom4([4]byte{10, 98, 0, byte(10 + i)})
		clients = append(clients, a)
		clAddrs = append(clAddrs, a.String()+"/24")
	}
	link(t, cl, "vfc", "10.98.0.1/24", clAddrs...)
	servers := map[string]*nameServer{}
	nss := map[string]string{}
	for i, name := range []string{"rs1", "rs2"} {
		ns, _ := netns(t, "fw"+name)
		nss[name] = ns
		link(t, ns, "vf"+name, fmt.Sprintf("10.98.%d.1/24", i+1), fmt.Sprintf("10.98.%d.2/24", i+1))
		s := &nameServer{name: name}
		t.Cleanup(s.close)
		for _, p := range []uint16{8080, 8081, 8090, 9000} {
			s.listen(t, ns, p)
		}
		servers[name] = s
	}
	run(t, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "addr", "del", vip.String()+"/32", "dev", "lo").Run() })
	// Masquerading: the realservers' replies are routed back through the
	// director, where IPVS rewrites their source to the VIP.
	sysctl(t, "net.ipv4.ip_forward", "1")
	t.Cleanup(func() { os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644) })

	ctx, cancel := context.WithCancel(context.Background())
	runner := &Runner{Reconciler: r, Poll: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(vmWait):
			t.Errorf("Runner.Run did not return")
		}
	})

	// dests returns the kernel's destinations of a group's fwmark as
	// "addr/weight", sorted, and ipvsadm -Ln for failures.
	dests := func(group string) ([]string, string) {
		var mark uint32
		for _, g := range c.Groups {
			if g.Name == group {
				mark = g.Mark
			}
		}
		svcs, err := r.IPVS.Services()
		if err != nil {
			return nil, err.Error()
		}
		var out []string
		for _, s := range svcs {
			if s.Mark == mark {
				for _, d := range s.Dests {
					out = append(out, fmt.Sprintf("%s/%d", d.Addr, d.Weight))
				}
			}
		}
		slices.Sort(out)
		return out, fmt.Sprintf("%s: %v\n%s", group, out, run(t, "ipvsadm", "-Ln"))
	}
	expect := func(group string, want ...string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("group %s destinations %v", group, want), func() (bool, string) {
			got, state := dests(group)
			return strings.Join(got, " ") == strings.Join(want, " "), state
		})
	}
	expect("web", "10.98.1.2/1", "10.98.2.2/1")
	expect("drain", "10.98.1.2/1", "10.98.2.2/1")

	// Persistence across the group's ports: each client gets one
	// realserver for 8080 and 8081; rr spreads the clients over both.
	first := map[netip.Addr]string{}
	seen := map[string]int{}
	for _, a := range clients {
		n8080 := askName(t, cl, a, netip.AddrPortFrom(vip, 8080))
		for range 2 {
			if n := askName(t, cl, a, netip.AddrPortFrom(vip, 8081)); n != n8080 {
				t.Errorf("client %s: tcp/8080 went to %q, tcp/8081 to %q", a, n8080, n)
			}
		}
		if n := askName(t, cl, a, netip.AddrPortFrom(vip, 8080)); n != n8080 {
			t.Errorf("client %s: tcp/8080 went to %q, then to %q", a, n8080, n)
		}
		first[a] = n8080
		seen[n8080]++
	}
	if seen["rs1"] == 0 || seen["rs2"] == 0 {
		t.Errorf("clients per realserver %v: rr should use both", seen)
	}
	for _, a := range clients[:4] {
		askName(t, cl, a, netip.AddrPortFrom(vip, 8090))
	}
	t.Logf("ipvsadm -Ln:\n%s", run(t, "ipvsadm", "-Ln"))

	// rs1's health service stops: "web" removes it, "drain" keeps it
	// with weight 0.
	servers["rs1"].stop(9000)
	expect("web", "10.98.2.2/1")
	expect("drain", "10.98.1.2/0", "10.98.2.2/1")
	t.Logf("after rs1's health stopped, ipvsadm -Ln:\n%s", run(t, "ipvsadm", "-Ln"))
	newClient := netip.MustParseAddr("10.98.0.40")
	ipIn(t, cl, "addr", "add", newClient.String()+"/24", "dev", "vfcn")
	for _, port := range []uint16{8080, 8081, 8090} {
		if n := askName(t, cl, newClient, netip.AddrPortFrom(vip, port)); n != "rs2" {
			t.Errorf("new client to tcp/%d went to %q after rs1 went down, want rs2", port, n)
		}
	}
	// A removed destination ends its persistence templates: rs1's
	// clients move to rs2 on "web".
	for _, a := range clients {
		if n := askName(t, cl, a, netip.AddrPortFrom(vip, 8081)); n != "rs2" {
			t.Errorf("client %s (first on %s) to tcp/8081 went to %q with rs1 removed, want rs2", a, first[a], n)
		}
	}

	// Health returns: rs1 is a destination again with its weight.
	servers["rs1"].listen(t, nss["rs1"], 9000)
	expect("web", "10.98.1.2/1", "10.98.2.2/1")
	expect("drain", "10.98.1.2/1", "10.98.2.2/1")
}
