//go:build interop

package interop

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// client6 is the IPv6 client's address.
var client6 = netip.IPv6Loopback()

// family6 is one mixed-family path: algd listening on listen in front of
// vsftpd on real, with clients from source.
type family6 struct {
	name         string
	real         netip.AddrPort
	realFirst    uint16
	realLast     uint16
	listen       netip.AddrPort
	first, last  uint16
	source       netip.Addr
	directSource netip.Addr // the client's address towards the ftpd directly
}

// families: an IPv6 client in front of an IPv4 vsftpd (EPSV/EPRT from the
// client; PASV towards the realserver), and an IPv4 client in front of a
// vsftpd on [::1] (every IPv4 mode from the client; EPSV towards the
// realserver).
var families = []family6{
	{"client IPv6, realserver IPv4", netip.MustParseAddrPort("127.0.0.34:2134"), 64950, 64999,
		netip.MustParseAddrPort("[::1]:2124"), 63500, 63549, client6, clientIP},
	{"client IPv4, realserver IPv6", netip.MustParseAddrPort("[::1]:2135"), 65000, 65049,
		netip.AddrPortFrom(vip, 2126), 63550, 63599, clientIP, client6},
}

// TestIPv6 runs curl, lftp and ftplib through algd across address
// families, and directly for the baseline, uploading, downloading (5 MiB,
// sha256) and listing. It checks the 229 port and the data address of
// passive modes, where active data came from (the VIP, listen port − 1),
// and algd's byte counts.
func TestIPv6(t *testing.T) {
	peers.RequireTools(t, peers.ClientTools...)
	var cols []string
	for _, v := range []via{direct, through} {
		for _, op := range peers.Ops() {
			cols = append(cols, fmt.Sprintf("%s %s", v, op))
		}
	}
	tab := results.table("Mixed address families",
		"vsftpd behind algd across address families: an IPv6 client (::1) through algd on [::1] to vsftpd on IPv4, "+
			"and an IPv4 client through algd on 127.0.0.10 to vsftpd on [::1]. 5 MiB, sha256. "+
			"`direct` is the same client to vsftpd in the ftpd's own family (EPSV/EPRT over IPv6, every mode over IPv4).",
		[]string{"path", "client", "mode"}, cols)
	for _, f := range families {
		for _, c := range peers.Clients() {
			for _, m := range peers.Modes() {
				if peers.Supports(c, m, f.source.Is6()) {
					results.row(tab, f.name, string(c), string(m))
				}
			}
		}
	}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			f.run(t, tab)
		})
	}
}

func (f family6) run(t *testing.T, tab *table) {
	srv := peers.Start(t, peers.Vsftpd, peers.Options{Addr: f.real, PassiveFirst: f.realFirst, PassiveLast: f.realLast})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vsftpd log:\n%s", srv.Log())
		}
	})
	dir := t.TempDir()
	src, sum := peers.RandomFile(t, dir, "src", 5<<20)
	if err := srv.Put(src, "dl"); err != nil {
		t.Fatalf("put: %v", err)
	}
	var proc *algdrun.Proc
	if algdBin != "" {
		proc = algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
			Name: "ipv6", Listen: f.listen, Realservers: []netip.AddrPort{f.real},
			PassiveFirst: f.first, PassiveLast: f.last,
		}}}, algdrun.Options{})
	}
	for _, c := range peers.Clients() {
		for _, m := range peers.Modes() {
			if !peers.Supports(c, m, f.source.Is6()) {
				continue
			}
			for _, op := range peers.Ops() {
				for _, v := range []via{direct, through} {
					if v == through && proc == nil {
						continue
					}
					if v == direct && !peers.Supports(c, m, f.real.Addr().Is6()) {
						continue
					}
					name := fmt.Sprintf("%s/%s/%s/%s", c, m, op, v)
					ok := t.Run(name, func(t *testing.T) {
						x := xfer6{family6: f, srv: srv, proc: proc, dir: dir, sum: sum, local: src}
						x.run(t, v, c, m, op)
					})
					st := failed
					if ok {
						st = passed
					}
					results.mark(tab, []string{f.name, string(c), string(m)}, fmt.Sprintf("%s %s", v, op), st)
				}
			}
		}
	}
}

