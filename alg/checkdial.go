package alg

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/algd/algd/pool"
)

// CheckDial returns how a pool's health checks connect: from source (an
// invalid address lets the kernel choose) and, when proxy is 1 or 2,
// with a PROXY header of that version first, as sessions to the pool
// start (HAProxy's check-send-proxy). The header names the check
// connection's own ends (algd's address as the client, the realserver
// as the destination), so a realserver that requires PROXY headers
// accepts the check and logs algd as its client.
func CheckDial(source netip.Addr, proxy byte) pool.Dial {
	return func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		c, err := DialFrom(ctx, netip.AddrPortFrom(source, 0), addr, 0)
		if err != nil {
			return nil, err
		}
		if proxy == 0 {
			return c, nil
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetWriteDeadline(dl)
		}
		if err := WriteProxyHeader(c, proxy, AddrPortOf(c.LocalAddr()), AddrPortOf(c.RemoteAddr())); err != nil {
			c.Close()
			return nil, fmt.Errorf("check: %w", err)
		}
		return c, nil
	}
}
