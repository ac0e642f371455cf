package rtsptests

import (
	"testing"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/tests/inproc"
)

// This file is the one place that knows how the daemon's Status shapes
// what the RTSP suites check: a change of admin.Status touches it alone.

// counter reads one counter of the listener "test" by its /status name
// (the keys of rtsp/metrics.go: "streams.udp", "packets_down",
// "dropped.source", "media_sessions"). A name it lacks fails the test.
func (g *gateway) counter(t *testing.T, name string) int64 {
	t.Helper()
	return inproc.Counter(t, g.d, "test", name)
}

// pairsInUse returns the pairs reserved now of the listener's range
// "media" (client side) or "backend_media".
func (g *gateway) pairsInUse(t *testing.T, rng string) int {
	t.Helper()
	return inproc.Listener(t, g.d, "test").Range(rng).InUse
}

// live returns the live sessions as /status lists them.
func (g *gateway) live() []alg.SessionInfo { return g.d.Status().Live }

// checkPairsFree fails the test if a pair of either range is in use
// (after shutdown).
func (g *gateway) checkPairsFree(t *testing.T) {
	t.Helper()
	if in := g.pairsInUse(t, "media"); in != 0 {
		t.Errorf("client-side media pairs still in use after shutdown: %d", in)
	}
	if in := g.pairsInUse(t, "backend_media"); in != 0 {
		t.Errorf("backend-side media pairs still in use after shutdown: %d", in)
	}
}
