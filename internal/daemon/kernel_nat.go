package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/algd/algd/alg/nat"
)

// probeNAT says whether algd's NAT table can be used here (nat.Probe):
// nil, or what is missing.
func probeNAT(table string) error {
	r := nat.Probe(nat.Options{Table: table})
	if r.Usable() {
		return nil
	}
	return errors.New(strings.Join(r.Missing, "; "))
}

// openNAT creates algd's NAT table (nat.Open), or with adopt takes over
// the one of the algd it succeeds, whose mapped transfers keep flowing.
func openNAT(table string, adopt bool, log *slog.Logger) (kernelTable, error) {
	return nat.Open(context.Background(), nat.Options{Table: table, Adopt: adopt, Logger: log})
}
