package peers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test run: it signs the
// certificates of algd's VIP and of the ftpds, and clients and algd trust
// its file.
type CA struct {
	// File is the CA certificate, PEM.
	File string
	cert *x509.Certificate
	key  *rsa.PrivateKey
	dir  string
}

// Roots returns a pool holding just the CA, for Go clients that trust it.
func (ca *CA) Roots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	return roots
}

// TLSFiles are the PEM files of one server certificate.
type TLSFiles struct {
	// Cert is the certificate, Key its private key.
	Cert, Key string
	// Combined is the key and the certificate in one file (pure-ftpd -2).
	Combined string
}

// NewCA makes a CA whose files go to dir. The keys are RSA 2048, which
// every peer's TLS configuration accepts (proftpd names its directive
// TLSRSACertificateFile).
func NewCA(t testing.TB, dir string) *CA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("peers: CA key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "algd interop CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("peers: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("peers: CA certificate: %v", err)
	}
	ca := &CA{File: filepath.Join(dir, "ca.pem"), cert: cert, key: key, dir: dir}
	if err := writePEM(ca.File, pemBlock("CERTIFICATE", der)); err != nil {
		t.Fatalf("peers: %v", err)
	}
	return ca
}

// Issue signs a server certificate for name whose subject alternative
// names are ips, and writes NAME.pem, NAME.key and NAME-combined.pem. The
// files are readable by everyone: ftpds read them before and after they
// drop privileges.
func (ca *CA) Issue(t testing.TB, name string, ips ...netip.Addr) TLSFiles {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("peers: key for %s: %v", name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("peers: serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("peers: certificate for %s: %v", name, err)
	}
	certPEM := pemBlock("CERTIFICATE", der)
	keyPEM := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	f := TLSFiles{
		Cert:     filepath.Join(ca.dir, name+".pem"),
		Key:      filepath.Join(ca.dir, name+".key"),
		Combined: filepath.Join(ca.dir, name+"-combined.pem"),
	}
	for _, w := range []struct {
		path string
		data []byte
	}{{f.Cert, certPEM}, {f.Key, keyPEM}, {f.Combined, append(append([]byte(nil), keyPEM...), certPEM...)}} {
		if err := writePEM(w.path, w.data); err != nil {
			t.Fatalf("peers: %v", err)
		}
	}
	return f
}

// pemBlock encodes one PEM block.
func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writePEM writes data to path, readable by everyone.
func writePEM(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
