//go:build linux

package alg

import (
	"net"
	"os"
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

// tcpInfo reads c's TCP_INFO; ok is false when c is not TCP.
func tcpInfo(c net.Conn) (*unix.TCPInfo, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, false
	}
	var (
		info *unix.TCPInfo
		serr error
	)
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil {
		return nil, false
	}
	return info, true
}

// Acked returns the bytes c's peer has acknowledged (TCP_INFO
// tcpi_bytes_acked, of the TCP connection under a TLS one): what a
// transfer that splice(2) moves has delivered so far, read without
// counting in user space. ok is false where the kernel cannot tell.
func Acked(c net.Conn) (uint64, bool) {
	info, ok := tcpInfo(rawConn(c))
	if !ok {
		return 0, false
	}
	return info.Bytes_acked, true
}

// tcpMoved returns the bytes c has received plus the bytes its peer has
// acknowledged (TCP_INFO tcpi_bytes_received, tcpi_bytes_acked; Linux
// 4.1+): a number that grows exactly when data moves on c, either way.
func tcpMoved(c net.Conn) (uint64, bool) {
	info, ok := tcpInfo(c)
	if !ok {
		return 0, false
	}
	return info.Bytes_received + info.Bytes_acked, true
}

// listenBacklog asks for the largest backlog; the kernel caps it at
// net.core.somaxconn, as Go's own listen does.
const listenBacklog = 1<<16 - 1

// unlisten takes a listening socket out of the listening state and keeps
// it bound: shutdown(2) with SHUT_RD on a listening TCP socket disconnects
// it (inet_shutdown calls tcp_disconnect), which resets the connections
// waiting in its backlog and wakes what accepts on it (accept then fails
// with EINVAL). relisten makes it listen again.
func unlisten(ln *net.TCPListener) error {
	return lnControl(ln, "shutdown", func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RD) })
}

// relisten makes a socket that unlisten stopped listen again on the
// address it is still bound to; EADDRINUSE means another socket listens
// there now.
func relisten(ln *net.TCPListener) error {
	return lnControl(ln, "listen", func(fd int) error { return unix.Listen(fd, listenBacklog) })
}

// lnControl runs the system call name, f, on ln's descriptor.
func lnControl(ln *net.TCPListener, name string, f func(fd int) error) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError(name, serr)
	}
	return nil
}
