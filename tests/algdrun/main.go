package algdrun

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// Suite says how Main prepares an end-to-end suite.
type Suite struct {
	// Name prefixes messages and the temporary folder.
	Name string
	// Direct honours ALGD_INTEROP_DIRECT=1: only the direct half runs and
	// the binary is "". Without it algd is always run (ALGD_BIN or a
	// fresh build).
	Direct bool
	// After, when set, runs once the tests have (a report); its error
	// fails the run.
	After func() error
}

// Main is the TestMain of a suite that runs the built algd: it puts the
// binary (FromEnv, or Build when s.Direct is false and ALGD_BIN is
// unset) in *bin, runs the tests, then s.After, and exits. A failed build
// fails the run, never skips it.
func Main(m *testing.M, bin *string, s Suite) {
	os.Exit(s.run(m, bin))
}

func (s Suite) run(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "algd-"+s.Name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, s.Name+":", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if s.Direct || os.Getenv("ALGD_BIN") != "" {
		*bin, err = FromEnv(ctx, dir)
	} else {
		*bin, err = Build(ctx, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, s.Name+":", err)
		return 1
	}
	if *bin == "" {
		fmt.Fprintln(os.Stderr, s.Name+": ALGD_INTEROP_DIRECT=1: algd is not run, only the direct cases")
	}
	code := m.Run()
	if s.After != nil {
		if err := s.After(); err != nil {
			fmt.Fprintln(os.Stderr, s.Name+":", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
