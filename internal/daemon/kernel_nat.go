package daemon

import (
	"errors"
	"log/slog"
)

// errNoNAT is the kernel path's answer until alg/nat is wired in.
var errNoNAT = errors.New("this algd is built without the kernel data path (alg/nat)")

// probeNAT says whether the nftables table can be created here.
func probeNAT(table string) error { return errNoNAT }

// openNAT creates (or with adopt, takes over) the table of the kernel
// data path.
func openNAT(table string, adopt bool, log *slog.Logger) (kernelTable, error) { return nil, errNoNAT }
