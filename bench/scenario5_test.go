//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/bench/netns"
	"github.com/algd/algd/rtsp"
	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/fakeftpd"
)

// Scenario 5 plan, on 127.77.0.0/24 outside the kernel's ephemeral range:
// the generator sends from rtpSrc, algd (or the naive relay) relays from
// its client-side ports to the realserver's server ports on rtpSink.
var (
	rtpVIP      = netip.MustParseAddr("127.77.0.50") // algd: control, both media ranges
	rtpSrc      = netip.MustParseAddr("127.77.0.51") // generator, ports 61400-61799
	rtpSink     = netip.MustParseAddr("127.77.0.52") // realserver: RTSP, sinks 61000-61399
	rtpNaive    = netip.MustParseAddr("127.77.0.54") // naive relay, same ports as algd
	rtspPort    = uint16(8554)
	sinkFirst   = 61000
	srcFirst    = 61400
	frontFirst  = 61800
	backFirst   = 62200
	maxStreams  = 200
	streamSteps = []int{1, 4, 200}
)

// rtspSide is where one RTSP listener of algd sits and what it relays
// to: its VIP (control and client-side media ports), the realserver, the
// address and first port of the media towards the realserver, and its
// data path.
type rtspSide struct {
	vip, real, source netip.Addr
	back              int
	dp                dataPath
}

// algdRTSPConfig renders an algd.toml with one RTSP listener in front of
// the fake realserver.
func algdRTSPConfig(r rtspSide) string {
	return fmt.Sprintf(`[limits]
max_sessions = 9000
max_sessions_per_client = 9000
max_data_ports_per_client = 9000
max_media_pairs_per_client = 9000

[[pool]]
name = "rtsp"
scheduler = "rr"
health = { kind = "none" }
realservers = [ { address = %q } ]

[[rtsp]]
name = "bench"
listen = [%q]
pool = "rtsp"
media_ports = "%d-%d"
backend_source = %q
backend_media_ports = "%d-%d"
session_timeout = "1h"
%s%s`, netip.AddrPortFrom(r.real, rtspPort), netip.AddrPortFrom(r.vip, rtspPort),
		frontFirst, frontFirst+2*maxStreams-1, r.source, r.back, r.back+2*maxStreams-1, r.dp.listener(), r.dp.kernel())
}

// pinned prefixes argv with taskset so that it runs on core cpu, when the
// machine has more than one.
func pinned(cpu int, argv ...string) []string {
	if runtime.NumCPU() < 2 {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

// fakeRTSPServer answers every request 200 on addr:rtspPort, in
// namespace ns when it is not ""; a SETUP of .../trackID=i gets
// server_port sinkFirst+2i and its own session.
func fakeRTSPServer(t *testing.T, addr netip.Addr, ns string) {
	var ln net.Listener
	err := inNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, rtspPort).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fakeftpd.ServeFunc(t, ln, serveRTSP)
}

// inNS runs fn in namespace ns (bench/netns), or here when ns is "".
func inNS(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	return netns.Do(ns, fn)
}

func serveRTSP(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			lines = append(lines, l)
		}
		if len(lines) == 0 {
			continue
		}
		var cseq, transport string
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "cseq":
				cseq = strings.TrimSpace(v)
			case "transport":
				transport = strings.TrimSpace(v)
			}
		}
		resp := "RTSP/1.0 200 OK\r\nCSeq: " + cseq + "\r\n"
		if f := strings.Fields(lines[0]); len(f) >= 2 && f[0] == "SETUP" {
			_, track, _ := strings.Cut(f[1], "trackID=")
			i, _ := strconv.Atoi(track)
			resp += fmt.Sprintf("Transport: %s;server_port=%d-%d\r\nSession: bench%d;timeout=3600\r\n", transport, sinkFirst+2*i, sinkFirst+2*i+1, i)
		}
		if _, err := c.Write([]byte(resp + "\r\n")); err != nil {
			return
		}
	}
}

