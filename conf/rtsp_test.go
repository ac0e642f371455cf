package conf

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const rtspPool = `
[[pool]]
name = "media"
realservers = [{ address = "10.0.0.21:554" }]
`

// rtspWith returns an [[rtsp]] table with the given body lines.
func rtspWith(lines ...string) string {
	return "\n[[rtsp]]\n" + strings.Join(lines, "\n") + "\n"
}

var okRTSP = rtspWith(`listen = ["203.0.113.10:554"]`, `advertise = "203.0.113.10"`, `pool = "media"`,
	`media_ports = "63400-63499"`, `backend_source = "10.0.0.1"`, `backend_media_ports = "63500-63599"`)

func TestRTSPValidate(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string // substring of the error; "" for valid
		ok   func(t *testing.T, c *Config)
	}{
		{"valid, RTSP alone", rtspPool + okRTSP, "", func(t *testing.T, c *Config) {
			r := c.RTSP[0]
			if r.Name != "203.0.113.10:554" || r.Media != (PortRange{63400, 63499}) || r.BackendMedia != (PortRange{63500, 63599}) {
				t.Errorf("resolved %+v", r)
			}
			if r.AdvertiseAddr.String() != "203.0.113.10" || r.BackendSourceAddr.String() != "10.0.0.1" {
				t.Errorf("addresses %s %s", r.AdvertiseAddr, r.BackendSourceAddr)
			}
			if r.SessionTimeout.Duration != 60*time.Second {
				t.Errorf("session timeout %s, want 60s", r.SessionTimeout)
			}
			if k := c.Pools[0].Health.Kind; k != "rtsp" {
				t.Errorf("health kind %q, want rtsp by default", k)
			}
		}},
		{"valid beside FTP", okPool + okFTP + rtspPool + okRTSP, "", nil},
		{"explicit health kept", rtspPool + "health = { kind = \"tcp\" }\n" + okRTSP, "", func(t *testing.T, c *Config) {
			if k := c.Pools[0].Health.Kind; k != "tcp" {
				t.Errorf("health kind %q, want tcp", k)
			}
		}},
		{"odd first port", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "media"`, `media_ports = "63401-63499"`, `backend_media_ports = "63500-63599"`),
			"rtsp[0].media_ports: \"63401-63499\" starts on an odd port", nil},
		{"even last port", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63598"`),
			"rtsp[0].backend_media_ports: \"63500-63598\" ends on an even port", nil},
		{"missing ranges", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "media"`),
			"rtsp[0].media_ports: missing", nil},
		{"overlapping sides on one address", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63450-63599"`),
			"rtsp[0].backend_media_ports: \"63450-63599\" overlaps media_ports", nil},
		{"sides on two addresses may share ports", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `advertise = "203.0.113.10"`, `backend_source = "10.0.0.1"`,
			`pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63400-63499"`), "", nil},
		{"wildcard advertise", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `advertise = "0.0.0.0"`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`),
			"rtsp[0].advertise: \"0.0.0.0\" is a wildcard", nil},
		{"host name backend source", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `backend_source = "director"`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`),
			"rtsp[0].backend_source: \"director\" is a host name", nil},
		{"unknown pool", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "nope"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`),
			"rtsp[0].pool: unknown pool \"nope\"", nil},
		{"port of an ftp listener", okPool + okFTP + rtspPool + rtspWith(`listen = ["203.0.113.10:21"]`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`),
			"rtsp[0].listen[0]: \"203.0.113.10:21\" listens on the port of ftp[0].listen[0]", nil},
		{"two listeners, one media range", rtspPool + okRTSP + rtspWith(`listen = ["203.0.113.10:8554"]`, `advertise = "203.0.113.10"`, `pool = "media"`, `media_ports = "63480-63499"`, `backend_media_ports = "63600-63699"`),
			"rtsp[1].media_ports: \"63480-63499\" overlaps rtsp[0].media_ports", nil},
		{"negative timeout", rtspPool + okRTSP + `session_timeout = "-1s"` + "\n", "rtsp[0].session_timeout: negative duration", nil},
		{"unknown key", rtspPool + okRTSP + `media_port = "1-2"` + "\n", "rtsp[0].media_port: unknown key", nil},
		{"health kind rtsp is known", rtspPool + "health = { kind = \"rtsp\" }\n" + okRTSP, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "rtsp.toml")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.ok != nil {
					tt.ok(t, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRTSPCheck(t *testing.T) {
	tests := []struct {
		name string
		toml string
		sys  System
		want []string
	}{
		{"firewall and listen", rtspPool + okRTSP, hostOK, []string{
			"listen 203.0.113.10:554 (rtsp \"203.0.113.10:554\") -> pool \"media\" wlc: 10.0.0.21:554\n",
			"firewall: open tcp 203.0.113.10 554, udp 203.0.113.10 63400-63499\n",
		}},
		{"ephemeral overlap", rtspPool + rtspWith(`listen = ["203.0.113.10:554"]`, `pool = "media"`, `media_ports = "50000-50099"`, `backend_media_ports = "63500-63599"`), hostOK, []string{
			"firewall: open tcp 203.0.113.10 554, udp 203.0.113.10 50000-50099\n",
			"warning: rtsp \"203.0.113.10:554\" media_ports 50000-50099 overlap the kernel's ephemeral range",
		}},
		{"wildcard", rtspPool + rtspWith(`listen = ["0.0.0.0:554"]`, `pool = "media"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`), hostOK, []string{
			"firewall: open tcp 0.0.0.0/0 554, udp 0.0.0.0/0 63400-63499\n",
			"without advertise",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "rtsp.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var b bytes.Buffer
			Check(c, tt.sys).Write(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q; got:\n%s", w, b.String())
				}
			}
			if strings.Contains(b.String(), "used by no listener") {
				t.Errorf("pool of an RTSP listener reported unused:\n%s", b.String())
			}
		})
	}
}
