package rtsptests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
	"github.com/algd/algd/tests/rtspsource"
)

// rawConn is a control connection from the client address that the test
// writes by hand, reading answers with algd's own codec.
type rawConn struct {
	c    net.Conn
	r    *rtsp.Reader
	cseq int
}

func dialRaw(t *testing.T, addr netip.AddrPort) *rawConn {
	t.Helper()
	c := dialClient(t, addr)
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: rtsp.NewReader(c, 0)}
}

// do sends method for u with the given extra header lines and returns
// the answer.
func (rc *rawConn) do(t *testing.T, method, u string, headers ...string) *rtsp.Message {
	t.Helper()
	rc.cseq++
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, u, rc.cseq)
	for _, h := range headers {
		req += h + "\r\n"
	}
	rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Write([]byte(req + "\r\n")); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	for {
		m, _, err := rc.r.Read()
		if err != nil {
			t.Fatalf("answer to %s: %v", method, err)
		}
		if m != nil && !m.IsRequest() {
			return m
		}
	}
}

// closed reports whether the other side closes the connection within d.
func (rc *rawConn) closed(d time.Duration) error {
	rc.c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, _, err := rc.r.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// udpClient is a raw client's RTP and RTCP sockets on the client address,
// counting the intact RTP packets that arrive.
type udpClient struct {
	rtp, rtcp *net.UDPConn
	got       atomic.Int64
}

// listenUDPClient binds port and port+1 on the client address until the
// test ends.
func listenUDPClient(t *testing.T, port int) *udpClient {
	t.Helper()
	u := &udpClient{}
	var err error
	if u.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: clientIP.AsSlice(), Port: port}); err != nil {
		t.Fatal(err)
	}
	if u.rtcp, err = net.ListenUDP("udp", &net.UDPAddr{IP: clientIP.AsSlice(), Port: port + 1}); err != nil {
		u.rtp.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { u.rtp.Close(); u.rtcp.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, err := u.rtp.Read(buf)
			if err != nil {
				return
			}
			if n > 12 && rtspsource.CheckPayload(buf[12:n]) {
				u.got.Add(1)
			}
		}
	})
	return u
}

// receiverReport is an empty RTCP receiver report (RFC 3550 §6.4.2) of
// SSRC 1, what a playing client sends now and then.
var receiverReport = []byte{0x80, 201, 0, 1, 0, 0, 0, 1}

// setup sets up "/stream" over rc for the UDP client on port (and
// port+1) and returns the session id and the VIP's RTP port.
func (rc *rawConn) setup(t *testing.T, u string, port int) (id string, vipRTP uint16) {
	t.Helper()
	m := rc.do(t, "SETUP", u+"/trackID=0", fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d", port, port+1))
	sv, _ := m.Get("Session")
	id, _, _ = strings.Cut(sv, ";")
	tr, _ := m.Get("Transport")
	_, ports, _ := strings.Cut(tr, "server_port=")
	rtp, _, _ := strings.Cut(ports, "-")
	n, err := strconv.ParseUint(rtp, 10, 16)
	if m.Status != 200 || id == "" || err != nil {
		t.Fatalf("SETUP answered %d, Session %q, Transport %q", m.Status, sv, tr)
	}
	return id, uint16(n)
}

// TestRegistryShowsPlayers: with a Registry, a control connection that
// plays is listed with its client, realserver, transport and growing
// byte count, and leaves the list when the client tears down.
func TestRegistryShowsPlayers(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.41", 63800)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, gatewayOpts{}, rs)
			before := time.Now()
			c := newClient(gw.addr, tc.proto)
			p, err := play(t, c, "rtsp://"+gw.addr.String()+"/stream")
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			if !waitFor(5*time.Second, func() bool { return p.good.Load() >= 20 }) {
				t.Fatalf("got %d packets", p.good.Load())
			}
			live := gw.live()
			if len(live) != 1 {
				t.Fatalf("%d sessions listed, want 1: %+v", len(live), live)
			}
			in := live[0]
			if in.ID != "test-1" || in.Proto != "rtsp" || in.Listener != "test" || in.TLS {
				t.Errorf("id %q, proto %q, listener %q, tls %v: want test-1, rtsp, test, false", in.ID, in.Proto, in.Listener, in.TLS)
			}
			if in.Client.Addr() != clientIP || in.Realserver != rs.Addr() {
				t.Errorf("client %s, realserver %s: want %s, %s", in.Client, in.Realserver, clientIP, rs.Addr())
			}
			if in.Mode != tc.mode || !in.Transferring || in.Transfers != 1 {
				t.Errorf("mode %q, transferring %v, transfers %d: want %q, true, 1", in.Mode, in.Transferring, in.Transfers, tc.mode)
			}
			if in.Started.Before(before) || in.Started.After(time.Now()) {
				t.Errorf("started %v, not during the test", in.Started)
			}
			if in.BytesDown < 20*200 {
				t.Errorf("bytes down %d after 20 packets of 200 bytes", in.BytesDown)
			}
			if !waitFor(5*time.Second, func() bool {
				l := gw.live()
				return len(l) == 1 && l[0].BytesDown >= in.BytesDown+20*200
			}) {
				t.Errorf("bytes down do not grow past %d: %+v", in.BytesDown, gw.live())
			}
			c.Close()
			if !waitFor(5*time.Second, func() bool { return len(gw.live()) == 0 }) {
				t.Errorf("after the client left: %+v", gw.live())
			}
		})
	}
}

