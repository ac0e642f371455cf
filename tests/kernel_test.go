package tests

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/tests/fakekernel"
	"github.com/algd/algd/tests/ftpc"
)

// backendSourceIP is algd's address towards the realservers in the kernel
// path suites: the SNAT address every mapping names.
const backendSourceIP = "127.0.0.9"

// dialKernel logs in from the client address with passive data
// connections made through the fake kernel k.
func dialKernel(t *testing.T, addr netip.AddrPort, k *fakekernel.Kernel) *ftpc.Client {
	t.Helper()
	c := dialC(t, addr)
	c.DialData = k.Dial
	return c
}

// TestKernelPassive moves files both ways in PASV and EPSV on the kernel
// path (a fake kernel relaying for the NAT): byte-exact, each data
// connection one mapping from exactly the client to exactly the
// realserver's data port, from backend_source; counted by path, bytes
// from the kernel's counters; nothing left in the maps.
func TestKernelPassive(t *testing.T) {
	k := &fakekernel.Kernel{}
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61800, last: 61819, kernel: k, backendSource: backendSourceIP})
	rs := servers[0].Addr().Addr()
	transfers, moved := 0, 0
	for _, mode := range []ftpc.Mode{ftpc.PASV, ftpc.EPSV} {
		t.Run(mode.String(), func(t *testing.T) {
			c := dialKernel(t, px.addr, k)
			for _, n := range []int{0, 1, 3 << 20} {
				data := randomBytes(n)
				name := fmt.Sprintf("kernel-%s-%d", mode, n)
				before := len(k.Maps())
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
				maps := k.Maps()[before:]
				if len(maps) != 2 {
					t.Fatalf("%d mappings for a STOR and a RETR, want 2", len(maps))
				}
				for i, tr := range []ftpc.Transfer{up, down} {
					m := maps[i].Mapping
					want := alg.Mapping{Proto: alg.TCP, From: netip.AddrPortFrom(netip.MustParseAddr(clientIP), 0),
						Dst: tr.Announced, Source: netip.AddrPortFrom(netip.MustParseAddr(backendSourceIP), 0)}
					if m.Proto != want.Proto || m.From != want.From || m.Dst != want.Dst || m.Source != want.Source ||
						m.To.Addr() != rs || m.To.Port() < 62000 || m.To.Port() > 62099 || m.Persistent {
						t.Errorf("mapping %+v, want %+v to %s on the realserver's passive range", m, want, rs)
					}
					if m.Timeout <= 0 || m.Timeout > 30*time.Second {
						t.Errorf("mapping timeout %v, want data_connect_timeout (30s) or less", m.Timeout)
					}
					x := maps[i]
					if !eventually(func() bool { removed, _ := x.State(); return removed }) {
						t.Errorf("after the transfer: the mapping is not removed")
					}
					if _, cut := x.State(); cut {
						t.Errorf("a transfer that ended well was cut")
					}
				}
				transfers += 2
				moved += n
			}
		})
	}
	if k.Live() != 0 {
		t.Errorf("%d mappings left in the maps", k.Live())
	}
	if !eventually(func() bool { return px.counter(t, "data_path.kernel") == int64(transfers) }) {
		t.Errorf("data_path.kernel = %d, want %d", px.counter(t, "data_path.kernel"), transfers)
	}
	if n := px.counter(t, "data_path.proxy"); n != 0 {
		t.Errorf("data_path.proxy = %d, want 0", n)
	}
	if up, down := px.counter(t, "bytes_up"), px.counter(t, "bytes_down"); up != int64(moved) || down != int64(moved) {
		t.Errorf("bytes up %d, down %d; want %d each (from the kernel's counters)", up, down, moved)
	}
}

// pasvDst sends PASV and returns the announced address.
func pasvDst(t *testing.T, c *ftpc.Client) netip.AddrPort {
	t.Helper()
	r, err := c.Expect("PASV", 227)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := algftp.ParsePASV(strings.TrimPrefix(r.String(), "227 "))
	if err != nil {
		t.Fatalf("227 %q: %v", r.String(), err)
	}
	return ap
}

