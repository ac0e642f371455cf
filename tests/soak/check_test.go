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

// TestCheckCollisions runs the built `algd check` on two listeners on
// consecutive ports of one address (issue 13: the second one's control-1
// is the first one's port): it must exit 1 and name both keys with their
// lines; with the second listener moved it exits 0.
func TestCheckCollisions(t *testing.T) {
	const text = `[[pool]]
name = "p"
realservers = [{ address = "10.0.0.11:21" }]

[[ftp]]
listen = ["203.0.113.10:21"]
pool = "p"
passive_ports = "61000-61099"

[[ftp]]
listen = ["203.0.113.10:22"]
pool = "p"
passive_ports = "61100-61199"
`
	dir := t.TempDir()
	check := func(text string) (int, string) {
		file := filepath.Join(dir, "algd.toml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, algdBin, "check", "-c", file).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatalf("algd check: %v", err)
		}
		return 0, string(out)
	}
	code, out := check(text)
	if code != 1 || !bytes.Contains([]byte(out), []byte(`algd.toml:10: ftp[1].active_source_port: "control-1" takes port 21 on 203.0.113.10`)) ||
		!bytes.Contains([]byte(out), []byte(`(ftp[0].listen[0]: `+filepath.Join(dir, "algd.toml")+`:6)`)) {
		t.Fatalf("algd check exit %d, want 1 naming both keys; output:\n%s", code, out)
	}
	fixed := string(bytes.Replace([]byte(text), []byte("203.0.113.10:22"), []byte("203.0.113.10:2121"), 1))
	if code, out := check(fixed); code != 0 {
		t.Fatalf("algd check of the fixed file: exit %d\n%s", code, out)
	}
}
