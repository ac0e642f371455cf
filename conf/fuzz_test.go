package conf

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and it must
// return either a valid Config or a non-empty *Errors.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.toml")
	seeds = append(seeds, examplePath)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatalf("seed: %v", err)
		}
		f.Add(b)
	}
	f.Add([]byte(okPool + okFTP))
	f.Add([]byte("[[pool]]\nname = \"\"\"\nx\"\"\"\n[[pool.realservers]]\n'address' = '[::1]:21'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The line index only ever sees parsed TOML, but must not panic
		// on anything.
		_ = indexLines(string(data)).find("ftp[0].listen[0]")
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
			}
			_ = err.Error()
			return
		}
		if c == nil {
			t.Fatal("nil Config without error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed Config does not validate again: %v", err)
		}
		Check(c, System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 1024}).Write(io.Discard)
	})
}
