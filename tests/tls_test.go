package tests

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/algd/algd/conf"
	algftp "github.com/algd/algd/ftp"
	"github.com/algd/algd/internal/testcert"
)

// testCert makes a self-signed certificate for the test addresses (the
// VIP, the realservers, ::1) and a pool that trusts it.
func testCert(t *testing.T) (*testcert.Cert, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t, "algd test", vipIP, "127.0.0.21", "127.0.0.22", "::1")
	return c, c.Pool()
}

// tlsSettings is algd's [ftp.tls] for tests: the test certificate (files
// in a temporary folder) to clients, and backend to the realservers,
// verified against the same certificate.
func tlsSettings(t *testing.T, cert *testcert.Cert, backend string) *conf.TLS {
	t.Helper()
	certFile, keyFile := cert.Write(t, "", "")
	return &conf.TLS{Cert: certFile, Key: keyFile, Min: tls.VersionTLS12,
		HandshakeTimeout: conf.Duration{Duration: 2 * time.Second}, Backend: backend, BackendCA: certFile}
}

// startFTPS is startProxy in front of one ftpserverlib with the test
// certificate's [ftp.tls] (tlsSettings, a plain realserver leg) changed
// by tune, when set; roots is what a client trusts.
func startFTPS(t *testing.T, o proxyOpts, tune func(*conf.TLS)) (px *proxy, roots *x509.CertPool) {
	t.Helper()
	cert, roots := testCert(t)
	o.tls = tlsSettings(t, cert, "plain")
	if tune != nil {
		tune(o.tls)
	}
	return startProxy(t, startFTPServers(t, 1), o), roots
}

// dialTLS logs in over FTPS: explicit (AUTH TLS) or implicit, EPSV or PASV
// following the 227 address; with a session cache the client resumes the
// control session on data connections.
func dialTLS(t *testing.T, addr netip.AddrPort, implicit, epsv bool, roots *x509.CertPool, cache tls.ClientSessionCache) (*ftp.ServerConn, error) {
	t.Helper()
	return dialTLSWith(t, addr, implicit, epsv, &tls.Config{RootCAs: roots, ServerName: vipIP, ClientSessionCache: cache})
}

// tls12 is the client's TLS for require_reuse tests: TLS 1.2 resumes
// right after the handshake (a TLS 1.3 ticket may arrive after the data
// connection began).
func tls12(roots *x509.CertPool, cache tls.ClientSessionCache) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: vipIP, ClientSessionCache: cache, MaxVersion: tls.VersionTLS12}
}

// dialTLSWith is dialTLS with the client's TLS settings cfg.
func dialTLSWith(t *testing.T, addr netip.AddrPort, implicit, epsv bool, cfg *tls.Config) (*ftp.ServerConn, error) {
	t.Helper()
	if implicit {
		return dialFTPWith(t, addr, epsv, ftp.DialWithTLS(cfg))
	}
	return dialFTPWith(t, addr, epsv, ftp.DialWithExplicitTLS(cfg))
}

