//go:build linux && interop

package nat

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkOtherConnections: short connections routed through the
// director, none of them algd's, while a Table watches conntrack's
// events. cpu-us/conn is the test process's CPU time (user + system)
// per connection: the connections' own cost plus what the watcher
// spends on their events.
func BenchmarkOtherConnections(b *testing.B) {
	tp := newTopology(b)
	openTable(b, tp, Options{Logger: slog.New(slog.DiscardHandler)})
	f := families[0]
	realPort := netip.AddrPortFrom(f.real, 40200)
	rl := listen(b, tp.real, "tcp", realPort)
	go func() {
		for {
			c, err := rl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	b.ResetTimer()
	for range b.N {
		c, err := dial(context.Background(), tp.client, f.client, realPort)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	// The events of the last connections.
	time.Sleep(200 * time.Millisecond)
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/conn")
}
