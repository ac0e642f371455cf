package conf

import (
	"errors"
	"strings"
	"testing"
)

// Fragments that are valid on their own; a case changes one thing.
const (
	okPool = `
[[pool]]
name = "ftp"
realservers = [{ address = "10.0.0.11:21" }]
`
	okFTP = `
[[ftp]]
listen = ["203.0.113.10:21"]
pool = "ftp"
passive_ports = "61000-61999"
`
)

// ftpWith returns an [[ftp]] table with the given body lines.
func ftpWith(lines ...string) string {
	return "\n[[ftp]]\n" + strings.Join(lines, "\n") + "\n"
}

// poolWith returns a [[pool]] table with the given body lines.
func poolWith(lines ...string) string {
	return "\n[[pool]]\n" + strings.Join(lines, "\n") + "\n"
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"syntax error with line", "a = 1\nb = = 2\n", []string{"bad.toml:2: syntax:"}},
		{"unterminated array", okPool + "[[ftp]]\nlisten = [\n", []string{"bad.toml:", "syntax:"}},
		{"listen not an array", okPool + ftpWith(`listen = "203.0.113.10:21"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`bad.toml:7: ftp[0].listen: want an array of strings, got string "203.0.113.10:21"`}},
		{"weight as string", poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21", weight = "2" }]`) + okFTP,
			[]string{`pool[0].realservers[0].weight: want an integer, got string "2"`}},
		{"duration as integer", okPool + okFTP + "[limits]\ndata_connect_timeout = 30\n",
			[]string{`limits.data_connect_timeout: want a duration string such as "30s", got integer 30`}},
		{"bad duration", poolWith(`name = "ftp"`, `persistence = "5 minutes"`, `realservers = [{ address = "10.0.0.11:21" }]`) + okFTP,
			[]string{`pool[0].persistence: invalid duration "5 minutes"`}},
		{"ftp as a plain table", okPool + "[ftp]\nlisten = [\"203.0.113.10:21\"]\n",
			[]string{"ftp: want an array of tables, got a table"}},
		{"every mistyped value", okPool + ftpWith(`listen = [21]`, `pool = 1`, `passive_ports = "61000-61999"`, `trust_pasv_address = "yes"`),
			[]string{`ftp[0].listen[0]: want a string, got integer 21`, `ftp[0].pool: want a string, got integer 1`,
				`ftp[0].trust_pasv_address: want true or false, got string "yes"`}},
		{"unknown keys everywhere", "foo = 1\n" + poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21", wieght = 2 }]`) +
			okFTP + ftpWith(`listen = ["203.0.113.11:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `bogus = true`) +
			"[limits]\nmax_session = 3\n[log]\nLevel = \"info\"\n",
			[]string{`bad.toml:1: foo: unknown key "foo"`, `pool[0].realservers[0].wieght: unknown key "wieght"`,
				`ftp[1].bogus: unknown key "bogus"`, `limits.max_session: unknown key`, `log.Level: unknown key "Level" (did you mean "level"?)`}},
		{"unknown table", okPool + okFTP + "[adminx]\nlisten = \"127.0.0.1:9090\"\n", []string{`adminx: unknown key "adminx"`}},
		{"active source port garbage", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `active_source_port = "twenty"`),
			[]string{`ftp[0].active_source_port: "twenty": want "control-1"`}},
		{"active range overlaps passive", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `active_source_port = "61900-62000"`),
			[]string{`ftp[0].active_source_port: "61900-62000" overlaps passive_ports "61000-61999"`}},
		{"listen host name", okPool + ftpWith(`listen = ["ftp.example.com:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[0]: "ftp.example.com:21" names host "ftp.example.com"`}},
		{"listen without port", okPool + ftpWith(`listen = ["203.0.113.10"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[0]: "203.0.113.10" has no port`}},
		{"listen IPv6 without brackets", okPool + ftpWith(`listen = ["2001:db8::10"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[0]: "2001:db8::10" has no port`}},
		{"listen port 0", okPool + ftpWith(`listen = ["203.0.113.10:21", "203.0.113.10:0"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[1]: "203.0.113.10:0" has port 0`}},
		{"listen garbage", okPool + ftpWith(`listen = ["1.2.3:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[0]: "1.2.3:21" is not ip:port`}},
		{"listen missing", okPool + ftpWith(`pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen: missing`}},
		{"realserver host name", poolWith(`name = "ftp"`, `realservers = [{ address = "backend:21" }]`) + okFTP,
			[]string{`pool[0].realservers[0].address: "backend:21" names host "backend"`}},
		{"realserver port 0", poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:0" }]`) + okFTP,
			[]string{`pool[0].realservers[0].address: "10.0.0.11:0" has port 0`}},
		{"realserver wildcard", poolWith(`name = "ftp"`, `realservers = [{ address = "0.0.0.0:21" }]`) + okFTP,
			[]string{`pool[0].realservers[0].address: "0.0.0.0:21" is a wildcard`}},
		{"realserver address missing", poolWith(`name = "ftp"`, `realservers = [{ weight = 2 }]`) + okFTP,
			[]string{`pool[0].realservers[0].address: is empty`}},
		{"advertise with port", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `advertise = "203.0.113.10:21"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].advertise: "203.0.113.10:21" has a port`}},
		{"advertise host name", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `advertise = "vip.example.com"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].advertise: "vip.example.com" is a host name`}},
		{"advertise wildcard", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `advertise = "0.0.0.0"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].advertise: "0.0.0.0" is a wildcard`}},
		{"advertise IPv4 with only IPv6 listens", okPool + ftpWith(`listen = ["[2001:db8::10]:21"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].advertise: IPv4 address "203.0.113.10" but every listen address is IPv6`}},
		{"advertise IPv6 with only IPv4 listens", okPool + ftpWith(`listen = ["203.0.113.10:21", "0.0.0.0:2121"]`, `advertise = "2001:db8::10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].advertise: IPv6 address "2001:db8::10" but every listen address is IPv4`}},
		{"range inverted", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61999-61000"`),
			[]string{`ftp[0].passive_ports: "61999-61000" is inverted`}},
		{"range one port", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000"`),
			[]string{`ftp[0].passive_ports: "61000" is not a range`}},
		{"range not numbers", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "low-high"`),
			[]string{`ftp[0].passive_ports: "low-high" is not a range of ports`}},
		{"range above 65535", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-70000"`),
			[]string{`ftp[0].passive_ports: "61000-70000" is not a range of ports`}},
		{"range port 0", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "0-100"`),
			[]string{`ftp[0].passive_ports: "0-100" contains port 0`}},
		{"range missing", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`),
			[]string{`ftp[0].passive_ports: missing`}},
		{"range holds own listen port", okPool + ftpWith(`listen = ["203.0.113.10:2121"]`, `pool = "ftp"`, `passive_ports = "2000-2999"`),
			[]string{`ftp[0].passive_ports: "2000-2999" contains port 2121 of ftp[0].listen[0] "203.0.113.10:2121" on 203.0.113.10`}},
		{"range holds another listener's port", okPool + okFTP + ftpWith(`listen = ["203.0.113.10:61500"]`, `pool = "ftp"`, `passive_ports = "62000-62999"`),
			[]string{`ftp[0].passive_ports: "61000-61999" contains port 61500 of ftp[1].listen[0] "203.0.113.10:61500"`}},
		{"range holds a wildcard listener's port", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`listen = ["0.0.0.0:61001"]`, `advertise = "203.0.113.11"`, `pool = "ftp"`, `passive_ports = "62000-62999"`),
			[]string{`ftp[0].passive_ports: "61000-61999" contains port 61001 of ftp[1].listen[0] "0.0.0.0:61001"`}},
		{"ranges overlap on advertise", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`listen = ["203.0.113.10:2121"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61500-62500"`),
			[]string{`ftp[1].passive_ports: "61500-62500" overlaps ftp[0].passive_ports "61000-61999" on 203.0.113.10 (ports 61500-61999)`}},
		{"ranges overlap on listen addresses", okPool + okFTP + ftpWith(`listen = ["203.0.113.10:2121"]`, `pool = "ftp"`, `passive_ports = "61999-62999"`),
			[]string{`ftp[1].passive_ports: "61999-62999" overlaps ftp[0].passive_ports "61000-61999" on 203.0.113.10 (ports 61999-61999)`}},
		{"ranges overlap under a wildcard", okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`listen = ["203.0.113.10:2121"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61099"`),
			[]string{`ftp[1].passive_ports: "61000-61099" overlaps ftp[0].passive_ports "61000-61999" on 203.0.113.10`}},
		{"same listener twice", okPool + ftpWith(`listen = ["203.0.113.10:21", "203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[1]: "203.0.113.10:21" listens on the port of ftp[0].listen[0] "203.0.113.10:21"`}},
		{"wildcard and specific listener", okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "62000-62999"`),
			[]string{`ftp[1].listen[0]: "203.0.113.10:21" listens on the port of ftp[0].listen[0] "0.0.0.0:21"`}},
		{"dual-stack wildcard and IPv4 wildcard", okPool + ftpWith(`listen = ["[::]:21", "0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].listen[1]: "0.0.0.0:21" listens on the port of ftp[0].listen[0] "[::]:21"`}},
		{"pool reference missing", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].pool: missing`}},
		{"pool reference unknown", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "web"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[0].pool: unknown pool "web": known pools are "ftp"`}},
		{"pool reference without pools", okFTP, []string{`ftp[0].pool: unknown pool "ftp": there is no [[pool]]`}},
		{"duplicate pool", okPool + okPool + okFTP, []string{`pool[1].name: duplicate pool name "ftp", also pool[0]`}},
		{"pool without name", poolWith(`realservers = [{ address = "10.0.0.11:21" }]`) + okPool + okFTP, []string{`pool[0].name: missing`}},
		{"pool without realservers", poolWith(`name = "ftp"`) + okFTP, []string{`pool[0].realservers: pool "ftp" has no realservers`}},
		{"duplicate realserver", poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21" }, { address = "10.0.0.12:21" }, { address = "[::ffff:10.0.0.11]:21" }]`) + okFTP,
			[]string{`pool[0].realservers[2].address: duplicate realserver "[::ffff:10.0.0.11]:21", also realservers[0]`}},
		{"negative weight", poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21", weight = -1 }]`) + okFTP,
			[]string{`pool[0].realservers[0].weight: negative weight -1`}},
		{"unknown scheduler", poolWith(`name = "ftp"`, `scheduler = "random"`, `realservers = [{ address = "10.0.0.11:21" }]`) + okFTP,
			[]string{`pool[0].scheduler: unknown scheduler "random"`}},
		{"negative persistence", poolWith(`name = "ftp"`, `persistence = "-1m"`, `realservers = [{ address = "10.0.0.11:21" }]`) + okFTP,
			[]string{`pool[0].persistence: negative duration "-1m0s"`}},
		{"unknown health kind", okPool + "health = { kind = \"http\" }\n" + okFTP,
			[]string{`pool[0].health.kind: unknown health kind "http"`}},
		{"timeout equals interval", okPool + "health = { interval = \"1s\", timeout = \"1s\" }\n" + okFTP,
			[]string{`pool[0].health.timeout: timeout "1s" must be below interval "1s"`}},
		{"timeout above interval", okPool + "[pool.health]\ninterval = \"2s\"\ntimeout = \"3s\"\n" + okFTP,
			[]string{`pool[0].health.timeout: timeout "3s" must be below interval "2s"`}},
		{"negative interval", okPool + "health = { interval = \"-2s\" }\n" + okFTP,
			[]string{`pool[0].health.interval: interval "-2s" is not positive`}},
		{"rise and fall below 1", okPool + "health = { rise = -1, fall = -2 }\n" + okFTP,
			[]string{`pool[0].health.rise: rise -1 is below 1`, `pool[0].health.fall: fall -2 is below 1`}},
		{"negative limits", okPool + okFTP + "[limits]\nmax_sessions = -1\nmax_sessions_per_client = -5\ncontrol_idle_timeout = \"-1s\"\ndata_connect_timeout = \"-2s\"\nbackend_connect_timeout = \"-3s\"\n",
			[]string{`limits.max_sessions: negative value -1`, `limits.max_sessions_per_client: negative value -5`,
				`limits.control_idle_timeout: negative duration "-1s"`, `limits.data_connect_timeout: negative duration "-2s"`,
				`limits.backend_connect_timeout: negative duration "-3s"`}},
		{"line limit too small", okPool + okFTP + "[limits]\nmax_line_bytes = 100\n", []string{`limits.max_line_bytes: 100 is out of range`}},
		{"line limit too large", okPool + okFTP + "[limits]\nmax_line_bytes = 70000\n", []string{`limits.max_line_bytes: 70000 is out of range`}},
		{"reply limit too small", okPool + okFTP + "[limits]\nmax_reply_bytes = 1000\n", []string{`limits.max_reply_bytes: 1000 is too small`}},
		{"negative reply limit", okPool + okFTP + "[limits]\nmax_reply_bytes = -1\n", []string{`limits.max_reply_bytes: -1 is too small`}},
		{"unknown log level", okPool + okFTP + "[log]\nlevel = \"verbose\"\n", []string{`log.level: unknown level "verbose"`}},
		{"unknown log format", okPool + okFTP + "[log]\nformat = \"xml\"\n", []string{`log.format: unknown format "xml"`}},
		{"nothing to serve", okPool, []string{"bad.toml: nothing to serve"}},
		{"empty file", "", []string{"bad.toml: nothing to serve"}},
		{"duplicate listener name", okPool + ftpWith(`name = "a"`, `listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`name = "a"`, `listen = ["203.0.113.11:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`),
			[]string{`ftp[1].name: duplicate listener name "a", also ftp[0]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "bad.toml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

// TestParseReportsEveryError checks that one file with many problems gets
// them all, in line order, each with its line.
func TestParseReportsEveryError(t *testing.T) {
	const doc = `[[pool]]
name = "ftp"
scheduler = "fastest"
realservers = [
  { address = "10.0.0.11:21" },
  { address = "backend.example:21", weight = -3 },
]

[[ftp]]
listen = ["203.0.113.10:21", "203.0.113.10:0"]
pool = "web"
passive_ports = "61999-61000"

[limits]
max_line_bytes = 10

[log]
level = "loud"
`
	want := []string{
		`bad.toml:3: pool[0].scheduler: unknown scheduler "fastest"`,
		`bad.toml:6: pool[0].realservers[1].address: "backend.example:21" names host "backend.example"`,
		`bad.toml:6: pool[0].realservers[1].weight: negative weight -3`,
		`bad.toml:10: ftp[0].listen[1]: "203.0.113.10:0" has port 0`,
		`bad.toml:11: ftp[0].pool: unknown pool "web"`,
		`bad.toml:12: ftp[0].passive_ports: "61999-61000" is inverted`,
		`bad.toml:15: limits.max_line_bytes: 10 is out of range`,
		`bad.toml:18: log.level: unknown level "loud"`,
	}
	_, err := Parse([]byte(doc), "bad.toml")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v is not an *Errors", err, err)
	}
	if len(errs.List) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs.List), len(want), err)
	}
	for i, w := range want {
		if i >= len(errs.List) {
			break
		}
		if got := errs.List[i].Error(); !strings.HasPrefix(got, w) {
			t.Errorf("error %d = %q, want prefix %q", i, got, w)
		}
	}
}

// TestParseAccepts holds valid files near the edges of the rules above.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		toml string
	}{
		{"IPv4 advertise on a dual-stack listener", okPool + ftpWith(`listen = ["[::]:21"]`, `advertise = "203.0.113.10"`, `pool = "ftp"`, `passive_ports = "61000-61999"`)},
		{"same range on different addresses", okPool + okFTP + ftpWith(`listen = ["203.0.113.11:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`)},
		{"IPv4 wildcard beside an IPv6 range", okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) +
			ftpWith(`listen = ["[2001:db8::10]:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`)},
		{"range next to the listen port", okPool + ftpWith(`listen = ["203.0.113.10:2121"]`, `pool = "ftp"`, `passive_ports = "2122-2999"`)},
		{"one-port range", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61000"`)},
		{"drained realserver", poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21", weight = 0 }]`) + okFTP},
		{"short interval takes a shorter timeout", okPool + "health = { interval = \"500ms\" }\n" + okFTP},
		{"zoned realserver", poolWith(`name = "ftp"`, `realservers = [{ address = "[fe80::1%eth0]:21" }]`) + okFTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.toml), "ok.toml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestBackendDataMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []string
		want string
	}{
		{"active without ports", []string{`backend_data_mode = "active"`}, "ftp[0].backend_ports: missing"},
		{"unknown mode", []string{`backend_data_mode = "sideways"`}, `unknown mode "sideways"`},
		{"bad source", []string{`backend_source = "ftp.example.com"`}, "ftp[0].backend_source"},
		{"active with ports", []string{`backend_data_mode = "active"`, `backend_ports = "60000-60099"`, `backend_source = "10.0.0.1"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := append([]string{`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`}, tc.body...)
			c, err := Parse([]byte(okPool+ftpWith(lines...)), "t.toml")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.FTP[0].BackendRange.Size() != 100 || !c.FTP[0].BackendSourceAddr.IsValid() {
					t.Fatalf("resolved fields: %+v %v", c.FTP[0].BackendRange, c.FTP[0].BackendSourceAddr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPerClientLimits covers the per-client shares of the ranges: their
// defaults, a value kept, and negative values refused.
func TestPerClientLimits(t *testing.T) {
	c, err := Parse([]byte(okPool+okFTP), "ok.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxDataPortsPerClient != 8 || c.Limits.MaxMediaPairsPerClient != 8 {
		t.Errorf("defaults %d %d, want 8 8", c.Limits.MaxDataPortsPerClient, c.Limits.MaxMediaPairsPerClient)
	}
	c, err = Parse([]byte(okPool+okFTP+"[limits]\nmax_data_ports_per_client = 3\nmax_media_pairs_per_client = 5\n"), "ok.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxDataPortsPerClient != 3 || c.Limits.MaxMediaPairsPerClient != 5 {
		t.Errorf("kept %d %d, want 3 5", c.Limits.MaxDataPortsPerClient, c.Limits.MaxMediaPairsPerClient)
	}
	_, err = Parse([]byte(okPool+okFTP+"[limits]\nmax_data_ports_per_client = -1\nmax_media_pairs_per_client = -2\n"), "bad.toml")
	for _, w := range []string{`bad.toml:11: limits.max_data_ports_per_client: negative value -1`, `bad.toml:12: limits.max_media_pairs_per_client: negative value -2`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}
