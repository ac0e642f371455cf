package ftpc

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"syscall"
	"time"
)

// Telnet commands that precede an urgent ABOR (RFC 959 §4.1.3, RFC 854).
const (
	telnetIAC = 0xff // Interpret As Command
	telnetIP  = 0xf4 // Interrupt Process
	telnetDM  = 0xf2 // Data Mark: the Synch signal's urgent byte
)

// AbortRetr starts a RETR of path in mode, reads after bytes of data,
// then aborts it.
//
// Like lftp, it sends Telnet IAC IP IAC in-band, then the DM as one byte
// of TCP urgent data (MSG_OOB), then "ABOR\r\n". With pythonStyle it does
// what python's ftplib does instead: the whole "ABOR\r\n" in one send with
// MSG_OOB, which marks its last byte, the LF, urgent (a server reading
// without SO_OOBINLINE never sees that LF).
//
// Like lftp it keeps the data connection open after ABOR, for the server
// to close; unlike lftp it keeps reading (and discarding) it, so that a
// server that notices ABOR only at the end of the transfer (vsftpd without
// async_abor_enable) does not stall. It reads replies until the first 2xx:
// a 426 or 451 (or other error) for the transfer may come first, then the
// 226 or 225; some servers send only a 226. Since a 226 may also be the
// transfer's own end, followed by the answer to ABOR, it then sends NOOP
// and reads up to its 200, so that nothing is left unread: the replies
// before that 200 are returned too, the 200 is not. It returns every reply
// read after sending ABOR and the number of data bytes received in all.
func (c *Client) AbortRetr(mode Mode, path string, after int, pythonStyle bool) ([]Reply, int, error) {
	conn, _, err := c.start(mode, noRest, "RETR "+path)
	if err != nil {
		return nil, 0, err
	}
	n, err := c.readN(conn, after)
	if err != nil {
		_ = conn.Close()
		return nil, n, err
	}
	if pythonStyle {
		err = c.sendUrgent([]byte("ABOR\r\n"))
	} else {
		err = c.sendSynch()
	}
	if err != nil {
		_ = conn.Close()
		return nil, n, err
	}
	drained := make(chan int, 1)
	go func() {
		k, _ := c.readN(conn, math.MaxInt) // ends at EOF, reset or Close
		drained <- k
	}()
	replies, err := c.abortReplies()
	_ = conn.Close()
	n += <-drained
	return replies, n, err
}

// abortReplies reads the replies after ABOR: up to the first 2xx, then
// up to the 200 of a NOOP.
func (c *Client) abortReplies() ([]Reply, error) {
	const most = 3 // replies tolerated before the expected one
	var replies []Reply
	for i := 0; ; i++ {
		rep, err := c.ReadReply()
		if err != nil {
			return replies, err
		}
		replies = append(replies, rep)
		if rep.Code/100 == 2 {
			break
		}
		if i == most-1 {
			return replies, fmt.Errorf("ftpc: %w", &ReplyError{Cmd: "ABOR", Reply: rep})
		}
	}
	if err := c.send([]byte("NOOP\r\n")); err != nil {
		return replies, err
	}
	for range most {
		rep, err := c.ReadReply()
		if err != nil {
			return replies, err
		}
		if rep.Code == 200 {
			return replies, nil
		}
		replies = append(replies, rep)
	}
	return replies, fmt.Errorf("ftpc: %w", &ReplyError{Cmd: "NOOP", Reply: replies[len(replies)-1]})
}

// readN reads up to n bytes from conn and discards them; it stops early,
// without an error, at EOF.
func (c *Client) readN(conn *net.TCPConn, n int) (int, error) {
	buf := make([]byte, dataBuf)
	got := 0
	for got < n {
		if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return got, fmt.Errorf("ftpc: read data: %w", err)
		}
		k, err := conn.Read(buf[:min(len(buf), n-got)])
		got += k
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("ftpc: read data: %w", err)
		}
	}
	return got, nil
}

// sendSynch sends IAC IP IAC in-band, DM as urgent data, then "ABOR\r\n".
func (c *Client) sendSynch() error {
	if err := c.send([]byte{telnetIAC, telnetIP, telnetIAC}); err != nil {
		return err
	}
	if err := c.sendUrgent([]byte{telnetDM}); err != nil {
		return err
	}
	return c.send([]byte("ABOR\r\n"))
}

// sendUrgent sends b with MSG_OOB: the kernel sets the TCP urgent pointer
// at b's last byte.
func (c *Client) sendUrgent(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return fmt.Errorf("ftpc: send urgent: %w", err)
	}
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("ftpc: send urgent: %w", err)
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := syscall.SendmsgN(int(fd), b, nil, nil, syscall.MSG_OOB)
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
				return false // wait until writable, within the deadline
			case err != nil:
				serr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("ftpc: send urgent: %w", err)
	}
	return nil
}
