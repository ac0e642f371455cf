package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// userFTP is an [[ftp]] routing by user with the given extra lines.
func userFTP(lines ...string) string {
	return ftpWith(append([]string{`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`,
		`route_by = "user"`}, lines...)...)
}

func TestUserRoutingRejects(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("# comment\nalice ftp\n\nbob nosuch\ncarol\n[bad ftp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"unknown route_by", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `route_by = "USER"`),
			[]string{`bad.toml:10: ftp[0].route_by: unknown value "USER"`}},
		{"routes without route_by user", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`,
			`user_file = "x"`, `user_route = [{ user = "a", pool = "ftp" }]`),
			[]string{`ftp[0].user_file: needs route_by = "user"`, `ftp[0].user_route: needs route_by = "user"`}},
		{"unknown pool in the table", okPool + userFTP(`user_route = [{ user = "alice", pool = "homes" }]`),
			[]string{`bad.toml:11: ftp[0].user_route[0]: unknown pool "homes": known pools are "ftp"`}},
		{"bad glob and missing keys", okPool + userFTP(`user_route = [{ user = "[a", pool = "ftp" }, { pool = "ftp" }, { user = "x" }]`),
			[]string{`ftp[0].user_route[0]: user: bad glob "[a"`, `ftp[0].user_route[1]: user: missing`, `ftp[0].user_route[2]: pool: missing`}},
		{"unreadable user file", okPool + userFTP(`user_file = "`+filepath.Join(dir, "missing")+`"`),
			[]string{`bad.toml:11: ftp[0].user_file: cannot read the user file:`, "no such file"}},
		{"bad user file lines", okPool + userFTP(`user_file = "`+users+`"`),
			[]string{users + `:4: unknown pool "nosuch"`, users + `:5: want "user pool", got 1 fields`, users + `:6: user: bad glob "[bad"`}},
		{"greeting with a line end", okPool + userFTP(`greeting = "hi\r\n230 logged in"`),
			[]string{`ftp[0].greeting: "hi\r\n230 logged in" holds a control character`}},
		{"greeting too long", okPool + userFTP(`greeting = "`+strings.Repeat("x", 201)+`"`),
			[]string{`ftp[0].greeting: 201 bytes, at most 200`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "bad.toml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestUserRoutingAccepts(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# user pool\nalice homes\nteam-* ftp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(okPool+poolWith(`name = "homes"`, `scheduler = "hrw"`, `realservers = [{ address = "10.0.0.21:21" }]`)+
		userFTP(`user_file = "`+users+`"`, `user_route = [{ user = "b*", pool = "homes" }]`)), "ok.toml")
	if err != nil {
		t.Fatal(err)
	}
	f := c.FTP[0]
	got := []string{}
	for _, r := range f.Routes() {
		got = append(got, r.User+">"+r.Pool)
	}
	if strings.Join(got, " ") != "b*>homes alice>homes team-*>ftp" {
		t.Errorf("routes %q", got)
	}
	if f.Greeting != DefaultGreeting || f.FileRoutes[0].Line != 2 {
		t.Errorf("greeting %q, first file route on line %d", f.Greeting, f.FileRoutes[0].Line)
	}
	if k := c.Pool("homes").Health.Kind; k != "ftp" {
		t.Errorf("a pool named by a user route got health kind %q, want ftp", k)
	}
	c2, err := Parse([]byte(okPool+okFTP), "ok.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c2.FTP[0].RouteBy != "connection" {
		t.Errorf("route_by defaults to %q", c2.FTP[0].RouteBy)
	}
}
