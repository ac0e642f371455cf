// Package rtsptests runs algd's RTSP gateway in process between real
// gortsplib servers (the realservers) and gortsplib clients, on distinct
// loopback addresses: client 127.0.0.5, VIP 127.0.0.10, realservers
// 127.0.0.41 and 127.0.0.42. UDP tests force UDP (gortsplib falls back to
// TCP silently otherwise) and assert the relay's own packet counters.
package rtsptests

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/limits"
	"github.com/algd/algd/pool"
	"github.com/algd/algd/rtsp"
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

func startGateway(t *testing.T, o gatewayOpts, backends ...*rtspsource.Server) *gateway {
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
func gatewayHandler(o gatewayOpts, backends ...*rtspsource.Server) (*rtsp.Handler, *pool.Pool) {
	if o.mediaLast == 0 {
		o.mediaLast = mediaLast
	}
	if o.scheduler == "" {
		o.scheduler = "rr"
	}
	pc := conf.Pool{Name: "media", Scheduler: o.scheduler, Persistence: conf.Duration{Duration: o.persistence},
		Health: conf.Health{Kind: "none"}}
	for _, b := range backends {
		pc.Realservers = append(pc.Realservers, conf.Realserver{AddrPort: b.Addr()})
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
