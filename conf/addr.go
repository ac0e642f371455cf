package conf

import (
	"fmt"
	"net/netip"
	"strings"
)

// checkHostPort checks a listen or realserver address: set, port not 0.
// It unmaps an IPv4-mapped address in place and reports whether the
// address is usable.
func checkHostPort(p *problems, ap *netip.AddrPort, path string) bool {
	switch {
	case !ap.IsValid():
		p.add(path, "is empty; want ip:port such as \"203.0.113.10:21\"")
	case ap.Port() == 0:
		p.add(path, "%q has port 0", *ap)
	default:
		// Written only when it changes: validating a configuration a
		// running daemon reads (a reload of the same values) must not
		// write to it.
		if ap.Addr().Is4In6() {
			*ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		return true
	}
	return false
}

// checkListens checks every address of a listen list; path is the list's.
func checkListens(p *problems, list []netip.AddrPort, path string) {
	for j := range list {
		checkHostPort(p, &list[j], fmt.Sprintf("%s[%d]", path, j))
	}
}

// checkLocalAddr checks an optional local address (advertise,
// backend_source): not a wildcard, no zone. It unmaps an IPv4-mapped
// address in place and reports whether the address is set and usable.
func checkLocalAddr(p *problems, a *netip.Addr, path string) bool {
	switch {
	case !a.IsValid():
		return false
	case a.IsUnspecified():
		p.add(path, "%q is a wildcard: name the one address to use, or leave %s unset", *a, path[strings.LastIndexByte(path, '.')+1:])
		return false
	case a.Zone() != "":
		p.add(path, "%q has a zone: clients cannot be told a link-local address", *a)
		return false
	}
	if a.Is4In6() {
		*a = a.Unmap()
	}
	return true
}

// addrsOverlap reports whether binding a and binding b can take the same
// local address: equal addresses, or a wildcard and an address it covers.
// "0.0.0.0" covers IPv4; "::" covers IPv6 and, because Go listens
// dual-stack on it, IPv4 as well.
func addrsOverlap(a, b netip.Addr) bool {
	if a == b {
		return true
	}
	covers := func(w, x netip.Addr) bool {
		if !w.IsUnspecified() {
			return false
		}
		return w.Is6() || x.Is4()
	}
	return covers(a, b) || covers(b, a)
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

func isAddrPort(s string) bool {
	_, err := netip.ParseAddrPort(s)
	return err == nil
}

// isHostName reports whether s looks like a DNS name rather than a broken
// IP literal: letters, digits, dots and dashes with at least one letter.
func isHostName(s string) bool {
	if s == "" || isIP(s) {
		return false
	}
	letter := false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '.' || c == '-':
		default:
			return false
		}
	}
	return letter
}

// addrString formats an address for messages and reports.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "(per connection)"
	}
	return a.String()
}
