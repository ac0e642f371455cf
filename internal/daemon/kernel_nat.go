package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/algd/algd/alg/nat"
	"github.com/algd/algd/conf"
)

// probeNAT says whether algd's NAT table can be used here (nat.Probe):
// err names what is missing; noAuto is why "auto" declines it even so
// (IPv4 forwarding off), or "".
func probeNAT(table string) (noAuto string, err error) {
	r := nat.Probe(nat.Options{Table: table})
	if !r.Usable() {
		return "", errors.New(strings.Join(r.Missing, "; "))
	}
	for _, s := range r.NoForward {
		if strings.HasPrefix(s, "net.ipv4.ip_forward=0") {
			return conf.NoForwardAuto, nil
		}
	}
	return "", nil
}

// openNAT creates algd's NAT table (nat.Open), or with adopt takes over
// the one of the algd it succeeds, whose mapped transfers keep flowing.
func openNAT(table string, adopt bool, log *slog.Logger) (kernelTable, error) {
	return nat.Open(context.Background(), nat.Options{Table: table, Adopt: adopt, Logger: log})
}
