// Package rtsptests runs algd's RTSP gateway in process between real
// gortsplib servers (the realservers) and gortsplib clients, on distinct
// loopback addresses: client 127.0.0.5, VIP 127.0.0.10, realservers
// 127.0.0.41 and 127.0.0.42. UDP tests force UDP (gortsplib falls back to
// TCP silently otherwise) and assert the relay's own packet counters.
package rtsptests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
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

// magic starts every RTP payload the test servers and clients send; the
// next 4 bytes are the packet's index.
var magic = []byte("algd-rtsp-test")

func payload(i uint32) []byte {
	p := make([]byte, 0, 200)
	p = append(p, magic...)
	p = binary.BigEndian.AppendUint32(p, i)
	return append(p, bytes.Repeat([]byte{byte(i)}, 200-len(p))...)
}

// checkPayload reports whether p is one of ours, intact.
func checkPayload(p []byte) bool {
	if len(p) != 200 || !bytes.HasPrefix(p, magic) {
		return false
	}
	i := binary.BigEndian.Uint32(p[len(magic):])
	return bytes.Equal(p, payload(i))
}

func testMedia() *description.Media {
	return &description.Media{
		Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{
			PayloadTyp:        96,
			SPS:               []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20},
			PPS:               []byte{0x44, 0x01, 0xc0, 0x25, 0x2f, 0x05, 0x32, 0x40},
			PacketizationMode: 1,
		}},
	}
}

// realserver is a gortsplib server that plays "/stream" (a packet every
// 5 ms) and accepts publishers on "/publish", counting their packets.
type realserver struct {
	srv    *gortsplib.Server
	addr   netip.AddrPort
	stream *gortsplib.ServerStream
	medi   *description.Media

	mu        sync.Mutex
	published *gortsplib.ServerStream

	// Received counts intact RTP packets from publishers, Bad the others.
	Received, Bad atomic.Int64
	// Sessions counts sessions opened.
	Sessions atomic.Int64
}

func startRealserver(t *testing.T, ip string, udpPort int) *realserver {
	t.Helper()
	return startRealserverOpts(t, realserverOpts{ip: ip, udpPort: udpPort})
}

// realserverOpts places a test realserver: RTSP on ip, media sockets on
// mediaIP (default ip) at udpPort and udpPort+1, and, when source is set,
// source=<source> added to its SETUP answers' Transport.
type realserverOpts struct {
	ip, mediaIP, source string
	udpPort             int
	// idle is the server's IdleTimeout (its sessions' timeout plus 5 s,
	// at least 1 s); zero: gortsplib's 60 s.
	idle time.Duration
}

func startRealserverOpts(t *testing.T, o realserverOpts) *realserver {
	t.Helper()
	if o.mediaIP == "" {
		o.mediaIP = o.ip
	}
	rs := &realserver{medi: testMedia()}
	rs.srv = &gortsplib.Server{
		Handler:        rs,
		RTSPAddress:    o.ip + ":0",
		UDPRTPAddress:  fmt.Sprintf("%s:%d", o.mediaIP, o.udpPort),
		UDPRTCPAddress: fmt.Sprintf("%s:%d", o.mediaIP, o.udpPort+1),
		IdleTimeout:    o.idle,
	}
	if o.source != "" {
		rs.srv.Listen = func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return sourceListener{ln, o.source}, nil
		}
	}
	if err := rs.srv.Start(); err != nil {
		t.Fatalf("realserver %s: %v", o.ip, err)
	}
	rs.addr = rs.srv.NetListener().Addr().(*net.TCPAddr).AddrPort()
	rs.stream = &gortsplib.ServerStream{Server: rs.srv, Desc: &description.Session{Medias: []*description.Media{rs.medi}}}
	if err := rs.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rs.stream.WritePacketRTP(rs.medi, &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: i * 450, SSRC: 0x1234, Marker: true},
				Payload: payload(i),
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		rs.stream.Close()
		rs.srv.Close()
	})
	return rs
}

// sourceListener hands out connections that announce source= in the
// Transport of every SETUP answer, as a server sending its media from
// another address may (RFC 2326 §12.39); gortsplib's server never does.
type sourceListener struct {
	net.Listener
	source string
}

func (l sourceListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return sourceConn{c, []byte("source=" + l.source + ";server_port=")}, nil
}

