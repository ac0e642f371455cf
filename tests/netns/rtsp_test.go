//go:build interop

package netns

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
)

// RTSP on the director: the realserver namespace runs tests/rtspsource
// (cmd rtspsourced, a gortsplib server playing numbered RTP packets, one
// every 5 ms), the client namespace plays it through algd over UDP.
const (
	rtspKernelPort  = 554  // the kernel-path listener on the VIP
	rtspProxyPort   = 8554 // the same pool on the proxy path
	rtspKernel6Port = 5554 // the IPv6 realserver, on the kernel path
	rtspSourceUDP   = 64010
	rtspAdmin       = "127.0.0.1:9180" // in the director namespace
)

// IPv6 towards the realserver, only in this suite's topology.
var (
	directorR6  = netip.MustParseAddr("fd00:231:2::1")
	realserver6 = netip.MustParseAddr("fd00:231:2::2")
)

// rtspTopology is newTopology with forwarding on in the director (the
// kernel path forwards the media) and IPv6 on the realserver side too.
func rtspTopology(t *testing.T) *topology {
	t.Helper()
	tp := newTopology(t)
	sh(t, "ip", "-n", tp.director, "-6", "addr", "add", directorR6.String()+"/64", "dev", "d1", "nodad")
	sh(t, "ip", "-n", tp.real, "-6", "addr", "add", realserver6.String()+"/64", "dev", "r0", "nodad")
	sh(t, "ip", "-n", tp.real, "-6", "route", "add", "default", "via", directorR6.String())
	for _, k := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"} {
		sh(t, append(nsWrap(tp.director), "sysctl", "-q", "-w", k)...)
	}
	// The director forwards only what algd's rules translated.
	loadNft(t, tp.director, fmt.Sprintf(`table inet %s {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct status dnat counter accept comment "mapped"
		counter drop comment "other"
	}
}
`, nftTable))
	return tp
}

// rtspConfig is algd's configuration: pool "media" (the IPv4
// realserver) behind a kernel-path listener on both VIPs and a
// proxy-path one on the IPv4 VIP, and pool "media6" (the same server's
// IPv6 address) behind a kernel-path listener on the IPv6 VIP. Clients
// are told the address they connected to.
func rtspConfig(source, source6 netip.AddrPort) string {
	return fmt.Sprintf(`[log]
format = "json"
level = "debug"

[admin]
listen = %[1]q

[[pool]]
name = "media"
scheduler = "rr"
health = { kind = "none" }
realservers = [{ address = %[2]q }]

[[pool]]
name = "media6"
scheduler = "rr"
health = { kind = "none" }
realservers = [{ address = %[3]q }]

[[rtsp]]
name = "kernel"
listen = ["%[4]s:%[6]d", "[%[5]s]:%[6]d"]
pool = "media"
media_ports = "63400-63449"
backend_source = "%[7]s"
backend_media_ports = "63500-63549"
data_path = "kernel"

[[rtsp]]
name = "proxy"
listen = ["%[4]s:%[8]d"]
pool = "media"
media_ports = "63450-63499"
backend_source = "%[7]s"
backend_media_ports = "63550-63599"
data_path = "proxy"

[[rtsp]]
name = "kernel6"
listen = ["[%[5]s]:%[9]d"]
pool = "media6"
media_ports = "63600-63649"
backend_source = "%[10]s"
backend_media_ports = "63700-63749"
data_path = "kernel"
`, rtspAdmin, source, source6, vip, vip6, rtspKernelPort, directorR, rtspProxyPort, rtspKernel6Port, directorR6)
}

// buildSource builds cmd rtspsourced into the test's temporary
// directory.
func buildSource(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rtspsourced")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/algd/algd/tests/rtspsource/rtspsourced")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rtspsourced: %v\n%s", err, out)
	}
	return bin
}

// startSource runs rtspsourced on ip in the realserver namespace and
// returns its RTSP address; extra are further arguments (the idle
// timeout).
func startSource(t *testing.T, tp *topology, bin string, ip netip.Addr, extra ...string) netip.AddrPort {
	t.Helper()
	argv := append(nsWrap(tp.real), bin, "serve", ip.String(), strconv.Itoa(rtspSourceUDP))
	p := algdrun.Run(t, "rtspsourced-"+ip.String(), append(argv, extra...))
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(p.Log(), "\n") {
			if a, ok := strings.CutPrefix(l, "ready "); ok {
				return netip.MustParseAddrPort(strings.TrimSpace(a))
			}
		}
		if p.Exited() {
			break
		}
	}
	t.Fatalf("rtspsourced did not start:\n%s", p.Log())
	return netip.AddrPort{}
}

