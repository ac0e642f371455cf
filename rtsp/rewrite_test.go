package rtsp

import (
	"net/netip"
	"testing"
)

func testMap() URLMap {
	return URLMap{Front: "203.0.113.10:554", Back: netip.MustParseAddrPort("10.0.0.21:8554"), VIP: netip.MustParseAddr("203.0.113.10")}
}

func TestToBack(t *testing.T) {
	tests := []struct{ in, want, front string }{
		{"rtsp://203.0.113.10:554/live/cam1", "rtsp://10.0.0.21:8554/live/cam1", "203.0.113.10:554"},
		{"rtsp://vip.example.com/live?x=1", "rtsp://10.0.0.21:8554/live?x=1", "vip.example.com"},
		{"RTSP://[2001:db8::10]:554", "RTSP://10.0.0.21:8554", "[2001:db8::10]:554"},
		{"*", "*", "203.0.113.10:554"},
		{"/relative", "/relative", "203.0.113.10:554"},
	}
	for _, tc := range tests {
		m := testMap()
		if got := m.ToBack(tc.in); got != tc.want || m.Front != tc.front {
			t.Errorf("ToBack(%q) = %q front %q, want %q front %q", tc.in, got, m.Front, tc.want, tc.front)
		}
	}
}

func TestToFront(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"content-base", "rtsp://10.0.0.21:8554/live/", "rtsp://203.0.113.10:554/live/"},
		{"rtp-info, two urls", "url=rtsp://10.0.0.21:8554/live/trackID=0;seq=1;rtptime=2,url=rtsp://10.0.0.21:8554/live/trackID=1;seq=3",
			"url=rtsp://203.0.113.10:554/live/trackID=0;seq=1;rtptime=2,url=rtsp://203.0.113.10:554/live/trackID=1;seq=3"},
		{"bare authority at the end", "rtsp://10.0.0.21:8554", "rtsp://203.0.113.10:554"},
		{"other host untouched", "rtsp://10.0.0.22:8554/live", "rtsp://10.0.0.22:8554/live"},
		{"longer port untouched", "rtsp://10.0.0.21:85540/live", "rtsp://10.0.0.21:85540/live"},
		{"longer address untouched", "rtsp://10.0.0.211:8554/live", "rtsp://10.0.0.211:8554/live"},
		{"no url", "npt=0-", "npt=0-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMap()
			if got := m.ToFront(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestToFrontDefaultPort(t *testing.T) {
	m := URLMap{Front: "vip:554", Back: netip.MustParseAddrPort("10.0.0.21:554")}
	in := "rtsp://10.0.0.21/a, rtsp://10.0.0.21:554/b, rtsp://10.0.0.21:5540/c"
	want := "rtsp://vip:554/a, rtsp://vip:554/b, rtsp://10.0.0.21:5540/c"
	if got := m.ToFront(in); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSDP(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"absolute control, o= and c=",
			"v=0\r\no=- 1 1 IN IP4 10.0.0.21\r\ns=x\r\nc=IN IP4 10.0.0.21\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=control:rtsp://10.0.0.21:8554/live/trackID=0\r\n",
			"v=0\r\no=- 1 1 IN IP4 203.0.113.10\r\ns=x\r\nc=IN IP4 203.0.113.10\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=control:rtsp://203.0.113.10:554/live/trackID=0\r\n"},
		{"relative control, wildcard c=, LF endings",
			"v=0\no=- 1 1 IN IP4 127.0.0.1\nc=IN IP4 0.0.0.0\na=control:trackID=0\n",
			"v=0\no=- 1 1 IN IP4 127.0.0.1\nc=IN IP4 0.0.0.0\na=control:trackID=0\n"},
		{"multicast ttl kept", "c=IN IP4 10.0.0.21/127\r\n", "c=IN IP4 203.0.113.10/127\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMap()
			if got := string(m.SDP([]byte(tc.in))); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	m := URLMap{Front: "[2001:db8::10]:554", Back: netip.MustParseAddrPort("10.0.0.21:8554"), VIP: netip.MustParseAddr("2001:db8::10")}
	if got := string(m.SDP([]byte("c=IN IP4 10.0.0.21\n"))); got != "c=IN IP6 2001:db8::10\n" {
		t.Errorf("family change: %q", got)
	}
}

func TestParseSession(t *testing.T) {
	tests := []struct {
		in      string
		id      string
		timeout int
	}{
		{"12345678;timeout=60", "12345678", 60},
		{" abc ; Timeout = 5", "abc", 5},
		{"abc", "abc", 0},
		{"abc;timeout=x", "abc", 0},
		{"abc;timeout=-1", "abc", 0},
	}
	for _, tc := range tests {
		id, to := parseSession(tc.in)
		if id != tc.id || int(to.Seconds()) != tc.timeout {
			t.Errorf("parseSession(%q) = %q %s, want %q %ds", tc.in, id, to, tc.id, tc.timeout)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add("rtsp://10.0.0.21:8554/live", "v=0\r\nc=IN IP4 10.0.0.21\r\na=control:rtsp://10.0.0.21:8554/x\r\n")
	f.Fuzz(func(t *testing.T, header, sdp string) {
		m := testMap()
		m.ToFront(header)
		m.ToBack(header)
		m.SDP([]byte(sdp))
	})
}
