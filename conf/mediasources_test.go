package conf

import (
	"slices"
	"strings"
	"testing"
)

func TestPoolMediaSources(t *testing.T) {
	pool := func(line string) string {
		return "\n[[pool]]\nname = \"media\"\nrealservers = [{ address = \"10.0.0.21:554\" }]\n" + line + "\n"
	}
	tests := []struct {
		name string
		toml string
		want string // substring of the error; "" for valid
		nets []string
	}{
		{"absent", pool("") + okRTSP, "", nil},
		{"addresses and CIDRs", pool(`media_sources = ["192.0.2.0/24", "10.0.1.7", "::ffff:198.51.100.0/120", "2001:db8::/64"]`) + okRTSP, "",
			[]string{"192.0.2.0/24", "10.0.1.7/32", "198.51.100.0/24", "2001:db8::/64"}},
		{"host bits masked", pool(`media_sources = ["192.0.2.77/24"]`) + okRTSP, "", []string{"192.0.2.0/24"}},
		{"not an address", pool(`media_sources = ["cams.example"]`) + okRTSP, `pool[0].media_sources[0]: "cams.example": want an address or a CIDR`, nil},
		{"anywhere", pool(`media_sources = ["10.0.1.7", "0.0.0.0/0"]`) + okRTSP, `pool[0].media_sources[1]: "0.0.0.0/0" would accept media from anywhere`, nil},
		{"anywhere v6", pool(`media_sources = ["::/0"]`) + okRTSP, `pool[0].media_sources[0]: "::/0" would accept media from anywhere`, nil},
		{"not a list", pool(`media_sources = "192.0.2.0/24"`) + okRTSP, "media_sources", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "rtsp.toml")
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Parse error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, p := range c.Pools[0].MediaSourceNets {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.nets) {
				t.Errorf("media sources %q, want %q", got, tt.nets)
			}
			for _, p := range c.Pools[0].MediaSourceNets {
				if p != p.Masked() || p.Addr().Is4In6() {
					t.Errorf("%s not masked or still mapped", p)
				}
			}
		})
	}
}
