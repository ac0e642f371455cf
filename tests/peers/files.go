package peers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Size is a test file size with the name used in file and subtest names.
type Size struct {
	// Name is short and path-safe, like "5MiB".
	Name string
	// Bytes is the file length.
	Bytes int64
}

// Sizes are the file sizes every transfer case runs with: empty, one byte
// and one large enough for several TCP windows.
var Sizes = []Size{{"0B", 0}, {"1B", 1}, {"5MiB", 5 << 20}}

// RandomFile writes size random bytes to dir/name and returns the path and
// the hex sha256 of the content.
func RandomFile(t testing.TB, dir, name string, size int64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatalf("random file: %v", err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		f.Close()
		t.Fatalf("random file %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("random file %s: %v", p, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatalf("random file %s: %v", p, err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// SHA256File returns the hex sha256 of the file at p.
func SHA256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("sha256: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256 %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CopyFile copies src to dst with mode 0644.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	return nil
}
