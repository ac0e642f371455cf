package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/internal/demo"
	"github.com/algd/algd/tests/ftpc"
)

// dialC logs in with the test-only client from the client address.
func dialC(t *testing.T, addr netip.AddrPort) *ftpc.Client {
	t.Helper()
	from := netip.MustParseAddr(clientIP)
	if addr.Addr().Is6() {
		from = netip.IPv6Loopback()
	}
	return ftpc.MustLogin(t, addr, from, 30*time.Second, "demo", "demo")
}

// TestAllModes moves 0 B, 1 B and 3 MiB up and down and lists, in PASV,
// EPSV, PORT and EPRT, and checks what the client was told and where the
// data came from: the VIP, a port of the passive range, and for active
// mode the configured source port (control-1).
func TestAllModes(t *testing.T) {
	servers := startFTPServers(t, 2)
	px := startProxy(t, servers, proxyOpts{first: 61500, last: 61599, port: 2290})
	vip := netip.MustParseAddr(vipIP)
	for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.EPSV, ftpc.PORT, ftpc.EPRT} {
		t.Run(mode.String(), func(t *testing.T) {
			c := dialC(t, px.addr)
			for _, n := range []int{0, 1, 3 << 20} {
				data := randomBytes(n)
				name := fmt.Sprintf("all-%s-%d", mode, n)
				up, err := c.Stor(mode, name, data)
				if err != nil {
					t.Fatalf("STOR: %v", err)
				}
				got, down, err := c.Retr(mode, name)
				if err != nil {
					t.Fatalf("RETR: %v", err)
				}
				if sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("%d bytes sent, %d back, sha256 differs", n, len(got))
				}
				for _, tr := range []ftpc.Transfer{up, down} {
					switch mode {
					case ftpc.PASV, ftpc.EPSV:
						if tr.Announced.Addr() != vip || tr.Announced.Port() < 61500 || tr.Announced.Port() > 61599 {
							t.Fatalf("announced %s, want %s on 61500-61599", tr.Announced, vip)
						}
					default:
						if tr.DataPeer != netip.AddrPortFrom(vip, 2289) {
							t.Fatalf("active data came from %s, want %s:2289 (control-1)", tr.DataPeer, vip)
						}
					}
				}
			}
			list, _, err := c.List(mode, "LIST", "/")
			if err != nil || !bytes.Contains(list, []byte("all-"+mode.String()+"-1")) {
				t.Fatalf("LIST: %v\n%s", err, list)
			}
			names, _, err := c.List(mode, "NLST", "/")
			if err != nil || !bytes.Contains(names, []byte("all-"+mode.String()+"-0")) {
				t.Fatalf("NLST: %v\n%s", err, names)
			}
		})
	}
}

// TestActiveSharedSourcePort runs concurrent active transfers that all
// leave from one fixed source port (SO_REUSEADDR; they differ in the
// client's port).
func TestActiveSharedSourcePort(t *testing.T) {
	servers := startFTPServers(t, 2)
	px := startProxy(t, servers, proxyOpts{first: 61600, last: 61609, active: "61690"})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialC(t, px.addr)
			data := randomBytes(2<<20 + i)
			name := fmt.Sprintf("shared-%d", i)
			if _, err := c.Stor(ftpc.PORT, name, data); err != nil {
				t.Errorf("client %d STOR: %v", i, err)
				return
			}
			got, tr, err := c.Retr(ftpc.EPRT, name)
			if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Errorf("client %d RETR: %v (%d bytes)", i, err, len(got))
				return
			}
			if tr.DataPeer.Port() != 61690 {
				t.Errorf("client %d: data from %s, want port 61690", i, tr.DataPeer)
			}
		}()
	}
	wg.Wait()
}

// TestBounceRefused refuses PORT/EPRT to a third party or a privileged
// port with 504, counts them, and connects nowhere.
func TestBounceRefused(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61610, last: 61619})
	third, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	thirdAP := netip.MustParseAddrPort(third.Addr().String())
	c := dialC(t, px.addr)
	for _, tc := range []struct {
		name string
		send func() (ftpc.Reply, error)
		code int
	}{
		{"PORT third party", func() (ftpc.Reply, error) { return c.SendPORT(thirdAP) }, 504},
		{"EPRT third party", func() (ftpc.Reply, error) { return c.SendEPRT(thirdAP) }, 504},
		{"PORT privileged", func() (ftpc.Reply, error) {
			return c.SendPORT(netip.AddrPortFrom(netip.MustParseAddr(clientIP), 22))
		}, 504},
		{"EPRT IPv6 on IPv4", func() (ftpc.Reply, error) { return c.SendEPRT(netip.MustParseAddrPort("[::1]:5000")) }, 522},
		{"PORT garbage", func() (ftpc.Reply, error) { return c.Cmd("PORT 127,0,0,300,1,1") }, 501},
		{"LPRT", func() (ftpc.Reply, error) { return c.Cmd("LPRT 4,4,127,0,0,5,2,4,1") }, 502},
	} {
		r, _ := tc.send() // the client's error for a refusal is expected; the code says which
		if r.Code != tc.code {
			t.Fatalf("%s: %v, want %d", tc.name, r, tc.code)
		}
	}
	// A transfer command now has no data setup; nothing may reach the third party.
	c.Cmd("RETR nothing")
	third.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
	if conn, err := third.Accept(); err == nil {
		conn.Close()
		t.Fatal("algd connected to the third party")
	}
	if n := px.counter(t, "bounce"); n != 3 {
		t.Fatalf("bounce counter = %d, want 3", n)
	}
	// The session is still fine.
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}
	// The unspecified address names the client itself (lftp on IPv6 sends
	// "EPRT |2|::|port|"): not a bounce.
	if _, err := c.Expect("EPRT |1|0.0.0.0|40000|", 200); err != nil {
		t.Fatal(err)
	}
	if n := px.counter(t, "bounce"); n != 3 {
		t.Fatalf("bounce counter = %d after an unspecified EPRT, want 3", n)
	}
}

