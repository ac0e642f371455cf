//go:build linux && interop

package nat

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The test topology: a client namespace, a director namespace (where
// the Table runs) and a realserver namespace, joined by two veth pairs:
//
//	client c0 ── d0 director d1 ── r0 realserver
//
// The client and the realserver route through the director, which
// forwards. Every name starts with algd-<pid>-; the 10.232/16 and
// fd00:232::/32 addresses exist only inside these namespaces.
type family struct {
	name                  string
	client, client2       netip.Addr // client2: a third address (a thief)
	dirC, vip, dirR, real netip.Addr
	bits                  string
}

var families = []family{
	{
		name:   "ipv4",
		client: netip.MustParseAddr("10.232.1.2"), client2: netip.MustParseAddr("10.232.1.3"),
		dirC: netip.MustParseAddr("10.232.1.1"), vip: netip.MustParseAddr("10.232.1.10"),
		dirR: netip.MustParseAddr("10.232.2.1"), real: netip.MustParseAddr("10.232.2.2"),
		bits: "24",
	},
	{
		name:   "ipv6",
		client: netip.MustParseAddr("fd00:232:1::2"), client2: netip.MustParseAddr("fd00:232:1::3"),
		dirC: netip.MustParseAddr("fd00:232:1::1"), vip: netip.MustParseAddr("fd00:232:1::10"),
		dirR: netip.MustParseAddr("fd00:232:2::1"), real: netip.MustParseAddr("fd00:232:2::2"),
		bits: "64",
	},
}

type topology struct {
	names                  [3]string // client, director, realserver
	client, director, real int       // namespace descriptors
}

func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// newTopology builds the three namespaces; t.Cleanup deletes them (and
// every link and table in them).
func newTopology(t testing.TB) *topology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("alg/nat's namespace tests need root (ip netns, nftables, conntrack); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) not on PATH")
	}
	tp := &topology{}
	fds := []*int{&tp.client, &tp.director, &tp.real}
	for i, role := range []string{"client", "director", "real"} {
		name := fmt.Sprintf("algd-%d-nat-%s", os.Getpid(), role)
		exec.Command("ip", "netns", "del", name).Run() // left by a killed run of this pid
		run(t, "ip", "netns", "add", name)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", name, err, out)
			}
		})
		tp.names[i] = name
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open netns %s: %v", name, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		*fds[i] = fd
		run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	c, d, r := tp.names[0], tp.names[1], tp.names[2]
	run(t, "ip", "link", "add", "name", "c0", "netns", c, "type", "veth", "peer", "name", "d0", "netns", d)
	run(t, "ip", "link", "add", "name", "d1", "netns", d, "type", "veth", "peer", "name", "r0", "netns", r)
	for _, l := range []struct{ ns, dev string }{{c, "c0"}, {d, "d0"}, {d, "d1"}, {r, "r0"}} {
		run(t, "ip", "-n", l.ns, "link", "set", l.dev, "up")
	}
	for _, f := range families {
		flag := "-4"
		nodad := []string{}
		if f.name == "ipv6" {
			flag, nodad = "-6", []string{"nodad"}
		}
		for _, a := range []struct {
			ns, dev string
			addr    netip.Addr
		}{{c, "c0", f.client}, {c, "c0", f.client2}, {d, "d0", f.dirC}, {d, "d0", f.vip}, {d, "d1", f.dirR}, {r, "r0", f.real}} {
			run(t, append([]string{"ip", "-n", a.ns, flag, "addr", "add", a.addr.String() + "/" + f.bits, "dev", a.dev}, nodad...)...)
		}
		run(t, "ip", "-n", c, flag, "route", "add", "default", "via", f.dirC.String())
		run(t, "ip", "-n", r, flag, "route", "add", "default", "via", f.dirR.String())
	}
	for _, s := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
		if err := sysctlSet(tp.director, s, "1"); err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

// listen opens a listener in namespace ns.
func listen(t testing.TB, ns int, network string, addr netip.AddrPort) net.Listener {
	t.Helper()
	var l net.Listener
	err := inNetNS(ns, func() (err error) {
		l, err = net.Listen(network, addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// listenUDP opens a UDP socket in namespace ns.
func listenUDP(t testing.TB, ns int, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNetNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dial connects from namespace ns, from local (port 0: any) to addr.
func dial(ctx context.Context, ns int, local netip.Addr, addr netip.AddrPort) (*net.TCPConn, error) {
	var c net.Conn
	err := inNetNS(ns, func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
		c, err = d.DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
