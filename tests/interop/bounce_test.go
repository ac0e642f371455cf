//go:build interop

package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// thirdParty is the address a bounce (FXP) attempt names: a host that is
// neither the client nor the server.
var thirdParty = netip.MustParseAddrPort("127.0.0.6:5000")

// bounceBackends: one ftpd and one algd listener each.
var bounceBackends = []backend{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.41:2141"), 64800, 64849, netip.AddrPortFrom(vip, 2116), 63450, 63469},
	{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.42:2142"), 64850, 64899, netip.AddrPortFrom(vip, 2118), 63470, 63489},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.43:2143"), 64900, 64949, netip.AddrPortFrom(vip, 2120), 63490, 63499},
}

// bounceLabels are the attempts of the ftplib Bounce run: PORT and EPRT
// to the third party, PORT to port 22 of the client's own address.
var bounceLabels = []string{"PORT", "EPRT", "PORT22"}

// TestBounce: python ftplib asks for active data to a third party
// (sendport/sendeprt to 127.0.0.6:5000) and to a privileged port of its
// own address (PORT 127,0,0,5,0,22). Through algd each must be answered
// 504 and counted in the log, and a listener on the third party must
// never see a connection. Directly, each ftpd's own answer is recorded
// for comparison.
func TestBounce(t *testing.T) {
	peers.RequireTools(t, "timeout", "python3")
	ln, err := net.Listen("tcp", thirdParty.String())
	if err != nil {
		t.Fatalf("third party listener: %v", err)
	}
	defer ln.Close()
	var cols []string
	for _, v := range []via{direct, through} {
		for _, l := range bounceLabels {
			cols = append(cols, fmt.Sprintf("%s %s", v, l))
		}
	}
	tab := results.table("Bounce (FXP) refusal",
		fmt.Sprintf("python ftplib: `sendport`/`sendeprt` naming a third party (%s), and `PORT h,h,h,h,0,22` naming the client's own port 22. "+
			"Reply codes; ✓ means refused and no connection reached the third party.", thirdParty),
		[]string{"server"}, cols)
	for _, b := range bounceBackends {
		results.row(tab, string(b.kind))
	}
	for _, b := range bounceBackends {
		t.Run(string(b.kind), func(t *testing.T) {
			srv := peers.Start(t, b.kind, peers.Options{Addr: b.addr, PassiveFirst: b.passiveFirst, PassiveLast: b.passiveLast})
			vias := []via{direct}
			var proc *algdrun.Proc
			if algdBin != "" {
				vias = append(vias, through)
				proc = algdrun.Start(t, algdBin, algdrun.Config{Listeners: []algdrun.Listener{{
					Name: string(b.kind), Listen: b.vip, Realservers: []netip.AddrPort{b.addr},
					PassiveFirst: b.algdFirst, PassiveLast: b.algdLast,
				}}}, algdrun.Options{})
			}
			for _, v := range vias {
				t.Run(string(v), func(t *testing.T) {
					target := b.addr
					if v == through {
						target = b.vip
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					res := peers.Run(ctx, peers.Request{Client: peers.Ftplib, Mode: peers.PORT, Op: peers.Bounce,
						Server: target, User: srv.User, Password: srv.Password, Source: clientIP,
						Dir: t.TempDir(), Bounce: thirdParty})
					row := []string{string(b.kind)}
					reached := accepted(ln)
					for _, l := range bounceLabels {
						code := res.Results[l]
						refused := code >= 500 && code <= 599 && res.Results["LIST-after-"+l] == 0
						st := passed
						if !refused || reached != "" {
							st = failed
						}
						results.mark(tab, row, fmt.Sprintf("%s %s", v, l), st)
						results.text(tab, row, fmt.Sprintf("%s %s", v, l), fmt.Sprint(code))
						switch {
						case v == through && code != 504:
							t.Errorf("%s through algd answered %d, want 504", l, code)
						case v == direct && !refused:
							t.Logf("direct %s answered %d (LIST after it: %d): %s accepts it", l, code, res.Results["LIST-after-"+l], b.kind)
						}
					}
					if reached != "" {
						t.Errorf("the third party %s got a connection from %s", thirdParty, reached)
					}
					if v == through {
						if n := strings.Count(proc.Log(), "active data to a foreign address refused"); n < len(bounceLabels) {
							t.Errorf("algd logged %d bounce refusals, want %d", n, len(bounceLabels))
						}
					}
					if res.Err != nil {
						t.Errorf("%v", res.Err)
					}
					if t.Failed() {
						t.Logf("transcript:\n%s", res.Transcript)
					}
				})
			}
		})
	}
}

// accepted returns the remote address of a connection waiting on ln, or
// "" when there is none. A connect that an ftpd made for a LIST is in
// the accept queue before the ftpd answered the LIST, so there is no
// race with the client run that just ended.
func accepted(ln net.Listener) string {
	tl := ln.(*net.TCPListener)
	_ = tl.SetDeadline(time.Now().Add(100 * time.Millisecond))
	c, err := tl.Accept()
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.RemoteAddr().String()
}
