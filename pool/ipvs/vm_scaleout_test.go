//go:build linux && ipvsvm

package ipvs

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/internal/logbuf"
	"github.com/algd/algd/tests/ftpc"
)

// algdBin is where tests/vm/go-exec.sh puts a static build of cmd/algd
// in the guest.
const algdBin = "/algd"

// scaleConfig is the director of two algd nodes: one fwmark groups the
// FTP control port, the nodes' passive range and their active source
// range, persistent, direct routing.
const scaleConfig = `
[ipvs]
fwmark_range = "1-99"

[[pool]]
name = "nodes"
realservers = [{ address = "10.97.0.11:21" }, { address = "10.97.0.12:21" }]

[[group]]
name = "ftp"
vip = "10.97.100.1"
ports = ["tcp/21", "tcp/61000-61099", "tcp/61100-61199"]
pool = "nodes"
scheduler = "rr"
persistence = "300s"
forward = "dr"
health = { kind = "none" }
`

// bridgePort connects namespace ns to the bridge br of the root
// namespace with a veth pair carrying addrs on the namespace side.
func bridgePort(t *testing.T, br, ns, name string, addrs ...string) {
	t.Helper()
	run(t, "ip", "link", "add", name+"d", "type", "veth", "peer", "name", name+"n", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", name+"d").Run() })
	run(t, "ip", "link", "set", name+"d", "master", br, "up")
	for _, a := range addrs {
		ipIn(t, ns, "addr", "add", a, "dev", name+"n")
	}
	ipIn(t, ns, "link", "set", name+"n", "up")
	ipIn(t, ns, "link", "set", "lo", "up")
}

// nodeConfig is an algd node of the scale-out topology: the FTP ALG on
// the VIP (on the node's loopback) with its passive range and an active
// source range, both outside the kernel's ephemeral range.
const nodeConfig = `
[[pool]]
name = "ftp"
realservers = [{ address = "127.0.0.1:2121" }]

[[ftp]]
listen = ["10.97.100.1:21"]
pool = "ftp"
passive_ports = "61000-61099"
active_source_port = "61100-61199"
`

// startNode runs an algd node in namespace ns, `algd run` with
// nodeConfig, in front of `algd demo` on the node's loopback as its FTP
// server (two embedded ftpds, one storage folder per node), and waits
// until the node greets on vip:21.
func startNode(t *testing.T, ns string, vip netip.Addr) {
	t.Helper()
	cfg := t.TempDir() + "/node.toml"
	if err := os.WriteFile(cfg, []byte(nodeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &logbuf.Buffer{}
	for _, args := range [][]string{
		{"demo", "-listen", "127.0.0.1:2121", "-passive-ports", "62500-62599"},
		{"run", "-c", cfg},
	} {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns, algdBin}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start algd %s in %s: %v", args[0], ns, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		if args[0] == "demo" {
			// The node's realserver must be up before the node starts:
			// a first health check that finds nothing takes it down
			// until Rise checks pass, and sessions would get 421.
			waitFor(t, "algd demo in "+ns+" to greet", func() (bool, string) {
				var err error
				inNetns(t, ns, func() {
					var c *ftpc.Client
					if c, err = ftpc.Dial(netip.MustParseAddrPort("127.0.0.1:2121"), netip.Addr{}, 2*time.Second); err == nil {
						c.Close()
					}
				})
				return err == nil, fmt.Sprintf("%v\n%s", err, out.String())
			})
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("algd in %s:\n%s", ns, out.String())
		}
	})
	waitFor(t, "algd in "+ns+" to greet", func() (bool, string) {
		var err error
		inNetns(t, ns, func() {
			var c *ftpc.Client
			if c, err = ftpc.Dial(netip.AddrPortFrom(vip, 21), netip.Addr{}, 2*time.Second); err == nil {
				c.Close()
			}
		})
		return err == nil, fmt.Sprintf("%v\n%s", err, out.String())
	})
}

// tcpConn is one TCP entry of the director's IPVS connection table.
type tcpConn struct {
	client netip.Addr
	vport  uint16
	dest   netip.Addr
}

