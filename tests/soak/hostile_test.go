//go:build interop

package soak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/ftpc"
	"github.com/algd/algd/tests/peers"
)

// The hostile suite's addresses: listener "main" for honest clients and
// most attacks, "tiny" with a ten-port passive range for exhaustion.
var (
	hostVIP   = netip.MustParseAddrPort("127.0.0.70:2180")
	tinyVIP   = netip.MustParseAddrPort("127.0.0.70:2182") // not 2181, whose control-1 is main's port
	hostAdmin = netip.MustParseAddrPort("127.0.0.70:9180")
	hostRS    = netip.MustParseAddrPort("127.0.0.71:2181")
	honestIP  = netip.MustParseAddr("127.0.0.5")
	evilIP    = netip.MustParseAddr("127.0.0.6")
	floodIP   = netip.MustParseAddr("127.0.0.9")
)

const dataConnectTimeout = 4 * time.Second

func hostileConfig(files peers.TLSFiles) string {
	return fmt.Sprintf(`[log]
format = "json"
level = "info"

[limits]
max_sessions = 6000
max_sessions_per_client = 30
max_data_ports_per_client = 30
control_idle_timeout = "5s"
data_connect_timeout = %q
max_line_bytes = 4096

[admin]
listen = %q

[[pool]]
name = "ftpd"
scheduler = "rr"
health = { kind = "ftp", interval = "1s", timeout = "900ms", rise = 1, fall = 3 }
realservers = [ { address = %q } ]

[[ftp]]
name = "main"
listen = [%q]
pool = "ftpd"
passive_ports = "65460-65499"

  [ftp.tls]
  cert = %q
  key = %q
  handshake_timeout = "2s"

[[ftp]]
name = "tiny"
listen = [%q]
pool = "ftpd"
passive_ports = "65450-65459"
`, dataConnectTimeout.String(), hostAdmin.String(), hostRS.String(), hostVIP.String(), files.Cert, files.Key, tinyVIP.String())
}

