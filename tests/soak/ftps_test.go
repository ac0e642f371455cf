//go:build interop

package soak

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/algd/algd/tests/ftpc"
)

// ftpsClient is a minimal explicit-FTPS client (RFC 4217: AUTH TLS, PBSZ
// 0, PROT P, passive data under TLS resuming the control session) with a
// deadline on every read and write, so that a hang shows as a timeout.
// ftpc speaks plain FTP only.
type ftpsClient struct {
	conn    net.Conn
	r       *bufio.Reader
	from    netip.Addr
	timeout time.Duration
	cfg     *tls.Config
}

// dialFTPS connects from from to vip and secures the control connection.
func dialFTPS(vip netip.AddrPort, from netip.Addr, cfg *tls.Config, timeout time.Duration) (*ftpsClient, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
	nc, err := d.Dial("tcp", vip.String())
	if err != nil {
		return nil, fmt.Errorf("ftps: dial: %w", err)
	}
	c := &ftpsClient{conn: nc, r: bufio.NewReader(nc), from: from, timeout: timeout, cfg: cfg}
	if rep, err := c.read(); err != nil || rep.Code != 220 {
		nc.Close()
		return nil, replyErr("greeting", rep, err)
	}
	if _, err := c.expect("AUTH TLS", 234); err != nil {
		nc.Close()
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ftps: handshake: %w", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return c, nil
}

// login logs in and turns data protection on.
func (c *ftpsClient) login(user, pass string) error {
	rep, err := c.expect("USER "+user, 230, 331)
	if err != nil {
		return err
	}
	if rep.Code == 331 {
		if _, err := c.expect("PASS "+pass, 230); err != nil {
			return err
		}
	}
	for _, cmd := range []string{"PBSZ 0", "PROT P", "TYPE I"} {
		if _, err := c.expect(cmd, 200); err != nil {
			return err
		}
	}
	return nil
}

// cmd sends one command and reads its reply.
func (c *ftpsClient) cmd(line string) (ftpc.Reply, error) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return ftpc.Reply{}, fmt.Errorf("ftps: send %s: %w", line, err)
	}
	return c.read()
}

// expect is cmd with a *ftpc.ReplyError unless the code is one of codes.
func (c *ftpsClient) expect(line string, codes ...int) (ftpc.Reply, error) {
	rep, err := c.cmd(line)
	if err != nil {
		return rep, err
	}
	for _, want := range codes {
		if rep.Code == want {
			return rep, nil
		}
	}
	return rep, &ftpc.ReplyError{Cmd: strings.Fields(line)[0], Reply: rep}
}

// read reads one reply, multi-line ones included (RFC 959 §4.2).
func (c *ftpsClient) read() (ftpc.Reply, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	var rep ftpc.Reply
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return rep, fmt.Errorf("ftps: read reply: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		rep.Lines = append(rep.Lines, line)
		if len(rep.Lines) == 1 {
			if len(line) < 3 {
				return rep, fmt.Errorf("ftps: bad reply %q", line)
			}
			code, err := strconv.Atoi(line[:3])
			if err != nil {
				return rep, fmt.Errorf("ftps: bad reply %q", line)
			}
			rep.Code = code
		}
		if len(line) >= 4 && line[:3] == strconv.Itoa(rep.Code) && line[3] == ' ' {
			return rep, nil
		}
		if len(rep.Lines) == 1 && (len(line) == 3 || line[3] != '-') {
			return rep, nil
		}
	}
}

// data opens a protected passive data connection with EPSV (or PASV)
// and sends cmd; it returns the connection after the 1xx.
func (c *ftpsClient) data(epsv bool, cmd string) (*tls.Conn, error) {
	var port uint16
	if epsv {
		rep, err := c.expect("EPSV", 229)
		if err != nil {
			return nil, err
		}
		text := rep.Lines[len(rep.Lines)-1]
		i, j := strings.Index(text, "(|||"), strings.LastIndex(text, "|)")
		if i < 0 || j < i+4 {
			return nil, fmt.Errorf("ftps: bad 229 %q", text)
		}
		p, err := strconv.ParseUint(text[i+4:j], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("ftps: bad 229 %q", text)
		}
		port = uint16(p)
	} else {
		rep, err := c.expect("PASV", 227)
		if err != nil {
			return nil, err
		}
		text := rep.Lines[len(rep.Lines)-1]
		i, j := strings.Index(text, "("), strings.Index(text, ")")
		if i < 0 || j < i {
			return nil, fmt.Errorf("ftps: bad 227 %q", text)
		}
		f := strings.Split(text[i+1:j], ",")
		if len(f) != 6 {
			return nil, fmt.Errorf("ftps: bad 227 %q", text)
		}
		hi, _ := strconv.Atoi(f[4])
		lo, _ := strconv.Atoi(f[5])
		port = uint16(hi<<8 | lo)
	}
	remote := c.conn.RemoteAddr().(*net.TCPAddr).AddrPort()
	d := net.Dialer{Timeout: c.timeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.from, 0))}
	nc, err := d.Dial("tcp", netip.AddrPortFrom(remote.Addr().Unmap(), port).String())
	if err != nil {
		return nil, fmt.Errorf("ftps: data dial: %w", err)
	}
	rep, err := c.cmd(cmd)
	if err != nil || rep.Code/100 != 1 {
		nc.Close()
		return nil, replyErr(strings.Fields(cmd)[0], rep, err)
	}
	tc := tls.Client(nc, c.cfg)
	_ = tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return nil, fmt.Errorf("ftps: data handshake: %w", err)
	}
	return tc, nil
}

// retr downloads path.
func (c *ftpsClient) retr(epsv bool, path string) ([]byte, error) {
	dc, err := c.data(epsv, "RETR "+path)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		_ = dc.SetReadDeadline(time.Now().Add(c.timeout))
		n, rerr := dc.Read(buf)
		out = append(out, buf[:n]...)
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = fmt.Errorf("ftps: read data: %w", rerr)
			}
			break
		}
	}
	dc.Close()
	rep, rerr := c.read()
	if rerr != nil || rep.Code != 226 {
		return out, replyErr("RETR", rep, rerr)
	}
	return out, err
}

// stor uploads data as path.
func (c *ftpsClient) stor(epsv bool, path string, data []byte) error {
	dc, err := c.data(epsv, "STOR "+path)
	if err != nil {
		return err
	}
	_ = dc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, werr := dc.Write(data)
	if werr == nil {
		werr = dc.Close()
	} else {
		dc.Close()
	}
	rep, err := c.read()
	if err != nil || rep.Code != 226 {
		return replyErr("STOR", rep, err)
	}
	if werr != nil {
		return fmt.Errorf("ftps: write data: %w", werr)
	}
	return nil
}

// close sends QUIT and closes.
func (c *ftpsClient) close() {
	_, _ = c.cmd("QUIT")
	c.conn.Close()
}

// replyErr is err, or a *ftpc.ReplyError for rep when err is nil.
func replyErr(cmd string, rep ftpc.Reply, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("ftps: %w", &ftpc.ReplyError{Cmd: cmd, Reply: rep})
}
