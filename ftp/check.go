package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"

	"github.com/algd/algd/pool"
)

var _ pool.Checker = (*BannerChecker)(nil)

// BannerChecker is the "ftp" health check: a realserver is healthy when it
// answers a connection with a 220 greeting (RFC 959 §5.4, connection
// establishment), not merely when the port accepts.
type BannerChecker struct {
	// Dialer connects to the realserver.
	Dialer net.Dialer
	// TLS, when set, is used for implicit FTPS realservers: the greeting
	// comes after a handshake.
	TLS *tls.Config
}

// Check connects, reads the greeting, says QUIT and closes.
func (b *BannerChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	c, err := b.Dialer.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if b.TLS != nil {
		cfg := b.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = addr.Addr().String()
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		c = tc
	}
	r, err := ReadReply(bufio.NewReaderSize(c, 512), 4096, 100)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if r.Code != 220 {
		return fmt.Errorf("greeting: %d %q", r.Code, r.Text())
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}
