//go:build interop

package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// The hostile suite's ftpd and algd listener, apart from the matrix's.
var (
	hostileFTPd     = netip.MustParseAddrPort("127.0.0.55:2155")
	hostileExplicit = netip.AddrPortFrom(vip, 2192)
	hostileImplicit = netip.AddrPortFrom(vip, 2194)
)

// hostileTimeout is algd's handshake_timeout in the hostile suite.
const hostileTimeout = 2 * time.Second

// hostileClient is one kind of misbehaving FTPS client.
type hostileClient struct {
	name string
	// implicit: the client talks to the implicit port; otherwise it reads
	// the greeting on the explicit port, sends AUTH TLS and reads 234.
	implicit bool
	// send is what it writes next (nothing: it stays silent).
	send []byte
	// stalls: algd can only drop it when handshake_timeout expires, not
	// before; otherwise algd may drop it at once.
	stalls bool
}

// hostileClients: garbage where a ClientHello belongs is dropped at
// once; a client that starts a handshake and stops, or never starts it,
// is dropped when handshake_timeout expires.
var hostileClients = []hostileClient{
	{"FTP commands on the implicit port", true, []byte("USER anonymous\r\nPASS x\r\n"), false},
	{"silence on the implicit port", true, nil, true},
	{"half a ClientHello on the implicit port", true, []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}, true},
	{"silence after AUTH TLS", false, nil, true},
	{"FTP commands after AUTH TLS", false, []byte("USER anonymous\r\n"), false},
}

// hostileEach is how many connections of each kind run at once.
const hostileEach = 4

// TestFTPSHostile opens hostileEach connections of each hostile kind to
// algd (handshake_timeout 2s) while an honest client downloads 5 MiB
// over explicit FTPS at 1 MiB/s through the same listener, and checks
// that every hostile connection is closed by algd (the silent ones not
// before the timeout, none later than 10 s after it), each before the
// honest transfer ends, and that the honest transfer is byte-exact. algd
// must log each failed handshake.
func TestFTPSHostile(t *testing.T) {
	peers.RequireTools(t, "timeout", "curl")
	if algdBin == "" {
		t.Skip("ALGD_INTEROP_DIRECT=1: there is no direct half to run")
	}
	tab := results.table("FTPS: hostile clients",
		fmt.Sprintf("%d connections of each kind against algd with `handshake_timeout = \"%v\"`, while curl downloads "+
			"5 MiB over explicit FTPS at 1 MiB/s through the same listener (vsftpd, TLS realserver leg). "+
			"`dropped after` is the slowest of the kind, from connect (or from the 234 reply) to algd closing it.",
			hostileEach, hostileTimeout),
		[]string{"client"}, []string{"dropped", "dropped after", "honest transfer meanwhile"})
	for _, h := range hostileClients {
		results.row(tab, h.name)
	}

	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vipFiles := ca.Issue(t, "vip", vip)
	ftpdFiles := ca.Issue(t, "ftpd", hostileFTPd.Addr())
	srv := peers.Start(t, peers.Vsftpd, peers.Options{Addr: hostileFTPd, PassiveFirst: 65450, PassiveLast: 65499,
		TLS: &ftpdFiles, RequireReuse: true})
	src, sum := peers.RandomFile(t, dir, "big", 5<<20)
	if err := srv.Put(src, "big"); err != nil {
		t.Fatalf("put: %v", err)
	}
	proc := algdrun.Start(t, algdBin, algdrun.Config{Level: "debug", Listeners: []algdrun.Listener{{
		Name: "hostile", Listen: hostileExplicit, Realservers: []netip.AddrPort{hostileFTPd},
		PassiveFirst: 62400, PassiveLast: 62449,
		TLS: &algdrun.TLS{Cert: vipFiles.Cert, Key: vipFiles.Key, Implicit: []netip.AddrPort{hostileImplicit},
			Backend: "explicit", BackendCA: ca.File, HandshakeTimeout: hostileTimeout},
	}}}, algdrun.Options{})

	// The hostile connections start first, so the honest client's
	// handshakes run while theirs are pending.
	type drop struct {
		after time.Duration
		at    time.Time
		err   error
	}
	drops := make([][]drop, len(hostileClients))
	var wg sync.WaitGroup
	for i, h := range hostileClients {
		drops[i] = make([]drop, hostileEach)
		for j := range hostileEach {
			wg.Add(1)
			go func() {
				defer wg.Done()
				after, err := h.run()
				drops[i][j] = drop{after, time.Now(), err}
			}()
		}
	}
	local := filepath.Join(dir, "got")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := peers.Run(ctx, peers.Request{Client: peers.Curl, Mode: peers.EPSV, Op: peers.Download, TLS: peers.Explicit,
		CAFile: ca.File, Server: hostileExplicit, User: srv.User, Password: srv.Password, Remote: srv.Remote("big"),
		Local: local, Source: clientIP, Dir: dir, LimitRate: 1 << 20, Timeout: 40 * time.Second})
	honestEnd := time.Now()
	wg.Wait()

	honest := "✓"
	if err := checkHonest(res, local, sum, proc); err != nil {
		honest = "✗"
		t.Errorf("honest FTPS download: %v\ntranscript:\n%s", err, res.Transcript)
	}
	for i, h := range hostileClients {
		st, slowest := passed, time.Duration(0)
		for _, d := range drops[i] {
			slowest = max(slowest, d.after)
			switch {
			case d.err != nil:
				t.Errorf("%s: %v", h.name, d.err)
				st = failed
			case h.stalls && d.after < hostileTimeout*9/10:
				// algd's clock starts a little before ours after AUTH
				// TLS (it sent the 234 we waited for), hence the margin.
				t.Errorf("%s: dropped after %v, before the %v handshake timeout", h.name, d.after, hostileTimeout)
				st = failed
			case d.at.After(honestEnd):
				t.Errorf("%s: dropped %v after the honest transfer had ended: it did not run meanwhile",
					h.name, d.at.Sub(honestEnd))
				st = failed
			}
		}
		results.mark(tab, []string{h.name}, "dropped", st)
		after := "not within 10 s of the timeout"
		if st == passed {
			after = fmt.Sprintf("%.1f s", slowest.Seconds())
		}
		results.text(tab, []string{h.name}, "dropped after", after)
		results.text(tab, []string{h.name}, "honest transfer meanwhile", honest)
	}

	// algd's account of it: every implicit handshake that failed, and every
	// session whose AUTH TLS handshake failed.
	var implicitN, explicitN int
	for _, h := range hostileClients {
		if h.implicit {
			implicitN += hostileEach
		} else {
			explicitN += hostileEach
		}
	}
	if n := len(proc.Entries("implicit TLS handshake failed")); n != implicitN {
		t.Errorf("algd logged %d failed implicit handshakes, want %d", n, implicitN)
	}
	n := 0
	for _, e := range proc.Entries("session end") {
		if strings.Contains(e.Str("reason"), "TLS handshake") {
			n++
		}
	}
	if n != explicitN {
		t.Errorf("algd logged %d sessions ended by a failed AUTH TLS handshake, want %d", n, explicitN)
	}
}

