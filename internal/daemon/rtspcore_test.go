package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtp"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/tests/fakekernel"
)

// rtspConfig is one [[rtsp]] listener on listen, over a pool of the
// realservers rss, relaying media through media_ports and
// backend_media_ports; the admin listener drains for 30s.
func rtspConfig(listen, vip, media, backendMedia string, rss ...string) string {
	var b strings.Builder
	b.WriteString("[[pool]]\nname = \"media\"\nscheduler = \"rr\"\nhealth = { kind = \"none\" }\n")
	for _, rs := range rss {
		fmt.Fprintf(&b, "  [[pool.realservers]]\n  address = %q\n", rs)
	}
	fmt.Fprintf(&b, `
[[rtsp]]
name = "cams"
listen = [%q]
pool = "media"
advertise = %q
media_ports = %q
backend_source = %q
backend_media_ports = %q

[admin]
listen = "ADMIN"
shutdown_timeout = "30s"
`, listen, vip, media, vip, backendMedia)
	return b.String()
}

// player is a gortsplib client playing "/stream" through algd.
type player struct {
	c   *gortsplib.Client
	got atomic.Int64 // RTP packets received
}

// setupStream connects to ctl from the address from (any when "") and
// sets up every medium of "/stream" over proto; the client is closed at
// the end of the test.
func setupStream(t *testing.T, ctl, from string, proto gortsplib.Protocol) (*gortsplib.Client, error) {
	t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c := &gortsplib.Client{Scheme: "rtsp", Host: ctl, Protocol: &proto, ReadTimeout: 10 * time.Second, DialContext: d.DialContext}
	if err := c.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	u, err := base.ParseURL("rtsp://" + ctl + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return c, err
	}
	return c, c.SetupAll(desc.BaseURL, desc.Medias)
}

// play connects to ctl, sets up "/stream" over proto and plays it until
// the first packets arrive.
func play(t *testing.T, ctl string, proto gortsplib.Protocol) *player {
	t.Helper()
	c, err := setupStream(t, ctl, "", proto)
	if err != nil {
		t.Fatal(err)
	}
	p := &player{c: c}
	p.c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { p.got.Add(1) })
	if _, err := p.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	p.flowing(t)
	return p
}

// flowing waits until 20 more packets arrived.
func (p *player) flowing(t *testing.T) {
	t.Helper()
	want := p.got.Load() + 20
	for end := time.Now().Add(20 * time.Second); p.got.Load() < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the stream through algd stalled at %d packets", p.got.Load())
		}
	}
}

// setupPorts asks ctl, on a raw control connection, to set up the first
// medium of "/stream" for client ports 40000-40001, tears it down and
// returns the server_port pair algd answered (the media pair on the VIP).
func setupPorts(t *testing.T, ctl string) [2]int {
	t.Helper()
	c, br := dialTCP(t, ctl)
	defer c.Close()
	do := func(method base.Method, url string, hdr base.Header) *base.Response {
		u, err := base.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		b, err := base.Request{Method: method, URL: u, Header: hdr}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		var res base.Response
		if err := res.Unmarshal(br); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res.StatusCode != base.StatusOK {
			t.Fatalf("%s: %d %s", method, res.StatusCode, res.StatusMessage)
		}
		return &res
	}
	res := do(base.Describe, "rtsp://"+ctl+"/stream", base.Header{"CSeq": {"1"}, "Accept": {"application/sdp"}})
	var desc description.Session
	if err := desc.Unmarshal(mustSDP(t, res.Body)); err != nil {
		t.Fatal(err)
	}
	track := "rtsp://" + ctl + "/stream/" + desc.Medias[0].Control
	tr := headers.Transport{Protocol: headers.TransportProtocolUDP, ClientPorts: &[2]int{40000, 40001}}
	d := headers.TransportDeliveryUnicast
	tr.Delivery = &d
	res = do(base.Setup, track, base.Header{"CSeq": {"2"}, "Transport": tr.Marshal()})
	var got headers.Transport
	if err := got.Unmarshal(res.Header["Transport"]); err != nil || got.ServerPorts == nil {
		t.Fatalf("SETUP answered Transport %q: %v", res.Header["Transport"], err)
	}
	var sess headers.Session
	if err := sess.Unmarshal(res.Header["Session"]); err != nil {
		t.Fatalf("SETUP answered Session %q: %v", res.Header["Session"], err)
	}
	do(base.Teardown, "rtsp://"+ctl+"/stream", base.Header{"CSeq": {"3"}, "Session": {sess.Session}})
	return *got.ServerPorts
}

