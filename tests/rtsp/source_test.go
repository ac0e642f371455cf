package rtsptests

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/logbuf"
	"github.com/algd/algd/tests/rtspsource"
)

// TestMediaSource plays a realserver whose RTSP is on 127.0.0.47 and
// whose media sockets are on 127.0.0.48, through algd, over UDP forced:
// the media is relayed when the realserver names 127.0.0.48 in source=
// and that address is a pool member or in the pool's media_sources, or
// when it is in media_sources unannounced (servers with wildcard media
// sockets); otherwise it is dropped and counted, with one log line per
// stream. The client is always told the VIP in source=.
func TestMediaSource(t *testing.T) {
	const rsIP, mediaIP = "127.0.0.47", "127.0.0.48"
	media := netip.MustParseAddr(mediaIP)
	member := func(pc *conf.Pool) { // drained: a member that gets no session
		pc.Realservers = append(pc.Realservers, conf.Realserver{
			AddrPort: netip.AddrPortFrom(media, 554), Weight: new(int)})
	}
	allow := func(pc *conf.Pool) { pc.MediaSourceNets = []netip.Prefix{netip.PrefixFrom(media, 32)} }
	tests := []struct {
		name    string
		source  string // announced by the realserver; "" for none
		pool    func(*conf.Pool)
		relayed bool
		// logged is what the one log line of the stream says.
		logged []string
	}{
		{"source= a pool member", mediaIP, member, true, nil},
		{"source= in media_sources", mediaIP, allow, true, nil},
		{"unannounced, in media_sources", "", allow, true, nil},
		{"source= elsewhere", mediaIP, nil, false,
			[]string{"level=WARN", "media source refused", "source=" + mediaIP, `pool \"media\"`}},
		{"unannounced, elsewhere", "", nil, false,
			[]string{"level=WARN", "media dropped", "reason=source", "from=" + mediaIP + ":", "side=realserver"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := rtspsource.StartOpts(t, rtspsource.Options{IP: rsIP, MediaIP: mediaIP, UDPPort: 63740 + 10*i, Source: tc.source})
			logs := &logbuf.Buffer{}
			gw := startGateway(t, gatewayOpts{pool: tc.pool, logs: logs}, rs)
			c := newClient(gw.addr, gortsplib.ProtocolUDP)
			switched := false
			c.OnTransportSwitch = func(error) { switched = true }
			p, err := play(t, c, "rtsp://"+gw.addr.String()+"/stream")
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			tr, _ := p.transportReply.Load().(string)
			if tc.source != "" && !strings.Contains(tr, "source="+vipIP.String()) || strings.Contains(tr, mediaIP) {
				t.Errorf("Transport to the client %q: want source= the VIP when announced, never %s", tr, mediaIP)
			}
			dropped := func(reason string) int64 { return gw.counter(t, "dropped"+reason) }
			if tc.relayed {
				const want = 100 // 0.5 s of packets at one per 5 ms
				if !waitFor(10*time.Second, func() bool { return p.good.Load() >= want }) {
					t.Fatalf("client got %d intact packets (%d bad), want %d; dropped %d", p.good.Load(), p.bad.Load(), want, dropped(""))
				}
				if p.bad.Load() != 0 || switched {
					t.Errorf("%d bad packets, transport switched %v", p.bad.Load(), switched)
				}
				if d, r := dropped(".source"), gw.counter(t, "sources_refused"); d != 0 || r != 0 {
					t.Errorf("dropped for their source %d, sources refused %d: want 0 and 0", d, r)
				}
				if l := logs.Lines("media dropped"); len(l) != 0 {
					t.Errorf("log lines about drops: %q", l)
				}
				return
			}
			// The realserver sends a packet every 5 ms: after 100 of them
			// were dropped, none may have reached the client.
			if !waitFor(10*time.Second, func() bool { return dropped(".source") >= 100 }) {
				t.Fatalf("dropped for their source %d, want 100", dropped(".source"))
			}
			if n, down := p.good.Load()+p.bad.Load(), gw.counter(t, "packets_down"); n != 0 || down != 0 {
				t.Errorf("client got %d packets, relay moved %d down: want none", n, down)
			}
			if d, all := dropped(".source"), dropped(""); all < d {
				t.Errorf("dropped %d in all, fewer than the %d for their source", all, d)
			}
			wantRefused := int64(0)
			if tc.source != "" {
				wantRefused = 1
			}
			if r := gw.counter(t, "sources_refused"); r != wantRefused {
				t.Errorf("sources refused %d, want %d", r, wantRefused)
			}
			id := p.id()
			about := logs.Lines("session="+id, "level=WARN")
			if len(about) != 1 {
				t.Fatalf("%d warnings about session %s, want exactly 1:\n%s", len(about), id, strings.Join(about, ""))
			}
			for _, s := range tc.logged {
				if !strings.Contains(about[0], s) {
					t.Errorf("log line %q lacks %q", about[0], s)
				}
			}
		})
	}
}
