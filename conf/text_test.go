package conf

import (
	"crypto/tls"
	"encoding"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestTextTypes drives UnmarshalText and MarshalText of every text type
// of the schema: what decodes, how it is written back, and what is
// refused with which message.
func TestTextTypes(t *testing.T) {
	type text interface {
		encoding.TextUnmarshaler
		encoding.TextMarshaler
	}
	tests := []struct {
		name string
		new  func() text
		in   string
		out  string // written back
		err  string // substring of the refusal; "" when in decodes
	}{
		{"range", func() text { return new(PortRange) }, "61000-61999", "61000-61999", ""},
		{"range with spaces", func() text { return new(PortRange) }, "61000 - 61999", "61000-61999", ""},
		{"range unset", func() text { return new(PortRange) }, "", "", ""},
		{"range of port 0", func() text { return new(PortRange) }, "0-0", "", `"0-0" contains port 0`},
		{"inverted range left to Validate", func() text { return new(PortRange) }, "2-1", "2-1", ""},
		{"range of one port", func() text { return new(PortRange) }, "61000", "", `"61000" is not a range`},
		{"range above 65535", func() text { return new(PortRange) }, "1-65536", "", `"1-65536" is not a range of ports`},
		{"control-1", func() text { return new(ActiveSource) }, "control-1", "control-1", ""},
		{"any", func() text { return new(ActiveSource) }, "any", "any", ""},
		{"fixed active port", func() text { return new(ActiveSource) }, "20", "20", ""},
		{"active range", func() text { return new(ActiveSource) }, "60000-60999", "60000-60999", ""},
		{"active garbage", func() text { return new(ActiveSource) }, "twenty", "", `"twenty": want "control-1"`},
		{"active port 0", func() text { return new(ActiveSource) }, "0", "", `"0": want "control-1"`},
		{"inverted active range left to Validate", func() text { return new(ActiveSource) }, "2-1", "2-1", ""},
		{"TLS 1.3", func() text { return new(TLSVersion) }, "1.3", "1.3", ""},
		{"TLS 1.4", func() text { return new(TLSVersion) }, "1.4", "", `unknown TLS version "1.4"`},
		{"decimal marks", func() text { return new(MarkRange) }, "10000-10999", "10000-10999", ""},
		{"hex marks", func() text { return new(MarkRange) }, "0x10-0x1f", "16-31", ""},
		{"marks unset", func() text { return new(MarkRange) }, "", "", ""},
		{"mark 0", func() text { return new(MarkRange) }, "0-5", "", `"0-5" contains mark 0`},
		{"marks beyond 32 bits", func() text { return new(MarkRange) }, "1-0x100000000", "", "is not a range of 32-bit marks"},
		{"group port", func() text { return new(GroupPort) }, "tcp/554", "tcp/554", ""},
		{"group range", func() text { return new(GroupPort) }, "udp/6970-7170", "udp/6970-7170", ""},
		{"group proto", func() text { return new(GroupPort) }, "sctp/80", "", `"sctp/80": want "tcp/PORT"`},
		{"duration", func() text { return new(Duration) }, "1m30s", "1m30s", ""},
		{"duration without unit", func() text { return new(Duration) }, "30", "", `invalid duration "30"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.new()
			err := v.UnmarshalText([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("UnmarshalText(%q) = %v, want an error containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tt.in, err)
			}
			out, err := v.MarshalText()
			if err != nil || string(out) != tt.out {
				t.Fatalf("MarshalText = %q, %v; want %q", out, err, tt.out)
			}
			again := tt.new()
			if err := again.UnmarshalText(out); err != nil {
				t.Fatalf("round trip of %q: %v", out, err)
			}
			if back, _ := again.MarshalText(); string(back) != tt.out {
				t.Errorf("round trip wrote %q, want %q", back, tt.out)
			}
		})
	}
}

// TestRefusedValueOnce checks that a string its type refuses is reported
// once, at its own index, that Validate does not add "missing" for the
// setting it left unset, and that the problems of one line come in the
// order of the line (Validate's listen[0] before the decoder's listen[1]).
func TestRefusedValueOnce(t *testing.T) {
	doc := okPool + ftpWith(`listen = ["203.0.113.10:0", "ftp.example.com:21"]`, `pool = "ftp"`, `passive_ports = "low-high"`,
		`advertise = "vip.example.com"`, `tls = { min_version = "1.4" }`)
	_, err := Parse([]byte(doc), "bad.toml")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v is not an *Errors", err, err)
	}
	want := []string{
		`bad.toml:7: ftp[0].listen[0]: "203.0.113.10:0" has port 0`,
		`bad.toml:7: ftp[0].listen[1]: "ftp.example.com:21" names host "ftp.example.com"`,
		`bad.toml:9: ftp[0].passive_ports: "low-high" is not a range of ports`,
		`bad.toml:10: ftp[0].advertise: "vip.example.com" is a host name`,
		`bad.toml:11: ftp[0].tls.min_version: unknown TLS version "1.4"`,
	}
	if len(errs.List) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs.List), len(want), err)
	}
	for i, w := range want {
		if i < len(errs.List) && !strings.HasPrefix(errs.List[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, errs.List[i], w)
		}
	}
}

// TestValidateTypedInCode holds a Config built in Go to the rules a file
// is held to, and checks the normalising Validate does.
func TestValidateTypedInCode(t *testing.T) {
	build := func() *Config {
		return &Config{
			Pools: []Pool{{Name: "ftp", Realservers: []Realserver{{AddrPort: netip.MustParseAddrPort("[::ffff:10.0.0.11]:21")}}}},
			FTP: []FTP{{ListenAddrs: []netip.AddrPort{netip.MustParseAddrPort("[::ffff:127.0.0.1]:2121")},
				Pool: "ftp", Passive: PortRange{62000, 62009}}},
		}
	}
	c := build()
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := c.FTP[0].ListenAddrs[0], netip.MustParseAddrPort("127.0.0.1:2121"); got != want {
		t.Errorf("listen = %v, want %v (unmapped)", got, want)
	}
	if got, want := c.Pools[0].Realservers[0].AddrPort, netip.MustParseAddrPort("10.0.0.11:21"); got != want {
		t.Errorf("realserver = %v, want %v (unmapped)", got, want)
	}
	if f := c.FTP[0]; !f.Active.ControlMinusOne || f.TLS.Min != tls.VersionTLS12 || c.IPVS.Marks != (MarkRange{10000, 10999}) {
		t.Errorf("defaults: active %+v, TLS %v, marks %v", f.Active, f.TLS.Min, c.IPVS.Marks)
	}

	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"inverted passive range", func(c *Config) { c.FTP[0].Passive = PortRange{62009, 62000} }, `ftp[0].passive_ports: "62009-62000" is inverted`},
		{"listen port 0", func(c *Config) { c.FTP[0].ListenAddrs[0] = netip.MustParseAddrPort("127.0.0.1:0") }, `ftp[0].listen[0]: "127.0.0.1:0" has port 0`},
		{"no realserver address", func(c *Config) { c.Pools[0].Realservers[0].AddrPort = netip.AddrPort{} }, `pool[0].realservers[0].address: is empty`},
		{"wildcard advertise", func(c *Config) { c.FTP[0].AdvertiseAddr = netip.IPv4Unspecified() }, `ftp[0].advertise: "0.0.0.0" is a wildcard`},
		{"active port 0", func(c *Config) { c.FTP[0].Active = ActiveSource{Range: PortRange{0, 0}} }, `ftp[0].active_source_port: "0-0" contains port 0`},
		{"TLS version", func(c *Config) { c.FTP[0].TLS.Min = 0x0305 }, `ftp[0].tls.min_version: unknown TLS version "0x0305"`},
		{"mark 0", func(c *Config) { c.IPVS.Marks = MarkRange{0, 10} }, `ipvs.fwmark_range: "0-10" contains mark 0`},
		{"media from anywhere", func(c *Config) { c.Pools[0].MediaSourceNets = []netip.Prefix{netip.MustParsePrefix("::/0")} },
			`pool[0].media_sources[0]: "::/0" would accept media from anywhere`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := build()
			c.SetDefaults()
			tc.change(c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}