// rtspReady answers an OPTIONS from namespace ns (bash's /dev/tcp).
func rtspReady(ns string) func(ctx context.Context, addr netip.AddrPort) error {
	return func(ctx context.Context, addr netip.AddrPort) error {
		script := `exec 3<>"/dev/tcp/$0/$1" || exit 1
printf 'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n' >&3
IFS= read -r l <&3; printf '%s' "$l"`
		argv := append(nsWrap(ns), "timeout", "2", "bash", "-c", script, addr.Addr().String(), fmt.Sprint(addr.Port()))
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "RTSP/1.0 200") {
			return fmt.Errorf("OPTIONS %s from %s: %v: %q", addr, ns, err, out)
		}
		return nil
	}
}

// udpIn reads the namespace's Udp InDatagrams (/proc/net/snmp) plus
// Udp6InDatagrams (/proc/net/snmp6): every datagram delivered to a
// socket there, algd's included; forwarded ones are not.
func udpIn(t *testing.T, ns string) int64 {
	t.Helper()
	out := sh(t, append(nsWrap(ns), "cat", "/proc/net/snmp")...)
	var names []string
	var v4 int64 = -1
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "InDatagrams" && i < len(f) {
				v4 = atoi(t, f[i])
			}
		}
	}
	out6 := sh(t, append(nsWrap(ns), "cat", "/proc/net/snmp6")...)
	var v6 int64 = -1
	for _, l := range strings.Split(out6, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Udp6InDatagrams" {
			v6 = atoi(t, f[1])
		}
	}
	if v4 < 0 || v6 < 0 {
		t.Fatalf("no Udp InDatagrams in /proc/net/snmp or snmp6 of %s:\n%s\n%s", ns, out, out6)
	}
	return v4 + v6
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// cpuTime is the user and system CPU time of process pid so far
// (/proc/PID/stat, in clock ticks of 10 ms): logged, never asserted.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // after the command name
	f := strings.Fields(rest)                  // f[0] is field 3 (state)
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(atoi(t, f[11])+atoi(t, f[12])) * 10 * time.Millisecond
}

// metricRE matches one sample of the metrics text.
var metricRE = regexp.MustCompile(`(?m)^(algd_[a-z_]+)\{([^}]*)\} ([0-9.e+]+)$`)

// rtspMetric reads one sample of algd's /metrics in the director
// namespace: name with labels containing every one of labels.
func rtspMetric(t *testing.T, tp *topology, name string, labels ...string) int64 {
	t.Helper()
	out := sh(t, append(nsWrap(tp.director), "curl", "-s", "--max-time", "5", "http://"+rtspAdmin+"/metrics")...)
	for _, m := range metricRE.FindAllStringSubmatch(out, -1) {
		if m[1] != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[2], l)
		}
		if ok {
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(v)
		}
	}
	t.Fatalf("metric %s{%s} not found", name, strings.Join(labels, ","))
	return 0
}

// playResult is what rtspsourced play printed.
type playResult struct {
	good, bad, span int64
	out             string
	err             error
}

// playIn plays url from namespace ns for d in the background.
func playIn(ns, bin, url string, d time.Duration) <-chan playResult {
	ch := make(chan playResult, 1)
	go func() {
		argv := append(nsWrap(ns), "timeout", fmt.Sprint(int(d.Seconds())+20), bin, "play", url, fmt.Sprint(d.Seconds()))
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		r := playResult{out: string(out), err: err}
		if _, e := fmt.Sscanf(lastLine(r.out, "good "), "good %d bad %d span %d", &r.good, &r.bad, &r.span); e != nil && r.err == nil {
			r.err = fmt.Errorf("no counts: %w", e)
		}
		ch <- r
	}()
	return ch
}

// lastLine returns the last line of out starting with prefix.
func lastLine(out, prefix string) string {
	l := ""
	for _, s := range strings.Split(out, "\n") {
		if strings.HasPrefix(s, prefix) {
			l = s
		}
	}
	return l
}

