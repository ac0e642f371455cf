//go:build interop

package soak

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/algd/algd/tests/algdrun"
)

// algdBin is the algd binary TestMain built (or ALGD_BIN).
var algdBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "algd-soak-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if os.Getenv("ALGD_BIN") != "" {
		algdBin, err = algdrun.FromEnv(ctx, dir)
	} else {
		algdBin, err = algdrun.Build(ctx, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	return m.Run()
}
