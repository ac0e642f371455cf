//go:build !linux

package alg

import "syscall"

// controlNoPort is a no-op where IP_BIND_ADDRESS_NO_PORT does not exist.
func controlNoPort(syscall.RawConn) error { return nil }
