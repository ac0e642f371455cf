//go:build interop

package soak

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
)

// mutate changes seed in one of a few random ways: flip, drop, duplicate
// or insert bytes, or splice in a line of another seed.
func mutate(r *rand.Rand, seed []byte, others [][]byte) []byte {
	b := bytes.Clone(seed)
	for n := 1 + r.IntN(4); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(5) {
		case 0:
			b[i] = byte(r.IntN(256))
		case 1:
			j := min(len(b), i+1+r.IntN(64))
			b = append(b[:i], b[j:]...)
		case 2:
			j := min(len(b), i+1+r.IntN(64))
			b = append(b[:j], append(bytes.Clone(b[i:j]), b[j:]...)...)
		case 3:
			ins := []string{"\"", "[", "]]", "=", "\n", "-1", "99999999999", "\"::\"", "[[ftp]]\n", "{", "0x", "\x00"}
			b = append(b[:i], append([]byte(ins[r.IntN(len(ins))]), b[i:]...)...)
		case 4:
			o := others[r.IntN(len(others))]
			lines := bytes.Split(o, []byte("\n"))
			l := lines[r.IntN(len(lines))]
			b = append(b[:i], append(append([]byte("\n"), l...), b[i:]...)...)
		}
	}
	return b
}

// TestCheckMutations runs `algd check` on random mutations of the
// example configurations: it must answer 0 or 1, never crash.
func TestCheckMutations(t *testing.T) {
	root := algdrun.RepoRoot()
	paths, _ := filepath.Glob(filepath.Join(root, "conf", "testdata", "*.toml"))
	paths = append(paths, filepath.Join(root, "examples", "algd.toml"))
	var seeds [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("mutation seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	file := filepath.Join(dir, "algd.toml")
	codes := map[int]int{}
	for i := 0; i < 300; i++ {
		text := mutate(r, seeds[r.IntN(len(seeds))], seeds)
		if err := os.WriteFile(file, text, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, algdBin, "check", "-c", file).CombinedOutput()
		cancel()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("algd check: %v", err)
		}
		codes[code]++
		if (code != 0 && code != 1) || bytes.Contains(out, []byte("panic:")) || bytes.Contains(out, []byte("goroutine ")) {
			kept := filepath.Join(os.TempDir(), "algd-check-crasher.toml")
			_ = os.WriteFile(kept, text, 0o644)
			t.Fatalf("algd check exit %d on a mutated config (kept in %s):\n%s", code, kept, out)
		}
	}
	t.Logf("exit codes: %v", codes)
	if codes[1] == 0 {
		t.Error("no mutation was refused: the mutations do not reach the checks")
	}
}
