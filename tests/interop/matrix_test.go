//go:build interop

package interop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// Addresses and ranges. Every range lies above the kernel's ephemeral
// range (32768-60999), so the test's own connections never collide, and
// above 61999, which the in-process suite in tests/ uses on the same VIP
// (go test runs packages in parallel).
var (
	vip       = netip.MustParseAddr("127.0.0.10")
	clientIP  = netip.MustParseAddr("127.0.0.5")
	wrongPASV = netip.MustParseAddr("127.0.0.99")
)

// backend is one ftpd and the algd listener in front of it.
type backend struct {
	kind                      peers.Kind
	addr                      netip.AddrPort
	passiveFirst, passiveLast uint16
	vip                       netip.AddrPort
	algdFirst, algdLast       uint16
}

// backends: pure-ftpd gets 200 ports because it caps clients at half its
// passive range. The VIP ports are two apart: algd's active data leaves
// from the listen port minus one (active_source_port "control-1"), which
// must not be another listener's port.
var backends = []backend{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.21:2121"), 64000, 64099, netip.AddrPortFrom(vip, 2100), 63000, 63099},
	{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.22:2122"), 64100, 64299, netip.AddrPortFrom(vip, 2102), 63100, 63199},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.23:2123"), 64300, 64399, netip.AddrPortFrom(vip, 2104), 63200, 63299},
}

// directActivePort is the source port each ftpd's own active data
// connections come from (0: any, the kernel's choice): vsftpd and proftpd
// take an ephemeral port, pure-ftpd always 20 (as root).
var directActivePort = map[peers.Kind]uint16{peers.PureFTPd: 20}

// via says which path a case takes.
type via string

const (
	direct  via = "direct"
	through via = "algd"
)

// masqueraded picks the backend that announces a wrong 227 address.
func masqueraded() peers.Kind {
	if k := os.Getenv("ALGD_INTEROP_MASQUERADE"); k != "" {
		return peers.Kind(k)
	}
	kinds := peers.Kinds()
	return kinds[os.Getpid()%len(kinds)]
}

// TestMatrix runs {curl, lftp, ftplib} × {PASV, EPSV, PORT, EPRT} ×
// {upload, download, list} × {direct, algd} against vsftpd, pure-ftpd and
// proftpd (lftp never sends EPRT over IPv4). Subtests are named
// peer/client/mode/op-size/via. Backends run in parallel; cases of one
// backend run one after another, so that each algd "data done" line
// belongs to the case that is running.
func TestMatrix(t *testing.T) {
	peers.RequireTools(t, peers.ClientTools...)
	masq := masqueraded()
	t.Logf("%s announces the wrong 227 address %s this run", masq, wrongPASV)
	var cols []string
	for _, v := range []via{direct, through} {
		for _, op := range peers.Ops() {
			cols = append(cols, fmt.Sprintf("%s %s", v, op))
		}
	}
	tab := results.table("Clients × servers × modes",
		fmt.Sprintf("Each file operation with 0 B, 1 B and 5 MiB, checked by sha256, and the data connections checked: "+
			"227/229 name the VIP and a port of algd's range; in PORT/EPRT algd connects to the client from the VIP "+
			"and the listen port − 1. `direct` is the client talking to the ftpd itself. "+
			"This run %s announced a wrong 227 address (%s): a direct PASV client that trusts it must fail, (✗).",
			masq, wrongPASV),
		[]string{"server", "client", "mode"}, cols)
	for _, b := range backends {
		for _, c := range peers.Clients() {
			for _, m := range peers.Modes() {
				results.row(tab, string(b.kind), string(c), string(m))
			}
		}
	}
	for _, b := range backends {
		t.Run(string(b.kind), func(t *testing.T) {
			t.Parallel()
			b.run(t, b.kind == masq, tab)
		})
	}
}

// env is what one backend's cases share.
type env struct {
	backend
	srv     *peers.Server
	algd    *algdrun.Proc
	masq    bool
	dir     string            // scratch: local files, downloads, scripts
	local   map[string]string // size name → local file to upload
	sums    map[string]string // size name → sha256 of both files of that size
	sizes   map[string]int64
	listing []string // names every listing must show
}

