package nat

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/algd/algd/internal/netns"
)

// inNetNS runs fn in the network namespace whose descriptor is fd (0:
// the caller's); see internal/netns.
func inNetNS(fd int, fn func() error) error { return netns.Run(fd, fn) }

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
