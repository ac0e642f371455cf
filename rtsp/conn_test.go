package rtsp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
)

// fakeServer is a scripted realserver: it answers SETUP with a UDP
// transport (server_port 63690-63691, source= its own address or source,
// a 1 s session timeout), unless hang is set, and everything else with
// 200. It records the requests. With a gate, it answers nothing before
// the gate closes.
type fakeServer struct {
	addr   netip.AddrPort
	hang   bool
	gate   chan struct{}
	source string

	mu   sync.Mutex
	reqs []*Message
}

func startFake(t *testing.T, hang bool) *fakeServer {
	t.Helper()
	return startFakeServer(t, &fakeServer{hang: hang})
}

// startFakeServer serves f, as configured, on 127.0.0.41.
func startFakeServer(t *testing.T, f *fakeServer) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.41:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().(*net.TCPAddr).AddrPort()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(c) })
		}
	})
	return f
}

func (f *fakeServer) serve(c net.Conn) {
	defer c.Close()
	r := NewReader(c, 0)
	for {
		m, _, err := r.Read()
		if err != nil {
			return
		}
		if m == nil {
			continue
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, m)
		f.mu.Unlock()
		if f.gate != nil {
			<-f.gate
		}
		resp := NewResponse(m, 200, "OK")
		if m.Method == "SETUP" {
			if f.hang {
				continue
			}
			tr, _ := m.Get("Transport")
			resp.Set("Session", "s1;timeout=1")
			src := f.source
			if src == "" {
				src = "127.0.0.41"
			}
			resp.Set("Transport", tr+";server_port=63690-63691;source="+src+";ssrc=ABCD")
		}
		c.Write(resp.AppendTo(nil))
	}
}

func (f *fakeServer) last(method string) *Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reqs) - 1; i >= 0; i-- {
		if f.reqs[i].Method == method {
			return f.reqs[i]
		}
	}
	return nil
}

// testHandler serves a handler in front of backend on 127.0.0.81; opts
// edit it before it serves.
func testHandler(t *testing.T, backend netip.AddrPort, opts ...func(*Handler)) (*Handler, netip.AddrPort) {
	t.Helper()
	pc := conf.Pool{Name: "p", Scheduler: "rr", Health: conf.Health{Kind: "none"},
		Realservers: []conf.Realserver{{AddrPort: backend}}}
	h := &Handler{
		Pool:          pool.New(pc, pool.NoChecker{}),
		Sessions:      limits.NewSessions(10, 10),
		MediaPorts:    alg.NewUDPPorts(63490, 63493),
		BackendPorts:  alg.NewUDPPorts(63590, 63593),
		Advertise:     netip.MustParseAddr("127.0.0.81"),
		BackendSource: netip.MustParseAddr("127.0.0.81"),
		Limits:        conf.Limits{MaxLineBytes: 4096},
	}
	for _, o := range opts {
		o(h)
	}
	ln, err := alg.Listen(context.Background(), netip.MustParseAddrPort("127.0.0.81:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &alg.Server{Handler: h}
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { cancel(); srv.Wait(); h.Close() })
	return h, alg.AddrPortOf(ln.Addr())
}

// rtspClient is a raw client connection from 127.0.0.5.
type rtspClient struct {
	c net.Conn
	r *Reader
}

func dialClient(t *testing.T, addr netip.AddrPort) *rtspClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rtspClient{c: c, r: NewReader(c, 0)}
}

func (rc *rtspClient) do(t *testing.T, req string) *Message {
	t.Helper()
	if _, err := rc.c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	m, _, err := rc.r.Read()
	if err != nil || m == nil {
		t.Fatalf("answer to %q: %v", req, err)
	}
	return m
}

func pairsInUse(h *Handler) (int, int) {
	c, _, _ := h.MediaPorts.Usage()
	b, _, _ := h.BackendPorts.Usage()
	return c, b
}

func waitPairs(h *Handler, want int, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if c, b := pairsInUse(h); c == want && b == want {
			return true
		}
	}
	c, b := pairsInUse(h)
	return c == want && b == want
}

func TestSetupRewritesTransport(t *testing.T) {
	f := startFake(t, false)
	h, addr := testHandler(t, f.addr)
	rc := dialClient(t, addr)
	m := rc.do(t, fmt.Sprintf("SETUP rtsp://%s/live/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=40000-40001;destination=127.0.0.5;x-keep=1;mode=play\r\n\r\n", addr))
	if m.Status != 200 {
		t.Fatalf("SETUP answered %d", m.Status)
	}
	fwd := f.last("SETUP")
	if want := fmt.Sprintf("rtsp://%s/live/trackID=0", f.addr); fwd.URI != want {
		t.Errorf("realserver got URI %q, want %q", fwd.URI, want)
	}
	got, _ := fwd.Get("Transport")
	if want := "RTP/AVP;unicast;client_port=63590-63591;destination=127.0.0.81;x-keep=1;mode=play"; got != want {
		t.Errorf("realserver got Transport %q, want %q", got, want)
	}
	got, _ = m.Get("Transport")
	if want := "RTP/AVP;unicast;client_port=40000-40001;destination=127.0.0.5;x-keep=1;mode=play;server_port=63490-63491;source=127.0.0.81;ssrc=ABCD"; got != want {
		t.Errorf("client got Transport %q, want %q", got, want)
	}
	if c, b := pairsInUse(h); c != 1 || b != 1 {
		t.Errorf("pairs in use %d/%d, want 1/1", c, b)
	}
}