// mustSDP parses an SDP body for description.Session.Unmarshal.
func mustSDP(t *testing.T, body []byte) *sdp.SessionDescription {
	t.Helper()
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestRTSPReload reloads an [[rtsp]] listener to another address, pool
// and media ranges while a stream plays: the stream goes on, the old
// address is closed, and a new session on the new address gets a media
// pair of the new range from the new realserver.
func TestRTSPReload(t *testing.T) { testRTSPReload(t, nil) }

// TestRTSPReloadKernel is TestRTSPReload on the kernel path (a fake
// kernel, which forwards nothing: the relay still carries the media):
// the playing stream's four mappings stay through the reload, the
// stream set up after it is mapped from the new media range, and a
// stream's mappings are removed and cut when it is torn down.
func TestRTSPReloadKernel(t *testing.T) { testRTSPReload(t, &fakekernel.Kernel{}) }

// liveMaps waits until k holds want live mappings (Remove not called).
func liveMaps(t *testing.T, k *fakekernel.Kernel, want int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); k.Live() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d mappings live, want %d", k.Live(), want)
		}
	}
}

func testRTSPReload(t *testing.T, k *fakekernel.Kernel) {
	const vip = "127.0.0.66"
	rs1 := startRTSPSource(t, "127.0.0.67", 64200)
	rs2 := startRTSPSource(t, "127.0.0.68", 64210)
	ctl1 := net.JoinHostPort(vip, strconv.Itoa(freePort(t, vip)))
	ctl2 := net.JoinHostPort(vip, strconv.Itoa(freePort(t, vip)))
	var o Options
	if k != nil {
		o.Kernel = k
	}
	r := startDaemonWith(t, rtspConfig(ctl1, vip, "64220-64239", "64240-64259", rs1.String()), slog.LevelInfo, false, o)
	old := play(t, ctl1, gortsplib.ProtocolUDP)
	if p := setupPorts(t, ctl1); p[0] < 64220 || p[1] > 64239 {
		t.Fatalf("server_port %v outside media_ports 64220-64239", p)
	}
	if k != nil {
		liveMaps(t, k, 4) // the player's; setupPorts tore its own down
		if n := len(k.Maps()); n != 8 {
			t.Fatalf("%d mappings made, want 8 (two streams)", n)
		}
	}

	before := r.waitStatus(func(st admin.Status) bool { l, _ := st.Listener("cams"); return l.Counters["sessions"] == 2 })
	l, _ := before.Listener("cams")
	packets := l.Counters["packets_down"]

	st := r.reload(rtspConfig(ctl2, vip, "64260-64279", "64280-64299", rs2.String()))
	if st.Reloads.LastError != "" {
		t.Fatalf("reload refused: %s", st.Reloads.LastError)
	}
	l, ok := st.Listener("cams")
	if l.Counters["packets_down"] < packets {
		t.Errorf("packets_down went from %d to %d over the reload: counters must run across reloads", packets, l.Counters["packets_down"])
	}
	if !ok || l.Proto != "rtsp" || len(l.Addrs) != 1 || l.Addrs[0].String() != ctl2 || l.Range("media").Size != 10 {
		t.Fatalf("after the reload /status shows %+v", st.Listeners)
	}
	old.flowing(t) // the stream from before the reload goes on
	if c, err := net.DialTimeout("tcp", ctl1, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after the reload removed it", ctl1)
	}
	if p := setupPorts(t, ctl2); p[0] < 64260 || p[1] > 64279 {
		t.Errorf("server_port %v outside the reloaded media_ports 64260-64279", p)
	}
	play(t, ctl2, gortsplib.ProtocolUDP)
	st = r.waitStatus(func(st admin.Status) bool { return len(st.Pools) == 1 && len(st.Pools[0].Members) == 1 })
	if m := st.Pools[0].Members[0]; m.Address != rs2 || m.Total < 2 {
		t.Errorf("pool after the reload: %+v, want %s with the two new sessions", st.Pools[0].Members, rs2)
	}
	if l, _ := st.Listener("cams"); l.Counters["sessions"] != 4 {
		t.Errorf("sessions = %d after two before and two after the reload, want 4", l.Counters["sessions"])
	}
	old.flowing(t)
	if k == nil {
		return
	}
	liveMaps(t, k, 8) // the first player's, kept through the reload, and the second's
	maps := k.Maps()
	for i, x := range maps {
		if d := x.Mapping.Dst.Port(); i >= 8 && (x.Mapping.Source.Port() < 64260 || x.Mapping.Source.Port() > 64279) && (d < 64260 || d > 64279) {
			t.Errorf("mapping %d, of a stream after the reload, %+v: no port of the new media range 64260-64279", i, x.Mapping)
		}
	}
	st = r.waitStatus(func(admin.Status) bool { return true })
	if l, _ := st.Listener("cams"); l.Counters["streams_by_path.kernel"] != 4 || l.Counters["streams_by_path.proxy"] != 0 {
		t.Errorf("streams on the kernel path %d, on the proxy path %d; want 4, 0", l.Counters["streams_by_path.kernel"], l.Counters["streams_by_path.proxy"])
	}
	old.c.Close() // TEARDOWN
	liveMaps(t, k, 4)
	for _, x := range maps[:4] {
		if removed, cut := x.State(); !removed || !cut {
			t.Errorf("mapping %+v of the torn-down stream: removed %v, cut %v", x.Mapping, removed, cut)
		}
	}
}

