package conf

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The types below are settings written as one TOML string. Each decodes
// itself (UnmarshalText) and formats itself back (MarshalText, String), so
// a Config holds every setting once, already parsed. UnmarshalText checks
// the syntax only and keeps what is written; what a value may be in its
// place (no port 0, an even first media port, no wildcard) is Validate's,
// so that a Config built in Go is held to the same rules.

// PortRange is an inclusive range of TCP or UDP ports, written
// "first-last" ("61000-61999"). The zero PortRange means unset.
type PortRange struct {
	First, Last uint16
}

// String formats the range as "first-last".
func (r PortRange) String() string {
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// MarshalText formats the range as "first-last", and the zero range
// (unset) as "".
func (r PortRange) MarshalText() ([]byte, error) {
	if r == (PortRange{}) {
		return nil, nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses "first-last", two ports 1-65535; "" is the zero
// range. Port 0 is refused here, since the zero range means unset; an
// inverted range is left for Validate to refuse.
func (r *PortRange) UnmarshalText(b []byte) error {
	f, l, err := parseRange(string(b), 10, 16,
		`want "first-last" such as "61000-61999"`, `is not a range of ports 1-65535: want "first-last" such as "61000-61999"`)
	*r = PortRange{First: uint16(f), Last: uint16(l)}
	if err == nil && len(b) > 0 && (f == 0 || l == 0) {
		*r = PortRange{}
		return fmt.Errorf("%q contains port 0", b)
	}
	return err
}

// parseRange parses "first-last", two numbers of bits bits in base (0:
// decimal or 0x hex); "" is 0-0. On failure the message is s, quoted,
// followed by "is not a range: "+want when there is no "-", or by
// notNumbers.
func parseRange(s string, base, bits int, want, notNumbers string) (first, last uint64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a range: %s", s, want)
	}
	f, errF := strconv.ParseUint(strings.TrimSpace(a), base, bits)
	l, errL := strconv.ParseUint(strings.TrimSpace(b), base, bits)
	if errF != nil || errL != nil {
		return 0, 0, fmt.Errorf("%q %s", s, notNumbers)
	}
	return f, l, nil
}

// check says what is wrong with a range that is set: port 0, or a first
// port above the last; "" when nothing is.
func (r PortRange) check() string {
	switch {
	case r.First == 0 || r.Last == 0:
		return fmt.Sprintf("%q contains port 0", r)
	case r.First > r.Last:
		return fmt.Sprintf("%q is inverted: the first port %d is above the last %d", r, r.First, r.Last)
	}
	return ""
}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool {
	return r.First <= port && port <= r.Last
}

// Overlap returns the ports that r and o have in common; ok is false when
// they have none.
func (r PortRange) Overlap(o PortRange) (common PortRange, ok bool) {
	common = PortRange{First: max(r.First, o.First), Last: min(r.Last, o.Last)}
	return common, common.First <= common.Last && r.Size() > 0 && o.Size() > 0
}

// Size is the number of ports in the range.
func (r PortRange) Size() int {
	if r.Last < r.First {
		return 0
	}
	return int(r.Last) - int(r.First) + 1
}

// ActiveSource is where active-mode data connections to clients come
// from, written "control-1", "any", a port ("20") or a range
// ("60000-60999"). The zero ActiveSource means unset: SetDefaults makes it
// control-1.
type ActiveSource struct {
	// ControlMinusOne takes the port below the control connection's.
	ControlMinusOne bool
	// Any leaves the port to the kernel.
	Any bool
	// Range is the fixed port (First == Last) or the range to take one
	// from; Size 0 when ControlMinusOne or Any is set.
	Range PortRange
}

// String formats the source as written in the file.
func (a ActiveSource) String() string {
	switch {
	case a.ControlMinusOne:
		return "control-1"
	case a.Any:
		return "any"
	case a.Range.First == a.Range.Last:
		return strconv.Itoa(int(a.Range.First))
	}
	return a.Range.String()
}

// MarshalText formats the source as written in the file.
func (a ActiveSource) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses "control-1", "any", a port or a range; "" is the
// zero ActiveSource.
func (a *ActiveSource) UnmarshalText(b []byte) error {
	s := string(b)
	*a = ActiveSource{}
	switch s {
	case "":
	case "control-1":
		a.ControlMinusOne = true
	case "any":
		a.Any = true
	default:
		if n, err := strconv.ParseUint(s, 10, 16); err == nil && n > 0 {
			a.Range = PortRange{uint16(n), uint16(n)}
		} else if err := a.Range.UnmarshalText(b); err != nil {
			return fmt.Errorf("%q: want \"control-1\", \"any\", a port such as \"20\" or a range such as \"60000-60999\"", s)
		}
	}
	return nil
}

// TLSVersion is a TLS protocol version as a crypto/tls constant, written
// "1.0", "1.1", "1.2" or "1.3". The zero TLSVersion means unset.
type TLSVersion uint16

// tlsVersions maps min_version values to crypto/tls constants.
var tlsVersions = map[string]TLSVersion{
	"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11,
	"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
}

// String formats the version as written in the file ("1.2").
func (v TLSVersion) String() string {
	for s, x := range tlsVersions {
		if x == v {
			return s
		}
	}
	return fmt.Sprintf("%#04x", uint16(v))
}

// MarshalText formats the version as written in the file.
func (v TLSVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses "1.0" to "1.3"; "" is the zero TLSVersion.
func (v *TLSVersion) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*v = 0
		return nil
	}
	x, ok := tlsVersions[string(b)]
	if !ok {
		return fmt.Errorf("unknown TLS version %q: want \"1.0\", \"1.1\", \"1.2\" or \"1.3\"", b)
	}
	*v = x
	return nil
}

// Duration is a time.Duration that decodes from TOML strings like "30s".
type Duration struct {
	time.Duration
}

// UnmarshalText parses a Go duration string ("500ms", "30s", "5m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number and a unit such as \"500ms\", \"30s\" or \"5m\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// VIP is the virtual IP address of a [[group]], written as an IP literal
// without port. The zero VIP means unset.
type VIP struct {
	netip.Addr
}

// UnmarshalText parses an IP literal; "" is the zero VIP. A wildcard or a
// zone is left for Validate to refuse.
func (v *VIP) UnmarshalText(b []byte) error {
	v.Addr = netip.Addr{}
	if len(b) == 0 {
		return nil
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return fmt.Errorf("%q is not an IP address literal (no port, no name)", b)
	}
	v.Addr = a
	return nil
}

// The netip types of the schema decode with conf's parsers rather than
// their own UnmarshalText: the messages say what is wrong in the terms of
// the file, and a prefix may be a single address.

// parseHostPort parses an "ip:port" address for a listener or a
// realserver; "" is the zero AddrPort. Port 0 is left for Validate.
func parseHostPort(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return ap, nil
	}
	host, _, splitErr := net.SplitHostPort(s)
	switch {
	case splitErr == nil && isHostName(host):
		return ap, fmt.Errorf("%q names host %q: use an IP address literal, names are not resolved", s, host)
	case splitErr != nil && isIP(s):
		return ap, fmt.Errorf("%q has no port: want ip:port such as \"203.0.113.10:21\" (IPv6 in brackets)", s)
	case splitErr != nil && isHostName(s):
		return ap, fmt.Errorf("%q is a host name without port: want an IP address literal and a port", s)
	}
	return ap, fmt.Errorf("%q is not ip:port such as \"203.0.113.10:21\" or \"[2001:db8::10]:21\"", s)
}

// parseAddr parses a local address (advertise, backend_source): an IP
// literal without port; "" is the zero Addr.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err == nil:
		return a, nil
	case isAddrPort(s):
		return a, fmt.Errorf("%q has a port: this is an address only, the ports come from their own keys (passive_ports, media_ports)", s)
	case isHostName(s):
		return a, fmt.Errorf("%q is a host name: use an IP address literal, names are not resolved", s)
	}
	return a, fmt.Errorf("%q is not an IP address", s)
}

// parsePrefix parses a CIDR, or a single address as its host prefix.
// IPv4-mapped IPv6 addresses are unmapped, as the client addresses they
// are compared with are, and host bits are masked.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errPrefix(s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errPrefix(s)
	}
	if pf.Addr().Is4In6() && pf.Bits() >= 96 {
		pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
	}
	return pf.Masked(), nil
}

func errPrefix(s string) error {
	return fmt.Errorf("%q: want an address or a CIDR such as \"10.0.0.0/24\" or \"2001:db8::/64\"", s)
}
