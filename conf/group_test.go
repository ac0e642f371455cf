package conf

import (
	"errors"
	"strings"
	"testing"
)

// groupWith returns a [[group]] table with the given body lines.
func groupWith(lines ...string) string {
	return "\n[[group]]\n" + strings.Join(lines, "\n") + "\n"
}

// okGroup is a valid group on a VIP of its own, with pool "ftp".
var okGroup = groupWith(`name = "web"`, `vip = "203.0.113.20"`, `ports = ["tcp/80", "tcp/443"]`, `pool = "ftp"`)

func TestGroupRejects(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"no name", okPool + groupWith(`vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{"group[0].name: missing"}},
		{"duplicate name", okPool + okGroup + groupWith(`name = "web"`, `vip = "203.0.113.21"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{`group[1].name: duplicate group name "web"`}},
		{"wildcard vip", okPool + groupWith(`name = "g"`, `vip = "0.0.0.0"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{`group[0].vip: "0.0.0.0" is a wildcard`}},
		{"vip with port", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20:80"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{`group[0].vip: "203.0.113.20:80" is not an IP address literal`}},
		{"bad proto", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["sctp/80"]`, `pool = "ftp"`),
			[]string{`group[0].ports[0]: "sctp/80": want`}},
		{"inverted range", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["udp/7170-6970"]`, `pool = "ftp"`, `health = { kind = "none" }`),
			[]string{`group[0].ports[0]: "udp/7170-6970": "7170-6970" is inverted`}},
		{"no ports", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `pool = "ftp"`),
			[]string{`group[0].ports: missing`}},
		{"unknown pool", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "web"`),
			[]string{`group[0].pool: unknown pool "web"`}},
		{"mixed family masq", okPool + groupWith(`name = "g"`, `vip = "2001:db8::20"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{`group[0].pool: realserver "10.0.0.11:21" of pool "ftp" is not of the VIP's address family`}},
		{"unknown scheduler", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `scheduler = "fastest"`),
			[]string{`group[0].scheduler: unknown IPVS scheduler "fastest"`}},
		{"fractional persistence", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `persistence = "1500ms"`),
			[]string{`group[0].persistence: "1.5s" is not whole seconds`}},
		{"bad forward and on_down", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `forward = "nat"`, `on_down = "ignore"`),
			[]string{`group[0].forward: unknown forwarding method "nat"`, `group[0].on_down: unknown "ignore"`}},
		{"one_packet without udp", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `one_packet = true`),
			[]string{`group[0].one_packet: one-packet scheduling is for UDP`}},
		{"udp-only group checked by tcp without port", okPool + groupWith(`name = "dns"`, `vip = "203.0.113.20"`, `ports = ["udp/53"]`, `pool = "ftp"`),
			[]string{`group[0].health.port: missing: a group without TCP ports`}},
		{"unknown health kind", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `health = { kind = "ftp" }`),
			[]string{`group[0].health.kind: unknown health kind "ftp"`}},
		{"fwmark outside the range", okPool + "[ipvs]\nfwmark_range = \"100-199\"\n" + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `fwmark = 1`),
			[]string{`group[0].fwmark: 1 lies outside ipvs.fwmark_range 100-199`}},
		{"fwmark taken twice", okPool + groupWith(`name = "a"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `fwmark = 10001`) +
			groupWith(`name = "b"`, `vip = "203.0.113.21"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `fwmark = 10001`),
			[]string{`group[1].fwmark: fwmark 10001 is also group[0]'s`}},
		{"range exhausted", okPool + "[ipvs]\nfwmark_range = \"5-5\"\n" + okGroup + groupWith(`name = "b"`, `vip = "203.0.113.21"`, `ports = ["tcp/80"]`, `pool = "ftp"`),
			[]string{`group[1].fwmark: no free fwmark left in ipvs.fwmark_range 5-5`}},
		{"bad range", okPool + okGroup + "[ipvs]\nfwmark_range = \"0-9\"\n", []string{`ipvs.fwmark_range: "0-9" contains mark 0`}},
		{"bad table name", okPool + okGroup + "[ipvs]\nnft_table = \"my table\"\n", []string{`ipvs.nft_table: "my table" is not a table name`}},
		{"short reconcile interval", okPool + okGroup + "[ipvs]\nreconcile_interval = \"100ms\"\n", []string{`ipvs.reconcile_interval: "100ms" is below 1s`}},
		{"two groups share a port", okPool + okGroup + groupWith(`name = "b"`, `vip = "203.0.113.20"`, `ports = ["tcp/400-500"]`, `pool = "ftp"`),
			[]string{`group[1].ports[0]: "tcp/400-500" overlaps group[0].ports[1] "tcp/443" on 203.0.113.20 (tcp ports 443-443)`}},
		{"group claims the ftp listen port", okPool + okFTP + groupWith(`name = "g"`, `vip = "203.0.113.10"`, `ports = ["tcp/21"]`, `pool = "ftp"`),
			[]string{`group[0].ports[0]: "tcp/21" claims tcp ports 21-21 that ftp[0].listen[0] "203.0.113.10:21" terminates in algd`}},
		{"group claims part of the passive range", okPool + okFTP + groupWith(`name = "g"`, `vip = "203.0.113.10"`, `ports = ["tcp/61990-62010"]`, `pool = "ftp"`),
			[]string{`group[0].ports[0]: "tcp/61990-62010" claims tcp ports 61990-61999 that ftp[0].passive_ports`}},
		{"group claims a wildcard listener's port", okPool + ftpWith(`listen = ["[::]:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			groupWith(`name = "g"`, `vip = "203.0.113.10"`, `ports = ["tcp/21"]`, `pool = "ftp"`),
			[]string{`group[0].ports[0]: "tcp/21" claims tcp ports 21-21 that ftp[0].listen[0]`}},
		{"unknown group key", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `mark = 3`),
			[]string{`group[0].mark: unknown key "mark"`}},
		{"fwmark as string", okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `fwmark = "1"`),
			[]string{`group[0].fwmark: want an integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "bad.toml")
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.toml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestGroupResolved(t *testing.T) {
	tests := []struct {
		name       string
		toml       string
		group      string
		mark       uint32
		timeout    uint32
		healthPort int
		ports      []string
	}{
		{"allocated from the default range", okPool + okGroup, "web", 10000, 0, 80, []string{"tcp/80", "tcp/443"}},
		{"allocation skips a taken mark", okPool + groupWith(`name = "a"`, `vip = "203.0.113.20"`, `ports = ["tcp/80"]`, `pool = "ftp"`, `fwmark = 10000`) +
			groupWith(`name = "b"`, `vip = "203.0.113.21"`, `ports = ["tcp/80"]`, `pool = "ftp"`), "b", 10001, 0, 80, []string{"tcp/80"}},
		{"explicit mark and hex range", okPool + "[ipvs]\nfwmark_range = \"0x10-0x1f\"\n" +
			groupWith(`name = "rtsp"`, `vip = "203.0.113.20"`, `ports = ["udp/6970-7170", "tcp/554"]`, `pool = "ftp"`, `fwmark = 17`, `persistence = "10m"`),
			"rtsp", 17, 600, 554, []string{"udp/6970-7170", "tcp/554"}},
		{"udp-only group with a health port", okPool + groupWith(`name = "dns"`, `vip = "203.0.113.20"`, `ports = ["udp/53"]`, `pool = "ftp"`, `health = { port = 53 }`),
			"dns", 10000, 0, 53, []string{"udp/53"}},
		{"udp-only group without checks", okPool + groupWith(`name = "radius"`, `vip = "203.0.113.20"`, `ports = ["udp/1812-1813"]`, `pool = "ftp"`, `one_packet = true`, `health = { kind = "none" }`),
			"radius", 10000, 0, 0, []string{"udp/1812-1813"}},
		{"group beside ftp on another port of the VIP", okPool + okFTP + groupWith(`name = "web"`, `vip = "203.0.113.10"`, `ports = ["tcp/80", "udp/21"]`, `pool = "ftp"`),
			"web", 10000, 0, 80, []string{"tcp/80", "udp/21"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "ok.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			g := c.Group(tt.group)
			if g == nil {
				t.Fatalf("no group %q", tt.group)
			}
			if g.Mark != tt.mark || g.Timeout() != tt.timeout || g.Health.Port != tt.healthPort {
				t.Errorf("mark %d timeout %d health port %d, want %d %d %d", g.Mark, g.Timeout(), g.Health.Port, tt.mark, tt.timeout, tt.healthPort)
			}
			var ports []string
			for _, gp := range g.PortSet {
				ports = append(ports, gp.String())
			}
			if strings.Join(ports, " ") != strings.Join(tt.ports, " ") {
				t.Errorf("ports %q, want %q", ports, tt.ports)
			}
			if !g.VIPAddr.IsValid() || g.Forward != "masq" || g.OnDown != "remove" {
				t.Errorf("defaults not applied: %+v", g)
			}
		})
	}
}

// TestGroupErrorLines checks that group problems carry their line.
func TestGroupErrorLines(t *testing.T) {
	doc := okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80", "tcp/x"]`, `pool = "ftp"`)
	_, err := Parse([]byte(doc), "bad.toml")
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 1 {
		t.Fatalf("want one *Errors entry, got %v", err)
	}
	if e := errs.List[0]; e.Line != 9 || e.Path != "group[0].ports[1]" {
		t.Errorf("got line %d path %q, want line 9 path group[0].ports[1]", e.Line, e.Path)
	}
}
