package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/scrape"
	"github.com/algd/algd/pool"
)

// fakeKernel is an in-memory alg.Kernel: it records the mappings asked
// for and forwards nothing (the datagrams of a test still reach algd's
// sockets). Map fails with err once failAt mappings are installed (when
// err is set).
type fakeKernel struct {
	mu     sync.Mutex
	maps   []*fakeMapped
	err    error
	failAt int
}

// fakeMapped is a mapping of a fakeKernel; counters is what Counters
// reports.
type fakeMapped struct {
	k        *fakeKernel
	m        alg.Mapping
	counters alg.Counters
	removed  bool
	cut      bool
}

func (k *fakeKernel) Map(m alg.Mapping) (alg.Mapped, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil && len(k.maps) >= k.failAt {
		return nil, k.err
	}
	fm := &fakeMapped{k: k, m: m}
	k.maps = append(k.maps, fm)
	return fm, nil
}

func (fm *fakeMapped) Counters() (alg.Counters, error) {
	fm.k.mu.Lock()
	defer fm.k.mu.Unlock()
	return fm.counters, nil
}

func (fm *fakeMapped) Cut() error {
	fm.k.mu.Lock()
	defer fm.k.mu.Unlock()
	fm.cut = true
	return nil
}

func (fm *fakeMapped) Remove() error {
	fm.k.mu.Lock()
	defer fm.k.mu.Unlock()
	fm.removed = true
	return nil
}

// mappings returns a copy of every mapping asked for, in order.
func (k *fakeKernel) mappings() []alg.Mapping {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []alg.Mapping
	for _, fm := range k.maps {
		out = append(out, fm.m)
	}
	return out
}

// live counts the mappings neither removed nor cut, and those only one
// of the two.
func (k *fakeKernel) live() (live, half int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, fm := range k.maps {
		switch {
		case !fm.removed && !fm.cut:
			live++
		case !fm.removed || !fm.cut:
			half++
		}
	}
	return live, half
}

// count adds to the counters of mapping i.
func (k *fakeKernel) count(i int, c alg.Counters) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fm := &k.maps[i].counters
	fm.OrigPackets += c.OrigPackets
	fm.OrigBytes += c.OrigBytes
	fm.ReplyPackets += c.ReplyPackets
	fm.ReplyBytes += c.ReplyBytes
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// mediaMappingsWant are the four mappings of a stream of client
// 127.0.0.5:40000-40001 through testHandler's first pairs (VIP
// 127.0.0.81:63490, backend 127.0.0.81:63590) to a realserver sending
// from server:63690-63691.
func mediaMappingsWant(server string) []alg.Mapping {
	m := func(from, dst, to, src string) alg.Mapping {
		return alg.Mapping{Proto: alg.UDP, From: ap(from), Dst: ap(dst), To: ap(to), Source: ap(src), Persistent: true}
	}
	return []alg.Mapping{
		m("127.0.0.5:40000", "127.0.0.81:63490", server+":63690", "127.0.0.81:63590"), // RTP up
		m(server+":63690", "127.0.0.81:63590", "127.0.0.5:40000", "127.0.0.81:63490"), // RTP down
		m("127.0.0.5:40001", "127.0.0.81:63491", server+":63691", "127.0.0.81:63591"), // RTCP up
		m(server+":63691", "127.0.0.81:63591", "127.0.0.5:40001", "127.0.0.81:63491"), // RTCP down
	}
}

// sameMappings compares mappings without their Events (funcs).
func sameMappings(got, want []alg.Mapping) bool {
	if len(got) != len(want) {
		return false
	}
	for i, g := range got {
		w := want[i]
		if g.Proto != w.Proto || g.From != w.From || g.Dst != w.Dst || g.To != w.To || g.Source != w.Source ||
			g.Timeout != w.Timeout || g.Persistent != w.Persistent {
			return false
		}
	}
	return true
}

