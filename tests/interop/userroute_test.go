//go:build interop

package interop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// TestUserRouting runs one algd listener with route_by = "user" in front
// of vsftpd (whose login here is anonymous) and proftpd (a virtual user
// "algd"): user "anonymous" is routed to the vsftpd pool by a user_file
// line, every other user to the listener's default pool, proftpd. Each
// client (curl, lftp, python ftplib) uploads and downloads in every mode
// it supports; the upload must land in the home of the user's server and
// not the other's, and both directions must be byte-exact (sha256). A
// wrong password is answered by the realserver's own 530 through algd.
func TestUserRouting(t *testing.T) {
	peers.RequireTools(t, "timeout", "python3", "curl", "lftp")
	if algdBin == "" {
		t.Fatal("user routing needs algd (ALGD_INTEROP_DIRECT is set)")
	}
	vs := peers.Start(t, peers.Vsftpd, peers.Options{Addr: netip.MustParseAddrPort("127.0.0.81:2281"), PassiveFirst: 64100, PassiveLast: 64119})
	pro := peers.Start(t, peers.ProFTPd, peers.Options{Addr: netip.MustParseAddrPort("127.0.0.82:2282"), PassiveFirst: 64120, PassiveLast: 64139})
	if vs.User == pro.User {
		t.Fatalf("vsftpd and proftpd log in the same user %q: routing by user cannot tell them apart", vs.User)
	}
	users := t.TempDir() + "/users"
	if err := os.WriteFile(users, []byte(fmt.Sprintf("# user pool\n%s vs\n", vs.User)), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := netip.AddrPortFrom(vip, 2283)
	health := `health = { kind = "ftp", interval = "1s", timeout = "900ms", rise = 1, fall = 3 }`
	text := fmt.Sprintf(`[log]
format = "json"
level = "debug"

[[pool]]
name = "vs"
%s
realservers = [{ address = %q }]

[[pool]]
name = "pro"
%s
realservers = [{ address = %q }]

[[ftp]]
name = "users"
listen = [%q]
pool = "pro"
passive_ports = "64140-64179"
route_by = "user"
greeting = "algd user routing"
user_file = %q
`, health, vs.Addr.String(), health, pro.Addr.String(), listen.String(), users)
	proc := algdrun.StartTOML(t, algdBin, text, []netip.AddrPort{listen}, algdrun.Options{})

	for _, srv := range []*peers.Server{vs, pro} {
		other := pro
		if srv == pro {
			other = vs
		}
		for _, client := range peers.Clients() {
			for _, mode := range peers.Modes() {
				if !peers.Supports(client, mode, false) {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", srv.Kind, client, mode), func(t *testing.T) {
					name := fmt.Sprintf("user-%s-%s-%s", srv.Kind, client, mode)
					dir := t.TempDir()
					local, sum := peers.RandomFile(t, dir, name, 3<<20+5)
					run := func(op peers.Op, file string) {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
						defer cancel()
						res := peers.Run(ctx, peers.Request{Client: client, Mode: mode, Op: op, Server: listen,
							User: srv.User, Password: srv.Password, Remote: srv.Remote(name), Local: file,
							Source: clientIP, Dir: dir})
						if res.Err != nil {
							t.Fatalf("%s: %v\n%s", op, res.Err, res.Transcript)
						}
					}
					run(peers.Upload, local)
					if got, err := peers.SHA256File(srv.Path(name)); err != nil || got != sum {
						t.Fatalf("user %s: %s stored sha256 %s (%v), sent %s", srv.User, srv.Kind, got, err, sum)
					}
					if _, err := os.Stat(other.Path(name)); err == nil {
						t.Fatalf("user %s's upload landed on %s too", srv.User, other.Kind)
					}
					back := local + ".back"
					run(peers.Download, back)
					if got, err := peers.SHA256File(back); err != nil || got != sum {
						t.Fatalf("download: sha256 %s (%v), want %s", got, err, sum)
					}
				})
			}
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir := t.TempDir()
		res := peers.Run(ctx, peers.Request{Client: peers.Ftplib, Mode: peers.EPSV, Op: peers.Download, Server: listen,
			User: pro.User, Password: "wrong-" + pro.Password, Remote: pro.Remote("none"), Local: dir + "/none",
			Source: clientIP, Dir: dir})
		if res.Err == nil || !strings.Contains(res.Transcript, "530") {
			t.Fatalf("a wrong password got through or without the realserver's 530: %v\n%s", res.Err, res.Transcript)
		}
	})

	log := proc.Log()
	for _, secret := range []string{pro.Password, vs.Password} {
		if strings.Contains(log, "PASS "+secret) || strings.Contains(log, "wrong-"+pro.Password) {
			t.Errorf("a password (%q) appears in algd's debug log", secret)
		}
	}
	if !strings.Contains(log, `"user":"`+pro.User+`"`) || !strings.Contains(log, `"user":"`+vs.User+`"`) {
		t.Errorf("algd's log does not name both users")
	}
}
