package conf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestAdminAndProxy parses [admin] and the PROXY protocol keys: accepted
// values resolve, the rest is refused with its key path.
func TestAdminAndProxy(t *testing.T) {
	tests := []struct {
		name    string
		toml    string
		wantErr string // substring of the error; "" means valid
		check   func(t *testing.T, c *Config)
	}{
		{"defaults", okPool + okFTP, "", func(t *testing.T, c *Config) {
			if c.Admin.ShutdownTimeout.Duration != 30*time.Second || c.Admin.ListenAddr.IsValid() {
				t.Errorf("admin defaults: %+v", c.Admin)
			}
			if c.FTP[0].ProxyProtocol != "off" || c.Pools[0].SendProxyProtocol != "off" {
				t.Errorf("proxy defaults: %q %q", c.FTP[0].ProxyProtocol, c.Pools[0].SendProxyProtocol)
			}
		}},
		{"admin set", okPool + okFTP + "[admin]\nlisten = \"127.0.0.1:9021\"\nshutdown_timeout = \"5s\"\npid_file = \"/run/algd.pid\"\n", "", func(t *testing.T, c *Config) {
			if c.Admin.ListenAddr != netip.MustParseAddrPort("127.0.0.1:9021") || c.Admin.ShutdownTimeout.Duration != 5*time.Second || c.Admin.PIDFile != "/run/algd.pid" {
				t.Errorf("admin: %+v", c.Admin)
			}
		}},
		{"admin host name", okPool + okFTP + "[admin]\nlisten = \"localhost:9021\"\n", "admin.listen:", nil},
		{"negative shutdown", okPool + okFTP + "[admin]\nshutdown_timeout = \"-1s\"\n", `admin.shutdown_timeout: negative duration "-1s"`, nil},
		{"proxy v2 with sources", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`,
			`proxy_protocol = "v2"`, `proxy_protocol_from = ["10.0.0.0/29", "192.0.2.7", "::ffff:198.51.100.0/120"]`), "", func(t *testing.T, c *Config) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/29"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/24")}
			got := c.FTP[0].ProxyFrom
			if len(got) != len(want) {
				t.Fatalf("ProxyFrom = %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("ProxyFrom[%d] = %v, want %v", i, got[i], want[i])
				}
			}
		}},
		{"proxy without sources", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `proxy_protocol = "v1"`),
			"ftp[0].proxy_protocol_from: missing", nil},
		{"sources without proxy", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `proxy_protocol_from = ["10.0.0.1"]`),
			"ftp[0].proxy_protocol_from: set while proxy_protocol is \"off\"", nil},
		{"proxy unknown version", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `proxy_protocol = "v3"`, `proxy_protocol_from = ["10.0.0.1"]`),
			`ftp[0].proxy_protocol: unknown version "v3"`, nil},
		{"proxy bad source", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `proxy_protocol = "v1"`, `proxy_protocol_from = ["lb.example"]`),
			`ftp[0].proxy_protocol_from[0]: "lb.example"`, nil},
		{"send proxy unknown", poolWith(`name = "ftp"`, `send_proxy_protocol = "yes"`, `realservers = [{ address = "10.0.0.11:21" }]`) + okFTP,
			`pool[0].send_proxy_protocol: unknown version "yes"`, nil},
		{"send proxy v1", poolWith(`name = "ftp"`, `send_proxy_protocol = "v1"`, `realservers = [{ address = "10.0.0.11:21" }]`) + okFTP, "", func(t *testing.T, c *Config) {
			if c.Pools[0].SendProxyProtocol != "v1" {
				t.Errorf("SendProxyProtocol = %q", c.Pools[0].SendProxyProtocol)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "a.toml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