func (b backend) run(t *testing.T, masq bool, tab *table) {
	o := peers.Options{Addr: b.addr, PassiveFirst: b.passiveFirst, PassiveLast: b.passiveLast}
	if masq {
		o.Masquerade = wrongPASV
	}
	e := &env{backend: b, masq: masq, dir: t.TempDir(),
		local: map[string]string{}, sums: map[string]string{}, sizes: map[string]int64{}}
	e.srv = peers.Start(t, b.kind, o)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", b.kind, e.srv.Log())
		}
	})
	for _, s := range peers.Sizes {
		p, sum := peers.RandomFile(t, e.dir, "src-"+s.Name, s.Bytes)
		name := "dl-" + s.Name
		if err := e.srv.Put(p, name); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		e.local[s.Name], e.sums[s.Name], e.sizes[s.Name] = p, sum, s.Bytes
		e.listing = append(e.listing, name)
	}
	vias := []via{direct}
	if algdBin != "" {
		vias = append(vias, through)
		e.algd = algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
			Name: string(b.kind), Listen: b.vip, Realservers: []netip.AddrPort{b.addr},
			PassiveFirst: b.algdFirst, PassiveLast: b.algdLast,
		}}}, algdrun.Options{})
	}
	for _, c := range peers.Clients() {
		for _, m := range peers.Modes() {
			if !peers.Supports(c, m, false) {
				continue
			}
			for _, op := range peers.Ops() {
				sizes := peers.Sizes
				if op == peers.List {
					sizes = []peers.Size{{Name: "dir"}}
				}
				for _, s := range sizes {
					t.Run(fmt.Sprintf("%s/%s/%s-%s", c, m, op, s.Name), func(t *testing.T) {
						outs := map[via]outcome{}
						for _, v := range vias {
							ok := t.Run(string(v), func(t *testing.T) {
								outs[v] = e.runCase(t, v, c, m, op, s)
							})
							st := failed
							switch {
							case ok && outs[v].mustFail:
								st = expected
							case ok:
								st = passed
							}
							row := []string{string(b.kind), string(c), string(m)}
							col := fmt.Sprintf("%s %s", v, op)
							results.mark(tab, row, col, st)
						}
						if !e.compare(t, outs) {
							results.mark(tab, []string{string(b.kind), string(c), string(m)}, fmt.Sprintf("%s %s", through, op), failed)
						}
					})
				}
			}
		}
	}
}

// caseFiles sets the files of req for op, named after the case's tag:
// an upload of local as "up-"+tag on srv (whose name it returns), a
// download of "dl-"+size into dir, a listing of the upload folder.
func caseFiles(req *peers.Request, op peers.Op, srv *peers.Server, dir, local, size, tag string) (uploaded string) {
	switch op {
	case peers.Upload:
		uploaded = "up-" + tag
		req.Remote, req.Local = srv.Remote(uploaded), local
	case peers.Download:
		req.Remote, req.Local = srv.Remote("dl-"+size), filepath.Join(dir, "got-"+tag)
	case peers.List:
		req.Remote, req.Local = peers.UploadDir+"/", filepath.Join(dir, "list-"+tag)
	}
	return uploaded
}

// runClient runs req with a limit of 2 minutes and logs the client's
// transcript when the test fails; before is the number of "data done"
// lines proc had logged when the case went through it (0 direct).
func runClient(t *testing.T, req peers.Request, through bool, proc *algdrun.Proc) (res peers.Result, before int) {
	t.Helper()
	if through {
		before = len(proc.Transfers())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res = peers.Run(ctx, req)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s transcript:\n%s", req.Client, res.Transcript)
		}
	})
	return res, before
}

// outcome is what a case produced, for the direct/algd comparison.
type outcome struct {
	ok       bool     // the transfer succeeded and was checked
	sum      string   // sha256 of the file that arrived (download, upload)
	names    []string // listed names (list)
	dataOpen int      // 150/125 replies: data connections the server opened
	mustFail bool     // the case failed as it must (see runCase)
}

