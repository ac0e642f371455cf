package algdrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// RepoRoot returns the module root, found relative to this source file.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles ./cmd/algd into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "algd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/algd")
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build algd: %w\n%s", err, b)
	}
	return out, nil
}

// FromEnv returns the algd binary an end-to-end suite runs: "" when
// ALGD_INTEROP_DIRECT=1 (only the direct half runs: for work on the
// harness, never in CI), the file ALGD_BIN names when set (a prebuilt
// binary), or a fresh build of ./cmd/algd into dir. A failed build is an
// error, never a skip.
func FromEnv(ctx context.Context, dir string) (string, error) {
	if os.Getenv("ALGD_INTEROP_DIRECT") == "1" {
		return "", nil
	}
	if bin := os.Getenv("ALGD_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", fmt.Errorf("ALGD_BIN: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("ALGD_BIN: %w", err)
		}
		return abs, nil
	}
	return Build(ctx, dir)
}