// TestRTSPKernel plays a stream through algd from the client namespace
// over UDP (forced: the client may not fall back to TCP): through the
// kernel-path listener over IPv4 and over IPv6, through the same
// listener from an IPv6 client to the IPv4 realserver (mixed families:
// the kernel cannot translate, the stream is relayed), and through the
// proxy-path listener for comparison. Every packet that arrives is
// checked (numbered payloads); at least 95 % of those the source sent
// between the first and the last that arrived must arrive. On the kernel path the media must not
// enter algd: the director namespace's Udp InDatagrams grow by less
// than a tenth of the packets the client got (on the relayed runs they
// grow by at least as many: algd reads each one), conntrack holds the
// stream's NAT (the client's flow to the VIP port, replied to by the
// realserver's flow to the backend port), algd's metrics count each
// stream on its path with conntrack's packets, and after the TEARDOWN
// algd's nftables maps are empty. The director forwards only
// connections algd's rules translated (a filter counts and drops the
// rest); a datagram from another client address to the VIP media port
// reaches algd's socket and is dropped as theft. A reload (SIGHUP) in
// the middle of the IPv4 kernel-path stream costs it no packet; a drain
// (SIGTERM) lets a last kernel-path stream play to its TEARDOWN, after
// which algd exits and its table is gone.
func TestRTSPKernel(t *testing.T) {
	for _, tool := range []string{"curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not on PATH", tool)
		}
	}
	if algdBin == "" {
		t.Fatal("TestRTSPKernel needs algd: unset ALGD_INTEROP_DIRECT")
	}
	tp := rtspTopology(t)
	src := buildSource(t)
	rs := startSource(t, tp, src, realserver)
	rs6 := startSource(t, tp, src, realserver6)
	ctrlK := netip.AddrPortFrom(vip, rtspKernelPort)
	ctrlK6 := netip.AddrPortFrom(vip6, rtspKernelPort)
	ctrlP := netip.AddrPortFrom(vip, rtspProxyPort)
	ctrl6 := netip.AddrPortFrom(vip6, rtspKernel6Port)
	proc := algdrun.StartTOML(t, algdBin, rtspConfig(rs, rs6), []netip.AddrPort{ctrlK, ctrlK6, ctrlP, ctrl6},
		algdrun.Options{Wrap: nsWrap(tp.director), Ready: rtspReady(tp.client)})

	const secs = 3
	type run struct {
		name, listener string
		ctrl           netip.AddrPort
		kernel         bool // the media must not enter algd
		result         playResult
		udpIn          int64 // director's Udp InDatagrams during the play
		cpu            time.Duration
	}
	runs := []*run{
		{name: "kernel ipv4", listener: "kernel", ctrl: ctrlK, kernel: true},
		{name: "kernel ipv6", listener: "kernel6", ctrl: ctrl6, kernel: true},
		{name: "mixed families, relayed", listener: "kernel", ctrl: ctrlK6},
		{name: "proxy", listener: "proxy", ctrl: ctrlP},
	}
	for _, r := range runs {
		before, cpu := udpIn(t, tp.director), cpuTime(t, proc.PID())
		ch := playIn(tp.client, src, fmt.Sprintf("rtsp://%s/stream", r.ctrl), secs*time.Second)
		if r.name == "kernel ipv4" {
			time.Sleep(secs * time.Second / 2)
			kernelMidPlay(t, tp)
			// A reload (SIGHUP, same configuration: new handlers)
			// mid-stream: the stream must not lose a packet.
			if err := syscall.Kill(proc.PID(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		r.result = <-ch
		r.udpIn = udpIn(t, tp.director) - before
		r.cpu = cpuTime(t, proc.PID()) - cpu
		t.Logf("%s: %d intact packets of %d sent meanwhile, %d bad; director Udp InDatagrams +%d; algd CPU %v", r.name, r.result.good, r.result.span, r.result.bad, r.udpIn, r.cpu)
		if r.result.err != nil {
			t.Fatalf("%s: play: %v\n%s", r.name, r.result.err, r.result.out)
		}
		// The source sends one packet every 5 ms when the machine lets
		// it: at least a third of that, and then at least 95 % of what
		// it sent.
		if r.result.span < secs*200/3 || r.result.good*100 < r.result.span*95 || r.result.bad != 0 {
			t.Errorf("%s: %d intact packets of %d sent, %d bad; want at least %d sent, 95 %% of them, none bad",
				r.name, r.result.good, r.result.span, r.result.bad, secs*200/3)
		}
		if r.kernel && r.udpIn*10 >= r.result.good {
			t.Errorf("%s: the director delivered %d datagrams to its sockets for %d the client got: the media passed through algd", r.name, r.udpIn, r.result.good)
		}
		if !r.kernel && r.udpIn < r.result.good {
			t.Errorf("%s: the director delivered %d datagrams for %d the client got: the measure cannot see algd's relay", r.name, r.udpIn, r.result.good)
		}
	}
	if n := rtspMetric(t, tp, "algd_reloads_total", `result="ok"`); n != 1 {
		t.Errorf("%d reloads done, want 1 (the SIGHUP)", n)
	}
	for _, c := range []struct {
		listener, path string
		want           int64
	}{{"kernel", "kernel", 1}, {"kernel", "proxy", 1}, {"kernel6", "kernel", 1}, {"proxy", "proxy", 1}} {
		if n := rtspMetric(t, tp, "algd_rtsp_streams_by_path_total", `listener="`+c.listener+`"`, `path="`+c.path+`"`); n != c.want {
			t.Errorf("listener %s: %d streams on the %s path, want %d", c.listener, n, c.path, c.want)
		}
	}
	if n := rtspMetric(t, tp, "algd_rtsp_kernel_refused_total", `listener="kernel"`); n != 1 {
		t.Errorf("listener kernel: %d streams refused by the kernel path, want 1 (the mixed-family one)", n)
	}
	// conntrack counts what the client got, and what was lost on the
	// way: never less.
	for _, r := range runs[:2] {
		if n := rtspMetric(t, tp, "algd_rtsp_media_packets_total", `listener="`+r.listener+`"`, `direction="down"`); n < r.result.good {
			t.Errorf("%s: %d packets down in the metrics (conntrack), fewer than the %d the client got", r.name, n, r.result.good)
		}
	}
	// After the TEARDOWNs: no element left in algd's maps.
	var table string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		table = sh(t, append(nsWrap(tp.director), "nft", "list", "table", "inet", "algd_nat")...)
		if !strings.Contains(table, "elements") {
			break
		}
	}
	if strings.Contains(table, "elements") {
		t.Errorf("algd's maps still hold elements after the TEARDOWN:\n%s", table)
	}
	fw := nftCounters(t, tp.director)
	t.Logf("director forward chain: %v", fw)
	if fw["mapped"] == 0 || fw["other"] != 0 {
		t.Errorf("forwarded: %d packets of mapped connections, %d others dropped; want some, 0", fw["mapped"], fw["other"])
	}

	// The drain (SIGTERM) lets a kernel-path stream play to its end,
	// then algd exits and takes its table with it.
	ch := playIn(tp.client, src, fmt.Sprintf("rtsp://%s/stream", ctrlK), secs*time.Second)
	time.Sleep(time.Second)
	if err := syscall.Kill(proc.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	t.Logf("drain: %d intact packets of %d sent meanwhile, %d bad", r.good, r.span, r.bad)
	if r.err != nil || r.span < secs*200/3 || r.good*100 < r.span*95 || r.bad != 0 {
		t.Errorf("stream through the drain: %d intact packets of %d, %d bad, %v", r.good, r.span, r.bad, r.err)
	}
	for end := time.Now().Add(15 * time.Second); !proc.Exited(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("algd did not exit after the drained stream's TEARDOWN")
		}
	}
	if out, err := exec.Command("ip", "netns", "exec", tp.director, "nft", "list", "table", "inet", "algd_nat").CombinedOutput(); err == nil {
		t.Errorf("algd's table is still there after its exit:\n%s", out)
	}
}

// kernelMidPlay checks the director while the kernel-path stream plays:
// conntrack holds its NAT, and a datagram from a third address to the
// VIP media port reaches algd, which drops it.
func kernelMidPlay(t *testing.T, tp *topology) {
	t.Helper()
	ct := sh(t, append(nsWrap(tp.director), "cat", "/proc/net/nf_conntrack")...)
	found := ""
	for _, l := range strings.Split(ct, "\n") {
		if strings.Contains(l, " udp ") &&
			strings.Contains(l, fmt.Sprintf("src=%s dst=%s", clientIP, vip)) &&
			strings.Contains(l, fmt.Sprintf("src=%s dst=%s", realserver, directorR)) {
			found = l
		}
	}
	if found == "" {
		t.Errorf("no conntrack entry translating the client's media to the realserver:\n%s", ct)
	} else {
		t.Logf("conntrack: %s", found)
	}
	thief := netip.MustParseAddr("10.231.1.3")
	sh(t, "ip", "-n", tp.client, "addr", "add", thief.String()+"/24", "dev", "c0")
	before := rtspMetric(t, tp, "algd_rtsp_media_dropped_by_reason_total", `listener="kernel"`, `reason="source"`)
	script := `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(b"steal", (sys.argv[2], 63400))`
	sh(t, append(nsWrap(tp.client), "python3", "-c", script, thief.String(), vip.String())...)
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n := rtspMetric(t, tp, "algd_rtsp_media_dropped_by_reason_total", `listener="kernel"`, `reason="source"`); n > before {
			break
		}
		if time.Now().After(end) {
			t.Errorf("a datagram from %s to the VIP media port was not dropped by algd as theft", thief)
			break
		}
	}
}

