package ftpc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// Mode is how a data connection is set up.
type Mode int

// The data modes.
const (
	// PASV: the client connects to the address and port of a 227 reply
	// (RFC 959 §4.1.2).
	PASV Mode = iota
	// EPSV: the client connects to the control peer's address at the
	// port of a 229 reply (RFC 2428 §3).
	EPSV
	// PORT: the server connects to the IPv4 address and port the client
	// names (RFC 959 §4.1.2).
	PORT
	// EPRT: as PORT, in RFC 2428 §2 syntax, IPv4 or IPv6.
	EPRT
)

// String returns the mode's command verb.
func (m Mode) String() string {
	switch m {
	case PASV:
		return "PASV"
	case EPSV:
		return "EPSV"
	case PORT:
		return "PORT"
	case EPRT:
		return "EPRT"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// dataBuf is the size of one read or write on a data connection.
const dataBuf = 64 << 10

// Transfer is what one data transfer looked like from the client: what
// the tests assert.
type Transfer struct {
	// Mode is the data mode used.
	Mode Mode
	// Announced is, for PASV, the address and port of the 227 reply; for
	// EPSV, the control peer's address with the port of the 229 reply;
	// for PORT and EPRT, the address and port this client named.
	Announced netip.AddrPort
	// DataPeer is the remote end of the data connection as this client
	// saw it: for PASV/EPSV where it connected to, for PORT/EPRT where
	// the server connected from.
	DataPeer netip.AddrPort
	// Prelim is the reply to the transfer command: a 150 or 125, or the
	// refusal.
	Prelim Reply
	// Final is the reply that ends the transfer, a 226 or 250 (or an
	// error reply); zero when the transfer did not start.
	Final Reply
}

// pending is a data connection being set up: connected already (PASV,
// EPSV) or a listener waiting for the server (PORT, EPRT). Its owner
// closes it with close unless open succeeds.
type pending struct {
	conn *net.TCPConn
	ln   *net.TCPListener
}

func (p *pending) close() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	if p.ln != nil {
		_ = p.ln.Close()
	}
}

// setup issues the data command for t.Mode and readies the data
// connection: PASV/EPSV connect, from the control connection's local
// address, to the announced address before the transfer command (as curl
// and ftplib do); PORT/EPRT listen on the control connection's local
// address, port 0 or PortOverride, before sending the command.
func (c *Client) setup(t *Transfer) (*pending, error) {
	switch t.Mode {
	case PASV, EPSV:
		return c.setupPassive(t)
	case PORT, EPRT:
		return c.setupActive(t)
	default:
		return nil, fmt.Errorf("ftpc: setup: unknown %v", t.Mode)
	}
}

func (c *Client) setupPassive(t *Transfer) (*pending, error) {
	if t.Mode == PASV {
		rep, err := c.Expect("PASV", 227)
		if err != nil {
			return nil, fmt.Errorf("ftpc: %w", err)
		}
		if t.Announced, err = parsePASV(rep.text()); err != nil {
			return nil, fmt.Errorf("ftpc: PASV: %w", err)
		}
	} else {
		rep, err := c.Expect("EPSV", 229)
		if err != nil {
			return nil, fmt.Errorf("ftpc: %w", err)
		}
		port, err := parseEPSV(rep.text())
		if err != nil {
			return nil, fmt.Errorf("ftpc: EPSV: %w", err)
		}
		t.Announced = netip.AddrPortFrom(c.remote.Addr(), port)
	}
	var (
		conn *net.TCPConn
		err  error
	)
	if c.DialData != nil {
		conn, err = c.DialData(c.local.Addr(), t.Announced, c.timeout)
	} else {
		d := net.Dialer{
			Timeout:   c.timeout,
			LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.local.Addr(), 0)),
		}
		var nc net.Conn
		if nc, err = d.Dial("tcp", t.Announced.String()); err == nil {
			conn = nc.(*net.TCPConn)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ftpc: %v data connection: %w", t.Mode, err)
	}
	t.DataPeer = unmap(conn.RemoteAddr().(*net.TCPAddr).AddrPort())
	return &pending{conn: conn}, nil
}

func (c *Client) setupActive(t *Transfer) (*pending, error) {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.local.Addr(), c.PortOverride)))
	if err != nil {
		return nil, fmt.Errorf("ftpc: %v listen: %w", t.Mode, err)
	}
	t.Announced = unmap(ln.Addr().(*net.TCPAddr).AddrPort())
	if t.Mode == PORT {
		_, err = c.SendPORT(t.Announced)
	} else {
		_, err = c.SendEPRT(t.Announced)
	}
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &pending{ln: ln}, nil
}