// tcpConns reads the guest root namespace's IPVS TCP connections.
func tcpConns(t *testing.T) []tcpConn {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/net/ip_vs_conn")
	if err != nil {
		t.Fatal(err)
	}
	hexAddr := func(s string) netip.Addr {
		n, _ := strconv.ParseUint(s, 16, 32)
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	var out []tcpConn
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
		x := strings.Fields(sc.Text())
		if len(x) < 7 || x[0] != "TCP" {
			continue
		}
		p, _ := strconv.ParseUint(x[4], 16, 16)
		out = append(out, tcpConn{client: hexAddr(x[1]), vport: uint16(p), dest: hexAddr(x[5])})
	}
	return out
}

// ftpSession logs in from client ns (address from) to vip:21, stores
// data as name in passive mode and reads it back with PASV and EPSV.
func ftpSession(t *testing.T, ns string, from netip.Addr, vip netip.Addr, name string, data []byte) error {
	var err error
	inNetns(t, ns, func() {
		var c *ftpc.Client
		if c, err = ftpc.DialLogin(netip.AddrPortFrom(vip, 21), from, 10*time.Second, "demo", "demo"); err != nil {
			return
		}
		defer c.Close()
		var tr ftpc.Transfer
		if tr, err = c.Stor(ftpc.PASV, name, data); err != nil {
			err = fmt.Errorf("STOR (PASV): %w", err)
			return
		}
		if tr.Announced.Addr() != vip {
			err = fmt.Errorf("227 announced %s, want the VIP", tr.Announced)
			return
		}
		for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.EPSV} {
			var got []byte
			if got, _, err = c.Retr(mode, name); err != nil {
				err = fmt.Errorf("RETR (%v): %w", mode, err)
				return
			}
			if !bytes.Equal(got, data) {
				err = fmt.Errorf("RETR (%v): %d bytes, not what was stored (%d)", mode, len(got), len(data))
				return
			}
		}
	})
	return err
}

// activeRetr logs in from client ns and downloads name in active mode
// (PORT): the node connects from its active source range to the client,
// whose SYN-ACK goes to the director.
func activeRetr(t *testing.T, ns string, from, vip netip.Addr, name string, timeout time.Duration) ([]byte, ftpc.Transfer, error) {
	var got []byte
	var tr ftpc.Transfer
	var err error
	inNetns(t, ns, func() {
		var c *ftpc.Client
		if c, err = ftpc.DialLogin(netip.AddrPortFrom(vip, 21), from, timeout, "demo", "demo"); err != nil {
			return
		}
		defer c.Close()
		got, tr, err = c.Retr(ftpc.PORT, name)
	})
	return got, tr, err
}

