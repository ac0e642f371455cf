package ftpload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Target names an FTP service and a login.
type Target struct {
	// Addr is the control address "ip:port".
	Addr string
	// User and Password log in.
	User, Password string
}

// Conn is one logged-in control connection.
type Conn struct {
	c    net.Conn
	r    *bufio.Reader
	peer netip.Addr
}

// Dial connects to t, reads the banner and logs in. The deadline of ctx,
// if any, bounds the whole exchange.
func Dial(ctx context.Context, t Target) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	peer, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dial: unexpected address %v", c.RemoteAddr())
	}
	fc := &Conn{c: c, r: bufio.NewReaderSize(c, 512), peer: peer.AddrPort().Addr().Unmap()}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := fc.login(t); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return fc, nil
}

func (fc *Conn) login(t Target) error {
	if code, msg, err := fc.reply(); err != nil {
		return fmt.Errorf("banner: %w", err)
	} else if code != 220 {
		return fmt.Errorf("banner: %d %s", code, msg)
	}
	code, msg, err := fc.Cmd("USER " + t.User)
	if err != nil {
		return fmt.Errorf("USER: %w", err)
	}
	if code == 331 {
		code, msg, err = fc.Cmd("PASS " + t.Password)
		if err != nil {
			return fmt.Errorf("PASS: %w", err)
		}
	}
	if code != 230 {
		return fmt.Errorf("login: %d %s", code, msg)
	}
	return nil
}

// Close sends QUIT, reads the answer and closes the connection.
func (fc *Conn) Close() error {
	_ = fc.c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _, err := fc.Cmd("QUIT")
	if cerr := fc.c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("quit: %w", err)
	}
	return nil
}

// Abort closes the connection without QUIT.
func (fc *Conn) Abort() { fc.c.Close() }

// Cmd sends one command line and returns the final reply.
func (fc *Conn) Cmd(line string) (int, string, error) {
	if _, err := io.WriteString(fc.c, line+"\r\n"); err != nil {
		return 0, "", err
	}
	return fc.reply()
}

// reply reads one reply, multi-line or not, and returns its code and the
// text of its last line.
func (fc *Conn) reply() (int, string, error) {
	line, err := fc.line()
	if err != nil {
		return 0, "", err
	}
	code, err := replyCode(line)
	if err != nil {
		return 0, "", err
	}
	if len(line) > 3 && line[3] == '-' {
		end := line[:3] + " "
		for !strings.HasPrefix(line, end) {
			if line, err = fc.line(); err != nil {
				return 0, "", err
			}
		}
	}
	return code, strings.TrimSpace(line[min(4, len(line)):]), nil
}

func (fc *Conn) line() (string, error) {
	line, err := fc.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func replyCode(line string) (int, error) {
	if len(line) < 3 {
		return 0, fmt.Errorf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil || code < 100 || code > 599 {
		return 0, fmt.Errorf("bad reply %q", line)
	}
	return code, nil
}

// Retr downloads path over a passive data connection into w and returns
// the bytes copied. The data connection goes to the control peer's
// address and the port of the 227 reply.
func (fc *Conn) Retr(ctx context.Context, path string, w io.Writer) (int64, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = fc.c.SetDeadline(dl)
		defer fc.c.SetDeadline(time.Time{})
	}
	code, msg, err := fc.Cmd("TYPE I")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("TYPE: %d %s %v", code, msg, err)
	}
	code, msg, err = fc.Cmd("PASV")
	if err != nil {
		return 0, fmt.Errorf("PASV: %w", err)
	}
	if code != 227 {
		return 0, fmt.Errorf("PASV: %d %s", code, msg)
	}
	port, err := PASVPort(msg)
	if err != nil {
		return 0, err
	}
	var d net.Dialer
	data, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(fc.peer, port).String())
	if err != nil {
		return 0, fmt.Errorf("data dial: %w", err)
	}
	defer data.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = data.SetDeadline(dl)
	}
	code, msg, err = fc.Cmd("RETR " + path)
	if err != nil {
		return 0, fmt.Errorf("RETR: %w", err)
	}
	if code != 150 && code != 125 {
		return 0, fmt.Errorf("RETR: %d %s", code, msg)
	}
	n, err := io.Copy(w, data)
	if err != nil {
		return n, fmt.Errorf("data: %w", err)
	}
	data.Close()
	code, msg, err = fc.reply()
	if err != nil {
		return n, fmt.Errorf("RETR end: %w", err)
	}
	if code != 226 && code != 250 {
		return n, fmt.Errorf("RETR end: %d %s", code, msg)
	}
	return n, nil
}

// PASVPort returns the port of a 227 reply text: the last two of the six
// numbers in it, with or without parentheses.
func PASVPort(text string) (uint16, error) {
	var nums []int
	cur, in := 0, false
	for i := 0; i <= len(text); i++ {
		if i < len(text) && text[i] >= '0' && text[i] <= '9' {
			cur = cur*10 + int(text[i]-'0')
			in = true
			cur = min(cur, 1000) // keeps long digit runs from overflowing
			continue
		}
		if in {
			nums = append(nums, cur)
			cur, in = 0, false
		}
	}
	if len(nums) < 6 {
		return 0, fmt.Errorf("227: fewer than six numbers in %q", text)
	}
	p := nums[len(nums)-6:]
	for _, n := range p {
		if n > 255 {
			return 0, fmt.Errorf("227: number out of range in %q", text)
		}
	}
	port := p[4]<<8 | p[5]
	if port == 0 {
		return 0, fmt.Errorf("227: port 0 in %q", text)
	}
	return uint16(port), nil
}
