//go:build linux

package alg

import (
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
