package daemon

import (
	"crypto/tls"
	"sync/atomic"

	"github.com/algd/algd/conf"
	"github.com/algd/algd/ftp"
)

// certStore holds a listener's certificate; SIGHUP swaps it without
// touching sessions (handshakes in progress keep the one they started with).
type certStore struct {
	cert atomic.Pointer[tls.Certificate]
}

func (s *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// newTLS builds a listener's FTPS settings from its [ftp.tls], or nil when
// it has neither a certificate nor a TLS realserver leg.
func newTLS(t conf.TLS, store *certStore) *ftp.TLS {
	if t.Pair == nil && t.Backend == "plain" {
		return nil
	}
	out := &ftp.TLS{
		Required:         t.Required,
		RequireProtP:     t.RequireProtP,
		RequireReuse:     t.RequireReuse,
		HandshakeTimeout: t.HandshakeTimeout.Duration,
		Backend:          t.Backend,
		BackendConfig: &tls.Config{
			RootCAs:            t.CAPool,
			ServerName:         t.BackendServerName,
			InsecureSkipVerify: !t.Verify(),
			MinVersion:         tls.VersionTLS12,
		},
	}
	if t.Pair != nil {
		store.cert.Store(t.Pair)
		out.Server = &tls.Config{
			GetCertificate: store.get,
			MinVersion:     uint16(t.Min),
		}
	}
	return out
}
