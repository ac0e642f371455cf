//go:build !unix

package alg

import (
	"errors"
	"syscall"
)

var errUnsupported = errors.New("alg: socket option not supported on this platform")

func controlReuseAddr(syscall.RawConn) error { return errUnsupported }

func controlOOBInline(syscall.RawConn) error { return errUnsupported }
