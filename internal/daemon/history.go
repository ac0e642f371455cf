package daemon

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
)

// historySize is how many samples the status page's history keeps: 15
// minutes at the default interval.
const historySize = 180

// record samples the daemon into its history at once and then every
// Options.HistoryEvery until ctx is done.
func (d *Daemon) record(ctx context.Context) {
	every := d.opts.HistoryEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.history.Record(d.totals())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// totals reads the counts a history sample is made of.
func (d *Daemon) totals() admin.Totals {
	sn := d.snapshot()
	t := admin.Totals{Time: time.Now(), Sessions: d.sessions.Active(), Traffic: sn.Total}
	for _, in := range sn.Live {
		if in.Transferring {
			t.Transferring++
		}
	}
	d.mu.Lock()
	units := d.units
	d.mu.Unlock()
	for _, u := range units {
		t.Refused += u.status().Counters["refused"]
	}
	return t
}

// monotone keeps the byte totals of registry snapshots from ever going
// down. A running FTP transfer counts what its peer acknowledged, which
// can include the FIN's sequence number for a moment; the exact count at
// its end is then one byte lower. Counters (algd_traffic_bytes_total)
// must not decrease, so each total shown is the largest seen. One entry
// per realserver address ever used.
type monotone struct {
	mu    sync.Mutex
	total alg.Traffic
	by    map[netip.AddrPort]alg.Traffic
}

// apply raises sn's totals to the largest seen and records them.
func (m *monotone) apply(sn *alg.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total = maxTraffic(m.total, sn.Total)
	sn.Total = m.total
	if m.by == nil {
		m.by = make(map[netip.AddrPort]alg.Traffic)
	}
	for a, t := range sn.ByRealserver {
		m.by[a] = maxTraffic(m.by[a], t)
		sn.ByRealserver[a] = m.by[a]
	}
}

// maxTraffic is the larger of a and b in each direction.
func maxTraffic(a, b alg.Traffic) alg.Traffic {
	return alg.Traffic{Down: max(a.Down, b.Down), Up: max(a.Up, b.Up)}
}

// snapshot is the registry's snapshot with totals that never go down.
func (d *Daemon) snapshot() alg.Snapshot {
	sn := d.registry.Snapshot()
	d.traffic.apply(&sn)
	return sn
}
