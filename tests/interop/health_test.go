//go:build interop

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// healthServer is one ftpd the ftp-login check probes, with its own
// addresses and ranges apart from every other suite's.
type healthServer struct {
	kind        peers.Kind
	addr        netip.AddrPort
	first, last uint16 // the ftpd's passive range
	vip         netip.AddrPort
	algdFirst   uint16 // algd's passive range: 50 ports
}

var healthServers = []healthServer{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.71:2171"), 61000, 61049, netip.MustParseAddrPort("127.0.0.70:2271"), 61100},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.72:2172"), 61050, 61099, netip.MustParseAddrPort("127.0.0.70:2272"), 61150},
}

// healthSource is algd's backend_source in this suite: every check must
// leave from it (the ftpds refuse data connections from another address
// than the control connection's).
const healthSource = "127.0.0.73"

// vsftpdProbePassword is the vsftpd probe account's password (anonymous
// with a password list): distinctive, so its absence from the logs
// proves something.
const vsftpdProbePassword = "vs-probe-0c61e9d4"

// TestHealthLogin runs the ftp-login check against vsftpd (anonymous with
// a password vsftpd checks: secure_email_list_enable) and proftpd (a
// virtual user), with TLS required to resume on data connections: probes
// "list" and "retr" over plain FTP, and "retr" over explicit FTPS
// (AUTH TLS, PROT P). Each keeps the realserver up; then a wrong password
// in the password file takes it down. The vsftpd password never appears
// in algd's debug log or /status.
func TestHealthLogin(t *testing.T) {
	if algdBin == "" {
		t.Skip("ALGD_INTEROP_DIRECT=1: this suite only tests algd")
	}
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	ftpdFiles := ca.Issue(t, "ftpd", netip.MustParseAddr("127.0.0.71"), netip.MustParseAddr("127.0.0.72"))
	other := peers.NewCA(t, t.TempDir())
	cols := []string{"list plain", "retr plain", "retr explicit", "untrusted CA"}
	tab := results.table("Health check ftp-login",
		"algd's `ftp-login` check against each ftpd (data TLS must resume the control session): a probe account logs in, "+
			"then lists (`list`) or fetches a 64 KiB file (`retr`) over plain FTP or explicit FTPS, from `backend_source`. "+
			"A cell passes when two checks in a row keep the realserver up and a wrong password in the password file then takes it down "+
			"with the failed `PASS` as its check error; \"untrusted CA\" passes when a `backend_ca` that did not sign the ftpd's "+
			"certificate keeps it down. vsftpd's probe account is anonymous with a password list (`secure_email_list_enable`), "+
			"proftpd's a virtual user.",
		[]string{"server"}, cols)
	for _, hs := range healthServers {
		t.Run(string(hs.kind), func(t *testing.T) {
			t.Parallel()
			srv := peers.Start(t, hs.kind, peers.Options{Addr: hs.addr, PassiveFirst: hs.first, PassiveLast: hs.last,
				TLS: &ftpdFiles, RequireReuse: true, AnonPassword: vsftpdProbePassword})
			p, _ := peers.RandomFile(t, t.TempDir(), "probe.bin", 64<<10)
			if err := srv.Put(p, "probe.bin"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				probe, backend string
			}{{"list", "plain"}, {"retr", "plain"}, {"retr", "explicit"}} {
				ok := t.Run(tc.probe+"-"+tc.backend, func(t *testing.T) {
					healthLoginCase(t, srv, hs, ca.File, tc.probe, tc.backend)
				})
				results.mark(tab, []string{string(hs.kind)}, tc.probe+" "+tc.backend, passedIf(ok))
			}
			// The explicit case really speaks TLS: a CA that did not
			// sign the ftpd's certificate fails every check.
			ok := t.Run("explicit-untrusted", func(t *testing.T) {
				adm, _ := healthAlgd(t, srv, hs, other.File, "login", "explicit", writePassFile(t, srv.Password))
				m := waitMember(t, adm, func(m admin.Realserver) bool { return !m.LastCheck.IsZero() }).Pools[0].Members[0]
				if m.Up || !strings.Contains(m.CheckError, "certificate") {
					t.Errorf("check towards an untrusted certificate: up %v, error %q", m.Up, m.CheckError)
				}
			})
			results.mark(tab, []string{string(hs.kind)}, "untrusted CA", passedIf(ok))
		})
	}
}