// TestSessionTimeout: the session ends after its timeout (1 s from the
// realserver's Session header) without a sign of life, and its pairs go
// back; datagrams from the client keep it alive meanwhile.
func TestSessionTimeout(t *testing.T) {
	f := startFake(t, false)
	h, addr := testHandler(t, f.addr)
	rc := dialClient(t, addr)
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.5"), Port: 40010})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	m := rc.do(t, fmt.Sprintf("SETUP rtsp://%s/live RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=40010-40011\r\n\r\n", addr))
	if m.Status != 200 {
		t.Fatalf("SETUP answered %d", m.Status)
	}
	rc.c.Close() // the session outlives its control connection
	vip := netip.MustParseAddrPort("127.0.0.81:63490")
	for range 15 { // 1.5 s of packets: longer than the timeout
		client.WriteToUDPAddrPort([]byte("rtp"), vip)
		time.Sleep(100 * time.Millisecond)
	}
	if c, b := pairsInUse(h); c != 1 || b != 1 || h.MediaSessions() != 1 {
		t.Fatalf("session ended while the client sent: pairs %d/%d, sessions %d", c, b, h.MediaSessions())
	}
	if !waitPairs(h, 0, 5*time.Second) || h.MediaSessions() != 0 {
		t.Errorf("after the timeout: pairs %v, sessions %d", fmt.Sprint(pairsInUse(h)), h.MediaSessions())
	}
	if h.stats().SessionsEnded.Load() != 1 {
		t.Errorf("SessionsEnded = %d", h.stats().SessionsEnded.Load())
	}
}

// TestCloseFreesPending: a SETUP that never got its answer gives its
// pairs back when the control connection closes.
func TestCloseFreesPending(t *testing.T) {
	f := startFake(t, true)
	h, addr := testHandler(t, f.addr)
	rc := dialClient(t, addr)
	fmt.Fprintf(rc.c, "SETUP rtsp://%s/live RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=40020-40021\r\n\r\n", addr)
	if !waitPairs(h, 1, 5*time.Second) {
		t.Fatalf("pairs not reserved: %v", fmt.Sprint(pairsInUse(h)))
	}
	rc.c.Close()
	if !waitPairs(h, 0, 5*time.Second) {
		t.Errorf("pairs after close: %v", fmt.Sprint(pairsInUse(h)))
	}
}

// TestMalformedClient: garbage gets 400 and the connection ends.
func TestMalformedClient(t *testing.T) {
	f := startFake(t, false)
	_, addr := testHandler(t, f.addr)
	rc := dialClient(t, addr)
	rc.do(t, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	m := rc.do(t, "OPTIONS * RTSP/1.0\r\nX: "+strings.Repeat("a", 5000)+"\r\n\r\n")
	if m.Status != 400 {
		t.Errorf("overlong line answered %d, want 400", m.Status)
	}
}

// TestConnectFailsOver: a control connection whose first realserver
// refuses the connection goes to the next one, through the Dial seam; the
// refusing one is marked and holds no lease; with no realserver left the
// client gets 503.
func TestConnectFailsOver(t *testing.T) {
	f := startFake(t, false)
	ln, err := net.Listen("tcp", "127.0.0.42:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := alg.AddrPortOf(ln.Addr())
	ln.Close()
	var dials atomic.Int64
	h, addr := testHandler(t, f.addr, func(h *Handler) {
		pc := conf.Pool{Name: "p", Scheduler: "lc", Health: conf.Health{Kind: "none"},
			Realservers: []conf.Realserver{{AddrPort: dead}, {AddrPort: f.addr}}}
		h.Pool = pool.New(pc, pool.NoChecker{})
		h.Dial = func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
			dials.Add(1)
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.81")}}
			return d.DialContext(ctx, "tcp", a.String())
		}
	})
	rc := dialClient(t, addr)
	if m := rc.do(t, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"); m.Status != 200 {
		t.Fatalf("OPTIONS answered %d, want 200 from the live realserver", m.Status)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (the dead member, then the live one)", n)
	}
	rs := h.Pool.Realservers()
	if rs[0].SessionFailures() != 1 || !rs[0].Suspect() || rs[0].Active() != 0 || rs[1].Active() != 1 {
		t.Errorf("dead member: %d failures, suspect %v, %d active; live one %d active; want 1, true, 0, 1",
			rs[0].SessionFailures(), rs[0].Suspect(), rs[0].Active(), rs[1].Active())
	}

	h.Pool.SetWeight(rs[1], 0) // drained: only the dead member is left
	if m := dialClient(t, addr).do(t, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"); m.Status != 503 {
		t.Errorf("with no realserver left: %d, want 503", m.Status)
	}
	if rs[0].Active() != 0 {
		t.Errorf("dead member holds %d leases after the refusal", rs[0].Active())
	}
}

func TestChecker(t *testing.T) {
	f := startFake(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var k Checker
	if err := k.Check(ctx, f.addr); err != nil {
		t.Errorf("check of a live server: %v", err)
	}
	if m := f.last("OPTIONS"); m == nil {
		t.Errorf("no OPTIONS seen")
	}
	ln, err := net.Listen("tcp", "127.0.0.41:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // an FTP server, not RTSP
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("220 ftp\r\n"))
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	defer ln.Close()
	if err := k.Check(ctx, ln.Addr().(*net.TCPAddr).AddrPort()); err == nil {
		t.Errorf("check of an FTP server passed")
	}
}
