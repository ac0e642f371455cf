package nat

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// inNetNS runs fn on an OS thread that joined the network namespace
// whose descriptor is fd (0: the caller's, fn runs as is). Sockets fn
// opens stay in that namespace. A thread that cannot return to its own
// namespace is not unlocked, so the runtime retires it.
func inNetNS(fd int, fn func() error) error {
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
		err = fn()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// sysctl reads /proc/sys/<name> in the namespace fd.
func sysctl(fd int, name string) (string, error) {
	var v string
	err := inNetNS(fd, func() error {
		b, err := os.ReadFile("/proc/sys/" + name)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// sysctlSet writes /proc/sys/<name> in the namespace fd, unless it
// already holds value.
func sysctlSet(fd int, name, value string) error {
	return inNetNS(fd, func() error {
		p := "/proc/sys/" + name
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(name, "/", "."), err)
		}
		if strings.TrimSpace(string(b)) == value {
			return nil
		}
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
				return fmt.Errorf("sysctl %s=%s: needs CAP_NET_ADMIN (or a writable /proc/sys): %w", strings.ReplaceAll(name, "/", "."), value, err)
			}
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
		}
		return nil
	})
}