// writePassFile writes a password file holding password.
func writePassFile(t *testing.T, password string) string {
	t.Helper()
	passFile := filepath.Join(t.TempDir(), "probe.pass")
	if err := os.WriteFile(passFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return passFile
}

// healthAlgd starts algd in front of srv with an ftp-login check and
// returns its admin address and process.
func healthAlgd(t *testing.T, srv *peers.Server, hs healthServer, caFile, probe, backend, passFile string) (netip.AddrPort, *algdrun.Proc) {
	t.Helper()
	adm := netip.AddrPortFrom(hs.vip.Addr(), hs.vip.Port()+100)
	text := fmt.Sprintf(`[log]
format = "json"
level = "debug"

[admin]
listen = %q

[[pool]]
name = "p"
health = { kind = "ftp-login", user = %q, password_file = %q, probe = %q, probe_file = %q, interval = "2s", timeout = "1500ms", rise = 1, fall = 2 }
realservers = [{ address = %q }]

[[ftp]]
name = "vip"
listen = [%q]
pool = "p"
passive_ports = "%d-%d"
backend_source = %q
  [ftp.tls]
  backend = %q
  backend_ca = %q
`, adm, srv.User, passFile, probe, srv.Remote("probe.bin"), srv.Addr, hs.vip, hs.algdFirst, hs.algdFirst+49,
		healthSource, backend, caFile)
	// Ready once the admin listener answers: a VIP whose only realserver
	// is down answers 421, not 220.
	ready := func(ctx context.Context, _ netip.AddrPort) error {
		_, err := admin.Fetch(ctx, nil, adm.String())
		return err
	}
	px := algdrun.StartTOML(t, algdBin, text, []netip.AddrPort{hs.vip}, algdrun.Options{Ready: ready})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", srv.Kind, srv.Log())
		}
	})
	return adm, px
}

// healthLoginCase runs one algd with an ftp-login check of srv: two
// checks in a row pass, then a wrong password takes the realserver down.
func healthLoginCase(t *testing.T, srv *peers.Server, hs healthServer, caFile, probe, backend string) {
	passFile := writePassFile(t, srv.Password)
	adm, px := healthAlgd(t, srv, hs, caFile, probe, backend, passFile)

	// Two checks in a row pass.
	var passed time.Time
	st := waitMember(t, adm, func(m admin.Realserver) bool { return !m.LastCheck.IsZero() })
	for range 2 {
		m := st.Pools[0].Members[0]
		if !m.Up || m.CheckError != "" {
			t.Fatalf("%s probe %s (%s): up %v, check error %q", srv.Kind, probe, backend, m.Up, m.CheckError)
		}
		passed = m.LastCheck
		st = waitMember(t, adm, func(m admin.Realserver) bool { return m.LastCheck.After(passed) })
	}

	// A wrong password: down, and the check error says where.
	if err := os.WriteFile(passFile, []byte("wrong-"+srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := time.Now()
	st = waitMember(t, adm, func(m admin.Realserver) bool { return !m.Up })
	t.Logf("%s probe %s (%s): wrong password -> down in %v (interval 2s, fall 2)", srv.Kind, probe, backend, time.Since(wrong).Round(time.Millisecond))
	if m := st.Pools[0].Members[0]; !strings.Contains(m.CheckError, "PASS") {
		t.Errorf("check error %q, want the failed PASS", m.CheckError)
	}
	if len(px.Entries("realserver down")) == 0 {
		t.Error("no \"realserver down\" log line")
	}
	status, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(px.Log(), vsftpdProbePassword) || strings.Contains(string(status), vsftpdProbePassword) {
		t.Error("the probe password is in algd's log or /status")
	}
}

// waitMember polls /status.json at adm until the pool's only realserver
// satisfies ok (30 s at most) and returns that status.
func waitMember(t *testing.T, adm netip.AddrPort, ok func(admin.Realserver) bool) admin.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := admin.Fetch(ctx, nil, adm.String())
		cancel()
		if err == nil && len(st.Pools) == 1 && len(st.Pools[0].Members) == 1 && ok(st.Pools[0].Members[0]) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("realserver never as wanted: %+v, %v", st.Pools, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// passedIf is the report status of a subtest's result.
func passedIf(ok bool) status {
	if ok {
		return passed
	}
	return failed
}