// TestHostileClients runs each attack while 20 honest clients keep
// transferring and checking sha256; each attack gets its documented reply
// and, where algd has one, its counter in /metrics.
func TestHostileClients(t *testing.T) {
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vipTLS := ca.Issue(t, "vip", hostVIP.Addr())
	srv := peers.Start(t, peers.Vsftpd, peers.Options{Addr: hostRS, PassiveFirst: 65200, PassiveLast: 65499})
	src, sum := peers.RandomFile(t, dir, "honest.bin", 1<<20+3)
	if err := srv.Put(src, "honest.bin"); err != nil {
		t.Fatal(err)
	}
	p := algdrun.StartTOML(t, algdBin, hostileConfig(vipTLS), []netip.AddrPort{hostVIP, tinyVIP}, algdrun.Options{})
	ctx := context.Background()
	scrape := func() algdrun.Metrics {
		t.Helper()
		m, err := algdrun.Scrape(ctx, hostAdmin)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	login := func(vip netip.AddrPort, from netip.Addr) *ftpc.Client {
		t.Helper()
		return ftpc.MustLogin(t, vip, from, 10*time.Second, srv.User, srv.Password)
	}

	// 20 honest clients: download (sha256) in a loop, PASV and EPRT.
	var honestOK, honestBad atomic.Int64
	var honestErrs sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := []ftpc.Mode{ftpc.PASV, ftpc.EPSV, ftpc.PORT, ftpc.EPRT}[i%4]
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := ftpc.DialLogin(hostVIP, honestIP, 10*time.Second, srv.User, srv.Password)
				if err == nil {
					var data []byte
					data, _, err = c.Retr(mode, srv.Remote("honest.bin"))
					if err == nil && fmt.Sprintf("%x", sha256.Sum256(data)) != sum {
						err = fmt.Errorf("sha256 differs (%d bytes)", len(data))
					}
					c.Close()
				}
				if err != nil {
					honestBad.Add(1)
					honestErrs.Store(err.Error(), true)
				} else {
					honestOK.Add(1)
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
		var errs []string
		honestErrs.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return true })
		t.Logf("honest clients: %d ok transfers, %d failed %q", honestOK.Load(), honestBad.Load(), errs)
		if honestBad.Load() > 0 {
			t.Errorf("%d honest transfers failed during the attacks: %q", honestBad.Load(), errs)
		}
		if honestOK.Load() == 0 {
			t.Error("no honest transfer completed")
		}
	}()

	t.Run("port theft", func(t *testing.T) {
		before := scrape().Sum("algd_refused_total", `reason="theft"`)
		c := login(hostVIP, evilIP)
		rep, err := c.Expect("PASV", 227)
		if err != nil {
			t.Fatal(err)
		}
		port := passivePort(t, rep)
		// The thief (another source address) connects first.
		thief, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}, Timeout: 3 * time.Second}).
			Dial("tcp", netip.AddrPortFrom(hostVIP.Addr(), port).String())
		if err == nil {
			_ = thief.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, rerr := thief.Read(make([]byte, 1))
			thief.Close()
			if n > 0 || rerr == nil {
				t.Fatalf("the thief read %d bytes from a stolen passive port", n)
			}
		}
		if got := scrape().Sum("algd_refused_total", `reason="theft"`); got != before+1 {
			t.Errorf("theft counter %v, want %v", got, before+1)
		}
	})

	t.Run("bounce", func(t *testing.T) {
		before := scrape().Sum("algd_refused_total", `reason="bounce"`)
		c := login(hostVIP, evilIP)
		for _, target := range []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:2170"), // a third party
			netip.AddrPortFrom(evilIP, 22),            // a privileged port
		} {
			if rep, _ := c.SendPORT(target); rep.Code != 504 {
				t.Errorf("PORT %v: %q, want 504", target, rep)
			}
			if rep, _ := c.SendEPRT(target); rep.Code != 504 {
				t.Errorf("EPRT %v: %q, want 504", target, rep)
			}
		}
		if got := scrape().Sum("algd_refused_total", `reason="bounce"`); got != before+4 {
			t.Errorf("bounce counter %v, want %v", got, before+4)
		}
	})

	for _, tc := range []struct {
		name, line, want string
	}{
		{"100 KiB line", "USER " + strings.Repeat("a", 100<<10), "500 "},
		{"NUL byte", "USER a\x00b", "500 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, hostVIP, evilIP)
			io.WriteString(c, tc.line+"\r\n")
			got := readAll(c, 5*time.Second)
			if !strings.Contains(got, "\r\n"+tc.want) {
				t.Errorf("reply %q, want %q then close", got, tc.want)
			}
		})
	}

	t.Run("slowloris", func(t *testing.T) {
		c := rawConn(t, hostVIP, evilIP)
		start := time.Now()
		closed := false
		// One byte a second of a never-ending command, for at most 20 s:
		// control_idle_timeout (5s) must end the session anyway.
		for i := 0; i < 20 && !closed; i++ {
			if _, err := c.Write([]byte{'N'}); err != nil {
				closed = true
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			b := make([]byte, 512)
			n, err := c.Read(b)
			if n > 0 && bytes.Contains(b[:n], []byte("421")) || err == io.EOF {
				closed = true
			}
		}
		if !closed {
			t.Errorf("a client sending one byte a second was still connected after %v (control_idle_timeout 5s)", time.Since(start).Round(time.Second))
		}
	})

	t.Run("5000 connections from one address", func(t *testing.T) {
		before := scrape().Sum("algd_sessions_refused_total")
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		refused, greeted, silent := 0, 0, 0
		start := time.Now()
		for i := 0; i < 5000; i++ {
			c, err := (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(floodIP, 0)), Timeout: 5 * time.Second}).
				Dial("tcp", hostVIP.String())
			if err != nil {
				continue
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 128)
			n, _ := c.Read(b)
			switch {
			case bytes.HasPrefix(b[:n], []byte("421")):
				refused++
			case bytes.HasPrefix(b[:n], []byte("220")):
				greeted++
			default:
				silent++
			}
		}
		// Greeted sessions end after control_idle_timeout (5s) and free
		// their slot: at most 30 per 5 s can be greeted.
		allowed := 30 * (1 + int(time.Since(start)/(5*time.Second)))
		t.Logf("%d connections in %v: %d refused (421), %d greeted (220), %d silent", len(conns),
			time.Since(start).Round(time.Second), refused, greeted, silent)
		if greeted > allowed || refused+greeted != 5000 {
			t.Errorf("%d of %d connections refused with 421 and %d greeted; want at most %d greeted, every other refused",
				refused, len(conns), greeted, allowed)
		}
		if got := scrape().Sum("algd_sessions_refused_total"); got < before+float64(refused) {
			t.Errorf("sessions refused counter %v, want at least %v", got, before+float64(refused))
		}
	})

	t.Run("passive range exhausted", func(t *testing.T) {
		before := scrape().Sum("algd_passive_ports_exhausted_total", `listener="tiny"`)
		var cs []*ftpc.Client
		for i := 0; i < 10; i++ {
			c := login(tinyVIP, evilIP)
			if _, err := c.Expect("PASV", 227); err != nil {
				t.Fatalf("PASV %d: %v", i, err)
			}
			cs = append(cs, c)
		}
		other := login(tinyVIP, honestIP)
		if rep, err := other.Cmd("PASV"); err != nil || rep.Code != 425 {
			t.Fatalf("PASV on a full range: %v %v, want 425", rep, err)
		}
		if got := scrape().Sum("algd_passive_ports_exhausted_total", `listener="tiny"`); got != before+1 {
			t.Errorf("exhaustion counter %v, want %v", got, before+1)
		}
		// Wait for the idle expectations to expire, keeping this session
		// alive (control_idle_timeout is 5 s) as a real client would.
		time.Sleep(dataConnectTimeout / 2)
		if _, err := other.Expect("NOOP", 200); err != nil {
			t.Fatalf("NOOP while waiting: %v", err)
		}
		time.Sleep(dataConnectTimeout/2 + 500*time.Millisecond)
		data, _, err := other.Retr(ftpc.PASV, srv.Remote("honest.bin"))
		if err != nil || fmt.Sprintf("%x", sha256.Sum256(data)) != sum {
			t.Errorf("after data_connect_timeout: %v (%d bytes)", err, len(data))
		}
	})

	t.Run("TLS garbage", func(t *testing.T) {
		before := scrape().Sum("algd_tls_handshake_failures_total")
		c := rawConn(t, hostVIP, evilIP)
		io.WriteString(c, "AUTH TLS\r\n")
		if got := readLine(c, 5*time.Second); !strings.HasPrefix(got, "234") {
			t.Fatalf("AUTH TLS: %q", got)
		}
		io.WriteString(c, strings.Repeat("\x16\x03\x01garbage", 100))
		readAll(c, 5*time.Second)
		if got := scrape().Sum("algd_tls_handshake_failures_total"); got != before+1 {
			t.Errorf("TLS failures counter %v, want %v", got, before+1)
		}
	})

	t.Run("non-UTF-8 path", func(t *testing.T) {
		c := login(hostVIP, honestIP)
		name := srv.Remote("caf\xe9-\x80\xfe.bin")
		body := []byte("latin-1 and broken UTF-8 path bytes are legal (RFC 2640)\n")
		if _, err := c.Stor(ftpc.EPSV, name, body); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Retr(ftpc.PASV, name)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("read back %q, %v", got, err)
		}
	})

	if p.Exited() {
		t.Fatal("algd exited")
	}
}

