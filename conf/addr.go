package conf

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// parseHostPort parses an "ip:port" address for a listener or a
// realserver. The message on failure names the value and what is wrong.
func parseHostPort(s string) (netip.AddrPort, string) {
	if s == "" {
		return netip.AddrPort{}, `is empty; want ip:port such as "203.0.113.10:21"`
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(s)
		switch {
		case splitErr == nil && isHostName(host):
			return ap, fmt.Sprintf("%q names host %q: use an IP address literal, names are not resolved", s, host)
		case splitErr != nil && isIP(s):
			return ap, fmt.Sprintf("%q has no port: want ip:port such as \"203.0.113.10:21\" (IPv6 in brackets)", s)
		case splitErr != nil && isHostName(s):
			return ap, fmt.Sprintf("%q is a host name without port: want an IP address literal and a port", s)
		}
		return ap, fmt.Sprintf("%q is not ip:port such as \"203.0.113.10:21\" or \"[2001:db8::10]:21\"", s)
	}
	if ap.Port() == 0 {
		return ap, fmt.Sprintf("%q has port 0", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ""
}

// parseAdvertise parses an advertise address: an IP literal without port
// and zone, not a wildcard.
func parseAdvertise(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		switch {
		case isAddrPort(s):
			return a, fmt.Sprintf("%q has a port: advertise is an address only, the ports come from passive_ports", s)
		case isHostName(s):
			return a, fmt.Sprintf("%q is a host name: use an IP address literal, names are not resolved", s)
		}
		return a, fmt.Sprintf("%q is not an IP address", s)
	}
	switch {
	case a.IsUnspecified():
		return a, fmt.Sprintf("%q is a wildcard: advertise the address clients connect to, or leave advertise unset", s)
	case a.Zone() != "":
		return a, fmt.Sprintf("%q has a zone: clients cannot be told a link-local address", s)
	}
	return a.Unmap(), ""
}

// parsePortRange parses "first-last".
func parsePortRange(s string) (PortRange, string) {
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return PortRange{}, fmt.Sprintf("%q is not a range: want \"first-last\" such as \"61000-61999\"", s)
	}
	f, errF := strconv.ParseUint(strings.TrimSpace(first), 10, 16)
	l, errL := strconv.ParseUint(strings.TrimSpace(last), 10, 16)
	switch {
	case errF != nil || errL != nil:
		return PortRange{}, fmt.Sprintf("%q is not a range of ports 1-65535: want \"first-last\" such as \"61000-61999\"", s)
	case f == 0 || l == 0:
		return PortRange{}, fmt.Sprintf("%q contains port 0", s)
	case f > l:
		return PortRange{}, fmt.Sprintf("%q is inverted: the first port %d is above the last %d", s, f, l)
	}
	return PortRange{First: uint16(f), Last: uint16(l)}, ""
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
