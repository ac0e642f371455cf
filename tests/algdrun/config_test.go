package algdrun

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/algd/algd/conf"
)

func TestConfigTOML(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"one listener", Config{Listeners: []Listener{{
			Name: "vsftpd", Listen: netip.MustParseAddrPort("127.0.0.10:2100"),
			Realservers:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.21:2121")},
			PassiveFirst: 61000, PassiveLast: 61099,
		}}}},
		{"two listeners, two members, debug", Config{Level: "debug", Listeners: []Listener{
			{Name: "a", Listen: netip.MustParseAddrPort("10.231.1.10:21"),
				Realservers:  []netip.AddrPort{netip.MustParseAddrPort("10.231.2.2:21"), netip.MustParseAddrPort("10.231.2.3:21")},
				PassiveFirst: 61000, PassiveLast: 61009},
			{Name: "b", Listen: netip.MustParseAddrPort("127.0.0.10:2101"),
				Realservers:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.22:2122")},
				PassiveFirst: 61100, PassiveLast: 61199},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.cfg.TOML()
			got, err := conf.Parse([]byte(text), "algd.toml")
			if err != nil {
				t.Fatalf("algd rejects the config: %v\n%s", err, text)
			}
			if got.Log.Format != "json" {
				t.Errorf("log format = %q, want json", got.Log.Format)
			}
			if len(got.FTP) != len(tt.cfg.Listeners) || len(got.Pools) != len(tt.cfg.Listeners) {
				t.Fatalf("got %d ftp, %d pools; want %d each", len(got.FTP), len(got.Pools), len(tt.cfg.Listeners))
			}
			for i, l := range tt.cfg.Listeners {
				f := got.FTP[i]
				if len(f.ListenAddrs) != 1 || f.ListenAddrs[0] != l.Listen {
					t.Errorf("listener %d listen = %v, want %v", i, f.ListenAddrs, l.Listen)
				}
				if f.Passive.First != l.PassiveFirst || f.Passive.Last != l.PassiveLast {
					t.Errorf("listener %d passive = %+v, want %d-%d", i, f.Passive, l.PassiveFirst, l.PassiveLast)
				}
				if f.Pool != l.Name || got.Pools[i].Name != l.Name {
					t.Errorf("listener %d pool = %q / %q, want %q", i, f.Pool, got.Pools[i].Name, l.Name)
				}
				var rs []string
				for _, r := range got.Pools[i].Realservers {
					rs = append(rs, r.Address)
				}
				var want []string
				for _, r := range l.Realservers {
					want = append(want, r.String())
				}
				if strings.Join(rs, ",") != strings.Join(want, ",") {
					t.Errorf("pool %d realservers = %v, want %v", i, rs, want)
				}
			}
		})
	}
}
