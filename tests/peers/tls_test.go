package peers

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCAIssue(t *testing.T) {
	dir := t.TempDir()
	ca := NewCA(t, dir)
	files := ca.Issue(t, "ftpd", netip.MustParseAddr("127.0.0.51"), netip.MustParseAddr("::1"))
	caPEM, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	combined, err := tls.LoadX509KeyPair(files.Combined, files.Combined)
	if err != nil {
		t.Fatalf("combined file: %v", err)
	}
	if !slices.EqualFunc(pair.Certificate, combined.Certificate, slices.Equal) {
		t.Errorf("combined file holds another certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.51", true},
		{"::1", true},
		{"127.0.0.52", false},
		{"ftpd", false},
	}
	for _, tt := range tests {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.host})
		if (err == nil) != tt.ok {
			t.Errorf("verify for %s: err %v, want ok=%v", tt.host, err, tt.ok)
		}
	}
}

func TestTLSArgs(t *testing.T) {
	base := Request{Op: Download, Server: netip.MustParseAddrPort("127.0.0.10:2160"), User: "u", Password: "p",
		Remote: "upload/dl", Local: "/tmp/x", Dir: t.TempDir()}
	with := func(c Client, m Mode, mode TLSMode, ca string) Request {
		r := base
		r.Client, r.Mode, r.TLS, r.CAFile = c, m, mode, ca
		return r
	}
	tests := []struct {
		name    string
		req     Request
		want    []string // arguments that must appear (joined command line)
		notWant []string
		err     bool
	}{
		{"curl explicit verified", with(Curl, PASV, Explicit, "/ca.pem"),
			[]string{"--ssl-reqd", "--cacert /ca.pem", "ftp://127.0.0.10:2160/"}, []string{" -k"}, false},
		{"curl implicit unverified", with(Curl, EPSV, Implicit, ""),
			[]string{" -k", "ftps://127.0.0.10:2160/"}, []string{"--ssl-reqd"}, false},
		{"curl plain", with(Curl, EPSV, NoTLS, "/ca.pem"), []string{"ftp://"}, []string{"--ssl-reqd", "--cacert", "ftps://"}, false},
		{"curl FTPS active refused", with(Curl, PORT, Explicit, ""), nil, nil, true},
		{"lftp explicit", with(LFTP, PORT, Explicit, ""),
			[]string{"ftp:ssl-allow yes", "ftp:ssl-force true", "ftp:ssl-protect-data true", "ssl:verify-certificate no",
				"-p 2160 127.0.0.10"}, []string{"ftps://"}, false},
		{"lftp implicit", with(LFTP, EPSV, Implicit, ""), []string{"ftps://127.0.0.10", "ftp:ssl-force true"}, nil, false},
		{"lftp plain", with(LFTP, PASV, NoTLS, ""), []string{"ftp:ssl-allow no"}, []string{"ssl-force"}, false},
		{"ftplib explicit", with(Ftplib, PORT, Explicit, "/ca.pem"), []string{"explicit /ca.pem"}, nil, false},
		{"ftplib implicit refused", with(Ftplib, PASV, Implicit, ""), nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			var err error
			switch tt.req.Client {
			case Curl:
				args, err = curlArgs(tt.req)
			case LFTP:
				args, err = lftpArgs(tt.req)
			case Ftplib:
				args, err = ftplibArgs(tt.req)
			}
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			line := strings.Join(args, " ")
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("command line lacks %q:\n%s", w, line)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(line, w) {
					t.Errorf("command line has %q:\n%s", w, line)
				}
			}
		})
	}
}
