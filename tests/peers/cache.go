package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// CacheDir returns tests/.cache/peers, where fetch.sh unpacks the ftpds. It
// is found relative to this source file, so it works from any test's
// working directory.
func CacheDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("tests", ".cache", "peers")
	}
	return filepath.Join(filepath.Dir(file), "..", ".cache", "peers")
}

// binaries maps each server kind to its executable inside the cache.
var binaries = map[Kind]string{
	Vsftpd:   filepath.Join("vsftpd", "usr", "sbin", "vsftpd"),
	PureFTPd: filepath.Join("pure-ftpd", "usr", "sbin", "pure-ftpd"),
	ProFTPd:  filepath.Join("proftpd-core", "usr", "sbin", "proftpd"),
}

// purePW is pure-ftpd's user database tool, used to build the PureDB file.
var purePW = filepath.Join("pure-ftpd", "usr", "bin", "pure-pw")

// cached returns the absolute path of rel inside the cache, or an error
// telling to run fetch.sh when it is not an executable file.
func cached(rel string) (string, error) {
	p, err := filepath.Abs(filepath.Join(CacheDir(), rel))
	if err != nil {
		return "", fmt.Errorf("peers: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("peers: %s is missing: run tests/peers/fetch.sh", p)
	}
	return p, nil
}

// Binary returns the path of the server binary of kind.
func Binary(kind Kind) (string, error) {
	rel, ok := binaries[kind]
	if !ok {
		return "", fmt.Errorf("peers: unknown server kind %q", kind)
	}
	return cached(rel)
}

// RequireTools fails the test when a command the suites run is not on
// PATH; fetch.sh installs them.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("peers: %s not found on PATH: run tests/peers/fetch.sh", n)
		}
	}
}

// ClientTools are the commands Run needs for every client.
var ClientTools = []string{"timeout", "curl", "lftp", "python3"}
