//go:build interop

// Package netns runs algd between network namespaces, as on a real LVS
// director: a client namespace (10.231.1.2), a director namespace that
// holds the VIP (10.231.1.10) on the client side and 10.231.2.1 towards
// the realservers, with IP forwarding off, and a realserver namespace
// (10.231.2.2) running vsftpd on port 21. The client cannot reach the
// realserver; curl in the client namespace downloads and uploads through
// the VIP in PASV and EPSV mode, and an nftables table in the director
// counts what the client sent: port 21, the passive range, and anything
// else (which must stay 0).
//
// Needs root (namespaces, nft). Every name starts with algd-<pid>- and is
// deleted on cleanup; the 10.231/16 addresses exist only inside the
// namespaces this test creates.
//
// ALGD_INTEROP_DIRECT=1 skips building and running algd: only the
// topology and the direct baseline (director → realserver) run.
// ALGD_BIN=FILE runs a prebuilt algd instead of building ./cmd/algd.
package netns

import (
	"testing"

	"github.com/algd/algd/tests/algdrun"
)

// algdBin is the algd binary TestMain built, or "" in direct-only runs.
var algdBin string

func TestMain(m *testing.M) {
	algdrun.Main(m, &algdBin, algdrun.Suite{Name: "netns", Direct: true})
}