// runCase runs one client operation on one path and checks it.
func (e *env) runCase(t *testing.T, v via, c peers.Client, m peers.Mode, op peers.Op, s peers.Size) outcome {
	target, first, last := e.addr, e.passiveFirst, e.passiveLast
	if v == through {
		target, first, last = e.vip, e.algdFirst, e.algdLast
	}
	req := peers.Request{Client: c, Mode: m, Op: op, Server: target,
		User: e.srv.User, Password: e.srv.Password, Source: clientIP, Dir: e.dir}
	tag := fmt.Sprintf("%s-%s-%s-%s", c, m, s.Name, v)
	uploaded := caseFiles(&req, op, e.srv, e.dir, e.local[s.Name], s.Name, tag)

	res, before := runClient(t, req, v == through, e.algd)

	// A backend announcing a wrong 227 address must break a direct PASV
	// client that trusts the address: that proves the client really uses
	// it, and so that the VIP it sees through algd is algd's rewrite.
	if e.masq && v == direct && m == peers.PASV && peers.TrustsPASV(c, wrongPASV) {
		if res.Err == nil {
			t.Fatalf("direct PASV to %s announcing %s succeeded: the client ignored the 227 address", e.kind, wrongPASV)
		}
		if res.PASV.Addr() != wrongPASV {
			t.Fatalf("client saw 227 address %v, want the wrong %v", res.PASV, wrongPASV)
		}
		return outcome{mustFail: true}
	}
	if res.Err != nil {
		t.Fatalf("%v", res.Err)
	}

	inRange := func(p uint16) bool { return p >= first && p <= last }
	switch m {
	case peers.PASV:
		if res.Count(229) != 0 || res.Count(227) == 0 {
			t.Errorf("PASV mode: saw %d 227 and %d 229 replies, want 227 only", res.Count(227), res.Count(229))
		}
		want := target.Addr()
		if e.masq && v == direct {
			want = wrongPASV // and the client does not trust it, see above
		}
		if res.PASV.Addr() != want || !inRange(res.PASV.Port()) {
			t.Errorf("227 named %v, want %v with a port in %d-%d", res.PASV, want, first, last)
		}
	case peers.EPSV:
		if res.Count(227) != 0 || res.Count(229) == 0 {
			t.Errorf("EPSV mode: saw %d 227 and %d 229 replies, want 229 only", res.Count(227), res.Count(229))
		}
		if !inRange(res.EPSVPort) {
			t.Errorf("229 named port %d, want one in %d-%d", res.EPSVPort, first, last)
		}
	case peers.PORT, peers.EPRT:
		if n := res.Count(227, 229); n != 0 {
			t.Errorf("%s mode: the client saw %d 227/229 replies, want none", m, n)
		}
		if other := map[peers.Mode]string{peers.PORT: "EPRT", peers.EPRT: "PORT"}[m]; res.Sent(string(m)) == 0 || res.Sent(other) != 0 {
			t.Errorf("%s mode: the client sent %d %s and %d %s", m, res.Sent(string(m)), m, res.Sent(other), other)
		}
	}
	opened := res.Count(150, 125)
	if m.Active() {
		e.checkAccepted(t, v, c, res, opened, target)
	} else if len(res.Data) < opened {
		t.Errorf("client traced %d data connects for %d opened transfers", len(res.Data), opened)
	}
	for _, d := range res.Data {
		if d.Addr() != target.Addr() || !inRange(d.Port()) {
			t.Errorf("client connected data to %v, want %v port %d-%d", d, target.Addr(), first, last)
		}
	}
	if s.Bytes > 0 && opened == 0 {
		t.Errorf("no 150/125 reply for a %d-byte %s", s.Bytes, op)
	}

	out := outcome{ok: true, dataOpen: opened}
	switch op {
	case peers.Upload:
		sum, err := peers.SHA256File(e.srv.Path(uploaded))
		if err != nil {
			t.Fatalf("uploaded file: %v", err)
		}
		if sum != e.sums[s.Name] {
			t.Errorf("uploaded sha256 %s, want %s", sum, e.sums[s.Name])
		}
		out.sum = sum
	case peers.Download:
		sum, err := peers.SHA256File(req.Local)
		if err != nil {
			t.Fatalf("downloaded file: %v", err)
		}
		if sum != e.sums[s.Name] {
			t.Errorf("downloaded sha256 %s, want %s", sum, e.sums[s.Name])
		}
		out.sum = sum
	case peers.List:
		data, err := os.ReadFile(req.Local)
		if err != nil {
			t.Fatalf("listing: %v", err)
		}
		out.names = listed(string(data), e.listing)
		if strings.Join(out.names, ",") != strings.Join(e.listing, ",") {
			t.Errorf("listing shows %v of %v:\n%s", out.names, e.listing, data)
		}
	}
	if v == through {
		e.checkBytes(t, before, opened, m, op, s)
	}
	return out
}

