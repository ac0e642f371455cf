//go:build interop

package interop

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/peers"
)

// abortBackends: one ftpd and one algd listener each, apart from the
// matrix's addresses and ranges.
var abortBackends = []backend{
	{peers.Vsftpd, netip.MustParseAddrPort("127.0.0.31:2131"), 64400, 64499, netip.AddrPortFrom(vip, 2110), 63300, 63349},
	{peers.PureFTPd, netip.MustParseAddrPort("127.0.0.32:2132"), 64500, 64699, netip.AddrPortFrom(vip, 2112), 63350, 63399},
	{peers.ProFTPd, netip.MustParseAddrPort("127.0.0.33:2133"), 64700, 64799, netip.AddrPortFrom(vip, 2114), 63400, 63449},
}

// bigSize is larger than every socket buffer between client and ftpd
// (two TCP connections through algd), so a download is still running
// when the client aborts it.
const bigSize = 64 << 20

// abortCase is one client aborting a download.
type abortCase struct {
	client peers.Client
	mode   peers.Mode
}

// abortCases: lftp interrupts a rate-limited get (Telnet IP, urgent DM,
// ABOR); ftplib reads 1 MiB of a RETR and calls ftp.abort() (ABOR with
// MSG_OOB), in passive and in active mode.
var abortCases = []abortCase{{peers.LFTP, peers.EPSV}, {peers.Ftplib, peers.PASV}, {peers.Ftplib, peers.PORT}}

// TestAbort aborts a 64 MiB download with real clients, directly and
// through algd, against each ftpd, and checks on the same session that
// the next command is answered and a full download is byte-exact. The
// direct half is the comparison and is only reported; through algd every
// case must pass.
func TestAbort(t *testing.T) {
	peers.RequireTools(t, "timeout", "lftp", "python3")
	var cols []string
	for _, c := range abortCases {
		for _, v := range []via{direct, through} {
			cols = append(cols, fmt.Sprintf("%s %s %s", c.client, c.mode, v))
		}
	}
	tab := results.table("ABOR",
		"A 64 MiB download aborted part way (lftp: Telnet IP + urgent DM + ABOR on a rate-limited `get`; "+
			"ftplib: `ftp.abort()`, ABOR with MSG_OOB), then on the same session NOOP (ftplib) and a full download checked by sha256. "+
			"vsftpd reads ABOR only once the data connection closes (async_abor_enable=NO), so a client that waits "+
			"for the ABOR reply before closing its data connection hangs directly and needs algd to cut it.",
		[]string{"server"}, cols)
	for _, b := range abortBackends {
		results.row(tab, string(b.kind))
	}
	for _, b := range abortBackends {
		t.Run(string(b.kind), func(t *testing.T) {
			t.Parallel()
			b.abort(t, tab)
		})
	}
}

func (b backend) abort(t *testing.T, tab *table) {
	srv := peers.Start(t, b.kind, peers.Options{Addr: b.addr, PassiveFirst: b.passiveFirst, PassiveLast: b.passiveLast})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", b.kind, srv.Log())
		}
	})
	dir := t.TempDir()
	src, sum := peers.RandomFile(t, dir, "big", bigSize)
	if err := srv.Put(src, "big"); err != nil {
		t.Fatalf("put: %v", err)
	}
	vias := []via{direct}
	var proc *algdrun.Proc
	if algdBin != "" {
		vias = append(vias, through)
		// Debug: every command and reply is in the log a failure prints.
		proc = algdrun.Start(t, algdBin, algdrun.Config{Level: "debug", Listeners: []algdrun.Listener{{
			Name: string(b.kind), Listen: b.vip, Realservers: []netip.AddrPort{b.addr},
			PassiveFirst: b.algdFirst, PassiveLast: b.algdLast,
		}}}, algdrun.Options{})
	}
	for _, c := range abortCases {
		directOK := false
		for _, v := range vias {
			name := fmt.Sprintf("%s/%s/%s", c.client, c.mode, v)
			var res peers.Result
			ok := t.Run(name, func(t *testing.T) {
				target := b.addr
				if v == through {
					target = b.vip
				}
				local := filepath.Join(dir, fmt.Sprintf("got-%s-%s-%s", c.client, c.mode, v))
				before := 0
				if proc != nil {
					before = len(proc.Transfers())
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				res = peers.Run(ctx, peers.Request{Client: c.client, Mode: c.mode, Op: peers.Abort,
					Server: target, User: srv.User, Password: srv.Password, Remote: srv.Remote("big"),
					Local: local, Source: clientIP, Dir: dir, Timeout: 90 * time.Second})
				if v == direct {
					// The baseline: report what the ftpd did, never fail.
					if err := checkAbort(res, local, sum); err != nil {
						t.Logf("direct: %v (recorded, not a failure)\n%s", err, res.Transcript)
					} else {
						directOK = true
					}
					return
				}
				if err := checkAbort(res, local, sum); err != nil {
					if !directOK {
						// What fails directly (lftp and pure-ftpd disagree
						// on ABOR's replies) is recorded, not required.
						t.Logf("fails directly too: %v\ntranscript:\n%s", err, res.Transcript)
						return
					}
					t.Fatalf("%v\ntranscript:\n%s", err, res.Transcript)
				}
				b.checkAbortLog(t, proc, before)
			})
			st := failed
			if ok && checkAbort(res, filepath.Join(dir, fmt.Sprintf("got-%s-%s-%s", c.client, c.mode, v)), sum) == nil {
				st = passed
			}
			results.mark(tab, []string{string(b.kind)}, fmt.Sprintf("%s %s %s", c.client, c.mode, v), st)
		}
	}
}

// checkAbort says what is wrong with an Abort run: the client must have
// sent ABOR, logged in once (the session survived), and downloaded the
// whole file afterwards.
func checkAbort(res peers.Result, local, sum string) error {
	if res.Err != nil {
		return res.Err
	}
	if res.Sent("ABOR") == 0 {
		return fmt.Errorf("the client never sent ABOR")
	}
	if n := res.Count(230); n != 1 {
		return fmt.Errorf("the client logged in %d times, want 1 (one session throughout)", n)
	}
	if res.Sent("RETR") < 2 {
		return fmt.Errorf("the client sent %d RETR, want the aborted one and a full one", res.Sent("RETR"))
	}
	got, err := peers.SHA256File(local)
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("download after ABOR: sha256 %s, want %s", got, sum)
	}
	return nil
}

// checkAbortLog asserts algd's data done lines for an abort run: the
// aborted transfer carried less than the file, the last one all of it.
func (b backend) checkAbortLog(t *testing.T, proc *algdrun.Proc, before int) {
	t.Helper()
	got, err := proc.TransfersAfter(before, 2)
	if err != nil {
		t.Error(err)
		return
	}
	// algd passes ABOR on and cuts the data connection only after a grace
	// (servers that read ABOR mid-transfer stop by themselves), so a
	// transfer may also end complete before the server acts on it.
	if first := got[0]; first.Down > bigSize || first.Up != 0 {
		t.Errorf("aborted transfer: algd counted down=%d up=%d, want down<=%d up=0\n%s", first.Down, first.Up, bigSize, first.Line)
	}
	if last := got[len(got)-1]; last.Down != bigSize || last.Up != 0 {
		t.Errorf("download after ABOR: algd counted down=%d up=%d, want down=%d up=0\n%s", last.Down, last.Up, bigSize, last.Line)
	}
}
