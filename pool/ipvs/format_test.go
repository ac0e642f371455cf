package ipvs

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/algd/algd/conf"
)

func TestWritePlan(t *testing.T) {
	c := loadTest(t, testConfig)
	var b bytes.Buffer
	if err := WritePlan(&b, Desired(c, down(c, "10.0.0.23", "10.0.1.2"))); err != nil {
		t.Fatal(err)
	}
	want := `# ipvsadm-restore (fwmarks 1-99 owned by algd)
# group realmedia
-A -f 1 -s sh -p 600 -b sh-fallback
-a -f 1 -r 10.0.0.21:0 -m -w 1
-a -f 1 -r 10.0.0.22:0 -m -w 2
-a -f 1 -r 10.0.0.23:0 -m -w 0
# group dns
-A -f 2 -s rr
-a -f 2 -r 10.0.1.1:0 -m -w 1

# nft -f
table inet algd
delete table inet algd
table inet algd {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		ip daddr 203.0.113.20 tcp dport 554 counter meta mark set 0x00000001 comment "algd group=realmedia vip=203.0.113.20 proto=tcp ports=554-554 mark=1"
		ip daddr 203.0.113.20 udp dport 6970-7170 counter meta mark set 0x00000001 comment "algd group=realmedia vip=203.0.113.20 proto=udp ports=6970-7170 mark=1"
		ip daddr 203.0.113.53 tcp dport 53 counter meta mark set 0x00000002 comment "algd group=dns vip=203.0.113.53 proto=tcp ports=53-53 mark=2"
		ip daddr 203.0.113.53 udp dport 53 counter meta mark set 0x00000002 comment "algd group=dns vip=203.0.113.53 proto=udp ports=53-53 mark=2"
	}
}
`
	if b.String() != want {
		t.Errorf("plan:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestServiceArgs(t *testing.T) {
	tests := []struct {
		name string
		s    Service
		d    Dest
		svc  string
		dest string
	}{
		{"ipv6 persistent dr", Service{Mark: 7, IPv6: true, Scheduler: "wlc", Flags: Persistent, Timeout: 60},
			Dest{Addr: netip.MustParseAddr("2001:db8::1"), Forward: DR, Weight: 3},
			"-f 7 -6 -s wlc -p 60", "-f 7 -6 -r [2001:db8::1]:0 -g -w 3"},
		{"one-packet tunnel", Service{Mark: 9, Scheduler: "rr", Flags: OnePacket},
			Dest{Addr: netip.MustParseAddr("10.0.0.1"), Forward: Tunnel, Weight: 1},
			"-f 9 -s rr -o", "-f 9 -r 10.0.0.1:0 -i -w 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServiceArgs(tt.s); got != tt.svc {
				t.Errorf("ServiceArgs = %q, want %q", got, tt.svc)
			}
			if got := DestArgs(tt.s, tt.d); got != tt.dest {
				t.Errorf("DestArgs = %q, want %q", got, tt.dest)
			}
		})
	}
}

func TestCommentRoundTrip(t *testing.T) {
	tests := []Mark{
		{Group: "realmedia", VIP: netip.MustParseAddr("203.0.113.20"), Proto: "udp", Ports: conf.PortRange{First: 6970, Last: 7170}, Mark: 1},
		{Group: "v6", VIP: netip.MustParseAddr("2001:db8::20"), Proto: "tcp", Ports: conf.PortRange{First: 443, Last: 443}, Mark: 0xffffffff},
	}
	for _, m := range tests {
		t.Run(m.Group, func(t *testing.T) {
			got, ok := parseComment(ruleComment(m))
			if !ok || got != m {
				t.Errorf("parseComment(%q) = %+v %v", ruleComment(m), got, ok)
			}
		})
	}
	for _, bad := range []string{"", "algd", "algd group=x vip=1.2.3.4 proto=sctp ports=1-2 mark=1", "hand-made rule"} {
		if _, ok := parseComment(bad); ok {
			t.Errorf("parseComment(%q) accepted", bad)
		}
	}
}

// TestWriteStatus checks the ownership column.
func TestWriteStatus(t *testing.T) {
	c := loadTest(t, testConfig)
	want := Desired(c, nil)
	kernel := []Service{
		{Mark: 1, Scheduler: "sh", Flags: Persistent | SHFallback, Timeout: 600,
			Dests: []Dest{{Addr: netip.MustParseAddr("10.0.0.21"), Weight: 1, Active: 2, Inactive: 5}}},
		{Mark: 50, Scheduler: "rr"},
		{Mark: 500, Scheduler: "rr"},
	}
	var b bytes.Buffer
	if err := WriteStatus(&b, kernel, want); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"FWM  1 sh (sh-fallback) persistent 600  (group realmedia)\n",
		"  -> 10.0.0.21:0                  Masq    1      2          5\n",
		"FWM  50 rr  (algd, no group: deleted by the next reconcile)\n",
		"FWM  500 rr\n",
	} {
		if !bytes.Contains(b.Bytes(), []byte(line)) {
			t.Errorf("status lacks %q:\n%s", line, b.String())
		}
	}
}