// passivePort is the port of a 227 reply.
func passivePort(t *testing.T, rep ftpc.Reply) uint16 {
	t.Helper()
	text := rep.Lines[len(rep.Lines)-1]
	i, j := strings.Index(text, "("), strings.Index(text, ")")
	var h [6]int
	if i < 0 || j < i {
		t.Fatalf("227 %q", text)
	}
	if _, err := fmt.Sscanf(text[i+1:j], "%d,%d,%d,%d,%d,%d", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]); err != nil {
		t.Fatalf("227 %q: %v", text, err)
	}
	return uint16(h[4]<<8 | h[5])
}

// rawConn dials vip from from and reads the greeting.
func rawConn(t *testing.T, vip netip.AddrPort, from netip.Addr) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 5 * time.Second}).
		Dial("tcp", vip.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got := readLine(c, 5*time.Second); !strings.HasPrefix(got, "220") {
		t.Fatalf("greeting %q", got)
	}
	return c
}

// readLine reads up to one CRLF line.
func readLine(c net.Conn, d time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(b, []byte("\r\n")) {
		if _, err := c.Read(one); err != nil {
			break
		}
		b = append(b, one[0])
	}
	return string(b)
}

// readAll reads until close or d passes, with the greeting's CRLF in front
// so a reply can be matched as "\r\nCODE ".
func readAll(c net.Conn, d time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, _ := io.ReadAll(c)
	return "\r\n" + string(b)
}
