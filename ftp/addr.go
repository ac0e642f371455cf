package ftp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Data-connection addresses in the control channel: PORT and the 227 reply
// to PASV carry "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2, §4.2), EPRT carries
// "<d>family<d>address<d>port<d>" (RFC 2428 §2) and the 229 reply to EPSV
// "(<d><d><d>port<d>)" (RFC 2428 §3). The parsers trust nothing: every
// number is range-checked, and errors name what was wrong.

// ParsePASV finds the address in the text of a 227 reply: the first run of
// six comma-separated decimal numbers anywhere in it, with or without
// parentheses and whatever text surrounds them ("Entering Passive Mode
// (10,0,0,1,195,80).", "Passive mode on 10,0,0,1,195,80",
// "=10,0,0,1,195,80"). Spaces around the commas are tolerated. Each number
// must be 0-255, else the error names it; port 0 is returned as it is, for
// the caller to refuse.
func ParsePASV(text string) (netip.AddrPort, error) {
	for i := 0; i < len(text); {
		nums, next := scanNumberRun(text, i)
		if len(nums) == 6 {
			return addrPortOfSix(nums, "PASV")
		}
		i = next
	}
	return netip.AddrPort{}, fmt.Errorf("ftp: PASV reply %.60q: no h1,h2,h3,h4,p1,p2", text)
}

// scanNumberRun looks for a comma-separated run of numbers (each an
// optional '-' and decimal digits) starting at the first digit at or after
// i. It returns the numbers as written and the index to continue scanning
// from when the run is not the one wanted.
func scanNumberRun(s string, i int) (nums []string, next int) {
	for i < len(s) && !isDigit(s[i]) {
		i++
	}
	if i < len(s) && i > 0 && s[i-1] == '-' {
		i--
	}
	for {
		n := numberEnd(s, i)
		if n == i {
			break
		}
		nums = append(nums, s[i:n])
		next = n
		j := skipSpaces(s, n)
		if j >= len(s) || s[j] != ',' {
			break
		}
		i = skipSpaces(s, j+1)
	}
	if len(nums) == 0 {
		return nil, len(s)
	}
	return nums, next
}

// numberEnd returns the end of the number (an optional '-' and at least one
// digit) at s[i:], or i if there is none.
func numberEnd(s string, i int) int {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	k := j
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	if k == j {
		return i
	}
	return k
}

// skipSpaces returns the index of the first non-space byte at or after i.
func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// addrPortOfSix turns "h1".."p2" into an address, checking each is 0-255.
func addrPortOfSix(nums []string, what string) (netip.AddrPort, error) {
	var b [6]byte
	for i, n := range nums {
		v, err := strconv.ParseUint(n, 10, 8)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("ftp: %s number %d %.20q: not 0-255", what, i+1, n)
		}
		b[i] = byte(v)
	}
	addr := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	return netip.AddrPortFrom(addr, uint16(b[4])<<8|uint16(b[5])), nil
}

// FormatPASV returns the whole text of a 227 reply after the code,
// "Entering Passive Mode (h1,h2,h3,h4,p1,p2).", in the wording of vsftpd
// and proftpd. ap must be IPv4 (an IPv4-mapped IPv6 address is unmapped).
func FormatPASV(ap netip.AddrPort) (string, error) {
	six, err := formatSix(ap, "PASV")
	if err != nil {
		return "", err
	}
	return "Entering Passive Mode (" + six + ").", nil
}

// formatSix writes ap as "h1,h2,h3,h4,p1,p2".
func formatSix(ap netip.AddrPort, what string) (string, error) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return "", fmt.Errorf("ftp: %s needs an IPv4 address, not %s", what, ap.Addr())
	}
	b := a.As4()
	p := ap.Port()
	buf := make([]byte, 0, len("255,255,255,255,255,255"))
	for i, v := range [6]byte{b[0], b[1], b[2], b[3], byte(p >> 8), byte(p)} {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendUint(buf, uint64(v), 10)
	}
	return string(buf), nil
}

// ParsePORT parses the argument of PORT, strictly: exactly six decimal
// numbers 0-255 separated by commas, "h1,h2,h3,h4,p1,p2", nothing else.
// Port 0 and privileged ports are returned as they are, for the caller to
// refuse.
func ParsePORT(arg string) (netip.AddrPort, error) {
	nums := strings.Split(arg, ",")
	if len(nums) != 6 {
		return netip.AddrPort{}, fmt.Errorf("ftp: PORT %.60q: want six numbers, got %d", arg, len(nums))
	}
	for i, n := range nums {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return netip.AddrPort{}, fmt.Errorf("ftp: PORT number %d %.20q: not 0-255", i+1, n)
		}
	}
	return addrPortOfSix(nums, "PORT")
}

// FormatPORT returns the argument of a PORT command, "h1,h2,h3,h4,p1,p2".
// ap must be IPv4 (an IPv4-mapped IPv6 address is unmapped).
func FormatPORT(ap netip.AddrPort) (string, error) {
	return formatSix(ap, "PORT")
}

