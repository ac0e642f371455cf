//go:build interop

package soak

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/ftpc"
	"github.com/algd/algd/tests/peers"
)

// The soak's addresses and ranges (distinct from every other suite).
var (
	soakVIP   = netip.MustParseAddrPort("127.0.0.70:2170")
	soakAdmin = netip.MustParseAddrPort("127.0.0.70:9170")
	soakRS    = []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.71:2171"),
		netip.MustParseAddrPort("127.0.0.72:2172"),
		netip.MustParseAddrPort("127.0.0.73:2173"),
	}
	clientIPs = []netip.Addr{
		netip.MustParseAddr("127.0.0.5"), netip.MustParseAddr("127.0.0.6"), netip.MustParseAddr("127.0.0.7"),
		netip.MustParseAddr("127.0.0.8"), netip.MustParseAddr("127.0.0.9"),
	}
)

const (
	soakClients   = 200
	killEvery     = 30 * time.Second
	reloadEvery   = 20 * time.Second
	clientTimeout = 20 * time.Second // no progress for this long is a hang
)

// soakConfig is the soak's algd.toml; idle alternates on reloads so that
// each SIGHUP applies a change.
func soakConfig(files peers.TLSFiles, idle string) string {
	var rs []string
	for _, r := range soakRS {
		rs = append(rs, fmt.Sprintf("{ address = %q }", r.String()))
	}
	return fmt.Sprintf(`[log]
format = "json"
level = "info"

[limits]
max_sessions = 2000
max_sessions_per_client = 100
max_data_ports_per_client = 100
control_idle_timeout = %q
data_connect_timeout = "10s"
backend_connect_timeout = "2s"

[admin]
listen = %q
shutdown_timeout = "5s"

[[pool]]
name = "soak"
scheduler = "rr"
health = { kind = "ftp", interval = "1s", timeout = "900ms", rise = 1, fall = 2 }
realservers = [ %s ]

[[ftp]]
name = "soak"
listen = [%q]
pool = "soak"
passive_ports = "65200-65449"

  [ftp.tls]
  cert = %q
  key = %q
  backend = "plain"
`, idle, soakAdmin.String(), strings.Join(rs, ", "), soakVIP.String(), files.Cert, files.Key)
}

// soakDuration is how long the load runs.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("ALGD_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ALGD_SOAK_DURATION: %v", err)
		}
		return d
	}
	if os.Getenv("ALGD_SOAK") == "long" {
		return 20 * time.Minute
	}
	return 3 * time.Minute
}

// outcome classifies one failed operation.
type outcome int

const (
	okOp       outcome = iota
	properFail         // ended with a 4xx/5xx reply (421, 425, 426, ...)
	corrupted          // 2xx but the bytes differ
	hang               // no progress for clientTimeout
	noReply            // connection ended without a reply
	otherFail          // anything else (dial refused, ...)
)

var outcomeNames = []string{"ok", "proper reply", "CORRUPTED", "HANG", "no reply", "other"}

// soakStats are the figures of a run.
type soakStats struct {
	sessions, ops, bytes atomic.Int64
	byOutcome            [6]atomic.Int64
	byMode               sync.Map // mode name -> *atomic.Int64 (ok ops)
	mu                   sync.Mutex
	reasons              map[string]int
	examples             []string
}

