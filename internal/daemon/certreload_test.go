package daemon

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/algd/algd/internal/testcert"
)

// servedCert does AUTH TLS at addr and returns the certificate's name.
func servedCert(t *testing.T, addr string) string {
	t.Helper()
	c, br := dialTCP(t, addr)
	defer c.Close()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "220 ") {
			break
		}
	}
	io.WriteString(c, "AUTH TLS\r\n")
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "234") {
		t.Fatalf("AUTH TLS: %q", l)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestCertificateReload: SIGHUP swaps the certificate for new handshakes,
// an FTPS session opened before goes on transferring, and a broken key
// file on a later SIGHUP keeps the certificate in use.
func TestCertificateReload(t *testing.T) {
	f := newFarm(t, 1<<20, "127.0.0.14")
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "vip.pem"), filepath.Join(dir, "vip.key")
	testcert.New(t, "first", "127.0.0.1").Write(t, certPath, keyPath)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	text := fmt.Sprintf(`[admin]
listen = "ADMIN"

[[pool]]
name = "p"
realservers = [{ address = %q }]

[[ftp]]
name = "vip"
listen = [%q]
pool = "p"
passive_ports = "63600-63699"

  [ftp.tls]
  cert = %q
  key = %q
`, f.servers[0].Addr().String(), listen, certPath, keyPath)
	d := startDaemon(t, text)

	if got := servedCert(t, listen); got != "first" {
		t.Fatalf("certificate %q, want first", got)
	}
	old, err := ftpc.Dial(listen, ftpc.DialWithTimeout(10*time.Second),
		ftpc.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Quit()
	if err := old.Login("demo", "demo"); err != nil {
		t.Fatal(err)
	}

	testcert.New(t, "second", "127.0.0.1").Write(t, certPath, keyPath)
	if st := d.reload(text); st.Reloads.Failed != 0 {
		t.Fatalf("reload failed: %s", st.Reloads.LastError)
	}
	if got := servedCert(t, listen); got != "second" {
		t.Fatalf("after SIGHUP the certificate is %q, want second", got)
	}
	r, err := old.Retr(f.file)
	if err != nil {
		t.Fatalf("the session opened before the reload: %v", err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil || sha256.Sum256(data) != f.sum {
		t.Fatalf("the session opened before the reload got %d bytes, %v", len(data), err)
	}

	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := d.reload(text)
	if st.Reloads.Failed != 1 || !strings.Contains(st.Reloads.LastError, "tls.cert") {
		t.Fatalf("a broken key was not refused: %+v", st.Reloads)
	}
	if got := servedCert(t, listen); got != "second" {
		t.Fatalf("after a refused reload the certificate is %q, want second", got)
	}
}
