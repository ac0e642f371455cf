//go:build linux

package alg

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// controlNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound
// to an address with port 0 before connect: the kernel then picks the port
// at connect time from the full 4-tuple, instead of reserving a port at
// bind time by searching the bind hash (costly at high connection rates,
// and it would keep that port from other destinations).
func controlNoPort(rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// tcpMoved returns the bytes c has received plus the bytes its peer has
// acknowledged (TCP_INFO tcpi_bytes_received, tcpi_bytes_acked; Linux
// 4.1+): a number that grows exactly when data moves on c, either way.
func tcpMoved(c net.Conn) (uint64, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var (
		info *unix.TCPInfo
		serr error
	)
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil {
		return 0, false
	}
	return info.Bytes_received + info.Bytes_acked, true
}
