// Package netns runs code inside a named network namespace (one that
// `ip netns add` made, /run/netns/NAME): the benchmarks open sockets
// there from a process that runs elsewhere, so that one process can hold
// the clients of one namespace and the servers of another (a socket keeps
// the namespace it was made in).
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread moved into the network namespace name and
// returns fn's error. Sockets that fn creates stay in that namespace; the
// rest of the process is not moved. fn must not start goroutines that
// create sockets (they would run on other threads). If the thread cannot
// be moved back, it is left locked and ends with Do's goroutine, so no
// other goroutine runs in the wrong namespace.
func Do(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: own namespace: %w", err)
			return
		}
		defer unix.Close(self)
		target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: setns: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked: the runtime ends it with this
			// goroutine.
			errc <- fmt.Errorf("netns %s: back to the own namespace: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
