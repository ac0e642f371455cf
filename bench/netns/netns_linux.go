// Package netns runs code inside a named network namespace (one that
// `ip netns add` made, /run/netns/NAME): the benchmarks open sockets
// there from a process that runs elsewhere, so that one process can hold
// the clients of one namespace and the servers of another (a socket keeps
// the namespace it was made in).
package netns

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/algd/algd/internal/netns"
)

// Do runs fn on an OS thread moved into the network namespace name and
// returns fn's error. Sockets that fn creates stay in that namespace; the
// rest of the process is not moved. fn must not start goroutines that
// create sockets (they would run on other threads). If the thread cannot
// be moved back, it is left locked and ends with Do's goroutine, so no
// other goroutine runs in the wrong namespace.
func Do(name string, fn func() error) error {
	target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer unix.Close(target)
	if err := netns.Run(target, fn); err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}
