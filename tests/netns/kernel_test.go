//go:build interop

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// Ranges of the kernel path case.
const (
	kernelPassiveFirst, kernelPassiveLast = 61200, 61299 // algd, on the VIP
	kernelBackendFirst, kernelBackendLast = 61300, 61399 // algd, on directorR, for PORT/EPRT
	kernelTable                           = "algd_nat"
)

// snmp reads the counters of /proc/net/snmp in namespace ns, as
// "Proto.Name" (Tcp.InSegs, Ip.ForwDatagrams).
func snmp(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	out := sh(t, append(nsWrap(ns), "cat", "/proc/net/snmp")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	c := map[string]int64{}
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 {
			continue
		}
		proto := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			v, _ := strconv.ParseInt(values[j], 10, 64)
			c[proto+"."+names[j]] = v
		}
	}
	return c
}

// mapElements counts the elements of the maps of algd's NAT table in ns.
func mapElements(t *testing.T, ns string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", kernelTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table inet %s: %v\n%s", kernelTable, err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "elements = {"); ok {
			n += strings.Count(rest, ":") // one "key : value" per element
		}
	}
	return n
}

// TestKernelDirector runs the kernel data path between the namespaces:
// the director forwards (ip_forward=1, this case only), algd with
// data_path = "kernel" maps each data connection in its nftables table,
// and curl moves files in PASV, EPSV, PORT and EPRT through the VIP,
// byte-exact. It shows that the bytes did not pass through algd: the
// director's own TCP segment counters (sockets on the director, algd's
// among them) grow by a small fraction of the segments it forwarded;
// algd logs every transfer on the kernel path with its size; and the
// NAT table's maps are empty once the transfers are over.
func TestKernelDirector(t *testing.T) {
	peers.RequireTools(t, "timeout", "curl")
	if algdBin == "" {
		t.Skip("ALGD_INTEROP_DIRECT=1: algd is not run")
	}
	tp := newTopology(t)
	sh(t, append(nsWrap(tp.director), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")...)
	srv := peers.Start(t, peers.Vsftpd, peers.Options{
		Addr:         netip.AddrPortFrom(realserver, 21),
		PassiveFirst: realFirst, PassiveLast: realLast,
		Wrap:  nsWrap(tp.real),
		Ready: bannerIn(tp.director),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vsftpd log:\n%s", srv.Log())
		}
	})
	ctrl := netip.AddrPortFrom(vip, 21)
	proc := algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
		Name: "kernel", Listen: ctrl, Realservers: []netip.AddrPort{srv.Addr},
		PassiveFirst: kernelPassiveFirst, PassiveLast: kernelPassiveLast,
		Extra: []string{`data_path = "kernel"`, fmt.Sprintf("backend_source = %q", directorR),
			fmt.Sprintf(`backend_ports = "%d-%d"`, kernelBackendFirst, kernelBackendLast)},
	}, {
		Name: "proxy", Listen: netip.AddrPortFrom(vip, 2121), Realservers: []netip.AddrPort{srv.Addr},
		PassiveFirst: passiveFirst, PassiveLast: passiveLast, Extra: []string{`data_path = "proxy"`},
	}}}, algdrun.Options{Wrap: nsWrap(tp.director), Ready: bannerIn(tp.client)})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("algd log:\n%s", proc.Tail(60))
		}
	})
	if !strings.Contains(proc.Log(), "kernel data path: table open") {
		t.Fatalf("algd did not open its NAT table:\n%s", proc.Tail(20))
	}

	dir := t.TempDir()
	const size = 16 << 20
	local, sum := peers.RandomFile(t, dir, "src", size)
	if err := srv.Put(local, "dl"); err != nil {
		t.Fatalf("put: %v", err)
	}

	// The reference: the same download on the proxy path (the listener
	// on port 2121), counted the same way.
	p0 := snmp(t, tp.director)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	res := peers.Run(ctx, peers.Request{Client: peers.Curl, Mode: peers.EPSV, Op: peers.Download,
		Server: netip.AddrPortFrom(vip, 2121), User: srv.User, Password: srv.Password, Source: clientIP,
		Wrap: nsWrap(tp.client), Dir: dir, Remote: srv.Remote("dl"), Local: filepath.Join(dir, "got-proxy")})
	cancel()
	if res.Err != nil {
		t.Fatalf("proxy path reference: %v\n%s", res.Err, res.Transcript)
	}
	if got, err := peers.SHA256File(filepath.Join(dir, "got-proxy")); err != nil || got != sum {
		t.Fatalf("proxy path reference: sha256 %s (%v), want %s", got, err, sum)
	}
	p1 := snmp(t, tp.director)
	proxyOwn := (p1["Tcp.InSegs"] - p0["Tcp.InSegs"]) + (p1["Tcp.OutSegs"] - p0["Tcp.OutSegs"])
	t.Logf("proxy path, EPSV download: the director forwarded %d datagrams; its own sockets moved %d TCP segments",
		p1["Ip.ForwDatagrams"]-p0["Ip.ForwDatagrams"], proxyOwn)
	for _, m := range peers.Modes() {
		for _, op := range []peers.Op{peers.Download, peers.Upload} {
			t.Run(fmt.Sprintf("curl/%s/%s", m, op), func(t *testing.T) {
				tag := fmt.Sprintf("%s-%s", m, op)
				req := peers.Request{Client: peers.Curl, Mode: m, Op: op, Server: ctrl,
					User: srv.User, Password: srv.Password, Source: clientIP, Wrap: nsWrap(tp.client), Dir: dir}
				check := ""
				if op == peers.Upload {
					req.Remote, req.Local = srv.Remote("up-"+tag), local
					check = srv.Path("up-" + tag)
				} else {
					req.Remote, req.Local = srv.Remote("dl"), filepath.Join(dir, "got-"+tag)
					check = req.Local
				}
				before := len(proc.Entries("data done"))
				s0 := snmp(t, tp.director)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				res := peers.Run(ctx, req)
				if res.Err != nil {
					t.Fatalf("%v\n%s", res.Err, res.Transcript)
				}
				got, err := peers.SHA256File(check)
				if err != nil || got != sum {
					t.Fatalf("sha256 %s (%v), want %s\n%s", got, err, sum, res.Transcript)
				}
				var done []algdrun.Entry
				deadline := time.Now().Add(15 * time.Second)
				for len(done) == 0 && time.Now().Before(deadline) {
					done = proc.Entries("data done")[before:]
					time.Sleep(100 * time.Millisecond)
				}
				if len(done) != 1 || done[0].Str("path") != "kernel" {
					t.Fatalf("algd logged %d data done lines after the transfer, want 1 on path kernel: %v", len(done), done)
				}
				key := "down"
				if op == peers.Upload {
					key = "up"
				}
				f, _ := done[0][key].(float64) // JSON numbers
				if n := int64(f); n < size || n > size+size/50 {
					t.Errorf("algd counted %d bytes %s from the kernel, want %d (+2%% for TCP options)", int64(f), key, size)
				}
				s1 := snmp(t, tp.director)
				fwd := s1["Ip.ForwDatagrams"] - s0["Ip.ForwDatagrams"]
				own := (s1["Tcp.InSegs"] - s0["Tcp.InSegs"]) + (s1["Tcp.OutSegs"] - s0["Tcp.OutSegs"])
				t.Logf("kernel path, %s %s: the director forwarded %d datagrams; its own sockets moved %d TCP segments", m, op, fwd, own)
				// veth hands the director GRO super-packets of up to
				// 64 KiB: at least one per 64 KiB moved.
				if fwd < size/(64<<10) {
					t.Errorf("the director forwarded %d datagrams for %d bytes: the kernel did not carry them", fwd, size)
				}
				if own*4 > proxyOwn {
					t.Errorf("the director's own sockets moved %d segments, the proxy path's transfer %d: the bytes went through user space", own, proxyOwn)
				}
			})
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for mapElements(t, tp.director) != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := mapElements(t, tp.director); n != 0 {
		out, _ := exec.Command("ip", "netns", "exec", tp.director, "nft", "list", "table", "inet", kernelTable).CombinedOutput()
		t.Errorf("%d elements left in the NAT maps:\n%s", n, out)
	}
}