// setupStreams does SETUP for stream 0..n-1 through algd at vip on one
// control connection from src (in namespace ns when it is not "") and
// returns the VIP's RTP port of each. The connection stays open until
// the test ends.
func setupStreams(t *testing.T, src, vipAddr netip.Addr, ns string, n int) []netip.AddrPort {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	vip := netip.AddrPortFrom(vipAddr, rtspPort)
	var c net.Conn
	err := inNS(ns, func() (err error) {
		c, err = d.DialContext(ctx, "tcp", vip.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	var out []netip.AddrPort
	for i := range n {
		req := fmt.Sprintf("SETUP rtsp://%s/bench/trackID=%d RTSP/1.0\r\nCSeq: %d\r\nTransport: RTP/AVP;unicast;client_port=%d-%d\r\n\r\n",
			vip, i, i+1, srcFirst+2*i, srcFirst+2*i+1)
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		var tr string
		status := ""
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("SETUP %d: %v", i, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			if status == "" {
				status = l
			}
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "transport") {
				tr = strings.TrimSpace(v)
			}
		}
		var tp rtsp.Transport
		if err := tp.Unmarshal(tr); err != nil || len(tp.Specs) == 0 {
			t.Fatalf("SETUP %d: %q, transport %q: %v", i, status, tr, err)
		}
		rtp, _, ok := tp.Specs[0].Ports("server_port")
		if !ok {
			t.Fatalf("SETUP %d: no server_port in %q", i, tr)
		}
		out = append(out, netip.AddrPortFrom(vipAddr, rtp))
	}
	c.SetDeadline(time.Time{})
	return out
}

// acceptsTCP waits up to 15 s until something accepts on ap, dialling
// from namespace ns when it is not "", while p runs.
func acceptsTCP(p *algdrun.Proc, ap netip.AddrPort, ns string) error {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p.Exited() {
			break
		}
		err := inNS(ns, func() error {
			c, err := net.DialTimeout("tcp", ap.String(), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return nil
		}
	}
	if p.Exited() {
		return fmt.Errorf("%s exited: %s", p.Name(), strings.TrimSpace(p.Tail(3)))
	}
	return fmt.Errorf("%s: nothing accepts on %s; its log ends:\n%s", p.Name(), ap, p.Tail(5))
}

// relay is one contender of scenario 5: the relaying process, the VIP
// port of each stream, and where the load runs: the generator's address
// and namespace, the sinks' address and namespace ("" for loopback, the
// test's own namespace).
type relay struct {
	name          string
	p             *algdrun.Proc
	ports         []netip.AddrPort
	src, sink     netip.Addr
	srcNS, sinkNS string
}

// scenario5 relays RTP through algd and through the naive relay, both
// pinned to core 1 with the load on core 0, alternating per round: on
// loopback (algd, naive) and in the namespace topology (algd-kernel,
// algd-ns, naive-ns: relays in the director, generator in the client,
// sinks and RTSP server in the realserver). The load is offered at
// -rtp-rate, above what either relay moves on one core here, but paced: a
// flood without pacing starves the sinks, which share core 0 with the
// sender, and measures them instead of the relay.
func (e *env) scenario5(t *testing.T) {
	relays := append(e.loopbackRelays(t), e.nsRelays(t)...)
	relays = slices.DeleteFunc(relays, func(r relay) bool { return !measured(r.name) })
	for round := range *flagRounds {
		for _, n := range streamSteps {
			for _, r := range relays {
				l := e.udpload(t, r, n)
				r.p.Alive(t)
				m := fmt.Sprintf("%d streams", n)
				e.results.add("5", m+": kpkt/s", r.name, l.pkts/l.secs/1000)
				e.results.add("5", m+": kpkt/s offered", r.name, l.sent/l.secs/1000)
				if l.pkts > 0 {
					e.results.add("5", m+": relay CPU µs/pkt", r.name, l.cpu/l.pkts*1e6)
				}
				e.results.add("5", m+": core 1 busy %", r.name, 100*l.busy)
				t.Logf("round %d %s %d streams: %.0f pkt/s of %.0f offered, %.2f CPU s, core 1 %.0f%% busy",
					round+1, r.name, n, l.pkts/l.secs, l.sent/l.secs, l.cpu, 100*l.busy)
			}
		}
	}
}

// loopbackRelays starts scenario 5 on loopback: the fake realserver, algd
// on the proxy path and the naive relay.
func (e *env) loopbackRelays(t *testing.T) []relay {
	fakeRTSPServer(t, rtpSink, "")
	algd, err := e.startRTSP(t, "algd-rtsp", rtspSide{vip: rtpVIP, real: rtpSink, source: rtpVIP, back: backFirst, dp: e.proxyPath}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	naive := e.startNaive(t, "naiverelay", rtpNaive, rtpSrc, rtpSink, nil)
	return []relay{
		{name: "algd", p: algd, ports: setupStreams(t, rtpSrc, rtpVIP, "", maxStreams), src: rtpSrc, sink: rtpSink},
		{name: "naive", p: naive, ports: relayPorts(rtpNaive), src: rtpSrc, sink: rtpSink},
	}
}

// nsRelays starts scenario 5 in the namespace topology: the fake
// realserver in the realserver namespace, and in the director algd on the
// kernel data path (when this algd has it), algd on the proxy path and
// the naive relay. An algd-kernel that does not start is left out, with
// the reason in the report.
func (e *env) nsRelays(t *testing.T) []relay {
	tp := e.topology(t)
	if *flagRTPNSRPS && runtime.NumCPU() >= 2 {
		// Core 1 is the director, core 0 the client and realserver: the
		// packets the director receives are processed on core 1 (receive
		// packet steering), with the relays pinned there; those the
		// realserver receives on core 0. Without it a veth hands a packet
		// to the next namespace on the sending core, as loopback does:
		// the kernel path forwards on the load's core, and a relay's
		// datagrams reach its socket there.
		setRPS(t, tp.director, "d0", 1)
		setRPS(t, tp.real, "r0", 0)
	}
	fakeRTSPServer(t, nsReal, tp.real)
	at := func(name string, p *algdrun.Proc, ports []netip.AddrPort) relay {
		return relay{name: name, p: p, ports: ports, src: nsClientIP, sink: nsReal, srcNS: tp.client, sinkNS: tp.real}
	}
	var out []relay
	for _, a := range []struct {
		name string
		side rtspSide
	}{
		{"algd-kernel", rtspSide{vip: nsKernel, real: nsReal, source: nsDirR, back: backFirst, dp: dataPath{mode: "kernel", table: "algdbench_rtsp"}}},
		{"algd-ns", rtspSide{vip: nsProxy, real: nsReal, source: nsDirR, back: backFirst + 2*maxStreams, dp: e.proxyPath}},
	} {
		if a.side.dp.mode == "kernel" && !e.kernelOK {
			continue
		}
		p, err := e.startRTSP(t, a.name+"-rtsp", a.side, wrap(tp.director), tp.client)
		if err != nil {
			t.Logf("scenario 5 %s skipped: %v", a.name, err)
			e.skipped["scenario 5 "+a.name] = err.Error()
			continue
		}
		out = append(out, at(a.name, p, setupStreams(t, nsClientIP, a.side.vip, tp.client, maxStreams)))
	}
	naive := e.startNaive(t, "naiverelay-ns", nsNaive, nsClientIP, nsReal, wrap(tp.director))
	return append(out, at("naive-ns", naive, relayPorts(nsNaive)))
}

// setRPS steers the packets that dev in namespace ns receives to core
// cpu (receive packet steering, rps_cpus of its one queue).
func setRPS(t *testing.T, ns, dev string, cpu int) {
	f := "/sys/class/net/" + dev + "/queues/rx-0/rps_cpus"
	run(t, append(wrap(ns), "sh", "-c", fmt.Sprintf("echo %x > %s", 1<<cpu, f))...)
}

// startRTSP runs algd on core 1 with one RTSP listener (side), in the
// namespace of wrap, and waits until its VIP accepts from namespace from.
func (e *env) startRTSP(t *testing.T, name string, side rtspSide, wrap []string, from string) (*algdrun.Proc, error) {
	cfg := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(cfg, []byte(algdRTSPConfig(side)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := algdrun.Run(t, name, append(append([]string(nil), wrap...), pinned(1, e.algd, "run", "-c", cfg)...))
	if err := acceptsTCP(p, netip.AddrPortFrom(side.vip, rtspPort), from); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// startNaive runs bench/cmd/naiverelay on core 1, in the namespace of
// wrap: streams from src to sink through addr, with the port layout of
// algd's listener.
func (e *env) startNaive(t *testing.T, name string, addr, src, sink netip.Addr, wrap []string) *algdrun.Proc {
	naive := algdrun.Run(t, name, append(append([]string(nil), wrap...), pinned(1, e.naive, "-listen", addr.String(),
		"-front", strconv.Itoa(frontFirst), "-back", strconv.Itoa(backFirst),
		"-peer", src.String(), "-peer-port", strconv.Itoa(srcFirst),
		"-to", sink.String(), "-to-port", strconv.Itoa(sinkFirst), "-streams", strconv.Itoa(maxStreams))...))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(naive.Tail(50), "ready"); time.Sleep(20 * time.Millisecond) {
		naive.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready\n%s", name, naive.Tail(50))
		}
	}
	return naive
}

// relayPorts returns the naive relay's client-side RTP ports on addr.
func relayPorts(addr netip.Addr) []netip.AddrPort {
	var ports []netip.AddrPort
	for i := range maxStreams {
		ports = append(ports, netip.AddrPortFrom(addr, uint16(frontFirst+2*i)))
	}
	return ports
}

// load is one udpload run: in its window, the packets that arrived and
// were sent, its length, the relay's CPU seconds and the busy fraction of
// the relay's core.
type load struct {
	pkts, sent, secs, cpu, busy float64
}

// udpload runs the generator and sinks against the first n streams of
// r, the load pinned to core 0.
func (e *env) udpload(t *testing.T, r relay, n int) load {
	dst := make([]string, n)
	for i, p := range r.ports[:n] {
		dst[i] = p.String()
	}
	var argv []string
	if r.srcNS != "" {
		argv = wrap(r.srcNS)
	}
	argv = append(argv, pinned(0, e.udpgen, "-src", r.src.String(), "-src-port", strconv.Itoa(srcFirst),
		"-sink", r.sink.String(), "-sink-port", strconv.Itoa(sinkFirst), "-sink-netns", r.sinkNS, "-dst", strings.Join(dst, ","),
		"-duration", flagRTPDur.String(), "-cpu-pid", strconv.Itoa(r.p.PID()), "-rate", strconv.Itoa(*flagRTPRate),
		"-gso="+strconv.FormatBool(r.srcNS == "" || *flagRTPNSGSO))...)
	out, err := exec.CommandContext(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("udpload: %v\n%s", err, out)
	}
	var l load
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "pkts=%g secs=%g sent=%g cpu=%g busy=%g", &l.pkts, &l.secs, &l.sent, &l.cpu, &l.busy); err != nil {
		t.Fatalf("udpload output %q: %v", out, err)
	}
	return l
}
