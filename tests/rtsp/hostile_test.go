package rtsptests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/algd/algd/tests/rtspsource"
)

// TestHostileRTSP sends a header bomb, a huge Content-Length and a
// Transport with 10,000 parameters: each is answered 400 (or the
// connection closed) and closed, while an honest client keeps working.
func TestHostileRTSP(t *testing.T) {
	rs := rtspsource.Start(t, "127.0.0.46", 63660)
	gw := startGateway(t, gatewayOpts{}, rs)
	url := fmt.Sprintf("rtsp://%s/stream", gw.addr)

	var bomb strings.Builder
	fmt.Fprintf(&bomb, "OPTIONS %s RTSP/1.0\r\nCSeq: 1\r\n", url)
	for i := range 10000 {
		fmt.Fprintf(&bomb, "X-Bomb-%d: %d\r\n", i, i)
	}
	bomb.WriteString("\r\n")
	var params strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&params, ";p%d=%d", i, i)
	}
	cases := []struct{ name, req string }{
		{"header bomb", bomb.String()},
		{"huge Content-Length", fmt.Sprintf("ANNOUNCE %s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 99999999999\r\n\r\nv=0\r\n", url)},
		{"10,000 Transport parameters", fmt.Sprintf("SETUP %s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=40000-40001%s\r\n\r\n", url, params.String())},
		{"not RTSP", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status := rawRTSP(t, gw.addr, tc.req)
			t.Logf("answer: %q", status)
			if status != "" && !strings.HasPrefix(status, "RTSP/1.0 4") {
				t.Fatalf("answered %q, want a 4xx or a close", status)
			}
			// The gateway still serves an honest client.
			proto := gortsplib.ProtocolTCP
			c := newClient(gw.addr, proto)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			u, err := base.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Describe(u); err != nil {
				t.Fatalf("an honest DESCRIBE after %s: %v", tc.name, err)
			}
		})
	}
}
