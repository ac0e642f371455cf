// Package netns runs a function on an OS thread moved into another
// network namespace: sockets it opens stay in that namespace while the
// rest of the process stays where it is. alg/nat uses it to manage a
// namespace's tables from outside, the benchmarks to place clients and
// servers.
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn on an OS thread that joined the network namespace whose
// descriptor is fd (0: the caller's; fn runs as is) and returns fn's
// error. fn must not start goroutines that open sockets (they would run
// on other threads). A thread that cannot return to its own namespace is
// left locked, so the runtime ends it with Run's goroutine and no other
// goroutine runs in the wrong namespace.
func Run(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("back to the own netns: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
