// Package rtsptests runs algd's RTSP gateway in process between real
// gortsplib servers (the realservers) and gortsplib clients, on distinct
// loopback addresses: client 127.0.0.5, VIP 127.0.0.10, realservers
// 127.0.0.41 and 127.0.0.42. UDP tests force UDP (gortsplib falls back to
// TCP silently otherwise) and assert the relay's own packet counters.
package rtsptests

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
	"github.com/algd/algd/tests/inproc"
	"github.com/algd/algd/tests/rtspsource"
)

var (
	clientIP = netip.MustParseAddr("127.0.0.5")
	vipIP    = netip.MustParseAddr("127.0.0.10")
)

// Media ranges: VIP side 63400-63499, backend side 63500-63599; the
// realservers' own UDP ports 63610+ (outside the kernel's ephemeral range
// and the FTP tests' ranges).
const (
	mediaFirst, mediaLast     = 63400, 63499
	backendFirst, backendLast = 63500, 63599
)

// gateway is algd (internal/daemon, wired as production wires it) with
// one [[rtsp]] listener "test" on the VIP in front of pool "media"; its
// counters are read in status_test.go.
type gateway struct {
	addr netip.AddrPort
	d    *daemon.Daemon
}

// gatewayOpts tune startGateway.
type gatewayOpts struct {
	mediaLast uint16 // the media range's last port; default mediaLast
	scheduler string // default "rr"
	// pool, when set, edits the pool's configuration (more members,
	// media_sources) before algd starts.
	pool func(*conf.Pool)
	// logs, when set, also receives algd's log lines.
	logs io.Writer
}

// startGateway runs algd on the VIP in front of backends until the test
// ends; then every media pair must be free.
func startGateway(t *testing.T, o gatewayOpts, backends ...*rtspsource.Server) *gateway {
	t.Helper()
	if o.mediaLast == 0 {
		o.mediaLast = mediaLast
	}
	pc := mediaPool(o.scheduler, backends...)
	if o.pool != nil {
		o.pool(&pc)
	}
	gw := &gateway{addr: inproc.FreePort(t, vipIP.String())}
	cfg := &conf.Config{
		Pools: []conf.Pool{pc},
		RTSP: []conf.RTSP{{Name: "test", ListenAddrs: []netip.AddrPort{gw.addr}, Pool: pc.Name,
			AdvertiseAddr: vipIP, Media: conf.PortRange{First: mediaFirst, Last: o.mediaLast},
			BackendSourceAddr: vipIP, BackendMedia: conf.PortRange{First: backendFirst, Last: backendLast}}},
		Limits: testLimits,
	}
	t.Cleanup(func() { gw.checkPairsFree(t) }) // after algd stopped
	gw.d = inproc.Start(t, cfg, daemon.Options{Logger: testLogger(o.logs)})
	return gw
}

// testLimits are the [limits] of every gateway: 100 sessions, 20 a
// client.
var testLimits = conf.Limits{MaxSessions: 100, MaxSessionsPerClient: 20, MaxLineBytes: 4096,
	ControlIdleTimeout:    conf.Duration{Duration: time.Minute},
	BackendConnectTimeout: conf.Duration{Duration: 5 * time.Second}}

// mediaPool is pool "media" of backends, unchecked, scheduled by
// scheduler (default "rr").
func mediaPool(scheduler string, backends ...*rtspsource.Server) conf.Pool {
	if scheduler == "" {
		scheduler = "rr"
	}
	pc := conf.Pool{Name: "media", Scheduler: scheduler, Health: conf.Health{Kind: "none"}}
	for _, b := range backends {
		pc.Realservers = append(pc.Realservers, conf.Realserver{AddrPort: b.Addr()})
	}
	return pc
}

// testLogger writes to stderr (debug lines with -v) and to logs when set.
func testLogger(logs io.Writer) *slog.Logger {
	lvl := slog.LevelInfo
	if testing.Verbose() {
		lvl = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if logs != nil {
		w = io.MultiWriter(os.Stderr, logs)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// transports are the two ways a client gets the media: UDP forced (mode
// "udp" in /status) and interleaved on the control connection.
var transports = []struct {
	name, mode string
	proto      gortsplib.Protocol
}{
	{"udp", "udp", gortsplib.ProtocolUDP},
	{"tcp interleaved", "interleaved", gortsplib.ProtocolTCP},
}

// newClient returns a gortsplib client on 127.0.0.5 (control and media)
// for host, with the transport forced.
func newClient(host netip.AddrPort, proto gortsplib.Protocol) *gortsplib.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}}
	return &gortsplib.Client{
		Scheme:      "rtsp",
		Host:        host.String(),
		Protocol:    &proto,
		DialContext: d.DialContext,
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			_, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.ListenPacket(network, net.JoinHostPort(clientIP.String(), port))
		},
		ReadTimeout: 5 * time.Second,
	}
}

// dialClient opens a TCP connection from the client address to addr (5 s
// at most); the caller closes it.
func dialClient(t *testing.T, addr netip.AddrPort) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawRequest sends one request on a new connection from the client
// address and returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialClient(t, netip.MustParseAddrPort(addr))
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return strings.TrimSpace(line)
}

// rawRTSP sends one hostile request from the client address and returns
// the status line of the answer ("" if the connection was closed without
// one), then checks that the connection is closed.
func rawRTSP(t *testing.T, addr netip.AddrPort, req string) string {
	t.Helper()
	c := dialClient(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write([]byte(req)) // may be cut short by the gateway's close
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	for {
		if _, err := br.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open 10 s after %.40q", req)
			}
			break
		}
	}
	return strings.TrimSpace(status)
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
