package daemon

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/tests/ftpc"
)

// TestPassivePortsPerClient gives one client address three passive ports
// ([limits] max_data_ports_per_client = 3) over four sessions: the fourth
// PASV is refused 425 and counted, while another address still gets a
// port; a second PASV of a session replaces its own port within the
// share; a transfer goes through byte for byte; and a session that ends
// gives its port back.
func TestPassivePortsPerClient(t *testing.T) {
	f := newFarm(t, 64<<10, "127.0.0.33")
	vip := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	r := startDaemon(t, fmt.Sprintf(`
[[pool]]
name = "p"
health = { kind = "ftp", interval = "500ms" }
realservers = [{ address = %q }]

[[ftp]]
name = "one"
listen = [%q]
pool = "p"
passive_ports = "63000-63199"

[limits]
max_data_ports_per_client = 3

[admin]
listen = "ADMIN"
`, f.servers[0].Addr().String(), vip))
	r.waitStatus(func(st admin.Status) bool { return len(st.Pools) == 1 && st.Pools[0].Members[0].Up })

	addr := netip.MustParseAddrPort(vip)
	hog, other := netip.MustParseAddr("127.0.0.41"), netip.MustParseAddr("127.0.0.42")
	login := func(from netip.Addr) *ftpc.Client {
		t.Helper()
		return ftpc.MustLogin(t, addr, from, 10*time.Second, "demo", "demo")
	}
	const metric = `algd_passive_ports_refused_total{listener="one"}`
	if v := scrape(t, r.admin)[metric]; v != 0 {
		t.Fatalf("%s = %v before any refusal", metric, v)
	}
	var hogs []*ftpc.Client
	for i := range 3 {
		c := login(hog)
		if _, err := c.Expect("PASV", 227); err != nil {
			t.Fatalf("PASV %d of the first address: %v", i, err)
		}
		hogs = append(hogs, c)
	}
	if _, err := hogs[0].Expect("EPSV", 229); err != nil {
		t.Fatalf("a second PASV of one session (replacing its port): %v", err)
	}
	fourth := login(hog)
	rep, err := fourth.Cmd("PASV")
	if err != nil || rep.Code != 425 || !strings.Contains(rep.String(), "Too many data connections") {
		t.Fatalf("PASV over the share: %v %v, want 425 Too many data connections", rep, err)
	}
	if _, err := login(other).Expect("PASV", 227); err != nil {
		t.Fatalf("PASV of another address: %v", err)
	}
	if v := scrape(t, r.admin)[metric]; v != 1 {
		t.Errorf("%s = %v, want 1", metric, v)
	}

	// A transfer on one of the held ports: bytes intact, port given back.
	data, _, err := hogs[1].Retr(ftpc.PASV, f.file)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(data) != f.sum {
		t.Fatal("the file came through altered")
	}
	if _, err := fourth.Expect("PASV", 227); err != nil {
		t.Fatalf("PASV after a transfer ended: %v", err)
	}
	// A session that ends gives its waiting port back.
	hogs[2].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := login(hog)
		rep, err := c.Cmd("PASV")
		if err == nil && rep.Code == 227 {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the port of an ended session never came back: %v %v", rep, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMediaPairsPerClient gives one client address two media pairs
// ([limits] max_media_pairs_per_client = 2): its third SETUP is refused
// 453 and counted, another address still sets up, and a session that ends
// gives its pair back.
func TestMediaPairsPerClient(t *testing.T) {
	const vip = "127.0.0.66"
	rs := startRTSPSource(t, "127.0.0.67", 64200)
	ctl := fmt.Sprintf("%s:%d", vip, freePort(t, vip))
	r := startDaemon(t, rtspConfig(ctl, vip, "64210-64229", "64230-64249", rs.String())+`
[limits]
max_media_pairs_per_client = 2
`)

	// setup connects from the address from and sets the stream up over
	// UDP; the client is closed at the end of the test.
	setup := func(from string) (*gortsplib.Client, error) {
		return setupStream(t, ctl, from, gortsplib.ProtocolUDP)
	}
	const metric = `algd_rtsp_setups_refused_total{listener="cams",reason="per_client"}`
	var held []*gortsplib.Client
	for i := range 2 {
		c, err := setup("127.0.0.43")
		if err != nil {
			t.Fatalf("SETUP %d of the first address: %v", i, err)
		}
		held = append(held, c)
	}
	if _, err := setup("127.0.0.43"); err == nil || !strings.Contains(err.Error(), "453") {
		t.Fatalf("SETUP over the share: %v, want 453", err)
	}
	if _, err := setup("127.0.0.44"); err != nil {
		t.Fatalf("SETUP of another address: %v", err)
	}
	if v := scrape(t, r.admin)[metric]; v != 1 {
		t.Errorf("%s = %v, want 1", metric, v)
	}
	held[0].Close() // TEARDOWN: the pair and the share go back
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := setup("127.0.0.43")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pair of an ended session never came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