// startGstServer runs tests/rtspinterop's gst-rtsp-server script (a live
// VP8 test pattern, 320x240 at 25 fps, on /test; media sockets on the
// wildcard) on the realserver's address and returns its RTSP address.
func startGstServer(t *testing.T, tp *topology) netip.AddrPort {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's: python3-gi is installed for it
	script, err := filepath.Abs(filepath.Join("..", "rtspinterop", "testdata", "gstserver.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := algdrun.Run(t, "gst-rtsp-server", append(nsWrap(tp.real), python, script, realserver.String(), "0"))
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && !p.Exited(); time.Sleep(100 * time.Millisecond) {
		if port := lastLine(p.Log(), "listening "); port != "" {
			return netip.MustParseAddrPort(realserver.String() + ":" + strings.TrimSpace(strings.TrimPrefix(port, "listening ")))
		}
	}
	t.Fatalf("gst-rtsp-server did not start (python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good):\n%s", p.Log())
	return netip.AddrPort{}
}

// ffmpegFrames matches ffmpeg's progress lines.
var ffmpegFrames = regexp.MustCompile(`frame=\s*(\d+)`)

// peerRead is one client's read through algd.
type peerRead struct {
	name   string
	frames int
	out    string
	err    error
}

// readFFmpeg reads url with ffmpeg over UDP (forced) from namespace ns
// for d of media and returns the frames it decoded.
func readFFmpeg(ns, url string, d time.Duration) peerRead {
	argv := append(nsWrap(ns), "timeout", fmt.Sprint(int(d.Seconds())+30), "ffmpeg", "-nostdin", "-hide_banner",
		"-rtsp_transport", "udp", "-i", url, "-t", fmt.Sprint(d.Seconds()), "-f", "null", "-")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	r := peerRead{name: "ffmpeg", out: string(out), err: err}
	if m := ffmpegFrames.FindAllStringSubmatch(r.out, -1); len(m) > 0 {
		r.frames, _ = strconv.Atoi(m[len(m)-1][1])
	}
	if strings.Contains(r.out, "Falling back to TCP") || strings.Contains(r.out, "retrying with TCP") {
		r.err = fmt.Errorf("ffmpeg fell back to TCP")
	}
	return r
}

// readRtspsrc reads url with GStreamer's rtspsrc over UDP only
// (protocols=udp: no fallback) from namespace ns for wall, then sends
// an EOS, and returns the VP8 frames that reached the sink.
func readRtspsrc(ns, url string, wall time.Duration) peerRead {
	argv := append(nsWrap(ns), "gst-launch-1.0", "-e", "-v", "rtspsrc", "location="+url, "protocols=udp", "latency=200",
		"!", "rtpvp8depay", "!", "fakesink", "silent=false", "sync=false")
	cmd := exec.Command(argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	r := peerRead{name: "rtspsrc"}
	if r.err = cmd.Start(); r.err != nil {
		return r
	}
	// ip netns exec execs gst-launch in place: the signal reaches it.
	stop := time.AfterFunc(wall, func() { cmd.Process.Signal(os.Interrupt) })
	defer stop.Stop()
	err := cmd.Wait()
	r.out = out.String()
	r.frames = strings.Count(r.out, "last-message = chain")
	switch {
	case strings.Contains(r.out, "Could not receive any UDP packets"):
		r.err = fmt.Errorf("rtspsrc got no UDP")
	case !strings.Contains(r.out, "Got EOS"):
		r.err = fmt.Errorf("rtspsrc did not end with an EOS: %v", err)
	}
	return r
}

// TestRTSPKernelPeers: ffmpeg and GStreamer's rtspsrc in the client
// namespace read gst-rtsp-server (python3-gi) in the realserver
// namespace through algd's kernel-path listener, over UDP, at the same
// time: each gets at least 80 % of the 25 frames a second it asked for,
// the director's sockets get less than a tenth as many datagrams as
// frames arrived (the media did not pass through algd), and algd counts
// both streams on the kernel path with conntrack's packets.
func TestRTSPKernelPeers(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "gst-launch-1.0", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (tests/peers/fetch.sh installs it)", tool)
		}
	}
	if algdBin == "" {
		t.Fatal("TestRTSPKernelPeers needs algd: unset ALGD_INTEROP_DIRECT")
	}
	tp := rtspTopology(t)
	rs := startGstServer(t, tp)
	ctrl := startKernelListener(t, tp, rs, 63400, 63449, 63500, 63549)

	const secs = 6
	url := fmt.Sprintf("rtsp://%s/test", ctrl)
	before := udpIn(t, tp.director)
	reads := make(chan peerRead, 2)
	go func() { reads <- readFFmpeg(tp.client, url, secs*time.Second) }()
	go func() { reads <- readRtspsrc(tp.client, url, (secs+2)*time.Second) }()
	frames := 0
	for range 2 {
		r := <-reads
		t.Logf("%s: %d frames", r.name, r.frames)
		if r.err != nil {
			t.Errorf("%s: %v\n%s", r.name, r.err, tailLines(r.out, 30))
		}
		if want := secs * 25 * 8 / 10; r.frames < want {
			t.Errorf("%s: %d frames, want at least %d", r.name, r.frames, want)
		}
		frames += r.frames
	}
	in := udpIn(t, tp.director) - before
	t.Logf("director Udp InDatagrams +%d for %d frames", in, frames)
	if in*10 >= int64(frames) {
		t.Errorf("the director delivered %d datagrams to its sockets for %d frames: the media passed through algd", in, frames)
	}
	if n := rtspMetric(t, tp, "algd_rtsp_streams_by_path_total", `path="kernel"`); n != 2 {
		t.Errorf("%d streams on the kernel path, want 2", n)
	}
	if n := rtspMetric(t, tp, "algd_rtsp_media_packets_total", `direction="down"`); n < int64(frames) {
		t.Errorf("%d packets down (conntrack) for %d frames", n, frames)
	}
}

// startKernelListener runs algd in the director with one kernel-path
// [[rtsp]] listener on the IPv4 VIP in front of rs, with the media
// ranges given (client side, backend side), and the admin listener;
// it returns the listener's address.
func startKernelListener(t *testing.T, tp *topology, rs netip.AddrPort, mediaFirst, mediaLast, backFirst, backLast uint16) netip.AddrPort {
	t.Helper()
	ctrl := netip.AddrPortFrom(vip, rtspKernelPort)
	cfg := fmt.Sprintf(`[log]
format = "json"

[admin]
listen = %q

[[pool]]
name = "media"
scheduler = "rr"
health = { kind = "none" }
realservers = [{ address = %q }]

[[rtsp]]
name = "kernel"
listen = [%q]
pool = "media"
media_ports = "%d-%d"
backend_source = %q
backend_media_ports = "%d-%d"
data_path = "kernel"
`, rtspAdmin, rs, ctrl.String(), mediaFirst, mediaLast, directorR, backFirst, backLast)
	algdrun.StartTOML(t, algdBin, cfg, []netip.AddrPort{ctrl}, algdrun.Options{Wrap: nsWrap(tp.director), Ready: rtspReady(tp.client)})
	return ctrl
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
