package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/algd/algd/internal/testcert"
)

// selfSigned returns a fresh self-signed certificate and its key, PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	c := testcert.New(t, "algd test")
	return c.CertPEM, c.KeyPEM
}

func TestTLSValidation(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := selfSigned(t)
	c2, _ := selfSigned(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, other := write("c1.pem", c1), write("k1.pem", k1), write("c2.pem", c2)
	garbage := write("garbage.pem", []byte("not pem"))
	ftp := func(lines ...string) string {
		return okPool + ftpWith(append([]string{`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `[ftp.tls]`}, lines...)...)
	}
	tests := []struct {
		name string
		toml string
		want string // "" = valid
	}{
		{"valid pair", ftp(`cert = "`+cert+`"`, `key = "`+key+`"`, `implicit_listen = ["203.0.113.10:990"]`), ""},
		{"require_prot_p with cert", ftp(`cert = "`+cert+`"`, `key = "`+key+`"`, `implicit_listen = ["203.0.113.10:990"]`, `require_prot_p = true`), ""},
		{"require_prot_p without cert", ftp(`require_prot_p = true`), "ftp[0].tls.require_prot_p: needs tls.cert"},
		{"mismatched pair", ftp(`cert = "`+other+`"`, `key = "`+key+`"`), "ftp[0].tls.cert: cannot use certificate"},
		{"missing file", ftp(`cert = "/nonexistent.pem"`, `key = "`+key+`"`), "no such file"},
		{"key without cert", ftp(`key = "` + key + `"`), "ftp[0].tls.cert: missing"},
		{"implicit without cert", ftp(`implicit_listen = ["203.0.113.10:990"]`), "ftp[0].tls.implicit_listen: needs tls.cert"},
		{"required without cert", ftp(`required = true`), "ftp[0].tls.required: needs tls.cert"},
		{"bad version", ftp(`min_version = "1.4"`), `unknown TLS version "1.4"`},
		{"bad backend", ftp(`backend = "starttls"`), `unknown backend mode "starttls"`},
		{"bad CA", ftp(`backend_ca = "` + garbage + `"`), "holds no PEM certificate"},
		{"implicit on the control port", ftp(`cert = "`+cert+`"`, `key = "`+key+`"`, `implicit_listen = ["203.0.113.10:21"]`), "port 21 of one address taken twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "t.toml")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.FTP[0].TLS.Pair == nil || len(c.FTP[0].TLS.ImplicitAddrs) != 1 {
					t.Fatalf("resolved TLS fields not filled: %+v", c.FTP[0].TLS)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
