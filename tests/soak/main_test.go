//go:build interop

package soak

import (
	"testing"

	"github.com/algd/algd/tests/algdrun"
)

// algdBin is the algd binary TestMain built (or ALGD_BIN).
var algdBin string

func TestMain(m *testing.M) {
	algdrun.Main(m, &algdBin, algdrun.Suite{Name: "soak"})
}
