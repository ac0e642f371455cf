package ftp

import (
	"fmt"
	"sync/atomic"
)

// Refusal is why algd refused a command line without forwarding it.
type Refusal int

// The reasons for refusing a command line. The first four are lines
// ParseCommand cannot read the way every ftpd would; the last two are
// policy ([ftp.tls] required and require_prot_p).
const (
	// RefusedTelnet: a Telnet IAC (0xFF) anywhere but in the IP/Synch
	// prefix of ABOR, or that prefix in front of another verb. proftpd
	// drops Telnet sequences anywhere in a line; vsftpd and pure-ftpd
	// do not.
	RefusedTelnet Refusal = iota
	// RefusedControl: a control byte (0x00-0x1F, 0x7F: tab, vertical tab,
	// a lone CR, ...) or a line ended by a bare LF. proftpd ends the verb
	// at a tab or vertical tab and drops other control bytes from it.
	RefusedControl
	// RefusedSyntax: no verb of ASCII letters and digits at the start of
	// the line (a leading space, P@SW, a non-ASCII byte), a verb longer
	// than maxVerb, or an argument of spaces only (proftpd reads none).
	RefusedSyntax
	// RefusedUnknown: a well-formed verb that algd does not know. Some
	// ftpds read unknown verbs as known ones (ftpserverlib takes any verb
	// ending in ABOR, STAT or QUIT for that command), so only known verbs
	// are forwarded.
	RefusedUnknown
	// RefusedTLS: USER, PASS or ACCT before AUTH TLS with [ftp.tls]
	// required.
	RefusedTLS
	// RefusedProt: PROT C, or a data command before PROT P, with
	// [ftp.tls] require_prot_p.
	RefusedProt
	numRefusals
)

// refusalNames are the metric labels of the refusals.
var refusalNames = [numRefusals]string{"telnet", "control", "syntax", "unknown", "tls", "prot"}

// String returns the refusal's metric label.
func (r Refusal) String() string {
	if r < 0 || r >= numRefusals {
		return fmt.Sprintf("refusal(%d)", int(r))
	}
	return refusalNames[r]
}

// Refusals counts refused command lines by reason; safe for concurrent
// use.
type Refusals struct {
	n [numRefusals]atomic.Int64
}

// Add counts one refusal.
func (r *Refusals) Add(reason Refusal) {
	if reason >= 0 && reason < numRefusals {
		r.n[reason].Add(1)
	}
}

// Load returns the count of one reason.
func (r *Refusals) Load(reason Refusal) int64 {
	if reason < 0 || reason >= numRefusals {
		return 0
	}
	return r.n[reason].Load()
}

// Map returns every reason's count by its label, zeros included.
func (r *Refusals) Map() map[string]int64 {
	m := make(map[string]int64, numRefusals)
	for i := range numRefusals {
		m[refusalNames[i]] = r.n[i].Load()
	}
	return m
}
