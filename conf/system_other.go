//go:build !unix

package conf

// softNoFile has nothing to read on this system.
func softNoFile() (uint64, bool) { return 0, false }
