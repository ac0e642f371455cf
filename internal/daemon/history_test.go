package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
)

// TestStatusHistoryAndBytes runs FTP sessions through a live daemon and
// checks what the status page draws from: per-realserver bytes of ended
// sessions (sha256-checked downloads), the daemon's byte total, and a
// history whose throughput integrates to exactly that total, with a
// refused session showing as a refusal rate.
func TestStatusHistoryAndBytes(t *testing.T) {
	const size = 1 << 20
	f := newFarm(t, size, "127.0.0.41", "127.0.0.42")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	text := fmt.Sprintf(`[[pool]]
name = "farm"
scheduler = "rr"
health = { kind = "none" }
realservers = [{ address = %q }, { address = %q }]

[[ftp]]
name = "vip"
listen = [%q]
pool = "farm"
passive_ports = "63600-63699"

[limits]
max_sessions = 1

[admin]
listen = "ADMIN"
`, f.servers[0].Addr(), f.servers[1].Addr(), listen)
	d := startDaemonWith(t, text, slog.LevelInfo, false, Options{HistoryEvery: 200 * time.Millisecond})

	// Three downloads, one session at a time: rr gives 2 to one
	// realserver and 1 to the other.
	for i := range 3 {
		if err := download(listen, f.file, f.sum, 0, nil); err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		d.waitStatus(func(st admin.Status) bool { return len(st.Live) == 0 })
	}
	// A session while another holds the only slot is refused.
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- download(listen, f.file, f.sum, 300*time.Millisecond, started) }()
	<-started
	c, err := net.DialTimeout("tcp", listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	c.Close()
	if string(buf[:min(n, 3)]) != "421" {
		t.Errorf("second session got %q, want a 421", buf[:n])
	}
	if err := <-done; err != nil {
		t.Fatalf("slow download: %v", err)
	}
	// A running transfer counts the bytes its peer acknowledged, which
	// can include the FIN's sequence number for a moment; the totals
	// never go down, so they may stay a byte per data connection above
	// the exact count.
	want := int64(4 * size)
	st := d.waitStatus(func(st admin.Status) bool {
		if len(st.Live) != 0 || st.Traffic.Down < want || len(st.History) < 3 {
			return false
		}
		last := st.History[len(st.History)-1]
		return last.Time.After(st.Time.Add(-time.Second)) && last.Down == 0 && integral(st.History) >= float64(want)-0.5
	})
	if st.Traffic.Down > want+4 || st.Traffic.Up > 4 {
		t.Errorf("traffic %+v, want %d down (up to 4 more) and nothing up", st.Traffic, want)
	}
	var sum int64
	for _, m := range st.Pools[0].Members {
		exact := int64(m.Total) * size
		if m.BytesDown < exact || m.BytesDown > exact+int64(m.Total) {
			t.Errorf("realserver %s: %d bytes down over %d sessions, want %d (up to %d more)", m.Address, m.BytesDown, m.Total, exact, m.Total)
		}
		if m.BytesUp > int64(m.Total) {
			t.Errorf("realserver %s: %d bytes up, want 0", m.Address, m.BytesUp)
		}
		sum += m.BytesDown
	}
	if sum < st.Traffic.Down-4 || sum > st.Traffic.Down+4 {
		t.Errorf("realservers carried %d bytes, the total is %d", sum, st.Traffic.Down)
	}
	if len(st.History) >= historySize {
		t.Fatalf("history wrapped (%d samples): the test ran too long to integrate it", len(st.History))
	}
	// The totals never go down, so the rates add up to them exactly.
	if got := integral(st.History); got < float64(st.Traffic.Down)-0.5 || got > float64(st.Traffic.Down)+0.5 {
		t.Errorf("throughput integrates to %.1f bytes, want %d", got, st.Traffic.Down)
	}
	var refused, busy bool
	for i, s := range st.History {
		refused = refused || s.Refused > 0
		busy = busy || s.Sessions == 1
		if i > 0 && !s.Time.After(st.History[i-1].Time) {
			t.Errorf("history not in time order at %d", i)
		}
	}
	if !refused || !busy {
		t.Errorf("history shows refused %v, a busy sample %v; want both:\n%+v", refused, busy, st.History)
	}
	if st.Listeners[0].Counters["refused"] != 1 {
		t.Errorf("refused counter %d, want 1", st.Listeners[0].Counters["refused"])
	}
}

// integral is the bytes down the history's rates add up to.
func integral(h []admin.Sample) float64 {
	var v float64
	for i := 1; i < len(h); i++ {
		v += h[i].Down * h[i].Time.Sub(h[i-1].Time).Seconds()
	}
	return v
}

// TestMonotoneTraffic: totals that go down (a FIN counted while a
// transfer ran, then the exact count) are shown at the largest seen,
// in total and by realserver, and rise again with new bytes.
func TestMonotoneTraffic(t *testing.T) {
	rs := netip.MustParseAddrPort("127.0.0.11:21")
	var m monotone
	for i, tc := range []struct{ in, want int64 }{{100, 100}, {101, 101}, {100, 101}, {90, 101}, {150, 150}} {
		sn := alg.Snapshot{Total: alg.Traffic{Down: tc.in, Up: 1}, ByRealserver: map[netip.AddrPort]alg.Traffic{rs: {Down: tc.in}}}
		m.apply(&sn)
		if sn.Total.Down != tc.want || sn.Total.Up != 1 || sn.ByRealserver[rs].Down != tc.want {
			t.Errorf("step %d: %d shown as %+v, %+v; want %d", i, tc.in, sn.Total, sn.ByRealserver[rs], tc.want)
		}
	}
}
