//go:build !unix

package pool

import "os/exec"

// ownGroup does nothing here: without process groups only the command
// itself is killed at the timeout.
func ownGroup(*exec.Cmd) {}
