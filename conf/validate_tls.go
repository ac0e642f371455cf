package conf

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// validateTLS checks one listener's [ftp.tls] and loads its files, so that
// an unreadable or mismatched certificate is a configuration error (and, on
// reload, keeps the running configuration).
func validateTLS(p *problems, t *TLS, at string) {
	at += ".tls"
	t.Pair, t.CAPool = nil, nil
	if t.Min < tls.VersionTLS10 || t.Min > tls.VersionTLS13 {
		p.add(at+".min_version", "unknown TLS version %q: want \"1.0\", \"1.1\", \"1.2\" or \"1.3\"", t.Min)
	}
	switch {
	case t.Cert == "" && t.Key == "":
		if t.Required {
			p.add(at+".required", "needs tls.cert and tls.key: without a certificate no client can ever log in")
		}
		if t.RequireProtP {
			p.add(at+".require_prot_p", "needs tls.cert and tls.key: without a certificate no data connection can ever be protected")
		}
		if len(t.ImplicitAddrs) > 0 {
			p.add(at+".implicit_listen", "needs tls.cert and tls.key")
		}
	case t.Cert == "":
		p.add(at+".cert", "missing: tls.key is set, the certificate must be too")
	case t.Key == "":
		p.add(at+".key", "missing: tls.cert is set, the private key must be too")
	default:
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			p.add(at+".cert", "cannot use certificate %q with key %q: %v", t.Cert, t.Key, err)
		} else {
			t.Pair = &pair
		}
	}
	checkListens(p, t.ImplicitAddrs, at+".implicit_listen")
	switch t.Backend {
	case "plain", "explicit", "implicit":
	default:
		p.add(at+".backend", "unknown backend mode %q: want \"plain\", \"explicit\" or \"implicit\"", t.Backend)
	}
	if t.BackendCA != "" {
		pem, err := os.ReadFile(t.BackendCA)
		if err != nil {
			p.add(at+".backend_ca", "%v", err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				p.add(at+".backend_ca", "%q holds no PEM certificate", t.BackendCA)
			} else {
				t.CAPool = pool
			}
		}
	}
	if t.HandshakeTimeout.Duration < 0 {
		p.add(at+".handshake_timeout", "negative duration %q", t.HandshakeTimeout.String())
	}
}
