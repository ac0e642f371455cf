package conf

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const examplePath = "../examples/algd.toml"

func TestDefaults(t *testing.T) {
	c, err := Load("testdata/minimal.toml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	short, err := Parse([]byte(okPool+"health = { interval = \"800ms\" }\n"+okFTP), "short.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	unused, err := Parse([]byte(okPool+okFTP+poolWith(`name = "spare"`, `realservers = [{ address = "10.0.0.12:21" }]`)), "unused.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"scheduler", c.Pools[0].Scheduler, "wlc"},
		{"persistence", c.Pools[0].Persistence.Duration, time.Duration(0)},
		{"health kind of an FTP pool", c.Pools[0].Health.Kind, "ftp"},
		{"health kind of an unused pool", unused.Pools[1].Health.Kind, "tcp"},
		{"health interval", c.Pools[0].Health.Interval.Duration, 2 * time.Second},
		{"health timeout", c.Pools[0].Health.Timeout.Duration, time.Second},
		{"health timeout under a short interval", short.Pools[0].Health.Timeout.Duration, 400 * time.Millisecond},
		{"rise", c.Pools[0].Health.Rise, 2},
		{"fall", c.Pools[0].Health.Fall, 3},
		{"weight", c.Pools[0].Realservers[0].W(), 1},
		{"realserver parsed", c.Pools[0].Realservers[0].AddrPort, netip.MustParseAddrPort("127.0.0.11:2121")},
		{"ftp name", c.FTP[0].Name, "127.0.0.1:2121"},
		{"listen parsed", c.FTP[0].ListenAddrs, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2121")}},
		{"advertise unset", c.FTP[0].AdvertiseAddr.IsValid(), false},
		{"passive parsed", c.FTP[0].Passive, PortRange{62000, 62099}},
		{"trust_pasv_address", c.FTP[0].TrustPASVAddress, false},
		{"max_sessions", c.Limits.MaxSessions, 5000},
		{"max_sessions_per_client", c.Limits.MaxSessionsPerClient, 20},
		{"control_idle_timeout", c.Limits.ControlIdleTimeout.Duration, 5 * time.Minute},
		{"data_connect_timeout", c.Limits.DataConnectTimeout.Duration, 30 * time.Second},
		{"backend_connect_timeout", c.Limits.BackendConnectTimeout.Duration, 5 * time.Second},
		{"max_line_bytes", c.Limits.MaxLineBytes, 4096},
		{"max_reply_bytes", c.Limits.MaxReplyBytes, 16 << 20},
		{"log level", c.Log.Level, "info"},
		{"log format", c.Log.Format, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestSetDefaultsKeepsValues checks that explicit values survive.
func TestSetDefaultsKeepsValues(t *testing.T) {
	c, err := Load("testdata/dualstack.toml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"scheduler", c.Pools[0].Scheduler, "sh"},
		{"health kind", c.Pools[0].Health.Kind, "tcp"},
		{"interval", c.Pools[0].Health.Interval.Duration, 500 * time.Millisecond},
		{"weight 0 stays 0", c.Pools[0].Realservers[1].W(), 0},
		{"weight", c.Pools[0].Realservers[0].W(), 3},
		{"name", c.FTP[1].Name, "public-v6"},
		{"advertise", c.FTP[0].AdvertiseAddr, netip.MustParseAddr("203.0.113.10")},
		{"second listen", c.FTP[0].ListenAddrs[1], netip.MustParseAddrPort("203.0.113.10:2121")},
		{"trust", c.FTP[1].TrustPASVAddress, true},
		{"log", c.Log, Log{Level: "debug", Format: "json"}},
		{"pool lookup", c.Pool("v6").Realservers[1].AddrPort, netip.MustParseAddrPort("[2001:db8::12]:2121")},
		{"pool lookup miss", c.Pool("nope") == nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// loadExample parses the example config with the certificate files it
// names under /etc/algd made in a temporary folder.
func loadExample(t *testing.T) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	for name, b := range map[string][]byte{"vip.pem": certPEM, "vip.key": keyPEM, "realservers-ca.pem": certPEM,
		"probe.pass": []byte("not-a-real-password\n"), "ftp-users": []byte("# user pool\nalice archive\nbob homes\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return Parse([]byte(strings.ReplaceAll(string(raw), "/etc/algd/", dir+"/")), "algd.toml")
}

func TestExampleLoads(t *testing.T) {
	c, err := loadExample(t)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.FTP[0].AdvertiseAddr, netip.MustParseAddr("203.0.113.10"); got != want {
		t.Errorf("advertise = %v, want %v", got, want)
	}
	var addrs []string
	for _, rs := range c.Pool(c.FTP[0].Pool).Realservers {
		addrs = append(addrs, rs.AddrPort.String())
	}
	if got, want := strings.Join(addrs, " "), "10.0.0.11:21 10.0.0.12:21"; got != want {
		t.Errorf("realservers = %q, want %q", got, want)
	}
}

// TestExampleUsesEveryKey keeps the example complete as the schema grows.
func TestExampleUsesEveryKey(t *testing.T) {
	var raw map[string]any
	if _, err := toml.DecodeFile(examplePath, &raw); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, key := range schemaKeys(reflect.TypeFor[Config](), "") {
		t.Run(key, func(t *testing.T) {
			if !hasKey(raw, strings.Split(key, ".")) {
				t.Errorf("%s does not set %s", examplePath, key)
			}
		})
	}
}

// schemaKeys lists the dotted toml keys of t's leaves.
func schemaKeys(t reflect.Type, prefix string) []string {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isText(t) {
		return []string{prefix}
	}
	var keys []string
	for name, f := range tomlFields(t) {
		sub := name
		if prefix != "" {
			sub = prefix + "." + name
		}
		keys = append(keys, schemaKeys(f.Type, sub)...)
	}
	return keys
}

// hasKey reports whether the generic document sets path, looking into
// every element of arrays of tables.
func hasKey(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		sub, ok := x[path[0]]
		return ok && hasKey(sub, path[1:])
	case []map[string]any:
		for _, m := range x {
			if hasKey(m, path) {
				return true
			}
		}
	}
	return false
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		want   string
		target error
	}{
		{"missing file", "testdata/does-not-exist.toml", "testdata/does-not-exist.toml: read:", fs.ErrNotExist},
		{"syntax error names file and line", "testdata/bad_syntax.toml", "testdata/bad_syntax.toml:5: syntax:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path)
			if err == nil {
				t.Fatalf("Load accepted it: %+v", c)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not an *Errors", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want prefix %q", err, tt.want)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.target)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"file line path", &Error{File: "algd.toml", Line: 12, Path: "ftp[0].listen[1]", Msg: "bad"}, "algd.toml:12: ftp[0].listen[1]: bad"},
		{"file path", &Error{File: "algd.toml", Path: "ftp[0].listen[1]", Msg: "bad"}, "algd.toml: ftp[0].listen[1]: bad"},
		{"file only", &Error{File: "algd.toml", Msg: "nothing to serve"}, "algd.toml: nothing to serve"},
		{"path only", &Error{Path: "log.level", Msg: "bad"}, "log.level: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	joined := (&Errors{List: []*Error{tests[0].err, tests[3].err}}).Error()
	if want := tests[0].want + "\n" + tests[3].want; joined != want {
		t.Errorf("Errors.Error() = %q, want %q", joined, want)
	}
}

// TestValidateInCode checks Validate on a Config built without a file:
// it fills the resolved fields and reports without file or line.
func TestValidateInCode(t *testing.T) {
	c := &Config{
		Pools: []Pool{{Name: "ftp", Realservers: []Realserver{{AddrPort: netip.MustParseAddrPort("10.0.0.11:21")}}}},
		FTP:   []FTP{{ListenAddrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2121")}, Pool: "ftp", Passive: PortRange{62000, 62009}}},
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := c.FTP[0].Passive, (PortRange{62000, 62009}); got != want {
		t.Errorf("Passive = %v, want %v", got, want)
	}
	if err := c.Validate(); err != nil || len(c.FTP[0].ListenAddrs) != 1 {
		t.Errorf("second Validate: %v, ListenAddrs %v", err, c.FTP[0].ListenAddrs)
	}
	c.Log.Level = "chatty"
	err := c.Validate()
	if err == nil || err.Error() != `log.level: unknown level "chatty": want one of ["debug" "info" "warn" "error"]` {
		t.Errorf("Validate = %v", err)
	}
}
