// Package ftpc is a small FTP client over raw sockets for algd's tests.
//
// It does what library clients do not: all four data modes (PASV, EPSV,
// PORT, EPRT), connecting exactly to the address a 227 reply announces,
// reporting where each data connection came from, PORT/EPRT naming any
// address, and ABOR sent with TCP urgent data the way lftp and python's
// ftplib send it. Every reply is read whole (multi-line aware) and none is
// skipped, so tests see what the server, or algd in front of it, said.
//
// A Client is used by one goroutine at a time. Every read and write, on
// the control and the data connections, has the Client's timeout as its
// deadline, so a broken peer fails a test instead of hanging it.
package ftpc

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// ReplyError is a reply whose code was not one of those the command
// expected; tests branch on Reply.Code with errors.As.
type ReplyError struct {
	// Cmd is the verb of the command answered (arguments left out, so
	// that no password lands in a test log).
	Cmd string
	// Reply is the reply received.
	Reply Reply
}

// Error says which command got which reply.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("%q: unexpected reply %q", e.Cmd, e.Reply.String())
}

// Client is one FTP control connection.
type Client struct {
	// PortOverride, when not zero, is the local port PORT and EPRT listen
	// on instead of one the kernel chooses.
	PortOverride uint16
	// DialData, when set, makes the passive data connections from the
	// control connection's local address instead of a plain dial (a
	// seam: a fake kernel's NAT, tests/fakekernel).
	DialData func(from netip.Addr, to netip.AddrPort, timeout time.Duration) (*net.TCPConn, error)

	conn     *net.TCPConn
	r        *bufio.Reader
	timeout  time.Duration
	greeting Reply
	local    netip.AddrPort
	remote   netip.AddrPort
	closed   bool
}

// Dial connects from the address from (port 0; an invalid Addr lets the
// kernel choose) to addr and reads the greeting, which must be a 2xx
// (after an optional 120). Every later read and write has timeout as its
// deadline.
func Dial(addr netip.AddrPort, from netip.Addr, timeout time.Duration) (*Client, error) {
	d := net.Dialer{Timeout: timeout}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	nc, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("ftpc: dial %v: %w", addr, err)
	}
	conn, ok := nc.(*net.TCPConn)
	if !ok {
		_ = nc.Close()
		return nil, fmt.Errorf("ftpc: dial %v: not a TCP connection", addr)
	}
	c := &Client{
		conn:    conn,
		r:       bufio.NewReaderSize(conn, maxLine),
		timeout: timeout,
		local:   unmap(conn.LocalAddr().(*net.TCPAddr).AddrPort()),
		remote:  unmap(conn.RemoteAddr().(*net.TCPAddr).AddrPort()),
	}
	for {
		rep, err := c.ReadReply()
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("ftpc: greeting: %w", err)
		}
		c.greeting = rep
		if rep.Code == 120 { // RFC 959 §5.4: 120 precedes the 220
			continue
		}
		if rep.Code/100 != 2 {
			_ = conn.Close()
			return nil, fmt.Errorf("ftpc: %w", &ReplyError{Cmd: "greeting", Reply: rep})
		}
		return c, nil
	}
}

// Greeting is the server's 220 (or other 2xx) greeting.
func (c *Client) Greeting() Reply { return c.greeting }

// LocalAddr is the local address of the control connection.
func (c *Client) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr is the server's address of the control connection.
func (c *Client) RemoteAddr() netip.AddrPort { return c.remote }

// Cmd sends line followed by CRLF, unchanged (hostile tests may put any
// byte in it), and reads one complete reply.
func (c *Client) Cmd(line string) (Reply, error) {
	if err := c.send([]byte(line + "\r\n")); err != nil {
		return Reply{}, err
	}
	return c.ReadReply()
}

// Expect is Cmd, with a *ReplyError unless the reply's code is one of codes.
func (c *Client) Expect(line string, codes ...int) (Reply, error) {
	rep, err := c.Cmd(line)
	if err != nil {
		return rep, err
	}
	if !slices.Contains(codes, rep.Code) {
		return rep, &ReplyError{Cmd: verb(line), Reply: rep}
	}
	return rep, nil
}

// ReadReply reads one more reply, such as the 226 after a 150.
func (c *Client) ReadReply() (Reply, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return Reply{}, fmt.Errorf("ftpc: read reply: %w", err)
	}
	rep, err := readReply(c.r)
	if err != nil {
		return rep, fmt.Errorf("ftpc: %w", err)
	}
	return rep, nil
}

// Login sends USER and, when asked for it (331), PASS, then TYPE I, so
// that every transfer moves bytes unchanged.
func (c *Client) Login(user, pass string) error {
	rep, err := c.Expect("USER "+user, 230, 331)
	if err != nil {
		return fmt.Errorf("ftpc: login: %w", err)
	}
	if rep.Code == 331 {
		if _, err := c.Expect("PASS "+pass, 230, 202); err != nil {
			return fmt.Errorf("ftpc: login: %w", err)
		}
	}
	if _, err := c.Expect("TYPE I", 200); err != nil {
		return fmt.Errorf("ftpc: login: %w", err)
	}
	return nil
}

// Close sends QUIT and reads its reply (best effort, errors ignored), then
// closes the control connection. Later calls do nothing.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	_, _ = c.Cmd("QUIT")
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("ftpc: close: %w", err)
	}
	return nil
}

// send writes b on the control connection.
func (c *Client) send(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("ftpc: send: %w", err)
	}
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("ftpc: send %q: %w", verb(string(b)), err)
	}
	return nil
}

// verb returns the first word of a command line.
func verb(line string) string {
	for i := range len(line) {
		if line[i] == ' ' || line[i] == '\r' || line[i] == '\n' {
			return line[:i]
		}
	}
	return line
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
