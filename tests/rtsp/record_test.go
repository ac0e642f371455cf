package rtsptests

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/algd/algd/tests/rtspsource"
)

// TestRecord publishes through the VIP (ANNOUNCE, SETUP mode=record,
// RECORD) and checks what the realserver received.
func TestRecord(t *testing.T) {
	for i, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			rs := rtspsource.Start(t, "127.0.0.41", 63630+10*i)
			gw := startGateway(t, gatewayOpts{}, rs)
			c := newClient(gw.addr, tc.proto)
			medi := rtspsource.Media()
			desc := &description.Session{Medias: []*description.Media{medi}}
			if err := c.StartRecording("rtsp://"+gw.addr.String()+"/publish", desc); err != nil {
				t.Fatalf("StartRecording: %v", err)
			}
			defer c.Close()
			const n = 200
			for i := range uint32(n) {
				if err := c.WritePacketRTP(medi, rtspsource.Packet(i, 0x5678)); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				time.Sleep(time.Millisecond) // stay under the socket buffers
			}
			// UDP may lose a few packets on a busy machine: a threshold.
			if !waitFor(5*time.Second, func() bool { return rs.Received.Load() >= n*8/10 }) {
				t.Fatalf("realserver received %d intact packets of %d", rs.Received.Load(), n)
			}
			if rs.Bad.Load() != 0 {
				t.Errorf("realserver received %d broken packets", rs.Bad.Load())
			}
			udp, il, up := gw.counter(t, "streams.udp"), gw.counter(t, "streams.interleaved"), gw.counter(t, "packets_up")
			if tc.proto == gortsplib.ProtocolUDP {
				if udp != 1 || up < n*8/10 {
					t.Errorf("streams %d, relayed up %d: want 1 and at least %d", udp, up, n*8/10)
				}
			} else if il != 1 || up != 0 {
				t.Errorf("interleaved %d, udp up %d: want 1 and 0", il, up)
			}
		})
	}
}
