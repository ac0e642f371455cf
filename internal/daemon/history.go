package daemon

import (
	"context"
	"time"

	"github.com/algd/algd/admin"
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
	sn := d.registry.Snapshot()
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