// TestVMScaleOut puts two algd nodes behind the guest's root namespace as
// an IPVS-DR director with one persistent fwmark service for tcp/21, the
// passive range and the active source range, all on one bridge (the nodes
// answer clients directly, from the VIP on their loopback). Every passive
// session's control and data connections land on one node (the data would
// find no expectation, and the file would not be there, on the other), rr
// spreads the clients over both nodes, and a later session of the same
// client finds its file again, in active mode too: the client's SYN-ACK
// to the active range is scheduled by IPVS (with or without
// net.ipv4.vs.sloppy_tcp) and follows the client's persistence template
// to its node.
func TestVMScaleOut(t *testing.T) {
	if _, err := os.Stat(algdBin); err != nil {
		t.Fatalf("no algd binary in the guest (tests/vm/go-exec.sh builds it): %v", err)
	}
	c := loadTest(t, scaleConfig)
	r := kernel(t, c)
	vip := netip.MustParseAddr("10.97.100.1")
	nodes := []netip.Addr{netip.MustParseAddr("10.97.0.11"), netip.MustParseAddr("10.97.0.12")}

	const br = "algdbr"
	run(t, "ip", "link", "add", br, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	run(t, "ip", "addr", "add", "10.97.0.1/24", "dev", br)
	run(t, "ip", "link", "set", br, "up")
	run(t, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "addr", "del", vip.String()+"/32", "dev", "lo").Run() })

	cl, _ := netns(t, "socl")
	var clients []netip.Addr
	var clAddrs []string
	for i := range 4 {
		a := netip.AddrFrom4([4]byte{10, 97, 0, byte(21 + i)})
		clients = append(clients, a)
		clAddrs = append(clAddrs, a.String()+"/24")
	}
	bridgePort(t, br, cl, "vsc", clAddrs...)
	ipIn(t, cl, "route", "add", vip.String()+"/32", "via", "10.97.0.1")

	for i, n := range nodes {
		ns, _ := netns(t, fmt.Sprintf("node%d", i+1))
		bridgePort(t, br, ns, fmt.Sprintf("vsn%d", i+1), n.String()+"/24")
		ipIn(t, ns, "addr", "add", vip.String()+"/32", "dev", "lo")
		// The usual LVS-DR realserver settings: never answer ARP for
		// the VIP, never use it as an ARP source.
		inNetns(t, ns, func() {
			sysctl(t, "net.ipv4.conf.all.arp_ignore", "1")
			sysctl(t, "net.ipv4.conf.all.arp_announce", "2")
		})
		startNode(t, ns, vip)
	}

	if _, err := r.Apply(Desired(c, nil)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	sysctl(t, "net.ipv4.vs.sloppy_tcp", "0")
	t.Cleanup(func() { os.WriteFile("/proc/sys/net/ipv4/vs/sloppy_tcp", []byte("0"), 0o644) })

	files := map[netip.Addr][]byte{}
	perNode := map[netip.Addr]int{}
	node := map[netip.Addr]netip.Addr{} // client's node
	for _, a := range clients {
		data := bytes.Repeat([]byte("algd scale-out "+a.String()+"\n"), 4000)
		files[a] = data
		if err := ftpSession(t, cl, a, vip, "f-"+a.String(), data); err != nil {
			t.Errorf("client %s, passive session: %v", a, err)
		}
		// Read at once: closed connections leave the table in seconds.
		dests := map[netip.Addr]bool{}
		control, passive := 0, 0
		for _, e := range tcpConns(t) {
			if e.client != a {
				continue
			}
			dests[e.dest] = true
			switch {
			case e.vport == 21:
				control++
			case e.vport >= 61000 && e.vport <= 61099:
				passive++
			}
		}
		if len(dests) != 1 || control != 1 || passive != 3 {
			t.Errorf("client %s: connections to %v (%d control, %d data), want 1 control and 3 data on one node", a, dests, control, passive)
		}
		for d := range dests {
			perNode[d]++
			node[a] = d
		}
	}
	if perNode[nodes[0]] == 0 || perNode[nodes[1]] == 0 {
		t.Errorf("clients per node %v: rr should use both", perNode)
	}

	// Active mode: the node connects from its active source range on the
	// VIP straight to the client; the first packet the director sees is
	// the client's SYN-ACK to that range. IPVS schedules a SYN-ACK like a SYN (ip_vs_proto_tcp.c:
	// "allow scheduling on SYN+ACK for Active FTP"), so with the default
	// sloppy_tcp=0 the persistence template sends it to the node whose
	// SYN it answers. sloppy_tcp=1 (any first packet) must not change
	// that.
	for _, sloppy := range []string{"0", "1"} {
		sysctl(t, "net.ipv4.vs.sloppy_tcp", sloppy)
		for _, a := range clients {
			got, tr, err := activeRetr(t, cl, a, vip, "f-"+a.String(), 10*time.Second)
			switch {
			case err != nil:
				t.Errorf("client %s, active with sloppy_tcp=%s: %v", a, sloppy, err)
				continue
			case !bytes.Equal(got, files[a]):
				t.Errorf("client %s, active: %d bytes, not its file (%d): another node?", a, len(got), len(files[a]))
			case tr.DataPeer.Addr() != vip || tr.DataPeer.Port() < 61100 || tr.DataPeer.Port() > 61199:
				t.Errorf("client %s, active: data came from %s, want %s:61100-61199", a, tr.DataPeer, vip)
			}
			for _, e := range tcpConns(t) {
				if e.client == a && e.dest != node[a] {
					t.Errorf("client %s, active with sloppy_tcp=%s: connection to port %d went to %s, its node is %s", a, sloppy, e.vport, e.dest, node[a])
				}
			}
		}
	}
	t.Logf("ipvsadm -Lnc after active transfers:\n%s", run(t, "ipvsadm", "-Lnc"))
}