// ParseEPSV finds the port in the text of a 229 reply: the first
// "(<d><d><d>port<d>)" anywhere in it, where d is one delimiter, any
// printable ASCII character 33-126 (RFC 2428 §3), and port is decimal
// 1-65535 ("Entering Extended Passive Mode (|||6446|)", pure-ftpd's
// "Extended Passive mode OK (|||6446|)").
func ParseEPSV(text string) (uint16, error) {
	var bad error
	for i := strings.IndexByte(text, '('); i >= 0; {
		port, err := epsvAt(text[i:])
		if err == nil {
			return port, nil
		}
		if bad == nil {
			bad = err
		}
		j := strings.IndexByte(text[i+1:], '(')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if bad != nil {
		return 0, fmt.Errorf("ftp: EPSV reply %.60q: %w", text, bad)
	}
	return 0, fmt.Errorf("ftp: EPSV reply %.60q: no (|||port|)", text)
}

// errNoEPSV marks a '(' that does not start "(<d><d><d>port<d>)" at all, as
// opposed to one that does but names a bad port.
var errNoEPSV = errors.New("no (|||port|)")

// epsvAt parses "(<d><d><d>port<d>)" at the start of s.
func epsvAt(s string) (uint16, error) {
	if len(s) < 6 {
		return 0, errNoEPSV
	}
	d := s[1]
	if d < 33 || d > 126 || s[2] != d || s[3] != d {
		return 0, errNoEPSV
	}
	end := 4
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	var digits string
	switch {
	case isDigit(d):
		// The delimiter is itself a digit: it is the last digit of the
		// run, and ')' must follow.
		if end < 6 || end >= len(s) || s[end-1] != d || s[end] != ')' {
			return 0, errNoEPSV
		}
		digits = s[4 : end-1]
	default:
		if end == 4 || end+1 >= len(s) || s[end] != d || s[end+1] != ')' {
			return 0, errNoEPSV
		}
		digits = s[4:end]
	}
	return parseTCPPort(digits)
}

// parseTCPPort parses a decimal port 1-65535.
func parseTCPPort(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("port %.20q: not 1-65535", s)
	}
	return uint16(v), nil
}

// FormatEPSV returns the whole text of a 229 reply after the code,
// "Entering Extended Passive Mode (|||port|)".
func FormatEPSV(port uint16) string {
	return "Entering Extended Passive Mode (|||" + strconv.FormatUint(uint64(port), 10) + "|)"
}

// EPRT network protocol numbers (RFC 2428 §2, the IANA address family
// numbers).
const (
	eprtIPv4 = "1"
	eprtIPv6 = "2"
)

// ParseEPRT parses the argument of EPRT, "<d>family<d>address<d>port<d>"
// ("|1|132.235.1.2|6275|", "|2|::1|5282|") with any delimiter d, a printable
// ASCII character 33-126 (RFC 2428 §2). The family must be 1 for an IPv4
// and 2 for an IPv6 address (an IPv4-mapped one stays mapped); zones are
// refused; the port must be 1-65535.
func ParseEPRT(arg string) (netip.AddrPort, error) {
	fail := func(why string) (netip.AddrPort, error) {
		return netip.AddrPort{}, fmt.Errorf("ftp: EPRT %.80q: %s", arg, why)
	}
	if len(arg) < 2 {
		return fail("too short")
	}
	d := arg[0]
	if d < 33 || d > 126 {
		return fail("delimiter not printable ASCII")
	}
	f := strings.Split(arg, string(d))
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return fail("want <d>family<d>address<d>port<d>")
	}
	addr, err := netip.ParseAddr(f[2])
	if err != nil || addr.Zone() != "" {
		return fail("bad address")
	}
	switch f[1] {
	case eprtIPv4:
		if !addr.Is4() {
			return fail("family 1 needs an IPv4 address")
		}
	case eprtIPv6:
		if !addr.Is6() {
			return fail("family 2 needs an IPv6 address")
		}
	default:
		return fail("family not 1 or 2")
	}
	port, err := parseTCPPort(f[3])
	if err != nil {
		return fail(err.Error())
	}
	return netip.AddrPortFrom(addr, port), nil
}

// FormatEPRT returns the argument of an EPRT command with '|' as the
// delimiter: "|1|h.h.h.h|port|" for IPv4, "|2|ipv6|port|" for IPv6
// (an IPv4-mapped address stays family 2; a zone is dropped). ap must be
// valid.
func FormatEPRT(ap netip.AddrPort) string {
	a := ap.Addr().WithZone("")
	fam := eprtIPv6
	if a.Is4() {
		fam = eprtIPv4
	}
	return "|" + fam + "|" + a.String() + "|" + strconv.FormatUint(uint64(ap.Port()), 10) + "|"
}
