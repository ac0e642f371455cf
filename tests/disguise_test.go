package tests

import (
	"crypto/tls"
	"net"
	"net/netip"
	"testing"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/tests/disguise"
)

// TestDisguises runs the disguise table (tests/disguise) through algd in
// front of ftpserverlib, with [ftp.tls] required and require_prot_p,
// bounce refusal and backend_data_mode "active": every line is refused
// (500, counted by reason) or read the way the realserver acts on it. A
// disguised USER or PASS never logs in without TLS, a disguised PORT or
// EPRT naming algd's own backend-side address never makes a connection
// there, a disguised PROT C never turns protection off. The interop
// suite runs the same table against vsftpd, pure-ftpd and proftpd.
func TestDisguises(t *testing.T) {
	const backendSide = "127.0.0.8"
	px, roots := startFTPS(t, proxyOpts{first: 61840, last: 61849,
		backendPorts: [2]uint16{61850, 61859}, backendSource: backendSide}, func(s *conf.TLS) {
		s.Required = true
		s.RequireProtP = true
	})
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(backendSide)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	disguise.Run(t, disguise.Env{
		VIP:      px.addr,
		From:     netip.MustParseAddr(clientIP),
		TLS:      &tls.Config{RootCAs: roots, ServerName: vipIP},
		User:     "demo",
		Password: "demo",
		Target:   ln,
		Counters: func() (map[string]int64, error) {
			m := px.counters(t, "commands_refused")
			m["bounce"] = px.counter(t, "bounce")
			return m, nil
		},
	})
}