// TestKernelTheft checks that on the kernel path only the expected client
// is forwarded: a third address reaching the passive port gets algd's
// listener, which refuses it as theft; the client's second connection,
// after the one-shot mapping was taken, is refused as such too.
func TestKernelTheft(t *testing.T) {
	k := &fakekernel.Kernel{}
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61820, last: 61829, kernel: k})
	c := dialKernel(t, px.addr, k)
	data := randomBytes(100 << 10)
	if _, err := c.Stor(ftpc.EPSV, "theft", data); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("TYPE I", 200); err != nil {
		t.Fatal(err)
	}
	dst := pasvDst(t, c)
	thief, err := k.Dial(netip.MustParseAddr("127.0.0.66"), dst, 5*time.Second)
	if err == nil {
		b, _ := io.ReadAll(thief)
		thief.Close()
		if len(b) != 0 {
			t.Fatalf("the thief read %d bytes", len(b))
		}
	}
	if !eventually(func() bool { return px.counter(t, "theft") == 1 }) {
		t.Fatalf("theft = %d, want 1", px.counter(t, "theft"))
	}
	conn, err := k.Dial(netip.MustParseAddr(clientIP), dst, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	second, err := k.Dial(netip.MustParseAddr(clientIP), dst, 5*time.Second)
	if err == nil {
		b, _ := io.ReadAll(second)
		second.Close()
		if len(b) != 0 {
			t.Fatalf("the second connection read %d bytes", len(b))
		}
	}
	if !eventually(func() bool { return px.counter(t, "data_second_connection") == 1 }) {
		t.Fatalf("data_second_connection = %d, want 1", px.counter(t, "data_second_connection"))
	}
	if _, err := c.Expect("RETR theft", 150, 125); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the client read %d bytes (%v), want %d intact", len(got), err, len(data))
	}
	if r, err := c.ReadReply(); err != nil || r.Code != 226 {
		t.Fatalf("final reply %v, %v; want 226", r, err)
	}
}

// TestKernelFinalWaitsForEnded checks that a transfer's 226 reaches the
// client only once the kernel has said its connection ended by FIN both
// ways, and that a connection that ended otherwise gets no 2xx.
func TestKernelFinalWaitsForEnded(t *testing.T) {
	hold := make(chan struct{})
	k := &fakekernel.Kernel{HoldEnded: hold}
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61830, last: 61839, kernel: k})
	c := dialKernel(t, px.addr, k)
	data := randomBytes(1 << 20)
	close(hold) // the upload's end is told at once
	if _, err := c.Stor(ftpc.EPSV, "held", data); err != nil {
		t.Fatal(err)
	}
	hold = make(chan struct{})
	k.HoldEnded = hold

	dst := pasvDst(t, c)
	conn, err := k.Dial(netip.MustParseAddr(clientIP), dst, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("RETR held", 150, 125); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	early := make(chan ftpc.Reply, 1)
	go func() {
		r, _ := c.ReadReply()
		early <- r
	}()
	select {
	case r := <-early:
		t.Fatalf("the client got %q before the kernel said the connection ended", r.String())
	case <-time.After(500 * time.Millisecond):
	}
	close(hold)
	if r := <-early; r.Code != 226 {
		t.Fatalf("final reply %q, want 226", r.String())
	}

	// Reset in the middle: the kernel's connection did not close by FIN
	// both ways, so no 2xx reaches the client whatever the realserver
	// says.
	big := randomBytes(16 << 20)
	if _, err := c.Stor(ftpc.EPSV, "big", big); err != nil {
		t.Fatal(err)
	}
	dst = pasvDst(t, c)
	conn, err = k.Dial(netip.MustParseAddr(clientIP), dst, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect("RETR big", 150, 125); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	conn.SetLinger(0)
	conn.Close()
	r, err := c.ReadReply()
	if err != nil || r.Code/100 == 2 {
		t.Fatalf("after a reset: %q, %v; want 4xx", r.String(), err)
	}
	if _, err := c.Expect("NOOP", 200); err != nil {
		t.Fatal(err)
	}
}

// TestKernelAbort aborts a download on the kernel path: the session goes
// on, the mapping's connection is gone (cut, or ended by the realserver),
// and the next transfer is intact.
func TestKernelAbort(t *testing.T) {
	k := &fakekernel.Kernel{}
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61840, last: 61849, kernel: k})
	c := dialKernel(t, px.addr, k)
	big := randomBytes(40 << 20)
	if _, err := c.Stor(ftpc.EPSV, "big", big); err != nil {
		t.Fatal(err)
	}
	before := len(k.Maps())
	replies, n, err := c.AbortRetr(ftpc.EPSV, "big", 256<<10, false)
	if err != nil {
		t.Fatal(err)
	}
	if n >= len(big) {
		t.Fatal("the whole file arrived; nothing was aborted")
	}
	if last := replies[len(replies)-1]; last.Code != 226 && last.Code != 225 {
		t.Fatalf("replies after ABOR %v", replies)
	}
	maps := k.Maps()[before:]
	if len(maps) != 1 {
		t.Fatalf("%d mappings for the aborted RETR, want 1", len(maps))
	}
	if !eventually(func() bool { removed, _ := maps[0].State(); return removed }) {
		t.Fatal("the aborted transfer's mapping was not removed")
	}
	got, _, err := c.Retr(ftpc.EPSV, "big")
	if err != nil || sha256.Sum256(got) != sha256.Sum256(big) {
		t.Fatalf("download after the abort: %v, %d bytes", err, len(got))
	}
	if k.Live() != 0 {
		t.Errorf("%d mappings left", k.Live())
	}
}

