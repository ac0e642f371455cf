package algdrun

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/tests/peers"
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
		{"data timeouts", Config{DataConnectTimeout: 3 * time.Second, DataIdleTimeout: 1500 * time.Millisecond, Listeners: []Listener{{
			Name: "vsftpd", Listen: netip.MustParseAddrPort("127.0.0.10:2100"),
			Realservers:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.21:2121")},
			PassiveFirst: 61000, PassiveLast: 61099,
		}}}},
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
					rs = append(rs, r.AddrPort.String())
				}
				var want []string
				for _, r := range l.Realservers {
					want = append(want, r.String())
				}
				if strings.Join(rs, ",") != strings.Join(want, ",") {
					t.Errorf("pool %d realservers = %v, want %v", i, rs, want)
				}
			}
			if c := tt.cfg.DataConnectTimeout; c > 0 && got.Limits.DataConnectTimeout.Duration != c {
				t.Errorf("data_connect_timeout = %v, want %v", got.Limits.DataConnectTimeout.Duration, c)
			}
			if c := tt.cfg.DataIdleTimeout; c > 0 && got.Limits.DataIdleTimeout.Duration != c {
				t.Errorf("data_idle_timeout = %v, want %v", got.Limits.DataIdleTimeout.Duration, c)
			}
		})
	}
}

func TestConfigTOMLTLS(t *testing.T) {
	dir := t.TempDir()
	ca := peers.NewCA(t, dir)
	vip := netip.MustParseAddr("127.0.0.10")
	files := ca.Issue(t, "vip", vip)
	tests := []struct {
		name string
		tls  TLS
	}{
		{"explicit backend, verified, implicit listener", TLS{Cert: files.Cert, Key: files.Key,
			Implicit: []netip.AddrPort{netip.AddrPortFrom(vip, 2990)}, Backend: "explicit", BackendCA: ca.File,
			BackendServerName: "ftpd.example", HandshakeTimeout: 2 * time.Second}},
		{"plain backend, strict", TLS{Cert: files.Cert, Key: files.Key, Backend: "plain",
			MinVersion: "1.3", Required: true, RequireReuse: true}},
		{"implicit backend unverified, no certificate", TLS{Backend: "implicit", NoBackendVerify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Listeners: []Listener{{Name: "a", Listen: netip.AddrPortFrom(vip, 2100),
				Realservers:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.21:2121")},
				PassiveFirst: 61000, PassiveLast: 61009, TLS: &tt.tls}}}
			text := cfg.TOML()
			got, err := conf.Parse([]byte(text), "algd.toml")
			if err != nil {
				t.Fatalf("algd rejects the config: %v\n%s", err, text)
			}
			g := got.FTP[0].TLS
			if g.Backend != tt.tls.Backend || g.BackendCA != tt.tls.BackendCA || g.BackendServerName != tt.tls.BackendServerName {
				t.Errorf("backend = %q ca %q name %q, want %q %q %q", g.Backend, g.BackendCA, g.BackendServerName,
					tt.tls.Backend, tt.tls.BackendCA, tt.tls.BackendServerName)
			}
			if g.Verify() == tt.tls.NoBackendVerify {
				t.Errorf("backend_verify = %v, want %v", g.Verify(), !tt.tls.NoBackendVerify)
			}
			if (g.Pair != nil) != (tt.tls.Cert != "") {
				t.Errorf("certificate loaded = %v, want %v", g.Pair != nil, tt.tls.Cert != "")
			}
			if len(g.ImplicitAddrs) != len(tt.tls.Implicit) || (len(g.ImplicitAddrs) > 0 && g.ImplicitAddrs[0] != tt.tls.Implicit[0]) {
				t.Errorf("implicit_listen = %v, want %v", g.ImplicitAddrs, tt.tls.Implicit)
			}
			if g.Required != tt.tls.Required || g.RequireReuse != tt.tls.RequireReuse {
				t.Errorf("required %v reuse %v, want %v %v", g.Required, g.RequireReuse, tt.tls.Required, tt.tls.RequireReuse)
			}
			if tt.tls.HandshakeTimeout != 0 && g.HandshakeTimeout.Duration != tt.tls.HandshakeTimeout {
				t.Errorf("handshake_timeout = %v, want %v", g.HandshakeTimeout.Duration, tt.tls.HandshakeTimeout)
			}
			if tt.tls.MinVersion == "1.3" && g.Min != tls.VersionTLS13 {
				t.Errorf("min_version = %#x, want TLS 1.3", g.Min)
			}
		})
	}
}
