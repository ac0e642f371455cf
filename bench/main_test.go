//go:build bench

package bench

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/bench/stats"
	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

var (
	flagRounds    = flag.Int("rounds", 3, "rounds of each scenario; contenders alternate within a round")
	flagSizeMiB   = flag.Int("size", 1024, "scenario 1: file size in MiB")
	flagShortDur  = flag.Duration("short-duration", 0, "scenario 2: duration of one run (default 8s)")
	flagShortC    = flag.Int("short-c", 50, "scenario 2: concurrent clients (1: the figure is the inverse of a session's latency)")
	flagOnly      = flag.String("contenders", "", "measure only these contenders (comma-separated; include the references); default all")
	flagScenarios = flag.String("scenarios", "1,2,3,4,5,7", "scenarios to run")
	flagSteps     = flag.String("idle-steps", "1000,4000,8000", "scenario 3: idle session counts")
	flagXfers     = flag.Int("xfers", 500, "scenario 4: concurrent 1 MiB transfers")
	flagOut       = flag.String("out", "", "also write the report (markdown) to this file")
	flagPerf      = flag.String("perf", "", "record perf profiles of algd (first round) into this directory")
	flagRTPDur    = flag.Duration("rtp-duration", 4*time.Second, "scenario 5: measured window of one run")
	flagRTPRate   = flag.Int("rtp-rate", 400000, "scenario 5: offered packets per second")
	flagRTPNSGSO  = flag.Bool("rtp-ns-gso", false, "scenario 5 in the namespaces: send with UDP GSO (32 datagrams cross the director as one packet) instead of one packet a datagram")
	flagRTPNSRPS  = flag.Bool("rtp-ns-rps", false, "scenario 5 in the namespaces: process the director's received packets on core 1 (receive packet steering), the realserver's on core 0")
	flagLogins    = flag.Int("logins", 2000, "scenario 7: logins in the burst")
	flagLoginsC   = flag.Int("logins-c", 50, "scenario 7: logins in flight")
)

// env is what every scenario shares.
type env struct {
	algd, ftpload string
	naive, udpgen string // scenario 5: bench/cmd/naiverelay and bench/cmd/udpload
	dir           string // local files (the upload source)
	big           string // local path of the scenario 1 file
	bigSize       int64
	sum1m         string
	vs, nsVs      *peers.Server
	tp            *topology
	nftErr        error // why the nft contender is skipped, or nil
	// proxyPath is the data path of the loopback algd contenders: the
	// proxy path, said explicitly where algd knows data_path (its
	// default "auto" would take the kernel path as root).
	proxyPath dataPath
	// kernelOK: algd knows data_path, so algd-kernel can be asked for.
	kernelOK bool
	// skipped says, per contender left out, why.
	skipped    map[string]string
	contenders []*contender
	results    *results
}

// TestBench runs the scenarios and prints the report.
func TestBench(t *testing.T) {
	e := &env{algd: os.Getenv("ALGD_BIN"), ftpload: os.Getenv("FTPLOAD_BIN"), dir: t.TempDir(), results: newResults(),
		naive: os.Getenv("NAIVERELAY_BIN"), udpgen: os.Getenv("UDPLOAD_BIN"), skipped: map[string]string{}}
	if e.algd == "" || e.ftpload == "" {
		t.Fatal("ALGD_BIN and FTPLOAD_BIN must name the built binaries: use bench/run")
	}
	if e.kernelOK = knowsDataPath(t, e.algd); e.kernelOK {
		e.proxyPath = dataPath{mode: "proxy"}
	} else {
		e.skipped["algd-kernel"] = "this algd has no data_path key (no kernel data path)"
	}
	scen := map[string]bool{}
	for _, s := range strings.Split(*flagScenarios, ",") {
		scen[strings.TrimSpace(s)] = true
	}
	if scen["1"] || scen["2"] || scen["4"] || scen["7"] {
		e.setupData(t)
	}
	if scen["1"] {
		e.scenario1(t)
	}
	if scen["2"] {
		e.scenario2(t)
	}
	if scen["4"] {
		e.scenario4(t)
	}
	if scen["7"] {
		e.scenario7(t)
	}
	if scen["3"] {
		e.scenario3(t)
	}
	if scen["5"] {
		if e.naive == "" || e.udpgen == "" {
			t.Fatal("NAIVERELAY_BIN and UDPLOAD_BIN must name the built binaries: use bench/run")
		}
		e.scenario5(t)
	}
	report := e.results.markdown(e)
	fmt.Println(report)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(report), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
	// In CI (.ci/run) the algd under test is this tree's: a contender
	// left out there is a broken data path, not an older algd.
	if os.Getenv("CI") != "" {
		for c, why := range e.skipped {
			t.Errorf("CI: %s left out: %s", c, why)
		}
	}
}

