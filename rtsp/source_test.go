package rtsp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
)

func TestMediaSources(t *testing.T) {
	pc := conf.Pool{Name: "cams", Health: conf.Health{Kind: "none"},
		Realservers: []conf.Realserver{
			{AddrPort: netip.MustParseAddrPort("10.0.0.21:554")},
			{AddrPort: netip.MustParseAddrPort("10.0.0.22:554")},
		},
		MediaSourceNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	pl := pool.New(pc, nil)
	rs := netip.MustParseAddr("10.0.0.21")
	self := netip.MustParsePrefix("10.0.0.21/32")
	allow := pc.MediaSourceNets
	tests := []struct {
		name      string
		announced string
		has       bool
		peer      string
		also      []netip.Prefix
		why       string // "" when accepted
	}{
		{"no source=", "", false, "10.0.0.21", allow, ""},
		{"source= the control address", "10.0.0.21", true, "10.0.0.21", allow, ""},
		{"source= another pool member", "10.0.0.22", true, "10.0.0.22", append([]netip.Prefix{self}, allow...), ""},
		{"source= mapped pool member", "::ffff:10.0.0.22", true, "10.0.0.22", append([]netip.Prefix{self}, allow...), ""},
		{"source= in media_sources", "192.0.2.7", true, "192.0.2.7", append([]netip.Prefix{self}, allow...), ""},
		{"source= elsewhere", "198.51.100.9", true, "10.0.0.21", allow, `neither a realserver of pool "cams" nor in its media_sources`},
		{"source= a host name", "media.example", true, "10.0.0.21", allow, "not an IP address"},
		{"source= empty", "", true, "10.0.0.21", allow, "not an IP address"},
		{"source= wildcard", "0.0.0.0", true, "10.0.0.21", allow, "not a unicast address"},
		{"source= multicast", "224.2.0.1", true, "10.0.0.21", allow, "not a unicast address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := mediaSources(rs, pl, tc.announced, tc.has)
			if ms.peer.String() != tc.peer || !slices.Equal(ms.also, tc.also) {
				t.Errorf("peer %s also %v, want %s and %v", ms.peer, ms.also, tc.peer, tc.also)
			}
			if ms.refused != (tc.why != "") || !strings.Contains(ms.why, tc.why) {
				t.Errorf("refused %v (%q), want refused %v (%q)", ms.refused, ms.why, tc.why != "", tc.why)
			}
		})
	}
}
