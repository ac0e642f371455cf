package pool

import (
	"context"
	"net"
	"net/netip"
)

// Dial connects a health check to a realserver: from the pool's
// listeners' backend_source, with a PROXY header first when the pool
// sends them (alg.CheckDial makes one). Every check kind that opens a
// connection uses it, so a check reaches the realserver the way sessions
// do. nil dials from an address the kernel picks, with no header.
type Dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)

// Connect dials addr with d and ties the connection to ctx: its deadline
// becomes the connection's, and ctx being done closes it, so a check
// ends with its context whatever it is blocked on. The caller closes the
// connection; stop releases the tie (call it before Close).
func (d Dial) Connect(ctx context.Context, addr netip.AddrPort) (c net.Conn, stop func() bool, err error) {
	if d == nil {
		var nd net.Dialer
		c, err = nd.DialContext(ctx, "tcp", addr.String())
	} else {
		c, err = d(ctx, addr)
	}
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, context.AfterFunc(ctx, func() { c.Close() }), nil
}