// setupData starts the vsftpds, the proxies and the namespaces, and
// writes the test files.
func (e *env) setupData(t *testing.T) {
	e.bigSize = int64(*flagSizeMiB) << 20
	e.big = filepath.Join(e.dir, "big")
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(e.big)
	if err != nil {
		t.Fatal(err)
	}
	for range *flagSizeMiB {
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(block)
	e.sum1m = hex.EncodeToString(sum[:])

	e.topology(t)
	e.vs = startVsftpd(t, vsftpdAddr, haproxyVIP, nil, nil)
	e.nsVs = startVsftpd(t, netip.AddrPortFrom(nsReal, nsFTPPort), netip.Addr{}, wrap(e.tp.real), wrap(e.tp.client))
	for _, s := range []*peers.Server{e.vs, e.nsVs} {
		for name, data := range map[string][]byte{"1k": block[:1024], "1m": block} {
			if err := os.WriteFile(s.Path(name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := peers.CopyFile(e.big, s.Path("big")); err != nil {
			t.Fatal(err)
		}
	}

	algd := startAlgd(t, e.algd, algdVIP, vsftpdAddr, 63000, 63999, e.proxyPath)
	hap := startHAProxy(t, "haproxy", haproxyConfig(haproxyVIP, vsftpdAddr.Port(), vsftpdAddr.Addr(), vsftpdPasvLo, vsftpdPasvHi, false),
		netip.AddrPortFrom(haproxyVIP, vsftpdAddr.Port()))
	spl := startHAProxy(t, "haproxy-splice", haproxyConfig(spliceVIP, vsftpdAddr.Port(), vsftpdAddr.Addr(), vsftpdPasvLo, vsftpdPasvHi, true),
		netip.AddrPortFrom(spliceVIP, vsftpdAddr.Port()))
	e.contenders = []*contender{
		{name: "direct", addr: vsftpdAddr, vs: e.vs},
		{name: "algd", addr: algdVIP, proxy: algd, vs: e.vs},
		{name: "haproxy", addr: netip.AddrPortFrom(haproxyVIP, vsftpdAddr.Port()), proxy: hap, vs: e.vs},
		{name: "haproxy-splice", addr: netip.AddrPortFrom(spliceVIP, vsftpdAddr.Port()), proxy: spl, vs: e.vs},
		{name: "routed", addr: netip.AddrPortFrom(nsReal, nsFTPPort), wrap: wrap(e.tp.client), vs: e.nsVs},
	}
	if e.nftErr = e.tp.loadNft(); e.nftErr == nil {
		vip := netip.AddrPortFrom(nsVIP, nsFTPPort)
		if err := bannerFrom(t.Context(), wrap(e.tp.client), vip); err != nil {
			e.nftErr = fmt.Errorf("no banner through the DNAT: %w", err)
		} else {
			e.contenders = append(e.contenders, &contender{name: "nft", addr: vip, wrap: wrap(e.tp.client), vs: e.nsVs})
		}
	}
	if e.nftErr != nil {
		t.Logf("nftables contender skipped: %v", e.nftErr)
	}
	e.startAlgdNS(t)
	e.contenders = slices.DeleteFunc(e.contenders, func(c *contender) bool { return !measured(c.name) })
}

// measured reports whether -contenders lets contender name run.
func measured(name string) bool {
	return *flagOnly == "" || slices.Contains(strings.Split(*flagOnly, ","), name)
}

// topology returns the namespaces, made at the first call.
func (e *env) topology(t *testing.T) *topology {
	if e.tp == nil {
		e.tp = newTopology(t)
	}
	return e.tp
}

// startAlgdNS adds the algd contenders of the namespace topology: algd in
// the director in front of the realserver's vsftpd, on the kernel data
// path (algd-kernel) and on the proxy path (algd-ns). Each must carry a
// check download of 1 KiB from the client namespace, or it is left out
// with the reason in the report.
func (e *env) startAlgdNS(t *testing.T) {
	backend := netip.AddrPortFrom(nsReal, nsFTPPort)
	for _, ns := range []struct {
		name string
		vip  netip.Addr
		dp   dataPath
	}{
		{"algd-kernel", nsKernel, dataPath{mode: "kernel", table: "algdbench_ftp"}},
		{"algd-ns", nsProxy, e.proxyPath},
	} {
		if ns.dp.mode == "kernel" && !e.kernelOK {
			continue
		}
		vip := netip.AddrPortFrom(ns.vip, nsFTPPort)
		p, err := startIn(t, e.algd, ns.name, algdConfig(vip, backend, 63000, 63999, ns.dp), wrap(e.tp.director), wrap(e.tp.client), vip)
		if err == nil {
			err = e.checkFetch(vip, p, ns.dp.mode == "kernel")
		}
		if err != nil {
			t.Logf("%s skipped: %v", ns.name, err)
			e.skipped[ns.name] = err.Error()
			if p != nil {
				p.Stop()
			}
			continue
		}
		e.contenders = append(e.contenders, &contender{name: ns.name, addr: vip, proxy: p, wrap: wrap(e.tp.client), vs: e.nsVs})
	}
}

// checkFetch downloads upload/1k from vip with curl in the client
// namespace; with kernel, algd (p) must log that transfer as carried by
// the kernel (path=kernel), else the contender would measure the proxy
// path under another name.
func (e *env) checkFetch(vip netip.AddrPort, p *algdrun.Proc, kernel bool) error {
	url := fmt.Sprintf("ftp://anonymous:bench@%s/upload/1k", vip)
	argv := append(wrap(e.tp.client), "timeout", "20", "curl", "-sS", "--disable-epsv", "-o", "/dev/null", "-w", "%{size_download}", url)
	out, err := runErr(argv...)
	if err != nil || strings.TrimSpace(out) != "1024" {
		return fmt.Errorf("check download of 1 KiB: %v: %s; algd's log ends:\n%s", err, out, p.Tail(10))
	}
	if !kernel {
		return nil
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(p.Log(), "\n") {
			if strings.Contains(l, "data done") && strings.Contains(l, "path=kernel") {
				return nil
			}
		}
	}
	return fmt.Errorf("the check download did not take the kernel path (no \"data done\" line with path=kernel); algd's log ends:\n%s", p.Tail(10))
}

// The contenders in the namespace topology, referenced to routed (FTP)
// and naive-ns (scenario 5).
var nsContenders = []string{"routed", "nft", "algd-kernel", "algd-ns"}

// ref returns the reference of contender c in scenario s: naive for the
// relays of scenario 5 on loopback, naive-ns for those in the namespace
// topology; routed for the FTP contenders in the namespaces, direct for
// those on loopback.
func ref(s, c string) string {
	ns := slices.Contains(nsContenders, c) || c == "naive-ns"
	switch {
	case s == "5" && ns:
		return "naive-ns"
	case s == "5":
		return "naive"
	case ns:
		return "routed"
	}
	return "direct"
}

// sample returns the sample of a metric for a contender.
func (e *env) sample(scenario, metric, c string) stats.Sample {
	return e.results.get(scenario, metric, c)
}
