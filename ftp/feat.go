package ftp

import (
	"strings"
)

// hiddenFeatures are features a realserver may list that algd does not
// offer through the VIP (RFC 2389 §3.2 lists one feature per line, indented
// by a space): security extensions (RFC 2228, RFC 4217) are not terminated
// here, and LPRT/LPSV, SSCN and CPSV are not proxied.
var hiddenFeatures = map[string]bool{
	"AUTH": true, "PBSZ": true, "PROT": true, "CCC": true, "ADAT": true,
	"LPRT": true, "LPSV": true, "SSCN": true, "CPSV": true,
}

// rewriteFEAT drops the features algd does not offer from a 211 FEAT reply
// and lists EPSV and EPRT, which algd serves whatever the realserver
// supports.
func rewriteFEAT(r Reply, tls bool) Reply {
	if r.Code != 211 || len(r.Lines) < 2 {
		return r
	}
	out := Reply{Code: r.Code, Lines: make([]string, 0, len(r.Lines)+1)}
	out.Lines = append(out.Lines, r.Lines[0])
	have := map[string]bool{}
	for _, l := range r.Lines[1 : len(r.Lines)-1] {
		name, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		name = strings.ToUpper(name)
		if hiddenFeatures[name] {
			continue
		}
		have[name] = true
		out.Lines = append(out.Lines, l)
	}
	extra := []string{"EPRT", "EPSV"}
	if tls {
		extra = append(extra, "AUTH TLS", "PBSZ", "PROT")
	}
	for _, f := range extra {
		if !have[f] {
			out.Lines = append(out.Lines, " "+f)
		}
	}
	out.Lines = append(out.Lines, r.Lines[len(r.Lines)-1])
	return out
}
