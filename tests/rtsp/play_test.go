package rtsptests

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/algd/algd/tests/rtspsource"
)

// player is a gortsplib client playing a URL, counting what it gets.
type player struct {
	c              *gortsplib.Client
	good, bad      atomic.Int64
	session        atomic.Value // string: the Session id of the last response
	contentBase    atomic.Value // string
	transportReply atomic.Value // string
}

// play describes, sets up every media and plays u through c.
func play(t *testing.T, c *gortsplib.Client, u string) (*player, error) {
	t.Helper()
	p := &player{c: c}
	c.OnResponse = func(r *base.Response) {
		if v := r.Header["Session"]; len(v) > 0 {
			id, _, _ := strings.Cut(v[0], ";")
			p.session.Store(id)
		}
		if v := r.Header["Content-Base"]; len(v) > 0 {
			p.contentBase.Store(v[0])
		}
		if v := r.Header["Transport"]; len(v) > 0 {
			p.transportReply.Store(v[0])
		}
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	pu, err := base.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(pu)
	if err != nil {
		return p, err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return p, err
	}
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		if rtspsource.CheckPayload(pkt.Payload) {
			p.good.Add(1)
		} else {
			p.bad.Add(1)
		}
	})
	_, err = c.Play(nil)
	return p, err
}

func (p *player) id() string {
	s, _ := p.session.Load().(string)
	return s
}

func TestPlay(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.41", 63610)
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, gatewayOpts{}, rs)
			u := "rtsp://" + gw.addr.String() + "/stream"
			c := newClient(gw.addr, tc.proto)
			switched := false
			c.OnTransportSwitch = func(error) { switched = true }
			p, err := play(t, c, u)
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			const want = 100 // 0.5 s of packets at one per 5 ms
			if !waitFor(10*time.Second, func() bool { return p.good.Load() >= want }) {
				t.Fatalf("got %d intact packets (%d bad), want %d", p.good.Load(), p.bad.Load(), want)
			}
			if p.bad.Load() != 0 {
				t.Errorf("%d packets with a broken payload", p.bad.Load())
			}
			if switched {
				t.Errorf("client switched transport")
			}
			if cb, _ := p.contentBase.Load().(string); !strings.Contains(cb, gw.addr.String()) || strings.Contains(cb, rs.Addr().String()) {
				t.Errorf("Content-Base %q, want the VIP %s", cb, gw.addr)
			}
			tr, _ := p.transportReply.Load().(string)
			switch tc.proto {
			case gortsplib.ProtocolUDP:
				if n := gw.counter(t, "streams.udp"); n != 1 {
					t.Errorf("Streams = %d, want 1", n)
				}
				if down := gw.counter(t, "packets_down"); down < want {
					t.Errorf("relay moved %d packets down, want at least %d", down, want)
				}
				if !strings.Contains(tr, "server_port=634") {
					t.Errorf("Transport %q: server_port not from the VIP range", tr)
				}
			case gortsplib.ProtocolTCP:
				il, udp, down := gw.counter(t, "streams.interleaved"), gw.counter(t, "streams.udp"), gw.counter(t, "packets_down")
				if il != 1 || udp != 0 || down != 0 {
					t.Errorf("interleaved %d, streams %d, udp packets %d: want 1, 0, 0", il, udp, down)
				}
				if !strings.Contains(tr, "interleaved=0-1") {
					t.Errorf("Transport %q, want interleaved=0-1 passed through", tr)
				}
			}
			c.Close()
			// TEARDOWN (or the close of an interleaved session) frees
			// every pair.
			if !waitFor(5*time.Second, func() bool { return gw.pairsInUse(t, "media") == 0 && gw.counter(t, "media_sessions") == 0 }) {
				t.Errorf("after close: %d pairs in use, %d sessions", gw.pairsInUse(t, "media"), gw.counter(t, "media_sessions"))
			}
		})
	}
}
