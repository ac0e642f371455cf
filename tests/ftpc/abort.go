package ftpc

import (
	"errors"
	"fmt"
	"io"
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
// It then closes the data connection and reads replies until the one that
// answers ABOR: a 426 or 451 for the transfer may come first, then a 226
// or 225; some servers send only the 226. It stops at the first 2xx, or
// after two replies (the second one then answered ABOR, and is returned
// with a *ReplyError). When the data ended before after bytes, the
// transfer's own final reply is read first. It returns every reply read
// after sending ABOR and the number of data bytes received.
func (c *Client) AbortRetr(mode Mode, path string, after int, pythonStyle bool) ([]Reply, int, error) {
	cmd := "RETR " + path
	conn, _, err := c.start(mode, noRest, cmd)
	if err != nil {
		return nil, 0, err
	}
	n, complete, err := c.readN(conn, after)
	if err != nil {
		_ = conn.Close()
		return nil, n, err
	}
	if pythonStyle {
		err = c.sendUrgent([]byte("ABOR\r\n"))
	} else {
		err = c.sendSynch()
	}
	_ = conn.Close() // the abort is sent: stop receiving, as lftp does
	if err != nil {
		return nil, n, err
	}
	var replies []Reply
	if complete {
		rep, err := c.ReadReply()
		if err != nil {
			return replies, n, err
		}
		replies = append(replies, rep)
	}
	for range 2 {
		rep, err := c.ReadReply()
		if err != nil {
			return replies, n, err
		}
		replies = append(replies, rep)
		if rep.Code/100 == 2 {
			return replies, n, nil
		}
	}
	return replies, n, fmt.Errorf("ftpc: %w", &ReplyError{Cmd: "ABOR", Reply: replies[len(replies)-1]})
}

// readN reads up to n bytes from conn and discards them; complete reports
// that the data ended (EOF) first.
func (c *Client) readN(conn *net.TCPConn, n int) (got int, complete bool, err error) {
	buf := make([]byte, dataBuf)
	for got < n {
		if err := conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return got, false, fmt.Errorf("ftpc: read data: %w", err)
		}
		k, err := conn.Read(buf[:min(len(buf), n-got)])
		got += k
		if errors.Is(err, io.EOF) {
			return got, true, nil
		}
		if err != nil {
			return got, false, fmt.Errorf("ftpc: read data: %w", err)
		}
	}
	return got, false, nil
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
