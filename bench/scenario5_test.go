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
	"strconv"
	"strings"
	"testing"
	"time"

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

// algdRTSPConfig renders an algd.toml with one RTSP listener on rtpVIP in
// front of the fake realserver.
func algdRTSPConfig() string {
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
`, netip.AddrPortFrom(rtpSink, rtspPort), netip.AddrPortFrom(rtpVIP, rtspPort),
		frontFirst, frontFirst+2*maxStreams-1, rtpVIP, backFirst, backFirst+2*maxStreams-1)
}

// pinned prefixes argv with taskset so that it runs on core cpu, when the
// machine has more than one.
func pinned(cpu int, argv ...string) []string {
	if runtime.NumCPU() < 2 {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

// fakeRTSPServer answers every request 200; a SETUP of .../trackID=i gets
// server_port sinkFirst+2i and its own session.
func fakeRTSPServer(t *testing.T) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(rtpSink, rtspPort).String())
	if err != nil {
		t.Fatal(err)
	}
	fakeftpd.ServeFunc(t, ln, serveRTSP)
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

// setupStreams does SETUP for stream 0..n-1 through algd on one control
// connection from rtpSrc and returns the VIP's RTP port of each. The
// connection stays open until the test ends.
func setupStreams(t *testing.T, n int) []netip.AddrPort {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(rtpSrc, 0))}
	vip := netip.AddrPortFrom(rtpVIP, rtspPort)
	c, err := d.DialContext(ctx, "tcp", vip.String())
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
		out = append(out, netip.AddrPortFrom(rtpVIP, rtp))
	}
	c.SetDeadline(time.Time{})
	return out
}

// waitTCP waits until something accepts on ap.
func waitTCP(t *testing.T, p *algdrun.Proc, ap netip.AddrPort) {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p.Alive(t)
		if c, err := net.DialTimeout("tcp", ap.String(), time.Second); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("%s: nothing accepts on %s\n%s", p.Name(), ap, p.Tail(50))
}

// scenario5 relays RTP through algd and through the naive relay, both
// pinned to core 1 with the load on core 0, alternating per round. The
// load is offered at -rtp-rate, above what either relay moves on one core
// here, but paced: a flood without pacing starves the sinks, which share
// core 0 with the sender, and measures them instead of the relay.
func (e *env) scenario5(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "algd-rtsp.toml")
	if err := os.WriteFile(cfg, []byte(algdRTSPConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	fakeRTSPServer(t)
	algd := algdrun.Run(t, "algd-rtsp", pinned(1, e.algd, "run", "-c", cfg))
	waitTCP(t, algd, netip.AddrPortFrom(rtpVIP, rtspPort))
	algdPorts := setupStreams(t, maxStreams)

	naive := algdrun.Run(t, "naiverelay", pinned(1, e.naive, "-listen", rtpNaive.String(),
		"-front", strconv.Itoa(frontFirst), "-back", strconv.Itoa(backFirst),
		"-peer", rtpSrc.String(), "-peer-port", strconv.Itoa(srcFirst),
		"-to", rtpSink.String(), "-to-port", strconv.Itoa(sinkFirst), "-streams", strconv.Itoa(maxStreams)))
	var naivePorts []netip.AddrPort
	for i := range maxStreams {
		naivePorts = append(naivePorts, netip.AddrPortFrom(rtpNaive, uint16(frontFirst+2*i)))
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(naive.Tail(50), "ready"); time.Sleep(20 * time.Millisecond) {
		naive.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("naiverelay not ready\n%s", naive.Tail(50))
		}
	}

	relays := []struct {
		name  string
		p     *algdrun.Proc
		ports []netip.AddrPort
	}{{"algd", algd, algdPorts}, {"naive", naive, naivePorts}}
	for round := range *flagRounds {
		for _, n := range streamSteps {
			for _, r := range relays {
				l := e.udpload(t, r.p, r.ports[:n])
				r.p.Alive(t)
				m := fmt.Sprintf("%d streams", n)
				e.results.add("5", m+": kpkt/s", r.name, l.pkts/l.secs/1000)
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

// load is one udpload run: in its window, the packets that arrived and
// were sent, its length, the relay's CPU seconds and the busy fraction of
// the relay's core.
type load struct {
	pkts, sent, secs, cpu, busy float64
}

// udpload runs the generator and sinks against ports, the load pinned to
// core 0.
func (e *env) udpload(t *testing.T, relay *algdrun.Proc, ports []netip.AddrPort) load {
	dst := make([]string, len(ports))
	for i, p := range ports {
		dst[i] = p.String()
	}
	argv := pinned(0, e.udpgen, "-src", rtpSrc.String(), "-src-port", strconv.Itoa(srcFirst),
		"-sink", rtpSink.String(), "-sink-port", strconv.Itoa(sinkFirst), "-dst", strings.Join(dst, ","),
		"-duration", flagRTPDur.String(), "-cpu-pid", strconv.Itoa(relay.PID()), "-rate", strconv.Itoa(*flagRTPRate))
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
