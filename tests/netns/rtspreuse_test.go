//go:build interop

package netns

import (
	"fmt"
	"testing"
	"time"
)

// TestRTSPKernelReuse plays three streams one after the other through a
// kernel-path listener whose ranges hold one pair each, so every stream
// reuses the VIP and backend ports of the one before, towards the same
// realserver ports (gortsplib's server sends every session from one
// pair). The realserver's last datagrams after a TEARDOWN reach the
// director once the stream's flows are cut, and leave a conntrack entry
// that would carry the next stream's media to algd's sockets (the relay,
// still bound, would serve it: the stream works either way). Each stream
// must get its packets through the kernel: the director's sockets get
// less than a tenth as many datagrams as the client got.
func TestRTSPKernelReuse(t *testing.T) {
	if algdBin == "" {
		t.Fatal("TestRTSPKernelReuse needs algd: unset ALGD_INTEROP_DIRECT")
	}
	tp := rtspTopology(t)
	src := buildSource(t)
	rs := startSource(t, tp, src, realserver)
	ctrl := startKernelListener(t, tp, rs, 63400, 63401, 63500, 63501)
	const secs = 2
	for i := range 3 {
		before := udpIn(t, tp.director)
		r := <-playIn(tp.client, src, fmt.Sprintf("rtsp://%s/stream", ctrl), secs*time.Second)
		in := udpIn(t, tp.director) - before
		t.Logf("stream %d: %d intact packets of %d sent meanwhile, %d bad; director Udp InDatagrams +%d", i, r.good, r.span, r.bad, in)
		if r.err != nil {
			t.Fatalf("stream %d: %v\n%s", i, r.err, r.out)
		}
		if r.span < secs*200/3 || r.good*100 < r.span*95 || r.bad != 0 {
			t.Errorf("stream %d: %d intact packets of %d sent, %d bad", i, r.good, r.span, r.bad)
		}
		if in*10 >= r.good {
			t.Errorf("stream %d: the director delivered %d datagrams to its sockets for %d the client got: not on the kernel path", i, in, r.good)
		}
	}
}
