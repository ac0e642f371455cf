package rtsp

import (
	"net/netip"
	"strconv"
	"strings"
)

// URLMap translates URLs between what the client uses (the VIP, or
// whatever host name it was given) and what the realserver uses (its own
// address). Servers echo the request URL's host in Content-Base and
// RTP-Info, and some write their own address into SDP: both are mapped
// back so that the client only ever sees the front.
type URLMap struct {
	// Front is the authority (host[:port]) the client used, as written.
	Front string
	// Back is the realserver's address.
	Back netip.AddrPort
	// VIP is the advertised address that replaces Back's address in SDP
	// o= and c= lines.
	VIP netip.Addr
}

// defaultPort is RTSP's well-known port (RFC 2326 §3.2), which URLs may
// leave out.
const defaultPort = 554

// backAuthority is Back as a URL authority.
func (m *URLMap) backAuthority() string {
	return m.Back.String()
}

// ToBack maps a request URI naming any host to the realserver, and
// remembers the authority the client used as Front. A URI that is not an
// absolute rtsp URL ("*", a path) is returned unchanged.
func (m *URLMap) ToBack(uri string) string {
	scheme, auth, rest, ok := splitURL(uri)
	if !ok {
		return uri
	}
	m.Front = auth
	return scheme + "://" + m.backAuthority() + rest
}

// ToFront replaces every URL in s that names the realserver by the same
// URL naming the front, for header values (Content-Base,
// Content-Location, RTP-Info) and SDP lines.
func (m *URLMap) ToFront(s string) string {
	if m.Front == "" || !strings.Contains(strings.ToLower(s), "rtsp") {
		return s
	}
	backs := []string{m.backAuthority()}
	if m.Back.Port() == defaultPort {
		backs = append(backs, hostOf(m.Back.Addr()))
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := indexFold(s[i:], "://")
		if j < 0 {
			break
		}
		j += i + 3
		i = j
		for _, back := range backs {
			if len(s)-j >= len(back) && strings.EqualFold(s[j:j+len(back)], back) && endsAuthority(s, j+len(back)) {
				b.WriteString(s[last:j])
				b.WriteString(m.Front)
				last = j + len(back)
				i = last
				break
			}
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// SDP rewrites a session description from the realserver: URLs naming it
// (a=control, a=content-base and the like) are mapped to the front, and
// its address in o= and c= lines becomes the VIP. Line endings are kept.
func (m *URLMap) SDP(body []byte) []byte {
	lines := strings.SplitAfter(string(body), "\n")
	for i, l := range lines {
		text := strings.TrimRight(l, "\r\n")
		eol := l[len(text):]
		switch {
		case strings.HasPrefix(text, "o=") || strings.HasPrefix(text, "c="):
			text = m.sdpAddr(text)
		case strings.HasPrefix(text, "a="):
			text = m.ToFront(text)
		}
		lines[i] = text + eol
	}
	return []byte(strings.Join(lines, ""))
}

// sdpAddr replaces the realserver's address in an o= or c= line (RFC 4566
// §5.2, §5.7: "... IN IP4 addr" with an optional /ttl on c=).
func (m *URLMap) sdpAddr(line string) string {
	f := strings.Split(line, " ")
	n := len(f)
	if n < 3 || f[n-3] != "IN" && !strings.HasSuffix(f[n-3], "=IN") {
		return line
	}
	addr, suffix, _ := strings.Cut(f[n-1], "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Unmap() != m.Back.Addr() || !m.VIP.IsValid() {
		return line
	}
	f[n-2] = "IP4"
	if m.VIP.Is6() {
		f[n-2] = "IP6"
	}
	f[n-1] = m.VIP.String()
	if suffix != "" {
		f[n-1] += "/" + suffix
	}
	return strings.Join(f, " ")
}

// splitURL splits an absolute URL into scheme, authority and the rest
// (path, query, everything after the authority).
func splitURL(u string) (scheme, auth, rest string, ok bool) {
	scheme, after, ok := strings.Cut(u, "://")
	if !ok || !strings.HasPrefix(strings.ToLower(scheme), "rtsp") {
		return "", "", "", false
	}
	end := strings.IndexAny(after, "/?;#")
	if end < 0 {
		end = len(after)
	}
	if end == 0 {
		return "", "", "", false
	}
	return scheme, after[:end], after[end:], true
}

// endsAuthority reports whether position i of s is where an authority
// ends: the end, a path, a query, a parameter, or text after the URL.
func endsAuthority(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	switch s[i] {
	case ':':
		return false
	case '/', '?', ';', '#', ',', '"', ' ', '\t', '\r', '\n', '>':
		return true
	}
	return false
}

// hostOf formats an address as a URL host (IPv6 in brackets).
func hostOf(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// authority formats ap as a URL authority.
func authority(ap netip.AddrPort) string {
	return hostOf(ap.Addr()) + ":" + strconv.Itoa(int(ap.Port()))
}

// indexFold is strings.Index for ASCII, ignoring case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