// TestKernelActiveMapping checks the mapping of a PORT/EPRT on the kernel
// path: the realserver is given a port of backend_ports on algd's
// backend-side address and the mapping sends its connection from there
// to the client's address, from the VIP. The fake kernel cannot catch
// the realserver's own connect (ftpserverlib dials by itself), so the
// connection reaches algd's listener, which refuses it: the client must
// then get no 2xx, since the kernel carried nothing.
func TestKernelActiveMapping(t *testing.T) {
	k := &fakekernel.Kernel{}
	servers := startFTPServers(t, 1)
	px := startProxy(t, servers, proxyOpts{first: 61850, last: 61859, kernel: k, active: "any",
		backendSource: backendSourceIP, backendRange: [2]uint16{61860, 61869}})
	c := dialC(t, px.addr)
	for _, mode := range []ftpc.Mode{ftpc.PORT, ftpc.EPRT} {
		before := len(k.Maps())
		_, tr, err := c.Retr(mode, "nothing-here")
		var re *ftpc.ReplyError
		if err == nil || !errors.As(err, &re) || re.Reply.Code/100 == 2 {
			t.Fatalf("%s: %v; want a refusal (the kernel carried nothing)", mode, err)
		}
		maps := k.Maps()[before:]
		if len(maps) != 1 {
			t.Fatalf("%s: %d mappings, want 1", mode, len(maps))
		}
		m := maps[0].Mapping
		if m.From != netip.AddrPortFrom(servers[0].Addr().Addr(), 0) || m.Dst.Addr() != netip.MustParseAddr(backendSourceIP) ||
			m.Dst.Port() < 61860 || m.Dst.Port() > 61869 || m.To != tr.Announced ||
			m.Source != netip.AddrPortFrom(netip.MustParseAddr(vipIP), 0) {
			t.Errorf("%s: mapping %+v; want from the realserver to %s:61860-61869, to %s, from %s", mode, m, backendSourceIP, tr.Announced, vipIP)
		}
	}
	if !eventually(func() bool { return k.Live() == 0 }) {
		t.Errorf("%d mappings left", k.Live())
	}
}

