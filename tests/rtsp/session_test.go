package rtsptests

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/algd/algd/tests/rtspsource"
)

// TestSessionSticks plays over UDP through a pool of two realservers
// scheduled round robin, then uses the session from new control
// connections: each must reach the realserver that owns the session
// (any other answers 454), and a TEARDOWN there frees the pairs.
func TestSessionSticks(t *testing.T) {
	rs1 := rtspsource.Start(t, "127.0.0.41", 63650)
	rs2 := rtspsource.Start(t, "127.0.0.42", 63660)
	gw := startGateway(t, gatewayOpts{scheduler: "rr"}, rs1, rs2)
	u := "rtsp://" + gw.addr.String() + "/stream"
	p, err := play(t, newClient(gw.addr, gortsplib.ProtocolUDP), u)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return p.good.Load() >= 20 }) {
		t.Fatalf("got %d packets", p.good.Load())
	}
	id := p.id()
	if id == "" {
		t.Fatal("no session id seen")
	}
	owner := rs1
	if rs2.Sessions.Load() == 1 {
		owner = rs2
	}
	// Round robin would send every other new connection to the other
	// realserver: four in a row must all find the session.
	for i := range 4 {
		got := rawRequest(t, gw.addr.String(), fmt.Sprintf("GET_PARAMETER %s RTSP/1.0\r\nCSeq: %d\r\nSession: %s\r\n\r\n", u, i+1, id))
		if got != "RTSP/1.0 200 OK" {
			t.Fatalf("keepalive %d on a new connection: %q, want 200 from %s", i, got, owner.Addr())
		}
	}
	// The session keeps streaming after its control connections closed.
	before := p.good.Load()
	if !waitFor(5*time.Second, func() bool { return p.good.Load() >= before+20 }) {
		t.Errorf("stream stopped after other connections closed")
	}
	got := rawRequest(t, gw.addr.String(), fmt.Sprintf("TEARDOWN %s RTSP/1.0\r\nCSeq: 9\r\nSession: %s\r\n\r\n", u, id))
	if got != "RTSP/1.0 200 OK" {
		t.Errorf("TEARDOWN on a new connection: %q", got)
	}
	if !waitFor(5*time.Second, func() bool { return gw.pairsInUse(t, "media") == 0 && gw.counter(t, "media_sessions") == 0 }) {
		t.Errorf("after TEARDOWN pairs or sessions remain")
	}
	if in := gw.pairsInUse(t, "backend_media"); in != 0 {
		t.Errorf("after TEARDOWN %d backend pairs remain", in)
	}
}

// TestOnePairTwoClients gives the listener one media pair: the second UDP
// client gets 453 Not Enough Bandwidth, an interleaved one still plays,
// and after the first TEARDOWN the pair serves a new client.
func TestOnePairTwoClients(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.41", 63670)
	gw := startGateway(t, gatewayOpts{mediaLast: mediaFirst + 1}, rs)
	u := "rtsp://" + gw.addr.String() + "/stream"
	c1 := newClient(gw.addr, gortsplib.ProtocolUDP)
	p1, err := play(t, c1, u)
	if err != nil {
		t.Fatalf("first client: %v", err)
	}
	_, err = play(t, newClient(gw.addr, gortsplib.ProtocolUDP), u)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusNotEnoughBandwidth {
		t.Fatalf("second UDP client: %v, want 453", err)
	}
	if n := gw.counter(t, "setups_refused.exhausted"); n != 1 {
		t.Errorf("Exhausted = %d, want 1", n)
	}
	p3, err := play(t, newClient(gw.addr, gortsplib.ProtocolTCP), u)
	if err != nil {
		t.Fatalf("interleaved client beside a full range: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return p1.good.Load() >= 20 && p3.good.Load() >= 20 }) {
		t.Errorf("udp %d, tcp %d packets", p1.good.Load(), p3.good.Load())
	}
	c1.Close()
	p4, err := play(t, newClient(gw.addr, gortsplib.ProtocolUDP), u)
	if err != nil {
		t.Fatalf("UDP client after the first left: %v", err)
	}
	if !waitFor(5*time.Second, func() bool { return p4.good.Load() >= 20 }) {
		t.Errorf("got %d packets on the reused pair", p4.good.Load())
	}
}

// TestMulticastRefused: a SETUP asking only for multicast gets 461 from
// algd, which never forwards it.
func TestMulticastRefused(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.41", 63680)
	gw := startGateway(t, gatewayOpts{}, rs)
	got := rawRequest(t, gw.addr.String(), "SETUP rtsp://"+gw.addr.String()+"/stream/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;multicast;port=5000-5001\r\n\r\n")
	if got != "RTSP/1.0 461 Unsupported Transport" {
		t.Errorf("multicast SETUP: %q, want 461", got)
	}
	if rs.Sessions.Load() != 0 {
		t.Errorf("the realserver saw %d sessions", rs.Sessions.Load())
	}
}
