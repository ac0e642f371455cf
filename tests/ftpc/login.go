package ftpc

import (
	"net/netip"
	"testing"
	"time"
)

// DialLogin dials addr from from (as Dial) and logs in as user; when the
// login fails the connection is closed and only the error returned.
func DialLogin(addr netip.AddrPort, from netip.Addr, timeout time.Duration, user, password string) (*Client, error) {
	c, err := Dial(addr, from, timeout)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// MustLogin is DialLogin for a test's own goroutine: an error fails t,
// and the client is closed at cleanup.
func MustLogin(t testing.TB, addr netip.AddrPort, from netip.Addr, timeout time.Duration, user, password string) *Client {
	t.Helper()
	c, err := DialLogin(addr, from, timeout, user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
