package ftpc

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// errBadAddr is wrapped by every error about an address in a reply or
// one that a command cannot carry.
var errBadAddr = errors.New("bad address")

// text returns a reply's text: its lines joined with "\n", with the
// "xyz " or "xyz-" prefix removed where a line has it.
func (r Reply) text() string {
	prefix := strconv.Itoa(r.Code)
	parts := make([]string, len(r.Lines))
	for i, l := range r.Lines {
		if len(l) >= 4 && strings.HasPrefix(l, prefix) && (l[3] == ' ' || l[3] == '-') {
			l = l[4:]
		}
		parts[i] = l
	}
	return strings.Join(parts, "\n")
}

// parsePASV finds the first six comma-separated numbers h1,h2,h3,h4,p1,p2
// anywhere in the text of a 227 reply (RFC 959 §4.1.2 gives no fixed
// wording; servers use "Entering Passive Mode (...)", no parentheses,
// "Passive mode on (...)" and more), each 0-255, and returns the address
// h1.h2.h3.h4 and port p1*256+p2.
func parsePASV(text string) (netip.AddrPort, error) {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || (i > 0 && isDigit(text[i-1])) {
			continue
		}
		if n, ok := sixNumbers(text[i:]); ok {
			ip := netip.AddrFrom4([4]byte{n[0], n[1], n[2], n[3]})
			return netip.AddrPortFrom(ip, uint16(n[4])<<8|uint16(n[5])), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%w: no h1,h2,h3,h4,p1,p2 in %q", errBadAddr, text)
}

// sixNumbers parses "n,n,n,n,n,n" at the start of s, each n one to three
// digits with a value up to 255, not followed by another digit.
func sixNumbers(s string) ([6]byte, bool) {
	var n [6]byte
	for k := range n {
		if k > 0 {
			if s == "" || s[0] != ',' {
				return n, false
			}
			s = s[1:]
		}
		j := 0
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == 0 || j > 3 {
			return n, false
		}
		v, _ := strconv.Atoi(s[:j]) // one to three digits: cannot fail
		if v > 255 {
			return n, false
		}
		n[k] = byte(v)
		s = s[j:]
	}
	return n, true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// parseEPSV finds "(<d><d><d><port><d>)" in the text of a 229 reply (RFC
// 2428 §3), where <d> is one delimiter character (printable ASCII 33-126,
// '|' in practice), and returns the port, 1-65535.
func parseEPSV(text string) (uint16, error) {
	for i := strings.IndexByte(text, '('); i >= 0; {
		rest := text[i+1:]
		if p, ok := epsvPort(rest); ok {
			return p, nil
		}
		j := strings.IndexByte(rest, '(')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return 0, fmt.Errorf("%w: no (|||port|) in %q", errBadAddr, text)
}

// epsvPort parses "<d><d><d><port><d>)" at the start of s.
func epsvPort(s string) (uint16, bool) {
	if len(s) < 6 {
		return 0, false
	}
	d := s[0]
	if d < 33 || d > 126 || isDigit(d) || s[1] != d || s[2] != d {
		return 0, false
	}
	s = s[3:]
	end := strings.IndexByte(s, d)
	if end < 1 || end > 5 || end+1 >= len(s) || s[end+1] != ')' {
		return 0, false
	}
	for k := range end {
		if !isDigit(s[k]) {
			return 0, false
		}
	}
	p, err := strconv.ParseUint(s[:end], 10, 16)
	if err != nil || p == 0 {
		return 0, false
	}
	return uint16(p), true
}

// formatPORT returns the PORT command naming ap (RFC 959 §4.1.2), which
// must be IPv4.
func formatPORT(ap netip.AddrPort) (string, error) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return "", fmt.Errorf("%w: PORT cannot name %v", errBadAddr, ap)
	}
	b := a.As4()
	p := ap.Port()
	return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", b[0], b[1], b[2], b[3], p>>8, p&0xff), nil
}

// formatEPRT returns the EPRT command naming ap (RFC 2428 §2): network
// protocol 1 for IPv4, 2 for IPv6.
func formatEPRT(ap netip.AddrPort) (string, error) {
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		return fmt.Sprintf("EPRT |1|%s|%d|", a, ap.Port()), nil
	case a.Is6():
		return fmt.Sprintf("EPRT |2|%s|%d|", a.WithZone(""), ap.Port()), nil
	default:
		return "", fmt.Errorf("%w: EPRT cannot name %v", errBadAddr, ap)
	}
}
