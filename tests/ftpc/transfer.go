package ftpc

import (
	"fmt"
	"net"
)

// noRest marks a transfer without REST.
const noRest = -1

// Retr downloads path (RETR) in mode: the data connection is read to
// EOF and closed, then the final reply read (as ftplib does).
func (c *Client) Retr(mode Mode, path string) ([]byte, Transfer, error) {
	return c.download(mode, noRest, "RETR "+path)
}

// RetrFrom downloads path from offset: REST offset (350 expected) right
// before the RETR.
func (c *Client) RetrFrom(mode Mode, path string, offset int64) ([]byte, Transfer, error) {
	if offset < 0 {
		return nil, Transfer{Mode: mode}, fmt.Errorf("ftpc: REST %d: negative offset", offset)
	}
	return c.download(mode, offset, "RETR "+path)
}

// List downloads a listing: cmd is "LIST", "NLST" or "MLSD"; path may be
// empty, for the current directory.
func (c *Client) List(mode Mode, cmd, path string) ([]byte, Transfer, error) {
	if path != "" {
		cmd += " " + path
	}
	return c.download(mode, noRest, cmd)
}

// Stor uploads data as path (STOR). After the data the client closes its
// write side of the data connection (the end of file for the server),
// reads the final reply, then closes the connection.
func (c *Client) Stor(mode Mode, path string, data []byte) (Transfer, error) {
	return c.upload(mode, noRest, "STOR "+path, data)
}

// StorAt uploads data into path from offset: REST offset then STOR.
func (c *Client) StorAt(mode Mode, path string, offset int64, data []byte) (Transfer, error) {
	if offset < 0 {
		return Transfer{Mode: mode}, fmt.Errorf("ftpc: REST %d: negative offset", offset)
	}
	return c.upload(mode, offset, "STOR "+path, data)
}

// Appe appends data to path (APPE), as Stor does.
func (c *Client) Appe(mode Mode, path string, data []byte) (Transfer, error) {
	return c.upload(mode, noRest, "APPE "+path, data)
}

// start sets up the data connection, sends REST when rest is not noRest,
// then the transfer command, and returns the open data connection.
func (c *Client) start(mode Mode, rest int64, cmd string) (*net.TCPConn, Transfer, error) {
	t := Transfer{Mode: mode}
	p, err := c.setup(&t)
	if err != nil {
		return nil, t, err
	}
	if rest != noRest {
		// RFC 959 §4.1.3: REST is followed immediately by the transfer
		// command, so it comes after PASV/PORT.
		if _, err := c.Expect(fmt.Sprintf("REST %d", rest), 350); err != nil {
			p.close()
			return nil, t, fmt.Errorf("ftpc: %w", err)
		}
	}
	conn, err := c.open(p, cmd, &t)
	return conn, t, err
}

func (c *Client) download(mode Mode, rest int64, cmd string) ([]byte, Transfer, error) {
	conn, t, err := c.start(mode, rest, cmd)
	if err != nil {
		return nil, t, err
	}
	data, rerr := c.readData(conn)
	_ = conn.Close() // read to EOF or failed: nothing more to get from it
	ferr := c.finish(cmd, &t)
	if rerr != nil {
		return data, t, rerr
	}
	return data, t, ferr
}

func (c *Client) upload(mode Mode, rest int64, cmd string, data []byte) (Transfer, error) {
	conn, t, err := c.start(mode, rest, cmd)
	if err != nil {
		return t, err
	}
	defer conn.Close()
	werr := c.writeData(conn, data)
	if werr == nil {
		if err := conn.CloseWrite(); err != nil {
			werr = fmt.Errorf("ftpc: close data: %w", err)
		}
	} else {
		_ = conn.Close() // the server must see the transfer end
	}
	ferr := c.finish(cmd, &t)
	if werr != nil {
		return t, werr
	}
	return t, ferr
}