// TestAbort aborts a 40 MiB download in both ways clients send ABOR (lftp:
// Telnet IP + urgent DM; ftplib: ABOR with MSG_OOB), in passive and active
// mode; the session then goes on and transfers intact.
func TestAbort(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61620, last: 61629})
	c := dialC(t, px.addr)
	big := randomBytes(40 << 20)
	if _, err := c.Stor(ftpc.EPSV, "big", big); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.PORT} {
		for _, python := range []bool{false, true} {
			replies, n, err := c.AbortRetr(mode, "big", 256<<10, python)
			if err != nil {
				t.Fatalf("%s python=%v: %v", mode, python, err)
			}
			if n >= len(big) {
				t.Fatalf("%s python=%v: the whole file arrived; nothing was aborted", mode, python)
			}
			last := replies[len(replies)-1]
			if last.Code != 226 && last.Code != 225 {
				t.Fatalf("%s python=%v: replies after ABOR %v", mode, python, replies)
			}
			if _, err := c.Expect("NOOP", 200); err != nil {
				t.Fatalf("%s python=%v: after ABOR: %v", mode, python, err)
			}
		}
	}
	got, _, err := c.Retr(ftpc.EPSV, "big")
	if err != nil || sha256.Sum256(got) != sha256.Sum256(big) {
		t.Fatalf("download after the aborts: %v, %d bytes", err, len(got))
	}
}

// TestResumeAndAppend covers REST+RETR and APPE through algd.
func TestResumeAndAppend(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61630, last: 61639})
	c := dialC(t, px.addr)
	data := randomBytes(1 << 20)
	if _, err := c.Stor(ftpc.PASV, "resume", data[:300000]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Appe(ftpc.PORT, "resume", data[300000:]); err != nil {
		t.Fatal(err)
	}
	tail, _, err := c.RetrFrom(ftpc.EPRT, "resume", 123456)
	if err != nil || !bytes.Equal(tail, data[123456:]) {
		t.Fatalf("REST 123456 + RETR: %v, %d bytes", err, len(tail))
	}
}

// TestFEATAndSecurity rewrites FEAT (no AUTH, EPSV and EPRT present) and
// refuses AUTH so clients fall back.
func TestFEATAndSecurity(t *testing.T) {
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61640, last: 61649})
	c := dialC(t, px.addr)
	r, err := c.Expect("FEAT", 211)
	if err != nil {
		t.Fatal(err)
	}
	feat := r.String()
	if strings.Contains(feat, "AUTH") || !strings.Contains(feat, " EPSV") || !strings.Contains(feat, " EPRT") {
		t.Fatalf("FEAT not rewritten:\n%s", feat)
	}
	if _, err := c.Expect("AUTH TLS", 502); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("EPSV ALL", 200); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("PASV", 503); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Retr(ftpc.EPSV, "missing-file"); err == nil {
		t.Fatal("RETR of a missing file succeeded")
	}
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}
}

// TestWrongPASVAddress puts algd in front of realservers that announce a
// wrong address in 227 (a misconfigured masquerade address): algd uses the
// realserver's control address and the transfer works.
func TestWrongPASVAddress(t *testing.T) {
	servers := startFTPServersAnnouncing(t, 1, "127.0.0.99")
	px := startProxy(t, servers, proxyOpts{first: 61650, last: 61659})
	c := dialC(t, px.addr)
	data := randomBytes(100000)
	if _, err := c.Stor(ftpc.PASV, "wrong", data); err != nil {
		t.Fatal(err)
	}
	got, tr, err := c.Retr(ftpc.PASV, "wrong")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("RETR: %v", err)
	}
	if tr.Announced.Addr() != netip.MustParseAddr(vipIP) {
		t.Fatalf("announced %s", tr.Announced)
	}
}

// TestBackendActiveMode is backend_data_mode "active": for a client's
// PORT/EPRT algd gives the realserver a PORT on its backend-side address,
// and the realserver (ftpserverlib, which connects from the kernel's
// source address: hence it runs on 127.0.0.1) connects to algd. Files go
// both ways intact, and the realserver's connections are counted.
func TestBackendActiveMode(t *testing.T) {
	srv := demo.StartTest(t, demo.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	px := startProxyAddrs(t, []netip.AddrPort{srv.Addr()},
		proxyOpts{first: 61590, last: 61599, backendPorts: [2]uint16{61900, 61909}})
	c := dialC(t, px.addr)
	for _, mode := range []ftpc.Mode{ftpc.PORT, ftpc.EPRT} {
		data := randomBytes(2<<20 + int(mode))
		name := "backend-active-" + mode.String()
		if _, err := c.Stor(mode, name, data); err != nil {
			t.Fatalf("%s STOR: %v", mode, err)
		}
		got, _, err := c.Retr(mode, name)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("%s RETR: %v (%d bytes)", mode, err, len(got))
		}
		list, _, err := c.List(mode, "LIST", "/")
		if err != nil || !bytes.Contains(list, []byte(name)) {
			t.Fatalf("%s LIST: %v\n%s", mode, err, list)
		}
	}
	if n := px.counter(t, "backend_active"); n != 6 {
		t.Fatalf("realserver connected to algd %d times, want 6 (PORT towards the realserver)", n)
	}
	eventually(func() bool { return px.ports(t, "backend").InUse == 0 })
	if in := px.ports(t, "backend").InUse; in != 0 {
		t.Fatalf("%d backend ports still reserved", in)
	}
}
