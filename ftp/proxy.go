package ftp

import (
	"net"
	"net/netip"
	"time"

	"github.com/algd/algd/alg"
)

// sendProxy writes a PROXY header of version v (0: none) on a new
// realserver control connection, so the realserver logs (and may check) the real
// client: client is who connected, local the address it connected to.
// Data connections carry no header: the realserver sees them come from
// algd's backend address, and algd itself checks the client's.
func sendProxy(c *net.TCPConn, v byte, client, local netip.AddrPort) error {
	if v == 0 {
		return nil
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	defer c.SetWriteDeadline(time.Time{})
	return alg.WriteProxyHeader(c, v, client, local)
}