// TestFTPS runs sha256 round trips over FTPS in every combination of the
// client leg (explicit, implicit) and the realserver leg (plain, explicit
// TLS to ftpserverlib), in EPSV and PASV.
func TestFTPS(t *testing.T) {
	cert, roots := testCert(t)
	for _, backend := range []string{"plain", "explicit"} {
		var srvTLS *tls.Config
		if backend != "plain" {
			srvTLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
		}
		servers := startFTPServersWith(t, 1, "", srvTLS)
		px := startProxy(t, servers, proxyOpts{first: 61700, last: 61799, tls: tlsSettings(t, cert, backend)})
		for _, implicit := range []bool{false, true} {
			for _, epsv := range []bool{true, false} {
				name := fmt.Sprintf("backend=%s/implicit=%v/epsv=%v", backend, implicit, epsv)
				t.Run(name, func(t *testing.T) {
					addr := px.addr
					if implicit {
						addr = px.implicit
					}
					c, err := dialTLS(t, addr, implicit, epsv, roots, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Quit()
					for _, n := range []int{0, 1, 3 << 20} {
						if err := roundTrip(c, fmt.Sprintf("tls-%s-%v-%v-%d", backend, implicit, epsv, n), randomBytes(n)); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
		}
		crossed := eventually(func() bool {
			return px.counter(t, "tls_handshakes") > 0 && px.counter(t, "bytes_down") >= 4*(3<<20)
		})
		if !crossed {
			t.Fatalf("backend %s: handshakes %d, bytes down %d: the traffic did not cross algd under TLS",
				backend, px.counter(t, "tls_handshakes"), px.counter(t, "bytes_down"))
		}
	}
}

// TestFTPSPlainClientTLSBackend serves a plain client from a realserver
// reached over TLS.
func TestFTPSPlainClientTLSBackend(t *testing.T) {
	cert, _ := testCert(t)
	servers := startFTPServersWith(t, 1, "", &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	settings := tlsSettings(t, cert, "explicit")
	settings.Cert, settings.Key = "", "" // no certificate towards clients
	px := startProxy(t, servers, proxyOpts{first: 61800, last: 61809, tls: settings})
	c, err := dialFTP(t, px.addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := roundTrip(c, "plain-to-tls", randomBytes(1<<20)); err != nil {
		t.Fatal(err)
	}
}

// TestFTPSReuse: with require_reuse a data connection must resume the
// control session; a client with a session cache does, one without is
// refused and counted.
func TestFTPSReuse(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61810, last: 61819}, func(s *conf.TLS) {
		s.RequireReuse = true
	})
	c, err := dialTLSWith(t, px.addr, false, true, tls12(roots, tls.NewLRUClientSessionCache(8)))
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, "reuse", randomBytes(100000)); err != nil {
		t.Fatalf("a resuming client was refused: %v", err)
	}
	c.Quit()
	c, err = dialTLSWith(t, px.addr, false, true, tls12(roots, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := roundTrip(c, "noreuse", randomBytes(1000)); err == nil {
		t.Fatal("a data connection without resumption was accepted under require_reuse")
	}
	if px.counter(t, "tls_reuse_refused") == 0 {
		t.Fatal("refusal not counted")
	}
}

// TestFTPSCommands checks the security commands' replies and tls.required.
func TestFTPSCommands(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61820, last: 61829}, func(s *conf.TLS) {
		s.Required = true
	})
	s := rawDial(t, clientIP, px.addr)
	s.reply()
	for _, tc := range []struct{ cmd, want string }{
		{"USER demo", "530 "},
		{"PBSZ 0", "503 "},
		{"PROT P", "503 "},
		{"AUTH KERBEROS", "504 "},
		{"FEAT", "211 "},
		{"CCC", "534 "},
	} {
		s.expect(tc.cmd, tc.want)
	}
	s.startTLS(roots)
	for _, c := range []struct{ cmd, want string }{
		{"AUTH TLS", "503 "},
		{"PBSZ 0", "200 "},
		{"PROT S", "536 "},
		{"PROT P", "200 "},
		{"USER demo", "331 "},
		{"PASS demo", "230 "},
	} {
		s.expect(c.cmd, c.want)
	}
}

// TestFTPSHostileHandshakes sends garbage instead of a ClientHello and
// stalls handshakes, on the implicit listener and after AUTH TLS: they are
// dropped after the handshake timeout while a transfer goes on.
func TestFTPSHostileHandshakes(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61830, last: 61839}, func(s *conf.TLS) {
		s.HandshakeTimeout = conf.Duration{Duration: 300 * time.Millisecond}
	})

	var wg sync.WaitGroup
	wg.Add(1)
	honest := make(chan error, 1)
	go func() {
		defer wg.Done()
		c, err := dialTLS(t, px.implicit, true, true, roots, nil)
		if err != nil {
			honest <- err
			return
		}
		defer c.Quit()
		for i := range 5 {
			if err := roundTrip(c, fmt.Sprintf("honest-%d", i), randomBytes(2<<20)); err != nil {
				honest <- err
				return
			}
		}
		honest <- nil
	}()
	dropped := func(c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("connection still open 5 s after a 300 ms handshake timeout")
				}
				return
			}
		}
	}
	garbage := rawDial(t, clientIP, px.implicit)
	garbage.c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	dropped(garbage.c)
	stall := rawDial(t, clientIP, px.implicit)
	dropped(stall.c)
	auth := rawDial(t, clientIP, px.addr)
	auth.reply()
	if r := auth.cmd("AUTH TLS"); !strings.HasPrefix(r, "234 ") {
		t.Fatalf("AUTH TLS: %q", r)
	}
	dropped(auth.c)
	wg.Wait()
	if err := <-honest; err != nil {
		t.Fatalf("the honest client failed meanwhile: %v", err)
	}
	// A timed-out handshake closes the connection before it returns, so
	// the count may trail the close by a moment.
	for deadline := time.Now().Add(5 * time.Second); px.counter(t, "tls_failures") < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if px.counter(t, "tls_failures") < 3 {
		t.Fatalf("TLS failures counted %d, want at least 3", px.counter(t, "tls_failures"))
	}
}

