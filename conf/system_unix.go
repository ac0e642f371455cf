//go:build unix

package conf

import "syscall"

// softNoFile returns the soft limit on open files.
func softNoFile() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true
}