// checkAccepted asserts where the data connections a client accepted in
// active mode came from: through algd the VIP and the listen port minus
// one; directly the ftpd's own address (and port 20 for pure-ftpd). curl
// cannot trace it (see peers.Seen.Accepted); checkBytes covers it from
// algd's side.
func (e *env) checkAccepted(t *testing.T, v via, c peers.Client, res peers.Result, opened int, target netip.AddrPort) {
	t.Helper()
	if c != peers.Curl && len(res.Accepted) < opened {
		t.Errorf("client traced %d accepted data connections for %d opened transfers", len(res.Accepted), opened)
	}
	wantPort := directActivePort[e.kind]
	if v == through {
		wantPort = target.Port() - 1
	}
	for _, a := range res.Accepted {
		if a.Addr() != target.Addr() || (wantPort != 0 && a.Port() != wantPort) {
			t.Errorf("active data came from %v, want %v port %s", a, target.Addr(), portText(wantPort))
		}
	}
}

// portText is a port for a message, 0 as "any".
func portText(p uint16) string {
	if p == 0 {
		return "any"
	}
	return fmt.Sprint(p)
}

// checkBytes asserts algd's "data done" lines for the case that just ran:
// one per transfer the server opened, adding up to the file size in the
// right direction.
func (e *env) checkBytes(t *testing.T, before, opened int, m peers.Mode, op peers.Op, s peers.Size) {
	t.Helper()
	checkBytes(t, e.algd, before, opened, m, op, s, e.algdFirst, e.algdLast)
}

// checkBytes asserts proc's "data done" lines since the first before:
// one per transfer the server opened (opened), the plaintext bytes of the
// file in the right direction, at algd's passive port on the VIP (first
// to last) or, in active mode, at the client's address.
func checkBytes(t *testing.T, proc *algdrun.Proc, before, opened int, m peers.Mode, op peers.Op, size peers.Size, first, last uint16) {
	t.Helper()
	got, err := proc.TransfersAfter(before, opened)
	if err != nil {
		t.Error(err)
		return
	}
	if len(got) != opened {
		t.Errorf("algd logged %d data done lines, want %d (one per 150/125)", len(got), opened)
	}
	var down, up int64
	for _, tr := range got {
		down += tr.Down
		up += tr.Up
		// The client-side end algd names: its passive port on the VIP,
		// or the client's own listening address in active mode.
		if m.Active() && tr.At.Addr() != clientIP {
			t.Errorf("algd connected active data to %v, want %v", tr.At, clientIP)
		}
		if !m.Active() && (tr.At.Addr() != vip || tr.At.Port() < first || tr.At.Port() > last) {
			t.Errorf("algd logged passive data at %v, want %v port %d-%d", tr.At, vip, first, last)
		}
	}
	switch op {
	case peers.Upload:
		if up != size.Bytes || down != 0 {
			t.Errorf("algd counted up=%d down=%d, want up=%d down=0", up, down, size.Bytes)
		}
	case peers.Download:
		if down != size.Bytes || up != 0 {
			t.Errorf("algd counted down=%d up=%d, want down=%d up=0", down, up, size.Bytes)
		}
	case peers.List:
		if down == 0 || up != 0 {
			t.Errorf("algd counted down=%d up=%d for a listing, want down>0 up=0", down, up)
		}
	}
}

// compare checks that both paths did the same thing; it reports false
// when they did not.
func (e *env) compare(t *testing.T, r map[via]outcome) bool {
	d, okd := r[direct]
	a, oka := r[through]
	if !okd || !oka || !d.ok || !a.ok {
		return true // a failed or expected-to-fail half was reported by its subtest
	}
	same := true
	if d.sum != a.sum {
		t.Errorf("sha256 direct %s, through algd %s", d.sum, a.sum)
		same = false
	}
	if strings.Join(d.names, ",") != strings.Join(a.names, ",") {
		t.Errorf("listing direct %v, through algd %v", d.names, a.names)
		same = false
	}
	if d.dataOpen != a.dataOpen {
		t.Errorf("data transfers direct %d, through algd %d", d.dataOpen, a.dataOpen)
		same = false
	}
	return same
}

// listed returns which of want appear as the last field of a line of a
// directory listing, sorted.
func listed(listing string, want []string) []string {
	seen := map[string]bool{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			seen[f[len(f)-1]] = true
		}
	}
	var out []string
	for _, w := range want {
		if seen[w] {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}