// TestFTPSRequireProtP: with require_prot_p, PROT C is answered 534 and
// every data command before PROT P 521, counted, and nothing reaches the
// realserver; after PROT P transfers work (sha256), and a library client
// that sets PROT P itself never notices.
func TestFTPSRequireProtP(t *testing.T) {
	px, roots := startFTPS(t, proxyOpts{first: 61860, last: 61869}, func(s *conf.TLS) {
		s.Required = true
		s.RequireProtP = true
	})
	s := rawDial(t, clientIP, px.addr)
	s.reply()
	refused := int64(0)
	expect := func(cmd, want string, counted bool) {
		t.Helper()
		s.expect(cmd, want)
		if counted {
			refused++
		}
		if n := px.counter(t, "commands_refused."+algftp.RefusedProt.String()); n != refused {
			t.Fatalf("after %s: prot refusals %d, want %d", cmd, n, refused)
		}
	}
	expect("PASV", "521 ", true)
	expect("PROT C", "503 ", false) // before AUTH TLS
	s.startTLS(roots)
	expect("USER demo", "331 ", false)
	expect("PASS demo", "230 ", false)
	for _, cmd := range []string{"PASV", "EPSV", "PORT 127,0,0,5,250,10", "EPRT |1|127.0.0.5|64010|", "LIST", "NLST", "MLSD",
		"RETR x", "STOR x", "STOU", "APPE x", "list", "Retr x"} {
		expect(cmd, "521 ", true)
	}
	expect("PBSZ 0", "200 ", false)
	expect("PROT C", "534 ", true)
	expect("prot c", "534 ", true)
	expect("PROT P", "200 ", false)
	expect("PROT C", "534 ", true) // PROT P cannot be undone
	expect("EPSV ALL", "200 ", false)
	expect("EPSV", "229 ", false)

	c, err := dialTLS(t, px.addr, false, true, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := roundTrip(c, "protp.bin", randomBytes(100<<10)); err != nil {
		t.Fatal(err)
	}
}

// startTLS sends AUTH TLS, expects 234 and handshakes, trusting roots.
func (s *rawSession) startTLS(roots *x509.CertPool) {
	s.t.Helper()
	if r := s.cmd("AUTH TLS"); !strings.HasPrefix(r, "234 ") {
		s.t.Fatalf("AUTH TLS: %q", r)
	}
	tc := tls.Client(s.c, &tls.Config{RootCAs: roots, ServerName: vipIP})
	if err := tc.Handshake(); err != nil {
		s.t.Fatal(err)
	}
	s.c = tc
}