// xfer6 is what one case of a family needs.
type xfer6 struct {
	family6
	srv   *peers.Server
	proc  *algdrun.Proc
	dir   string
	local string
	sum   string
}

func (x xfer6) run(t *testing.T, v via, c peers.Client, m peers.Mode, op peers.Op) {
	target, source, first, last := x.listen, x.source, x.first, x.last
	if v == direct {
		target, source, first, last = x.real, x.directSource, x.realFirst, x.realLast
	}
	tag := fmt.Sprintf("%d-%s-%s-%s-%s", x.listen.Port(), c, m, op, v)
	req := peers.Request{Client: c, Mode: m, Op: op, Server: target, User: x.srv.User, Password: x.srv.Password,
		Source: source, Dir: x.dir}
	check := ""
	switch op {
	case peers.Upload:
		req.Remote, req.Local = x.srv.Remote("up-"+tag), x.local
		check = x.srv.Path("up-" + tag)
	case peers.Download:
		req.Remote, req.Local = x.srv.Remote("dl"), filepath.Join(x.dir, "got-"+tag)
		check = req.Local
	case peers.List:
		req.Remote, req.Local = peers.UploadDir+"/", filepath.Join(x.dir, "list-"+tag)
	}
	res, before := runClient(t, req, v == through, x.proc)
	if res.Err != nil {
		t.Fatalf("%v", res.Err)
	}
	if check != "" {
		got, err := peers.SHA256File(check)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if got != x.sum {
			t.Errorf("sha256 %s, want %s", got, x.sum)
		}
	} else {
		data, err := os.ReadFile(req.Local)
		if err != nil {
			t.Fatalf("listing: %v", err)
		}
		if got := listed(string(data), []string{"dl"}); len(got) != 1 {
			t.Errorf("listing does not show dl:\n%s", data)
		}
	}
	switch m {
	case peers.PASV:
		if res.PASV.Addr() != target.Addr() || res.PASV.Port() < first || res.PASV.Port() > last {
			t.Errorf("227 named %v, want %v port %d-%d", res.PASV, target.Addr(), first, last)
		}
	case peers.EPSV:
		if res.EPSVPort < first || res.EPSVPort > last {
			t.Errorf("229 named port %d, want %d-%d", res.EPSVPort, first, last)
		}
	case peers.PORT, peers.EPRT:
		if res.Sent(string(m)) == 0 {
			t.Errorf("the client never sent %s", m)
		}
		for _, a := range res.Accepted {
			if a.Addr() != target.Addr() || (v == through && a.Port() != target.Port()-1) {
				t.Errorf("active data came from %v, want %v (port %d through algd)", a, target.Addr(), target.Port()-1)
			}
		}
	}
	for _, d := range res.Data {
		if d.Addr() != target.Addr() {
			t.Errorf("client connected data to %v, want %v", d, target.Addr())
		}
	}
	opened := res.Count(150, 125)
	if opened == 0 {
		t.Errorf("no 150/125 reply")
	}
	if v != through {
		return
	}
	got, err := x.proc.TransfersAfter(before, opened)
	if err != nil {
		t.Fatal(err)
	}
	var down, up int64
	for _, tr := range got {
		down, up = down+tr.Down, up+tr.Up
		want := target.Addr()
		if m.Active() {
			want = source
		}
		if tr.At.Addr() != want {
			t.Errorf("algd logged data at %v, want %v", tr.At, want)
		}
	}
	switch op {
	case peers.Upload:
		if up != 5<<20 || down != 0 {
			t.Errorf("algd counted up=%d down=%d, want up=%d", up, down, 5<<20)
		}
	case peers.Download:
		if down != 5<<20 || up != 0 {
			t.Errorf("algd counted down=%d up=%d, want down=%d", down, up, 5<<20)
		}
	case peers.List:
		if down == 0 || up != 0 {
			t.Errorf("algd counted down=%d up=%d for a listing", down, up)
		}
	}
}