func setup(t *testing.T, rc *rtspClient, addr netip.AddrPort, cseq, clientPort int) *Message {
	t.Helper()
	m := rc.do(t, fmt.Sprintf("SETUP rtsp://%s/live RTSP/1.0\r\nCSeq: %d\r\nTransport: RTP/AVP;unicast;client_port=%d-%d\r\n\r\n", addr, cseq, clientPort, clientPort+1))
	if m.Status != 200 {
		t.Fatalf("SETUP answered %d", m.Status)
	}
	return m
}

// TestKernelSetupMaps: on the kernel path a UDP SETUP maps RTP and RTCP
// both ways between the client's ports, the VIP pair, the backend pair
// and the realserver's server_port, each mapping the mirror of the other
// direction's, persistent and without a timeout; the client is told the same as
// on the proxy path; TEARDOWN removes every mapping and cuts its flows,
// and the pairs go back.
func TestKernelSetupMaps(t *testing.T) {
	f := startFake(t, false)
	k := &fakeKernel{}
	h, addr := testHandler(t, f.addr, func(h *Handler) { h.Kernel = k })
	rc := dialClient(t, addr)
	m := setup(t, rc, addr, 1, 40000)
	got, _ := m.Get("Transport")
	if want := "RTP/AVP;unicast;client_port=40000-40001;server_port=63490-63491;source=127.0.0.81;ssrc=ABCD"; got != want {
		t.Errorf("client got Transport %q, want %q", got, want)
	}
	if got, want := k.mappings(), mediaMappingsWant("127.0.0.41"); !sameMappings(got, want) {
		t.Errorf("mappings\n%+v\nwant\n%+v", got, want)
	}
	st := h.stats()
	if st.Streams.Load() != 1 || st.KernelStreams.Load() != 1 || st.KernelRefused.Load() != 0 {
		t.Errorf("streams %d, kernel %d, refused %d; want 1, 1, 0", st.Streams.Load(), st.KernelStreams.Load(), st.KernelRefused.Load())
	}
	text, err := scrape.Text(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`algd_rtsp_streams_by_path_total{listener="",path="kernel"} 1`, `algd_rtsp_streams_by_path_total{listener="",path="proxy"} 0`,
		`algd_rtsp_streams_total{listener="",transport="udp"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if live, _ := k.live(); live != 4 {
		t.Errorf("%d mappings live before TEARDOWN, want 4", live)
	}
	rc.do(t, fmt.Sprintf("TEARDOWN rtsp://%s/live RTSP/1.0\r\nCSeq: 2\r\nSession: s1\r\n\r\n", addr))
	if live, half := k.live(); live != 0 || half != 0 {
		t.Errorf("after TEARDOWN: %d mappings live, %d removed or cut but not both; want 0, 0", live, half)
	}
	if !waitPairs(h, 0, 5*time.Second) || h.MediaSessions() != 0 {
		t.Errorf("after TEARDOWN: pairs %v, sessions %d", fmt.Sprint(pairsInUse(h)), h.MediaSessions())
	}
}

// TestKernelSource: the media of a realserver that announces source= a
// member of its pool is mapped from and to that address.
func TestKernelSource(t *testing.T) {
	f := startFakeServer(t, &fakeServer{source: "127.0.0.42"})
	k := &fakeKernel{}
	_, addr := testHandler(t, f.addr, func(h *Handler) {
		h.Kernel = k
		pc := conf.Pool{Name: "p", Scheduler: "rr", Health: conf.Health{Kind: "none"},
			Realservers: []conf.Realserver{{AddrPort: f.addr}, {AddrPort: ap("127.0.0.42:554")}}}
		h.Pool = pool.New(pc, pool.NoChecker{})
	})
	setup(t, dialClient(t, addr), addr, 1, 40000)
	if got, want := k.mappings(), mediaMappingsWant("127.0.0.42"); !sameMappings(got, want) {
		t.Errorf("mappings\n%+v\nwant\n%+v", got, want)
	}
}

// TestKernelTimeout: conntrack's count of the client's datagrams keeps a
// kernel-path session alive past its timeout (algd reads none of them),
// and the counters reach the listener's metrics and the status page less
// the IP and UDP headers; once they stop the session ends, its mappings
// removed and cut, its pairs back.
func TestKernelTimeout(t *testing.T) {
	f := startFake(t, false)
	k := &fakeKernel{}
	reg := alg.NewRegistry()
	h, addr := testHandler(t, f.addr, func(h *Handler) { h.Name, h.Registry, h.Kernel = "cams", reg, k })
	rc := dialClient(t, addr)
	setup(t, rc, addr, 1, 40000)
	rc.c.Close() // the session outlives its control connection
	// 1.5 s of receiver reports (RTCP up: mapping 2, the client first)
	// and RTP down from the realserver (mapping 1: its original
	// direction): longer than the 1 s timeout.
	for range 15 {
		k.count(2, alg.Counters{OrigPackets: 1, OrigBytes: 28 + 100})
		k.count(1, alg.Counters{OrigPackets: 10, OrigBytes: 10 * (28 + 1000)})
		time.Sleep(100 * time.Millisecond)
	}
	if c, b := pairsInUse(h); c != 1 || b != 1 || h.MediaSessions() != 1 {
		t.Fatalf("session ended while conntrack counted the client's packets: pairs %d/%d, sessions %d", c, b, h.MediaSessions())
	}
	// The status page reads the counters at most every kernelPollMin.
	var l []alg.SessionInfo
	for end := time.Now().Add(2 * kernelPollMin); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if l = reg.Sessions(); len(l) == 1 && l[0].BytesDown == 15*10*1000 {
			break
		}
	}
	if len(l) != 1 || !l[0].Transferring || l[0].BytesDown != 15*10*1000 || l[0].BytesUp != 15*100 {
		t.Errorf("status %+v, want one session transferring, %d bytes down and %d up", l, 15*10*1000, 15*100)
	}
	if !waitPairs(h, 0, 5*time.Second) || h.MediaSessions() != 0 {
		t.Fatalf("after the timeout: pairs %v, sessions %d", fmt.Sprint(pairsInUse(h)), h.MediaSessions())
	}
	if live, half := k.live(); live != 0 || half != 0 {
		t.Errorf("after the timeout: %d mappings live, %d half; want 0, 0", live, half)
	}
	st := &h.stats().Media
	if st.UpPackets.Load() != 15 || st.UpBytes.Load() != 1500 || st.DownPackets.Load() != 150 || st.DownBytes.Load() != 150000 {
		t.Errorf("media up %d/%d, down %d/%d; want 15/1500, 150/150000", st.UpPackets.Load(), st.UpBytes.Load(), st.DownPackets.Load(), st.DownBytes.Load())
	}
}

// TestKernelCloseShutdown: Close (shutdown) cuts the kernel streams of
// sessions whose control connection is gone; a control connection's
// close alone leaves a UDP session mapped, as on the proxy path.
func TestKernelCloseShutdown(t *testing.T) {
	f := startFake(t, false)
	k := &fakeKernel{}
	h, addr := testHandler(t, f.addr, func(h *Handler) { h.Kernel = k })
	rc := dialClient(t, addr)
	setup(t, rc, addr, 1, 40000)
	rc.c.Close()
	time.Sleep(100 * time.Millisecond) // the close reaches algd
	if live, _ := k.live(); live != 4 || h.MediaSessions() != 1 {
		t.Fatalf("after the control close: %d mappings live, %d sessions; want 4, 1", live, h.MediaSessions())
	}
	h.Close()
	if live, half := k.live(); live != 0 || half != 0 || h.MediaSessions() != 0 {
		t.Errorf("after Close: %d mappings live, %d half, %d sessions; want 0, 0, 0", live, half, h.MediaSessions())
	}
}

// TestKernelRefused: a stream whose mappings the kernel refuses goes to
// the proxy path whole: the mappings made before the refusal are taken
// back, algd relays the stream, and the refusal is counted.
func TestKernelRefused(t *testing.T) {
	f := startFake(t, false)
	k := &fakeKernel{err: errors.New("nat table gone"), failAt: 2}
	h, addr := testHandler(t, f.addr, func(h *Handler) { h.Kernel = k })
	rc := dialClient(t, addr)
	setup(t, rc, addr, 1, 40000)
	if live, half := k.live(); len(k.mappings()) != 2 || live != 0 || half != 0 {
		t.Errorf("%d mappings made, %d live, %d half; want 2, 0, 0", len(k.mappings()), live, half)
	}
	st := h.stats()
	if st.Streams.Load() != 1 || st.KernelStreams.Load() != 0 || st.KernelRefused.Load() != 1 {
		t.Errorf("streams %d, kernel %d, refused %d; want 1, 0, 1", st.Streams.Load(), st.KernelStreams.Load(), st.KernelRefused.Load())
	}
	relayed(t, h, netip.MustParseAddrPort("127.0.0.81:63490"), 40000)
}

// relayed sends a datagram from the client's port to vip and checks
// that algd relayed it (its own counters).
func relayed(t *testing.T, h *Handler, vip netip.AddrPort, port int) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.5"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort([]byte("rtp"), vip)
	for end := time.Now().Add(5 * time.Second); h.stats().Media.UpPackets.Load() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("algd relayed %d datagrams up, want 1", h.stats().Media.UpPackets.Load())
		}
	}
}

// TestKernelTheft: on the kernel path algd's sockets stay bound on the
// VIP pair: a datagram from a third address reaches them (the kernel
// maps only the client's ports) and is dropped and counted as on the
// proxy path.
func TestKernelTheft(t *testing.T) {
	f := startFake(t, false)
	h, addr := testHandler(t, f.addr, func(h *Handler) { h.Kernel = &fakeKernel{} })
	setup(t, dialClient(t, addr), addr, 1, 40000)
	thief, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.6")})
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	thief.WriteToUDPAddrPort([]byte("steal"), ap("127.0.0.81:63490"))
	st := &h.stats().Media
	for end := time.Now().Add(5 * time.Second); st.DroppedBy[alg.DropSource].Load() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("dropped for source: %d, want 1", st.DroppedBy[alg.DropSource].Load())
		}
	}
	if st.UpPackets.Load() != 0 {
		t.Errorf("%d datagrams relayed up, want 0", st.UpPackets.Load())
	}
}

// TestProxyPathByPath: without a Kernel the stream is relayed as before
// and counted on the proxy path.
func TestProxyPathByPath(t *testing.T) {
	f := startFake(t, false)
	h, addr := testHandler(t, f.addr)
	setup(t, dialClient(t, addr), addr, 1, 40000)
	relayed(t, h, ap("127.0.0.81:63490"), 40000)
	text, err := scrape.Text(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`algd_rtsp_streams_by_path_total{listener="",path="kernel"} 0`, `algd_rtsp_streams_by_path_total{listener="",path="proxy"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestMapStreamFamilies: the kernel does not translate between address
// families: an IPv6 client of an IPv4 realserver stays on the proxy path,
// and the kernel is not asked.
func TestMapStreamFamilies(t *testing.T) {
	k := &fakeKernel{}
	pair := func(a string) [2]netip.AddrPort {
		p := ap(a)
		return [2]netip.AddrPort{p, netip.AddrPortFrom(p.Addr(), p.Port()+1)}
	}
	_, err := mapStream(k, pair("[2001:db8::5]:40000"), pair("[2001:db8::81]:63490"), pair("10.0.0.1:63590"), pair("10.0.0.41:63690"), nil, slog.New(slog.DiscardHandler))
	if !errors.Is(err, errFamily) || len(k.mappings()) != 0 {
		t.Errorf("mixed families: %v, %d mappings; want errFamily, 0", err, len(k.mappings()))
	}
	// IPv4-mapped IPv6 is IPv4, and mapped as such.
	ks, err := mapStream(k, pair("[::ffff:192.0.2.5]:40000"), pair("192.0.2.81:63490"), pair("10.0.0.1:63590"), pair("10.0.0.41:63690"), nil, slog.New(slog.DiscardHandler))
	if err != nil || ks.hdr != udp4Header || len(k.mappings()) != 4 || k.mappings()[0].From != ap("192.0.2.5:40000") {
		t.Errorf("mapped IPv4: %v, %+v", err, k.mappings())
	}
}

// TestNewSince: counters read again count what is new; a counter read
// lower than before (a flow that ended between the reads, not yet in the
// sum) counts nothing and keeps what was seen.
func TestNewSince(t *testing.T) {
	for _, tc := range []struct {
		name            string
		c, seen         alg.Counters
		wantN, wantSeen alg.Counters
	}{
		{"first", alg.Counters{OrigPackets: 3, OrigBytes: 300}, alg.Counters{},
			alg.Counters{OrigPackets: 3, OrigBytes: 300}, alg.Counters{OrigPackets: 3, OrigBytes: 300}},
		{"more", alg.Counters{OrigPackets: 5, OrigBytes: 500, ReplyPackets: 1, ReplyBytes: 10}, alg.Counters{OrigPackets: 3, OrigBytes: 300},
			alg.Counters{OrigPackets: 2, OrigBytes: 200, ReplyPackets: 1, ReplyBytes: 10}, alg.Counters{OrigPackets: 5, OrigBytes: 500, ReplyPackets: 1, ReplyBytes: 10}},
		{"a flow missed", alg.Counters{OrigPackets: 1, OrigBytes: 100, ReplyPackets: 4, ReplyBytes: 40}, alg.Counters{OrigPackets: 3, OrigBytes: 300, ReplyPackets: 1, ReplyBytes: 10},
			alg.Counters{ReplyPackets: 3, ReplyBytes: 30}, alg.Counters{OrigPackets: 3, OrigBytes: 300, ReplyPackets: 4, ReplyBytes: 40}},
	} {
		n, seen := newSince(tc.c, tc.seen)
		if n != tc.wantN || seen != tc.wantSeen {
			t.Errorf("%s: new %+v seen %+v, want %+v, %+v", tc.name, n, seen, tc.wantN, tc.wantSeen)
		}
	}
}

// TestKernelMediaSources: a pool with media_sources keeps its streams on
// the proxy path (the realserver's media may come from an address not
// known at SETUP, which one conntrack entry per flow cannot follow): the
// kernel is not asked, and algd relays.
func TestKernelMediaSources(t *testing.T) {
	f := startFake(t, false)
	k := &fakeKernel{}
	h, addr := testHandler(t, f.addr, func(h *Handler) {
		h.Kernel = k
		pc := conf.Pool{Name: "p", Scheduler: "rr", Health: conf.Health{Kind: "none"},
			Realservers: []conf.Realserver{{AddrPort: f.addr}}, MediaSourceNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		h.Pool = pool.New(pc, pool.NoChecker{})
	})
	setup(t, dialClient(t, addr), addr, 1, 40000)
	st := h.stats()
	if len(k.mappings()) != 0 || st.KernelStreams.Load() != 0 || st.KernelRefused.Load() != 1 {
		t.Errorf("%d mappings, %d kernel streams, %d refused; want 0, 0, 1", len(k.mappings()), st.KernelStreams.Load(), st.KernelRefused.Load())
	}
	relayed(t, h, ap("127.0.0.81:63490"), 40000)
}