// run plays the hostile client and returns how long algd took to close
// the connection, counted from the moment the client stopped talking, or
// an error when algd did not close it within the handshake timeout
// plus 10 s.
func (h hostileClient) run() (time.Duration, error) {
	addr := hostileExplicit
	if h.implicit {
		addr = hostileImplicit
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 0)), Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	limit := hostileTimeout + 10*time.Second
	c.SetDeadline(time.Now().Add(limit + 10*time.Second))
	r := bufio.NewReader(c)
	if !h.implicit {
		if err := expectReply(r, "220"); err != nil {
			return 0, err
		}
		if _, err := c.Write([]byte("AUTH TLS\r\n")); err != nil {
			return 0, fmt.Errorf("AUTH TLS: %w", err)
		}
		if err := expectReply(r, "234"); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if len(h.send) > 0 {
		if _, err := c.Write(h.send); err != nil && !isDrop(err) {
			return 0, fmt.Errorf("write: %w", err)
		}
	}
	c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for {
		_, err := r.Read(buf)
		if err == nil {
			continue // an alert: algd is closing
		}
		if isDrop(err) {
			return time.Since(start), nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Errorf("still open %v after it stopped talking (handshake_timeout %v)", limit, hostileTimeout)
		}
		return 0, fmt.Errorf("read: %w", err)
	}
}

// isDrop reports whether err means the peer closed or reset the
// connection.
func isDrop(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

// expectReply reads one reply (the last line of a multi-line one) and
// requires its code.
func expectReply(r *bufio.Reader, code string) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", code, err)
		}
		if len(line) >= 4 && line[3] == ' ' {
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("want %s, got %q", code, line)
			}
			return nil
		}
	}
}

// checkHonest checks the honest download: exit status, sha256, TLS, and
// algd's data done line for the 5 MiB.
func checkHonest(res peers.Result, local, sum string, proc *algdrun.Proc) error {
	if res.Err != nil {
		return res.Err
	}
	got, err := peers.SHA256File(local)
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("sha256 %s, want %s", got, sum)
	}
	if res.Sent("AUTH") == 0 || res.Sent("PROT") == 0 {
		return fmt.Errorf("curl sent %d AUTH and %d PROT: not FTPS", res.Sent("AUTH"), res.Sent("PROT"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, err := proc.WaitTransfers(ctx, 1)
	if err != nil {
		return err
	}
	if ts[len(ts)-1].Down != 5<<20 {
		return fmt.Errorf("algd counted down=%d, want %d", ts[len(ts)-1].Down, 5<<20)
	}
	return nil
}