// TestDrainWaitsForStreams: a drain closes an idle control connection at
// once, lets one whose session plays go on, and closes it once a
// TEARDOWN (over another connection) ended the stream.
func TestDrainWaitsForStreams(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.41", 63810)
	reg := alg.NewRegistry()
	gw := startHandGateway(t, reg, rs)
	u := "rtsp://" + gw.addr.String() + "/stream"
	idle := dialRaw(t, gw.addr)
	if m := idle.do(t, "OPTIONS", u); m.Status != 200 {
		t.Fatalf("OPTIONS answered %d", m.Status)
	}
	c := newClient(gw.addr, gortsplib.ProtocolUDP)
	p, err := play(t, c, u)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return p.good.Load() >= 20 }) {
		t.Fatalf("got %d packets", p.good.Load())
	}
	if reg.Len() != 2 {
		t.Fatalf("%d sessions before the drain, want 2", reg.Len())
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()

	reg.Drain()
	if err := idle.closed(5 * time.Second); err != nil {
		t.Fatalf("idle control connection not closed by the drain: %v", err)
	}
	before := p.good.Load()
	if !waitFor(5*time.Second, func() bool { return p.good.Load() >= before+40 }) {
		t.Errorf("the stream stopped in the drain: %d packets, then %d", before, p.good.Load())
	}
	if l := reg.Sessions(); len(l) != 1 || !l[0].Transferring {
		t.Errorf("while the stream plays: %+v, want the player's connection, transferring", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := reg.Wait(ctx); err == nil {
		t.Errorf("Wait returned while a stream played")
	}
	cancel()
	select {
	case err := <-ended:
		t.Fatalf("the player's control connection ended while it played: %v", err)
	default:
	}

	if got := rawRequest(t, gw.addr.String(), fmt.Sprintf("TEARDOWN %s RTSP/1.0\r\nCSeq: 1\r\nSession: %s\r\n\r\n", u, p.id())); got != "RTSP/1.0 200 OK" {
		t.Fatalf("TEARDOWN: %q", got)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Wait(ctx); err != nil {
		t.Fatalf("drain after TEARDOWN: %v; left %+v", err, reg.Sessions())
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Errorf("the player's client ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the player's control connection stayed open")
	}
	if n := gw.h.MediaSessions(); n != 0 {
		t.Errorf("%d media sessions after the drain", n)
	}
}

// TestDetachedMediaKeepsDrainWaiting: a session set up and played over a
// control connection that then closed goes on relaying; it is listed on
// its own, under that connection's id, and a drain waits for it until
// its timeout (1 s, from the realserver's Session header) ends it, which
// datagrams from the client put off meanwhile.
func TestDetachedMediaKeepsDrainWaiting(t *testing.T) {
	rs := rtspsource.StartOpts(t, rtspsource.Options{IP: "127.0.0.41", UDPPort: 63820, Idle: 2 * time.Second})
	gw := startGateway(t, gatewayOpts{}, rs)
	uc := listenUDPClient(t, 63900)
	u := "rtsp://" + gw.addr.String() + "/stream"
	rc := dialRaw(t, gw.addr)
	id, vipRTP := rc.setup(t, u, 63900)
	if m := rc.do(t, "PLAY", u, "Session: "+id); m.Status != 200 {
		t.Fatalf("PLAY answered %d", m.Status)
	}
	if !waitFor(5*time.Second, func() bool { return uc.got.Load() >= 20 }) {
		t.Fatalf("got %d packets", uc.got.Load())
	}
	conn := gw.live()
	if len(conn) != 1 {
		t.Fatalf("%d sessions, want 1", len(conn))
	}
	rc.c.Close()
	if !waitFor(5*time.Second, func() bool { return gw.counter(t, "active") == 0 }) {
		t.Fatalf("control connection still open")
	}
	l := gw.live()
	if len(l) != 1 || l[0].ID != conn[0].ID || l[0].Mode != "udp" || !l[0].Transferring ||
		l[0].Realserver != rs.Addr() || l[0].Client.Addr() != clientIP || l[0].Transfers != 1 {
		t.Fatalf("after the control connection closed: %+v, want the media session as %s", l, conn[0].ID)
	}

	// The drain (which also stops accepting) runs while the client
	// keeps the session alive.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	drained := make(chan bool, 1)
	go func() { drained <- gw.d.Drain(ctx) }()
	vipRTCP := netip.AddrPortFrom(vipIP, vipRTP+1)
	before := uc.got.Load()
	for range 15 { // 1.5 s of receiver reports: longer than the timeout
		uc.rtcp.WriteToUDPAddrPort(receiverReport, vipRTCP)
		time.Sleep(100 * time.Millisecond)
	}
	if uc.got.Load() <= before {
		t.Errorf("no media relayed without control connection")
	}
	if n, m := len(gw.live()), gw.counter(t, "media_sessions"); n != 1 || m != 1 {
		t.Fatalf("while the client sent: %d registered, %d media sessions, want 1 and 1", n, m)
	}
	if !<-drained {
		t.Fatalf("drain: not done in time; left %+v", gw.live())
	}
	if n := gw.counter(t, "media_sessions"); n != 0 {
		t.Errorf("registry empty with %d media sessions left", n)
	}
	if in := gw.pairsInUse(t, "media"); in != 0 {
		t.Errorf("registry empty with %d media pairs in use", in)
	}
}

// generations is a listener whose handler a reload replaces: new
// connections go to the current one. It counts what each served.
type generations struct {
	cur    atomic.Pointer[rtsp.Handler]
	mu     sync.Mutex
	served map[*rtsp.Handler]int
}

func (g *generations) Serve(ctx context.Context, c *net.TCPConn) {
	h := g.cur.Load()
	g.mu.Lock()
	g.served[h]++
	g.mu.Unlock()
	h.Serve(ctx, c)
}

func (g *generations) count(h *rtsp.Handler) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.served[h]
}

// TestGenerations: two handlers of one listener share the media table,
// the counters, the port ranges and the registry, as a reload makes them, each with its
// own pool of two realservers scheduled round robin. A session set up
// and played through the first, whose connection then closed, is found
// through the second on new connections (any other realserver would
// answer 454), played again and torn down there, while
// the ranges moved: new streams get pairs of the new range and the
// first's keep theirs.
func TestGenerations(t *testing.T) {
	rs1 := rtspsource.Start(t, "127.0.0.41", 63830)
	rs2 := rtspsource.Start(t, "127.0.0.42", 63840)
	media := rtsp.NewMedia()
	o := handOpts{registry: alg.NewRegistry(), media: media, stats: &rtsp.Stats{},
		mediaPorts: alg.NewUDPPorts(mediaFirst, mediaLast), backendPorts: alg.NewUDPPorts(backendFirst, backendLast)}
	h1 := handHandler(o, rs1, rs2)
	h2 := handHandler(o, rs1, rs2)
	g := &generations{served: make(map[*rtsp.Handler]int)}
	g.cur.Store(h1)
	addr := serveGateway(t, g, h1.Logger, func() {
		media.Close()
		checkPairsFree(t, o.mediaPorts, o.backendPorts)
	})
	u := "rtsp://" + addr.String() + "/stream"
	uc := listenUDPClient(t, 63902)
	first := dialRaw(t, addr)
	id, vipRTP := first.setup(t, u, 63902)
	// gortsplib ends a session that does not play once its connection
	// closes.
	if m := first.do(t, "PLAY", u, "Session: "+id); m.Status != 200 {
		t.Fatalf("PLAY through generation 1: %d", m.Status)
	}
	if !waitFor(5*time.Second, func() bool { return uc.got.Load() >= 20 }) {
		t.Fatalf("got %d packets through generation 1", uc.got.Load())
	}
	first.c.Close()

	// The reload: generation 2 takes new connections, the media range
	// moves to its upper half.
	g.cur.Store(h2)
	const newFirst = mediaFirst + 50
	o.mediaPorts.SetRange(newFirst, mediaLast)

	for i := range 3 {
		if got := rawRequest(t, addr.String(), fmt.Sprintf("GET_PARAMETER %s RTSP/1.0\r\nCSeq: %d\r\nSession: %s\r\n\r\n", u, i+1, id)); got != "RTSP/1.0 200 OK" {
			t.Fatalf("keepalive %d through generation 2: %q", i, got)
		}
	}
	rc := dialRaw(t, addr)
	if m := rc.do(t, "PLAY", u, "Session: "+id); m.Status != 200 {
		t.Fatalf("PLAY through generation 2: %d", m.Status)
	}
	before := uc.got.Load()
	if !waitFor(5*time.Second, func() bool { return uc.got.Load() >= before+20 }) {
		t.Fatalf("got %d packets after PLAY through generation 2, %d before", uc.got.Load(), before)
	}
	if vipRTP >= newFirst {
		t.Errorf("generation 1 gave VIP port %d, in the range of after the reload", vipRTP)
	}
	p2, err := play(t, newClient(addr, gortsplib.ProtocolUDP), u)
	if err != nil {
		t.Fatalf("play through generation 2: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return p2.good.Load() >= 20 }) {
		t.Fatalf("second client got %d packets", p2.good.Load())
	}
	tr, _ := p2.transportReply.Load().(string)
	_, ports, _ := strings.Cut(tr, "server_port=")
	port, _, _ := strings.Cut(ports, "-")
	if n, err := strconv.Atoi(port); err != nil || n < newFirst || n > mediaLast {
		t.Errorf("Transport %q through generation 2: server_port not from the new range %d-%d", tr, newFirst, mediaLast)
	}
	if media.Len() != 2 {
		t.Errorf("%d media sessions, want 2", media.Len())
	}
	ids := map[string]bool{}
	for _, in := range o.registry.Sessions() {
		ids[in.ID] = true
	}
	if len(ids) != 2 { // the raw connection and the second player
		t.Errorf("registry ids %v, want 2 distinct", ids)
	}

	if m := rc.do(t, "TEARDOWN", u, "Session: "+id); m.Status != 200 {
		t.Fatalf("TEARDOWN through generation 2: %d", m.Status)
	}
	if !waitFor(5*time.Second, func() bool { return media.Len() == 1 }) {
		t.Errorf("%d media sessions after TEARDOWN, want 1", media.Len())
	}
	if in, _, _ := o.mediaPorts.Usage(); in != 1 {
		t.Errorf("%d client-side pairs in use after TEARDOWN, want 1", in)
	}
	if g.count(h1) != 1 || g.count(h2) != 5 {
		t.Errorf("generation 1 served %d connections, generation 2 %d: want 1 and 5", g.count(h1), g.count(h2))
	}
	// One set of counters: the session set up through generation 1 and
	// torn down through generation 2 is counted once, where both count.
	c := h2.Status().Counters
	if c["sessions"] != 6 || c["streams.udp"] != 2 || c["sessions_ended"] != 1 || c["media_sessions"] != 1 {
		t.Errorf("shared counters %v: want 6 sessions, 2 udp streams, 1 ended, 1 media session", c)
	}
}

// The hand-wired gateway: an rtsp.Handler served on the VIP without the
// daemon, for what the daemon cannot show. TestGenerations builds two
// generations of one listener as a reload does; TestDrainWaitsForStreams
// drains the sessions while the listener still accepts (the daemon stops
// accepting as it drains), so a TEARDOWN can come on a new connection.

// handGateway is a hand-wired handler h served on addr.
type handGateway struct {
	h    *rtsp.Handler
	addr netip.AddrPort
}

// startHandGateway serves a handler in front of backends, with reg, on
// the VIP until the test ends; then every media pair must be free.
func startHandGateway(t *testing.T, reg *alg.Registry, backends ...*rtspsource.Server) *handGateway {
	t.Helper()
	h := handHandler(handOpts{registry: reg}, backends...)
	addr := serveGateway(t, h, h.Logger, func() {
		h.Close()
		checkPairsFree(t, h.MediaPorts, h.BackendPorts)
	})
	return &handGateway{h: h, addr: addr}
}

// handOpts are what handlers of one listener share (a reload's
// generations); a nil one is the handler's own (registry: none).
type handOpts struct {
	registry                 *alg.Registry
	media                    *rtsp.Media
	stats                    *rtsp.Stats
	mediaPorts, backendPorts *alg.UDPPorts
}

// handHandler builds the RTSP handler "test" in front of backends, with
// the gateways' limits.
func handHandler(o handOpts, backends ...*rtspsource.Server) *rtsp.Handler {
	if o.stats == nil {
		o.stats = &rtsp.Stats{}
	}
	if o.mediaPorts == nil {
		o.mediaPorts = alg.NewUDPPorts(mediaFirst, mediaLast)
	}
	if o.backendPorts == nil {
		o.backendPorts = alg.NewUDPPorts(backendFirst, backendLast)
	}
	return &rtsp.Handler{
		Name:          "test",
		Stats:         o.stats,
		Pool:          pool.New(mediaPool("rr", backends...), pool.NoChecker{}),
		Sessions:      limits.NewSessions(testLimits.MaxSessions, testLimits.MaxSessionsPerClient),
		MediaPorts:    o.mediaPorts,
		BackendPorts:  o.backendPorts,
		Advertise:     vipIP,
		BackendSource: vipIP,
		Limits:        testLimits,
		Logger:        testLogger(nil),
		Media:         o.media,
		Registry:      o.registry,
	}
}

// checkPairsFree fails the test if a pair of media or backend is in use
// (after shutdown).
func checkPairsFree(t *testing.T, media, backend *alg.UDPPorts) {
	t.Helper()
	if in, _, _ := media.Usage(); in != 0 {
		t.Errorf("client-side media pairs still in use after shutdown: %d", in)
	}
	if in, _, _ := backend.Usage(); in != 0 {
		t.Errorf("backend-side media pairs still in use after shutdown: %d", in)
	}
}

// serveGateway serves h on the VIP until the test ends, then stops
// accepting, waits for the connections and calls stop.
func serveGateway(t *testing.T, h alg.Handler, log *slog.Logger, stop func()) netip.AddrPort {
	t.Helper()
	ln, err := alg.Listen(context.Background(), netip.AddrPortFrom(vipIP, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &alg.Server{Handler: h, Logger: log}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Wait()
		stop()
	})
	return alg.AddrPortOf(ln.Addr())
}
