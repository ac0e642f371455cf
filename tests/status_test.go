package tests

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/tests/inproc"
)

// This file is the one place that knows how the daemon's Status shapes
// what the suites check: a change of admin.Status touches it alone.

// listener is the status of the proxy's FTP listener "vip".
func (p *proxy) listener(t *testing.T) alg.ListenerStatus {
	t.Helper()
	return inproc.Listener(t, p.d, "vip")
}

// counter reads one counter of the listener by its /status name:
// "theft", "transfers_failed.connect", "commands_refused.telnet". A name
// the listener does not have fails the test.
func (p *proxy) counter(t *testing.T, name string) int64 {
	t.Helper()
	return inproc.Counter(t, p.d, "vip", name)
}

// counters reads a by-reason table of the listener's counters
// ("commands_refused": "telnet", "prot", ...).
func (p *proxy) counters(t *testing.T, table string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range p.listener(t).Counters {
		if reason, ok := strings.CutPrefix(k, table+"."); ok {
			out[reason] = v
		}
	}
	return out
}

// ports returns the usage of the listener's port range name ("passive",
// "backend").
func (p *proxy) ports(t *testing.T, name string) alg.RangeUsage {
	t.Helper()
	return p.listener(t).Range(name)
}

// refusals returns the entry of address a in the listener's table of
// refused data connections (zero when it has none).
func (p *proxy) refusals(t *testing.T, a string) alg.DataRefusal {
	t.Helper()
	for _, r := range p.listener(t).DataRefusals {
		if r.Address == netip.MustParseAddr(a) {
			return r
		}
	}
	return alg.DataRefusal{}
}

// members returns the realservers of pool "p" as /status shows them.
func (p *proxy) members(t *testing.T) []admin.Realserver {
	t.Helper()
	for _, pl := range p.d.Status().Pools {
		if pl.Name == "p" {
			return pl.Members
		}
	}
	t.Fatal("status shows no pool \"p\"")
	return nil
}
