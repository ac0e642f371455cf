//go:build interop

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// Ranges; inside private namespaces, so they collide with nothing else.
const (
	passiveFirst, passiveLast   = 61000, 61099 // algd, on the VIP
	passive6First, passive6Last = 61100, 61199 // algd, on the IPv6 VIP
	realFirst, realLast         = 64000, 64099 // vsftpd
)

// TestDirector: the client reaches the realserver's vsftpd only through
// algd on the director's VIP, with curl in PASV, EPSV, PORT and EPRT
// mode, and over IPv6 (the VIP's fd00:231:1::10, in front of the IPv4
// realserver) in EPSV and EPRT mode; uploads and downloads checked by
// sha256. DIRECT runs the same operation from the director namespace (the
// only one that can reach the realserver). The director's nftables
// counters prove the client sent packets only to port 21, the passive
// range and, in active mode, back to algd's connects from port 20.
func TestDirector(t *testing.T) {
	peers.RequireTools(t, "timeout", "curl")
	tp := newTopology(t)
	ctrl := netip.AddrPortFrom(vip, 21)
	ctrl6 := netip.AddrPortFrom(vip6, 21)
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

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	line, err := tcpProbe(ctx, tp.client, srv.Addr, 3*time.Second)
	cancel()
	if err == nil {
		t.Fatalf("the client reached the realserver %s directly (%q): the director forwards", srv.Addr, line)
	}

	var proc *algdrun.Proc
	if algdBin != "" {
		proc = algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
			Name: "director", Listen: ctrl, Realservers: []netip.AddrPort{srv.Addr},
			PassiveFirst: passiveFirst, PassiveLast: passiveLast,
		}, {
			Name: "director6", Listen: ctrl6, Realservers: []netip.AddrPort{srv.Addr},
			PassiveFirst: passive6First, PassiveLast: passive6Last,
		}}}, algdrun.Options{Wrap: nsWrap(tp.director), Ready: bannerIn(tp.client)})
	} else {
		t.Log("ALGD_INTEROP_DIRECT=1: only the direct cases run")
	}
	loadNft(t, tp.director, nftRuleset(clientIP.String(), clientIP6.String(), passiveFirst, passive6Last))

	dir := t.TempDir()
	local, sums := map[string]string{}, map[string]string{}
	for _, s := range peers.Sizes {
		p, sum := peers.RandomFile(t, dir, "src-"+s.Name, s.Bytes)
		if err := srv.Put(p, "dl-"+s.Name); err != nil {
			t.Fatalf("put: %v", err)
		}
		local[s.Name], sums[s.Name] = p, sum
	}

	for _, m := range peers.Modes() {
		for _, op := range []peers.Op{peers.Download, peers.Upload} {
			for _, s := range peers.Sizes {
				t.Run(fmt.Sprintf("curl/%s/%s-%s", m, op, s.Name), func(t *testing.T) {
					paths := []struct {
						name   string
						ns     string
						target netip.AddrPort
						src    netip.Addr
						first  uint16
						last   uint16
					}{
						{"direct", tp.director, srv.Addr, directorR, realFirst, realLast},
						{"algd", tp.client, ctrl, clientIP, passiveFirst, passiveLast},
						{"algd-ipv6", tp.client, ctrl6, clientIP6, passive6First, passive6Last},
					}
					for _, p := range paths {
						if p.name != "direct" && proc == nil {
							continue
						}
						if !peers.Supports(peers.Curl, m, p.target.Addr().Is6()) {
							continue
						}
						t.Run(p.name, func(t *testing.T) {
							tag := fmt.Sprintf("%s-%s-%s-%s", m, op, s.Name, p.name)
							req := peers.Request{Client: peers.Curl, Mode: m, Op: op, Server: p.target,
								User: srv.User, Password: srv.Password, Source: p.src,
								Wrap: nsWrap(p.ns), Dir: dir}
							check := ""
							switch op {
							case peers.Upload:
								req.Remote, req.Local = srv.Remote("up-"+tag), local[s.Name]
								check = srv.Path("up-" + tag)
							case peers.Download:
								req.Remote, req.Local = srv.Remote("dl-"+s.Name), filepath.Join(dir, "got-"+tag)
								check = req.Local
							}
							before := 0
							if p.name != "direct" {
								before = len(proc.Transfers())
							}
							ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
							defer cancel()
							res := peers.Run(ctx, req)
							if res.Err != nil {
								t.Fatalf("%v\n%s", res.Err, res.Transcript)
							}
							sum, err := peers.SHA256File(check)
							if err != nil {
								t.Fatalf("%v\n%s", err, res.Transcript)
							}
							if sum != sums[s.Name] {
								t.Errorf("sha256 %s, want %s", sum, sums[s.Name])
							}
							if m == peers.PASV && (res.PASV.Addr() != p.target.Addr() || res.PASV.Port() < p.first || res.PASV.Port() > p.last) {
								t.Errorf("227 named %v, want %v port %d-%d", res.PASV, p.target.Addr(), p.first, p.last)
							}
							if m == peers.EPSV && (res.EPSVPort < p.first || res.EPSVPort > p.last) {
								t.Errorf("229 named port %d, want %d-%d", res.EPSVPort, p.first, p.last)
							}
							for _, d := range res.Data {
								if d.Addr() != p.target.Addr() {
									t.Errorf("curl connected data to %v, want %v", d, p.target.Addr())
								}
							}
							if m.Active() && res.Sent(string(m)) == 0 {
								t.Errorf("curl never sent %s", m)
							}
							if p.name != "direct" {
								// algd connects active data to the client's own address.
								at := p.target.Addr()
								if m.Active() {
									at = p.src
								}
								checkTransfers(t, proc, before, res.Count(150, 125), op, s.Bytes, at)
							}
							if t.Failed() {
								t.Logf("transcript:\n%s", res.Transcript)
							}
						})
					}
				})
			}
		}
	}

	c := nftCounters(t, tp.director)
	t.Logf("director input counters from the client: %v", c)
	if c["other"] != 0 || c["other6"] != 0 {
		t.Errorf("the client sent %d (IPv4) and %d (IPv6) packets to the director outside port 21, the passive ranges and replies to port 20",
			c["other"], c["other6"])
	}
	for _, k := range []string{"control", "passive", "active", "control6", "passive6", "active6"} {
		if proc != nil && c[k] == 0 {
			t.Errorf("counters %v: want packets counted as %s", c, k)
		}
	}
	// The "other" rule must be able to count: a connect from the client to
	// a closed port on the VIP (discard, 9) has to show up in it.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	_, _ = tcpProbe(ctx, tp.client, netip.AddrPortFrom(vip, 9), 2*time.Second)
	cancel()
	if after := nftCounters(t, tp.director); after["other"] <= c["other"] {
		t.Errorf("a probe to %s:9 left the other counter at %d: the counting rules are broken", vip, after["other"])
	}
}

// checkTransfers asserts algd's "data done" lines for one operation: the
// byte counts, and that the client-side end is at (the VIP for passive
// modes, the client's own address for active ones).
func checkTransfers(t *testing.T, proc *algdrun.Proc, before, opened int, op peers.Op, size int64, at netip.Addr) {
	t.Helper()
	got, err := proc.TransfersAfter(before, opened)
	if err != nil {
		t.Error(err)
		return
	}
	var down, up int64
	for _, tr := range got {
		down, up = down+tr.Down, up+tr.Up
		if tr.At.Addr() != at {
			t.Errorf("algd logged data at %v, want %v", tr.At, at)
		}
	}
	want := [2]int64{size, 0}
	if op == peers.Upload {
		want = [2]int64{0, size}
	}
	if sum := [2]int64{down, up}; sum != want || len(got) != opened {
		t.Errorf("algd logged %d data done lines, down/up %v; want %d lines, %v", len(got), sum, opened, want)
	}
}