// sourceConn adds source= before server_port= in what the server writes:
// gortsplib writes each response with one Write.
type sourceConn struct {
	net.Conn
	with []byte
}

func (c sourceConn) Write(b []byte) (int, error) {
	if !bytes.Contains(b, []byte("\r\nTransport: ")) {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(bytes.Replace(b, []byte("server_port="), c.with, 1)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// OnSessionOpen counts sessions.
func (rs *realserver) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx) { rs.Sessions.Add(1) }

// OnDescribe serves "/stream".
func (rs *realserver) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Path != "/stream" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, rs.stream, nil
}

// OnAnnounce accepts a publisher on any path.
func (rs *realserver) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup sets up "/stream" for players and anything for publishers.
func (rs *realserver) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if ctx.Path != "/stream" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, rs.stream, nil
}

// OnPause says yes.
func (rs *realserver) OnPause(*gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPlay says yes.
func (rs *realserver) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord counts what the publisher sends.
func (rs *realserver) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		if checkPayload(pkt.Payload) {
			rs.Received.Add(1)
		} else {
			rs.Bad.Add(1)
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// gateway is algd's RTSP listener on the VIP.
type gateway struct {
	h    *rtsp.Handler
	addr netip.AddrPort
	pool *pool.Pool
}

type gatewayOpts struct {
	mediaLast   uint16 // default mediaLast
	scheduler   string // default "rr"
	persistence time.Duration
	// pool, when set, edits the pool's configuration (more members,
	// media_sources) before the pool is built.
	pool func(*conf.Pool)
	// logs, when set, also receives the gateway's log lines.
	logs io.Writer
	// registry, media, stats, mediaPorts and backendPorts, when set, are
	// given to the handler (shared with another one); otherwise it has
	// none (registry) or its own.
	registry                 *alg.Registry
	media                    *rtsp.Media
	stats                    *rtsp.Stats
	mediaPorts, backendPorts *alg.UDPPorts
}

func startGateway(t *testing.T, o gatewayOpts, backends ...*realserver) *gateway {
	t.Helper()
	h, p := gatewayHandler(o, backends...)
	addr := serveGateway(t, h, h.Logger, func() {
		h.Close()
		checkPairsFree(t, h.MediaPorts, h.BackendPorts)
	})
	return &gateway{h: h, addr: addr, pool: p}
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

// gatewayHandler builds the RTSP handler of a gateway in front of
// backends.
func gatewayHandler(o gatewayOpts, backends ...*realserver) (*rtsp.Handler, *pool.Pool) {
	if o.mediaLast == 0 {
		o.mediaLast = mediaLast
	}
	if o.scheduler == "" {
		o.scheduler = "rr"
	}
	pc := conf.Pool{Name: "media", Scheduler: o.scheduler, Persistence: conf.Duration{Duration: o.persistence},
		Health: conf.Health{Kind: "none"}}
	for _, b := range backends {
		pc.Realservers = append(pc.Realservers, conf.Realserver{AddrPort: b.addr})
	}
	if o.pool != nil {
		o.pool(&pc)
	}
	lvl := slog.LevelInfo
	if testing.Verbose() {
		lvl = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if o.logs != nil {
		w = io.MultiWriter(os.Stderr, o.logs)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
	p := pool.New(pc, pool.NoChecker{})
	lim := conf.Limits{MaxLineBytes: 4096, ControlIdleTimeout: conf.Duration{Duration: time.Minute},
		BackendConnectTimeout: conf.Duration{Duration: 5 * time.Second}}
	if o.stats == nil {
		o.stats = &rtsp.Stats{}
	}
	if o.mediaPorts == nil {
		o.mediaPorts = alg.NewUDPPorts(mediaFirst, o.mediaLast)
	}
	if o.backendPorts == nil {
		o.backendPorts = alg.NewUDPPorts(backendFirst, backendLast)
	}
	h := &rtsp.Handler{
		Name:          "test",
		Stats:         o.stats,
		Pool:          p,
		Sessions:      limits.NewSessions(100, 20),
		MediaPorts:    o.mediaPorts,
		BackendPorts:  o.backendPorts,
		Advertise:     vipIP,
		BackendSource: vipIP,
		Limits:        lim,
		Logger:        log,
		Media:         o.media,
		Registry:      o.registry,
	}
	return h, p
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

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
