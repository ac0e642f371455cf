package conf

import (
	"bytes"
	"strings"
	"testing"
)

// hostOK is a host on which the example draws no warning.
var hostOK = System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 20000}

func TestCheckWarnings(t *testing.T) {
	tests := []struct {
		name string
		toml string
		sys  System
		want []string // substrings, each in some warning; none expected when empty
	}{
		{"clean", okPool + okFTP, hostOK, nil},
		{"passive range inside the ephemeral range", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "50000-50999"`), hostOK,
			[]string{`passive_ports 50000-50999 overlap the kernel's ephemeral range 32768-60999 in 50000-50999`, "ip_local_reserved_ports=50000-50999"}},
		{"passive range across the ephemeral edge", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "60500-61500"`), hostOK,
			[]string{"in 60500-60999", "ip_local_reserved_ports=60500-60999"}},
		{"other ephemeral range", okPool + okFTP, System{EphemeralFirst: 61500, EphemeralLast: 65000, NoFile: 20000},
			[]string{"ephemeral range 61500-65000 in 61500-61999"}},
		{"too few open files", okPool + okFTP, System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 1024},
			[]string{"limits.max_sessions = 5000 needs about 10064 open files", "soft limit is 1024"}},
		{"few sessions fit", okPool + okFTP + "[limits]\nmax_sessions = 400\n", System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 1024}, nil},
		{"health none", okPool + "health = { kind = \"none\" }\n" + okFTP, hostOK, []string{`pool "ftp" has health kind "none"`}},
		{"wildcard without advertise", okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`), hostOK,
			[]string{`listens on wildcard 0.0.0.0:21 without advertise`, "per connection"}},
		{"wildcard with advertise", okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`), hostOK, nil},
		{"unused pool", okPool + okFTP + poolWith(`name = "spare"`, `realservers = [{ address = "10.0.0.12:21" }]`), hostOK,
			[]string{`pool "spare" is used by no listener`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "check.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			r := Check(c, tt.sys)
			if len(tt.want) == 0 && len(r.Warnings) > 0 {
				t.Errorf("unexpected warnings: %q", r.Warnings)
			}
			all := strings.Join(r.Warnings, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("warnings lack %q; got:\n%s", w, all)
				}
			}
		})
	}
}

func TestReportWrite(t *testing.T) {
	tests := []struct {
		name string
		file string
		sys  System
		want []string
	}{
		{"example", examplePath, hostOK, []string{
			"listen 203.0.113.10:21 (ftp \"vip-ftp\") -> pool \"ftp\" wlc: 10.0.0.11:21, 10.0.0.12:21\n",
			"firewall: open tcp 203.0.113.10 21, tcp 203.0.113.10 990, tcp 203.0.113.10 61000-61999\n",
		}},
		{"example on a small host", examplePath, System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 1024}, []string{
			"firewall: open tcp 203.0.113.10 21, tcp 203.0.113.10 990, tcp 203.0.113.10 61000-61999\n",
			"warning: limits.max_sessions = 5000 needs about 10064 open files",
		}},
		{"two families", "testdata/dualstack.toml", hostOK, []string{
			"firewall: open tcp 203.0.113.10 21, tcp 203.0.113.10 2121, tcp 203.0.113.10 61000-61999\n",
			"firewall: open tcp 2001:db8::10 21, tcp 2001:db8::10 61000-61999\n",
			"(weight 0: drained)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			var err error
			if tt.file == examplePath {
				c, err = loadExample(t)
			} else {
				c, err = Load(tt.file)
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var b bytes.Buffer
			Check(c, tt.sys).Write(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q; got:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestFirewallWildcard(t *testing.T) {
	c, err := Parse([]byte(okPool+ftpWith(`listen = ["[::]:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`)), "fw.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := Check(c, hostOK).Firewall
	if want := "open tcp ::/0 21, tcp ::/0 61000-61999"; len(got) != 1 || got[0] != want {
		t.Errorf("Firewall = %q, want [%q]", got, want)
	}
}

func TestParseLocalPortRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last uint16
		ok          bool
	}{
		{"32768\t60999\n", 32768, 60999, true},
		{"1024 65535", 1024, 65535, true},
		{"60999 32768\n", 0, 0, false},
		{"32768\n", 0, 0, false},
		{"a b", 0, 0, false},
		{"0 100", 0, 0, false},
		{"1 70000", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			first, last, ok := parseLocalPortRange(tt.in)
			if first != tt.first || last != tt.last || ok != tt.ok {
				t.Errorf("got %d, %d, %v; want %d, %d, %v", first, last, ok, tt.first, tt.last, tt.ok)
			}
		})
	}
}

// TestReadSystem only checks that what it returns is usable: the values
// belong to the host.
func TestReadSystem(t *testing.T) {
	sys := ReadSystem()
	if sys.EphemeralFirst == 0 || sys.EphemeralFirst > sys.EphemeralLast || sys.NoFile == 0 {
		t.Errorf("ReadSystem = %+v", sys)
	}
}
