//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
	"github.com/algd/algd/tests/fakeftpd"
)

// TestReplyMemory measures algd's memory per session under hostile
// multi-line replies (BENCHMARKS.md, "Memory under huge replies"): a
// realserver in this process answers STAT with an 80 MB reply (9,990
// lines of 8,000 bytes: a directory of long names), 20 clients send STAT
// and never read, and algd's VmRSS is sampled once the realserver can
// write no more (every session blocked on its client) and again 5 s later.
// ALGD_BIN runs a prebuilt binary (another version, to compare); otherwise
// ./cmd/algd is built.
//
//	go test -tags bench -run '^TestReplyMemory$' -v ./bench/
func TestReplyMemory(t *testing.T) {
	const sessions = 20
	ctx := context.Background()
	bin, err := algdrun.FromEnv(ctx, t.TempDir())
	if err != nil || bin == "" {
		t.Fatalf("algd binary: %q, %v", bin, err)
	}
	rs := fakeftpd.Stat(t, "127.77.0.61", fakeftpd.StatLines(9990, 8000))
	vip := netip.MustParseAddrPort("127.77.0.62:2121")
	cfg := fmt.Sprintf(`[[pool]]
name = "p"
realservers = [{ address = %q }]
health = { kind = "none" }

[[ftp]]
name = "vip"
listen = [%q]
pool = "p"
passive_ports = "61950-61959"

[limits]
control_idle_timeout = "5m"

[log]
level = "warn"
`, rs.Addr.String(), vip.String())
	p := algdrun.StartTOML(t, bin, cfg, []netip.AddrPort{vip}, algdrun.Options{})
	time.Sleep(2 * time.Second)
	base, err := rssBytes(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range sessions {
		c, err := net.Dial("tcp", vip.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
			t.Fatalf("greeting %q, %v", l, err)
		}
		if _, err := c.Write([]byte("STAT /big\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	start := time.Now()
	last := rs.WaitBlocked()
	blocked, err := rssBytes(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	later, err := rssBytes(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			n++ // the session is alive: algd relayed part of the reply
		}
	}
	mib := func(b float64) float64 { return b / (1 << 20) }
	t.Logf("%s: %d sessions, realserver wrote %.0f MiB in %s; sessions still relaying: %d",
		bin, sessions, mib(float64(last)), time.Since(start).Round(time.Second), n)
	t.Logf("VmRSS idle %.1f MiB; all blocked %.1f MiB (%+.0f KiB per session); 5 s later %.1f MiB (%+.0f KiB per session)",
		mib(base), mib(blocked), (blocked-base)/sessions/1024, mib(later), (later-base)/sessions/1024)
	if n != sessions {
		t.Errorf("%d of %d sessions relay the reply", n, sessions)
	}
}