func (s *soakStats) record(mode string, o outcome, err error) {
	s.byOutcome[o].Add(1)
	if o == okOp {
		v, _ := s.byMode.LoadOrStore(mode, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		return
	}
	key := outcomeNames[o] + ": " + reasonOf(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reasons[key]++
	if o != properFail && len(s.examples) < 20 {
		s.examples = append(s.examples, fmt.Sprintf("%s %s: %v", mode, outcomeNames[o], err))
	}
}

// reasonOf shortens err to a reply code or an error class.
func reasonOf(err error) string {
	var re *ftpc.ReplyError
	if errors.As(err, &re) {
		return fmt.Sprintf("%s -> %d", re.Cmd, re.Reply.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case err != nil && strings.Contains(err.Error(), "EOF"):
		return "EOF"
	}
	if err == nil {
		return "bytes differ"
	}
	return "other"
}

// classify turns an operation's error into an outcome.
func classify(err error) outcome {
	if err == nil {
		return okOp
	}
	var re *ftpc.ReplyError
	if errors.As(err, &re) && re.Reply.Code >= 400 {
		return properFail
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return hang
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return otherFail
	}
	if strings.Contains(err.Error(), "EOF") || errors.Is(err, syscall.ECONNRESET) {
		return noReply
	}
	return otherFail
}

// followUp is what a client does after its data connection failed with
// no reply yet: it reads the control connection, where the server owes
// an answer (426 for the transfer, 421 when the session ends). A 4xx or
// 5xx there turns err into that reply; a read that times out is a hang.
func followUp(err error, read func() (ftpc.Reply, error)) error {
	if o := classify(err); o != noReply && o != otherFail {
		return err
	}
	rep, rerr := read()
	if rerr != nil {
		return fmt.Errorf("%w; then no reply: %w", err, rerr)
	}
	if rep.Code >= 400 {
		return fmt.Errorf("%v; then: %w", err, &ftpc.ReplyError{Cmd: "data", Reply: rep})
	}
	return fmt.Errorf("%w; then %q", err, rep.String())
}

// soakFile is a file every realserver serves.
type soakFile struct {
	name string
	sum  [32]byte
	path string
}

func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vipTLS := ca.Issue(t, "vip", soakVIP.Addr())
	caPEM, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	var files []soakFile
	for i, size := range []int64{0, 1, 64 << 10, 1 << 20, 3<<20 + 17} {
		name := fmt.Sprintf("soak-%d.bin", i)
		p, _ := peers.RandomFile(t, dir, name, size)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, soakFile{name: name, sum: sha256.Sum256(b), path: p})
	}
	startRS := func(i int) *peers.Server {
		s := peers.Start(t, peers.Vsftpd, peers.Options{Addr: soakRS[i], PassiveFirst: 65200, PassiveLast: 65499})
		for _, f := range files {
			if err := s.Put(f.path, f.name); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	servers := make([]*peers.Server, len(soakRS))
	for i := range soakRS {
		servers[i] = startRS(i)
	}
	user, pass := servers[0].User, servers[0].Password
	remote := servers[0].Remote

	p := algdrun.StartTOML(t, algdBin, soakConfig(vipTLS, "60s"), []netip.AddrPort{soakVIP}, algdrun.Options{})
	ctx := context.Background()
	// Idle baseline, once the health checks have settled.
	time.Sleep(2 * time.Second)
	base, err := algdrun.Scrape(ctx, soakAdmin)
	if err != nil {
		t.Fatal(err)
	}
	baseFDs, err := p.OpenFDs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("baseline: goroutines %v, fds %d (/metrics %v), ports in use %v",
		base["go_goroutines"], baseFDs, base["algd_process_open_fds"], base.Sum("algd_passive_ports_in_use"))

	st := &soakStats{reasons: map[string]int{}}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: soakVIP.Addr().String(),
		ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	deadline := time.Now().Add(dur)
	upload := make([]byte, 512<<10)
	for i := range upload {
		upload[i] = byte(rand.Uint32())
	}
	var wg sync.WaitGroup
	for i := 0; i < soakClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := soakWorker{id: i, from: clientIPs[i%len(clientIPs)], files: files, upload: upload,
				user: user, pass: pass, remote: remote, tls: tlsCfg, st: st}
			for time.Now().Before(deadline) {
				w.session()
			}
		}()
	}

	// Faults: kill and restart a realserver every 30 s, reload every 20 s.
	kills, reloads := 0, 0
	kill := time.NewTicker(killEvery)
	reload := time.NewTicker(reloadEvery)
	stop := time.NewTimer(time.Until(deadline))
	idle := []string{"60s", "61s"}
loop:
	for {
		select {
		case <-kill.C:
			i := kills % len(servers)
			_ = syscall.Kill(-servers[i].PID(), syscall.SIGKILL)
			kills++
			time.Sleep(3 * time.Second) // algd's health check notices (fall 2 × 1s)
			servers[i] = startRS(i)
		case <-reload.C:
			reloads++
			if err := os.WriteFile(p.Config, []byte(soakConfig(vipTLS, idle[reloads%2])), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := p.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		case <-stop.C:
			break loop
		}
		if p.Exited() {
			t.Fatalf("algd exited during the soak")
		}
	}
	kill.Stop()
	reload.Stop()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(3 * clientTimeout):
		t.Fatalf("clients still running %v after the end of the soak: a hang", 3*clientTimeout)
	}

	// Back to idle: wait for sessions to end, then compare.
	var after algdrun.Metrics
	var fds int
	settle := time.Now().Add(30 * time.Second)
	for {
		after, err = algdrun.Scrape(ctx, soakAdmin)
		if err != nil {
			t.Fatal(err)
		}
		fds, _ = p.OpenFDs()
		if (after["go_goroutines"] <= base["go_goroutines"]+2 && fds <= baseFDs+2 &&
			after.Sum("algd_passive_ports_in_use") == 0 && after["algd_sessions"] == 0) || time.Now().After(settle) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "soak: %v with %d clients from %d addresses, 3 vsftpd realservers\n", dur, soakClients, len(clientIPs))
	fmt.Fprintf(&b, "  sessions %d, operations %d, bytes checked %d (%.1f MiB)\n",
		st.sessions.Load(), st.ops.Load(), st.bytes.Load(), float64(st.bytes.Load())/(1<<20))
	fmt.Fprintf(&b, "  faults injected: %d realserver kills (SIGKILL + restart), %d SIGHUP reloads (algd: %v ok, %v failed)\n",
		kills, reloads, after.Sum("algd_reloads_total", `result="ok"`), after.Sum("algd_reloads_total", `result="failed"`))
	var modes []string
	st.byMode.Range(func(k, v any) bool {
		modes = append(modes, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(modes)
	fmt.Fprintf(&b, "  ok operations by mode: %s\n", strings.Join(modes, ", "))
	for o := range outcomeNames {
		fmt.Fprintf(&b, "  %s: %d\n", outcomeNames[o], st.byOutcome[o].Load())
	}
	var keys []string
	for k := range st.reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %d\n", k, st.reasons[k])
	}
	for _, e := range st.examples {
		fmt.Fprintf(&b, "    e.g. %s\n", e)
	}
	fmt.Fprintf(&b, "  algd: sessions %v, data connections %v, bytes down %v up %v, refused %v, bad replies %v, TLS handshakes %v\n",
		after.Sum("algd_sessions_total"), after.Sum("algd_data_connections_total"),
		after.Sum("algd_data_bytes_total", `direction="down"`), after.Sum("algd_data_bytes_total", `direction="up"`),
		after.Sum("algd_sessions_refused_total"), after.Sum("algd_bad_backend_replies_total"), after.Sum("algd_tls_handshakes_total"))
	fmt.Fprintf(&b, "  idle before/after: goroutines %v/%v, fds %d/%d, passive ports in use %v/%v, sessions %v/%v\n",
		base["go_goroutines"], after["go_goroutines"], baseFDs, fds,
		base.Sum("algd_passive_ports_in_use"), after.Sum("algd_passive_ports_in_use"), base["algd_sessions"], after["algd_sessions"])
	t.Log(b.String())
	if out := os.Getenv("ALGD_SOAK_OUT"); out != "" {
		if f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprint(f, b.String())
			f.Close()
		}
	}

	if out := os.Getenv("ALGD_SOAK_LOG"); out != "" {
		_ = os.WriteFile(out, []byte(p.Log()), 0o644)
	}
	if n := st.byOutcome[corrupted].Load(); n > 0 {
		t.Errorf("%d corrupted files", n)
	}
	if n := st.byOutcome[hang].Load(); n > 0 {
		t.Errorf("%d operations hung (no progress for %v)", n, clientTimeout)
	}
	if n := st.byOutcome[noReply].Load(); n > 0 {
		t.Errorf("%d operations ended without a reply", n)
	}
	if n := st.byOutcome[otherFail].Load(); n > 0 {
		t.Errorf("%d operations failed otherwise", n)
	}
	if ok := st.byOutcome[okOp].Load(); ok < st.ops.Load()*9/10 {
		t.Errorf("only %d of %d operations succeeded", ok, st.ops.Load())
	}
	if got := after.Sum("algd_reloads_total", `result="ok"`); got != float64(reloads) {
		t.Errorf("algd counted %v good reloads, %d were sent", got, reloads)
	}
	if after["go_goroutines"] > base["go_goroutines"]+2 {
		t.Errorf("goroutines %v after the soak, %v before", after["go_goroutines"], base["go_goroutines"])
	}
	if fds > baseFDs+2 {
		t.Errorf("algd holds %d descriptors after the soak, %d before", fds, baseFDs)
	}
	if n := after.Sum("algd_passive_ports_in_use"); n != 0 {
		t.Errorf("%v passive ports still reserved after the soak", n)
	}
	if n := after["algd_sessions"]; n != 0 {
		t.Errorf("%v sessions still open after the soak", n)
	}
}

// soakWorker is one client looping over sessions.
type soakWorker struct {
	id         int
	from       netip.Addr
	files      []soakFile
	upload     []byte
	user, pass string
	remote     func(string) string
	tls        *tls.Config
	st         *soakStats
	n          int
}

// modes of the workers: four plain modes and FTPS (EPSV or PASV).
var workerModes = []string{"PASV", "EPSV", "PORT", "EPRT", "FTPS"}

// session runs one control session of three operations: a download, an
// upload and the upload read back, each checked by sha256.
func (w *soakWorker) session() {
	w.n++
	mode := workerModes[w.id%len(workerModes)]
	w.st.sessions.Add(1)
	if mode == "FTPS" {
		w.ftpsSession()
		return
	}
	m := map[string]ftpc.Mode{"PASV": ftpc.PASV, "EPSV": ftpc.EPSV, "PORT": ftpc.PORT, "EPRT": ftpc.EPRT}[mode]
	c, err := ftpc.DialLogin(soakVIP, w.from, clientTimeout, w.user, w.pass)
	if err != nil {
		w.notStarted(mode, err)
		return
	}
	defer c.Close()
	f := w.files[rand.IntN(len(w.files))]
	// ftpc reads the transfer's final reply even after a failed data
	// connection (into Transfer.Final), as real clients do: use it, and
	// read the control connection only when it has none.
	follow := func(tr ftpc.Transfer, err error) error {
		return followUp(err, func() (ftpc.Reply, error) {
			if tr.Final.Code != 0 {
				return tr.Final, nil
			}
			return c.ReadReply()
		})
	}
	data, tr, err := c.Retr(m, w.remote(f.name))
	if !w.check(mode, f.sum, data, follow(tr, err)) {
		return
	}
	name := fmt.Sprintf("up-%d-%d.bin", w.id, w.n)
	body := w.body()
	tr, err = c.Stor(m, w.remote(name), body)
	if !w.check(mode, sha256.Sum256(body), body, follow(tr, err)) {
		return
	}
	data, tr, err = c.Retr(m, w.remote(name))
	w.check(mode, sha256.Sum256(body), data, follow(tr, err))
}

// notStarted counts a session that could not log in, and pauses before
// the next.
func (w *soakWorker) notStarted(mode string, err error) {
	w.st.ops.Add(1)
	w.st.record(mode, classify(err), err)
	time.Sleep(200 * time.Millisecond)
}

// ftpsSession is session over explicit FTPS, alternating EPSV and PASV.
func (w *soakWorker) ftpsSession() {
	const mode = "FTPS"
	epsv := w.n%2 == 0
	c, err := dialFTPS(soakVIP, w.from, w.tls, clientTimeout)
	if err == nil {
		if err = c.login(w.user, w.pass); err != nil {
			c.close()
		}
	}
	if err != nil {
		w.notStarted(mode, err)
		return
	}
	defer c.close()
	f := w.files[rand.IntN(len(w.files))]
	follow := func(err error) error { return followUp(err, c.read) }
	data, err := c.retr(epsv, w.remote(f.name))
	if !w.check(mode, f.sum, data, follow(err)) {
		return
	}
	name := fmt.Sprintf("up-%d-%d.bin", w.id, w.n)
	body := w.body()
	err = c.stor(epsv, w.remote(name), body)
	if !w.check(mode, sha256.Sum256(body), body, follow(err)) {
		return
	}
	data, err = c.retr(epsv, w.remote(name))
	w.check(mode, sha256.Sum256(body), data, follow(err))
}

// body is this session's upload: a slice of the shared random buffer
// with the worker and session numbers in front.
func (w *soakWorker) body() []byte {
	n := rand.IntN(len(w.upload))
	b := append([]byte(fmt.Sprintf("%d/%d\n", w.id, w.n)), w.upload[:n]...)
	return b
}

// check records one operation and reports whether the session goes on.
func (w *soakWorker) check(mode string, want [32]byte, got []byte, err error) bool {
	w.st.ops.Add(1)
	o := classify(err)
	if o == okOp && sha256.Sum256(got) != want {
		o = corrupted
	}
	if o == okOp {
		w.st.bytes.Add(int64(len(got)))
	}
	w.st.record(mode, o, err)
	return o == okOp
}
