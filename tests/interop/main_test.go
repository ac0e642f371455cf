//go:build interop

// Package interop runs real FTP clients (curl, lftp, python ftplib)
// against real FTP servers (vsftpd, pure-ftpd, proftpd), each operation
// once DIRECT (client → ftpd) and once THROUGH algd (client → VIP → ftpd),
// and compares: file hashes, the address the client saw in 227 replies,
// the port of 229 replies, where the client connected its data, and algd's
// "data done" byte counts. TestFTPS does the same over FTPS (explicit and
// implicit towards algd, TLS or plain towards the ftpds, certificates
// from a CA the test makes), and TestFTPSHostile checks that clients
// that fail or stall their TLS handshake are dropped after algd's
// handshake_timeout while an honest FTPS transfer runs.
//
// Run: tests/peers/fetch.sh && go test -race -tags interop ./tests/interop/
//
// ALGD_INTEROP_DIRECT=1 skips building and running algd and runs only the
// direct half (the baseline), for working on the harness before algd
// exists; CI never sets it. ALGD_BIN=FILE runs a prebuilt algd instead of
// building ./cmd/algd. ALGD_INTEROP_MASQUERADE=vsftpd|pure-ftpd|proftpd
// chooses the backend that announces a wrong 227 address (default: one
// chosen per run from the process id, logged). ALGD_MATRIX_OUT=FILE
// writes the results as Markdown tables (servers × clients × modes, ABOR,
// bounce, IPv6, FTPS) to FILE: the whole of docs/interop.md.
package interop

import (
	"testing"

	"github.com/algd/algd/tests/algdrun"
)

// algdBin is the algd binary TestMain built, or "" in direct-only runs.
var algdBin string

func TestMain(m *testing.M) {
	algdrun.Main(m, &algdBin, algdrun.Suite{Name: "interop", Direct: true, After: writeReport})
}