// SendPORT sends PORT naming ap, any IPv4 address (bounce tests), and
// returns the reply; a *ReplyError unless it is a 200.
func (c *Client) SendPORT(ap netip.AddrPort) (Reply, error) {
	line, err := formatPORT(ap)
	if err != nil {
		return Reply{}, fmt.Errorf("ftpc: %w", err)
	}
	rep, err := c.Expect(line, 200)
	if err != nil {
		return rep, fmt.Errorf("ftpc: %w", err)
	}
	return rep, nil
}

// SendEPRT sends EPRT naming ap, any address, and returns the reply; a
// *ReplyError unless it is a 200.
func (c *Client) SendEPRT(ap netip.AddrPort) (Reply, error) {
	line, err := formatEPRT(ap)
	if err != nil {
		return Reply{}, fmt.Errorf("ftpc: %w", err)
	}
	rep, err := c.Expect(line, 200)
	if err != nil {
		return rep, fmt.Errorf("ftpc: %w", err)
	}
	return rep, nil
}

// accepted is the outcome of accepting the server's active connection.
type accepted struct {
	conn *net.TCPConn
	err  error
}

// open sends the transfer command cmd and returns the data connection
// once the server answered 1xx (and, in active modes, connected). Any
// other answer is returned as a *ReplyError in t.Prelim. p is consumed.
func (c *Client) open(p *pending, cmd string, t *Transfer) (*net.TCPConn, error) {
	var acc chan accepted
	if p.ln != nil {
		// Accept in the background: servers connect before or after
		// their 150.
		if err := p.ln.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			p.close()
			return nil, fmt.Errorf("ftpc: %v accept: %w", t.Mode, err)
		}
		acc = make(chan accepted, 1)
		go func() {
			conn, err := p.ln.AcceptTCP()
			acc <- accepted{conn, err}
		}()
	}
	rep, err := c.Cmd(cmd)
	t.Prelim = rep
	if err == nil && rep.Code/100 != 1 {
		err = &ReplyError{Cmd: verb(cmd), Reply: rep}
	}
	if err != nil {
		p.close()
		if acc != nil {
			if a := <-acc; a.conn != nil {
				_ = a.conn.Close()
			}
		}
		return nil, fmt.Errorf("ftpc: %w", err)
	}
	if acc == nil {
		return p.conn, nil
	}
	// The server answered; give it a full timeout from now to connect.
	if err := p.ln.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		p.close()
		if a := <-acc; a.conn != nil {
			_ = a.conn.Close()
		}
		return nil, fmt.Errorf("ftpc: %v accept: %w", t.Mode, err)
	}
	a := <-acc
	_ = p.ln.Close() // one connection per transfer
	if a.err != nil {
		return nil, fmt.Errorf("ftpc: %v accept: %w", t.Mode, a.err)
	}
	t.DataPeer = unmap(a.conn.RemoteAddr().(*net.TCPAddr).AddrPort())
	return a.conn, nil
}

// finish reads the reply that ends a transfer into t.Final; a
// *ReplyError unless it is a 2xx.
func (c *Client) finish(cmd string, t *Transfer) error {
	rep, err := c.ReadReply()
	t.Final = rep
	if err != nil {
		return err
	}
	if rep.Code/100 != 2 {
		return fmt.Errorf("ftpc: %w", &ReplyError{Cmd: verb(cmd), Reply: rep})
	}
	return nil
}

// readData reads conn to EOF, each read with the client's deadline.
func (c *Client) readData(conn *net.TCPConn) ([]byte, error) {
	var out []byte
	buf := make([]byte, dataBuf)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return out, fmt.Errorf("ftpc: read data: %w", err)
		}
		n, err := conn.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("ftpc: read data: %w", err)
		}
	}
}

// writeData writes data to conn, each write with the client's deadline.
func (c *Client) writeData(conn *net.TCPConn, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), dataBuf)
		if err := conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return fmt.Errorf("ftpc: write data: %w", err)
		}
		if _, err := conn.Write(data[:n]); err != nil {
			return fmt.Errorf("ftpc: write data: %w", err)
		}
		data = data[n:]
	}
	return nil
}
