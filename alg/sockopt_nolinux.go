//go:build !linux

package alg

import (
	"errors"
	"net"
	"syscall"
)

// controlNoPort is a no-op where IP_BIND_ADDRESS_NO_PORT does not exist.
func controlNoPort(syscall.RawConn) error { return nil }

// tcpMoved cannot read the kernel's byte counters here: PipeWith then
// never cuts a connection for idleness.
func tcpMoved(net.Conn) (uint64, bool) { return 0, false }

// Acked cannot read the kernel's byte counters here: ok is false.
func Acked(net.Conn) (uint64, bool) { return 0, false }

// unlisten cannot stop a socket listening without closing it here: each
// expectation gets a new socket.
func unlisten(*net.TCPListener) error { return errors.ErrUnsupported }

// relisten is never reached here (unlisten keeps no socket).
func relisten(*net.TCPListener) error { return errors.ErrUnsupported }
