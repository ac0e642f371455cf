package alg

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// DialFrom connects to remote from local (a port of 0 lets the kernel
// choose, at connect time: IP_BIND_ADDRESS_NO_PORT, so that a fixed source
// address does not reserve a port per connection at bind time). An
// invalid local address leaves the choice of address to the kernel as
// well. With a fixed port, the socket is marked SO_REUSEADDR before bind,
// so that several connections may leave from one fixed port at once
// (active FTP data from port 20 to many clients): they differ in the
// remote end of their 4-tuple.
func DialFrom(ctx context.Context, local, remote netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout}
	if !local.Addr().IsValid() {
		c, err := d.DialContext(ctx, "tcp", remote.String())
		if err != nil {
			return nil, err // net's error says "dial tcp remote"
		}
		return c.(*net.TCPConn), nil
	}
	d.LocalAddr = net.TCPAddrFromAddrPort(local)
	ctl := controlNoPort
	if local.Port() != 0 {
		ctl = controlReuseAddr
	}
	d.Control = func(_, _ string, rc syscall.RawConn) error { return ctl(rc) }
	c, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", remote, local, err)
	}
	return c.(*net.TCPConn), nil
}

// SetOOBInline keeps TCP urgent data in the normal stream of c. FTP clients
// send ABOR (or the Telnet DM before it) as urgent data (RFC 959 §4.1.3);
// without this the urgent byte is taken out of the stream and the command
// line arrives cut.
func SetOOBInline(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return controlOOBInline(rc)
}