// TestRTSPStatusAndDrain lists a playing RTSP session in /status and in
// `algd status`, then drains: the listener stops accepting, an idle
// control connection is closed, the playing stream goes on until its
// client tears it down, and then algd stops.
func TestRTSPStatusAndDrain(t *testing.T) { testRTSPStatusAndDrain(t, nil) }

// TestRTSPStatusAndDrainKernel is TestRTSPStatusAndDrain on the kernel
// path (a fake kernel): the playing stream's mappings stay through the
// drain, and its TEARDOWN removes and cuts them before algd stops.
func TestRTSPStatusAndDrainKernel(t *testing.T) { testRTSPStatusAndDrain(t, &fakekernel.Kernel{}) }

func testRTSPStatusAndDrain(t *testing.T, k *fakekernel.Kernel) {
	const vip = "127.0.0.69"
	rs := startRTSPSource(t, "127.0.0.70", 64300)
	ctl := net.JoinHostPort(vip, strconv.Itoa(freePort(t, vip)))
	var o Options
	if k != nil {
		o.Kernel = k
	}
	r := startDaemonWith(t, rtspConfig(ctl, vip, "64310-64329", "64330-64349", rs.String()), slog.LevelInfo, false, o)
	p := play(t, ctl, gortsplib.ProtocolUDP)

	st := r.waitStatus(func(st admin.Status) bool {
		return len(st.Live) == 1 && st.Live[0].BytesDown > 0 && st.Live[0].Transferring
	})
	s := st.Live[0]
	if s.Proto != "rtsp" || s.Listener != "cams" || s.Mode != "udp" || s.Realserver != rs || !strings.HasPrefix(s.ID, "cams-") {
		t.Errorf("live session %+v, want an rtsp session of cams on %s over udp", s, rs)
	}
	var text strings.Builder
	if err := admin.WriteText(&text, st); err != nil || !strings.Contains(text.String(), s.ID) || !strings.Contains(text.String(), "RTSP udp*") {
		t.Errorf("algd status lacks the RTSP session (%v):\n%s", err, text.String())
	}

	idle, br := dialTCP(t, ctl)
	defer idle.Close()
	fmt.Fprintf(idle, "OPTIONS rtsp://%s/stream RTSP/1.0\r\nCSeq: 1\r\n\r\n", ctl)
	var res base.Response
	if err := res.Unmarshal(br); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS: %v %v", res.StatusCode, err)
	}
	r.waitStatus(func(st admin.Status) bool { return len(st.Live) == 2 })

	r.sig <- syscall.SIGTERM
	r.waitStatus(func(st admin.Status) bool { return st.Draining })
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("the idle control connection got data instead of being closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the idle control connection was not closed by the drain")
	}
	if c, err := net.DialTimeout("tcp", ctl, time.Second); err == nil {
		c.Close()
		t.Error("the RTSP listener accepts while draining")
	}
	p.flowing(t) // the playing stream is a transfer in flight: it goes on
	select {
	case <-r.done:
		t.Fatal("algd stopped while a stream was playing")
	default:
	}
	if k != nil && k.Live() != 4 {
		t.Errorf("%d mappings live while the stream plays in the drain, want 4", k.Live())
	}
	p.c.Close() // TEARDOWN
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatal("algd did not stop after the last stream was torn down")
	}
	if k == nil {
		return
	}
	if n := len(k.Maps()); n != 4 {
		t.Errorf("%d mappings made, want 4", n)
	}
	for _, x := range k.Maps() {
		if removed, cut := x.State(); !removed || !cut {
			t.Errorf("mapping %+v after the TEARDOWN: removed %v, cut %v", x.Mapping, removed, cut)
		}
	}
}
