package nat

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestElems checks the elements of a mapping byte by byte, with the
// nft notation of the element each one is.
func TestElems(t *testing.T) {
	cases := []struct {
		name string
		m    alg.Mapping
		want []elem
	}{
		{
			// tcp . 10.0.0.2 . 10.0.0.10 . 50000 : 10.0.1.2 . 40000 (dnat4)
			// tcp . 10.0.0.2 . 10.0.1.2 . 40000 : 10.0.1.1 (snat4_addr)
			name: "passive",
			m:    alg.Mapping{From: ap("10.0.0.2:0"), Dst: ap("10.0.0.10:50000"), To: ap("10.0.1.2:40000"), Source: ap("10.0.1.1:0")},
			want: []elem{
				{"dnat4", []byte{6, 0, 0, 0, 10, 0, 0, 2, 10, 0, 0, 10, 0xc3, 0x50, 0, 0}, []byte{10, 0, 1, 2, 0x9c, 0x40, 0, 0}},
				{"snat4_addr", []byte{6, 0, 0, 0, 10, 0, 0, 2, 10, 0, 1, 2, 0x9c, 0x40, 0, 0}, []byte{10, 0, 1, 1}},
			},
		},
		{
			// udp . 10.0.1.2 . 5004 . 10.0.1.1 . 7000 : 10.0.0.2 . 6000 (dnat4_port)
			// udp . 10.0.1.2 . 5004 . 10.0.0.2 . 6000 : 10.0.0.10 . 7000 (snat4_port)
			name: "media from a port, IPv4-mapped addresses unmapped",
			m:    alg.Mapping{Proto: alg.UDP, From: ap("[::ffff:10.0.1.2]:5004"), Dst: ap("10.0.1.1:7000"), To: ap("10.0.0.2:6000"), Source: ap("10.0.0.10:7000"), Persistent: true},
			want: []elem{
				{"dnat4_port", []byte{17, 0, 0, 0, 10, 0, 1, 2, 0x13, 0x8c, 0, 0, 10, 0, 1, 1, 0x1b, 0x58, 0, 0}, []byte{10, 0, 0, 2, 0x17, 0x70, 0, 0}},
				{"snat4_port", []byte{17, 0, 0, 0, 10, 0, 1, 2, 0x13, 0x8c, 0, 0, 10, 0, 0, 2, 0x17, 0x70, 0, 0}, []byte{10, 0, 0, 10, 0x1b, 0x58, 0, 0}},
			},
		},
		{
			name: "IPv6 without SNAT",
			m:    alg.Mapping{From: ap("[fd00::2]:0"), Dst: ap("[fd00::10]:21"), To: ap("[fd00:1::2]:2121")},
			want: []elem{{"dnat6",
				append(append([]byte{6, 0, 0, 0}, append(ap("[fd00::2]:0").Addr().AsSlice(), ap("[fd00::10]:0").Addr().AsSlice()...)...), 0, 21, 0, 0),
				append(ap("[fd00:1::2]:0").Addr().AsSlice(), 0x08, 0x49, 0, 0)}},
		},
	}
	for _, c := range cases {
		m, err := check(c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := elemsOf(m)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d elements, want %d", c.name, len(got), len(c.want))
		}
		for i := range got {
			if got[i].set != c.want[i].set || !bytes.Equal(got[i].key, c.want[i].key) || !bytes.Equal(got[i].val, c.want[i].val) {
				t.Errorf("%s: element %d\n got %s %x : %x\nwant %s %x : %x", c.name, i, got[i].set, got[i].key, got[i].val, c.want[i].set, c.want[i].key, c.want[i].val)
			}
		}
		// The watcher finds the mapping by the tuple conntrack reports.
		if k := keyOf(l4proto(m.Proto), m.From, m.Dst, m.From.Port() != 0); k != string(got[0].key) {
			t.Errorf("%s: keyOf %x, want %x", c.name, k, got[0].key)
		}
	}
}

// TestCheck refuses mappings the kernel cannot carry, with a reason.
func TestCheck(t *testing.T) {
	ok := alg.Mapping{From: ap("10.0.0.2:0"), Dst: ap("10.0.0.10:50000"), To: ap("10.0.1.2:40000")}
	if m, err := check(ok); err != nil || m.Timeout != DefaultTimeout {
		t.Fatalf("check: %v, timeout %v", err, m.Timeout)
	}
	bad := map[string]func(*alg.Mapping){
		"without a From":               func(m *alg.Mapping) { m.From = netip.AddrPort{} },
		"without a Dst":                func(m *alg.Mapping) { m.Dst = ap("10.0.0.10:0") },
		"without a To":                 func(m *alg.Mapping) { m.To = netip.AddrPort{} },
		"From 10.0.0.2:0 and Dst":      func(m *alg.Mapping) { m.Dst = ap("[fd00::10]:50000") },
		"does not translate":           func(m *alg.Mapping) { m.To = ap("[fd00::2]:21") },
		"To 10.0.1.2:40000 and Source": func(m *alg.Mapping) { m.Source = ap("[fd00::1]:0") },
		"negative timeout":             func(m *alg.Mapping) { m.Timeout = -time.Second },
	}
	for want, edit := range bad {
		m := ok
		edit(&m)
		if _, err := check(m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error with %q, got %v", want, err)
		}
	}
}