// TestKernelStaysProxy checks what stays on the proxy path with a kernel
// at hand: protected data (PROT P), every transfer of a listener that
// talks TLS to its realservers, and every transfer when the kernel
// refuses the mapping (counted), byte-exact either way.
func TestKernelStaysProxy(t *testing.T) {
	t.Run("map refused", func(t *testing.T) {
		k := &fakekernel.Kernel{Fail: errors.New("no table")}
		servers := startFTPServers(t, 1)
		px := startProxy(t, servers, proxyOpts{first: 61870, last: 61879, kernel: k})
		c := dialC(t, px.addr)
		data := randomBytes(1 << 20)
		if _, err := c.Stor(ftpc.EPSV, "refused", data); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Retr(ftpc.PASV, "refused")
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("RETR: %v, %d bytes", err, len(got))
		}
		if n := px.counter(t, "kernel_map_failed"); n != 2 {
			t.Errorf("kernel_map_failed = %d, want 2", n)
		}
		if !eventually(func() bool { return px.counter(t, "data_path.proxy") == 2 }) || px.counter(t, "data_path.kernel") != 0 {
			t.Errorf("data_path proxy %d, kernel %d; want 2, 0", px.counter(t, "data_path.proxy"), px.counter(t, "data_path.kernel"))
		}
	})
	t.Run("TLS towards the realserver", func(t *testing.T) {
		k := &fakekernel.Kernel{}
		cert, _ := testCert(t)
		servers := startFTPServersWith(t, 1, "", &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
		settings := tlsSettings(t, cert, "explicit")
		settings.Cert, settings.Key = "", "" // plain towards clients
		px := startProxy(t, servers, proxyOpts{first: 61890, last: 61899, kernel: k, tls: settings})
		c := dialC(t, px.addr)
		data := randomBytes(1 << 20)
		if _, err := c.Stor(ftpc.EPSV, "tlsbackend", data); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Retr(ftpc.PASV, "tlsbackend")
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("RETR: %v, %d bytes", err, len(got))
		}
		if n := len(k.Maps()); n != 0 {
			t.Errorf("%d mappings with TLS towards the realserver, want 0", n)
		}
		if !eventually(func() bool { return px.counter(t, "data_path.proxy") == 2 }) {
			t.Errorf("data_path.proxy = %d, want 2", px.counter(t, "data_path.proxy"))
		}
	})
	t.Run("passive through a PROXY balancer", func(t *testing.T) {
		k := &fakekernel.Kernel{}
		px := startProxy(t, startFTPServers(t, 1), proxyOpts{first: 61900, last: 61909, kernel: k,
			edit: func(c *conf.Config) {
				c.FTP[0].ProxyProtocol = "v1"
				c.FTP[0].ProxyFrom = []netip.Prefix{netip.MustParsePrefix(clientIP + "/32")}
			}})
		s := rawDial(t, clientIP, px.addr)
		if _, err := io.WriteString(s.c, "PROXY TCP4 "+clientIP+" "+vipIP+" 40001 21\r\n"); err != nil {
			t.Fatal(err)
		}
		s.reply()
		s.expect("USER demo", "331")
		s.expect("PASS demo", "230")
		s.expect("EPSV", "229")
		if n := len(k.Maps()); n != 0 {
			t.Errorf("%d mappings for passive data behind a PROXY balancer, want 0", n)
		}
		s.expect("QUIT", "221")
	})
	t.Run("PROT P", func(t *testing.T) {
		k := &fakekernel.Kernel{}
		cert, roots := testCert(t)
		px := startProxy(t, startFTPServers(t, 1), proxyOpts{first: 61880, last: 61889, kernel: k, tls: tlsSettings(t, cert, "plain")})
		c, err := dialTLS(t, px.addr, false, true, roots, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := roundTrip(c, "protp", randomBytes(1<<20)); err != nil {
			t.Fatal(err)
		}
		if n := len(k.Maps()); n != 0 {
			t.Errorf("%d mappings for protected data, want 0", n)
		}
		if n := px.counter(t, "data_path.kernel"); n != 0 {
			t.Errorf("data_path.kernel = %d, want 0", n)
		}
	})
}
