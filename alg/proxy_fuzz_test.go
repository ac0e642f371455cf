package alg

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzReadProxyHeader feeds arbitrary bytes to the PROXY header reader, as
// a trusted balancer's connection would carry them: it must never panic,
// never read past the header it accepts (the rest of the stream belongs to
// FTP), and never accept more than a v1 line's 107 bytes for v1.
func FuzzReadProxyHeader(f *testing.F) {
	var v2 bytes.Buffer
	WriteProxyHeader(&v2, 2, netip.MustParseAddrPort("192.0.2.10:5555"), netip.MustParseAddrPort("203.0.113.10:21"))
	for _, seed := range [][]byte{
		[]byte("PROXY TCP4 192.0.2.10 203.0.113.10 5555 21\r\nUSER x\r\n"),
		[]byte("PROXY TCP6 2001:db8::1 2001:db8::2 5555 21\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY TCP4 999.0.0.1 1.2.3.4 1 2\r\n"),
		append(v2.Bytes(), []byte("USER x\r\n")...),
		[]byte("GET / HTTP/1.0\r\n\r\n"),
	} {
		f.Add(seed, byte(1))
		f.Add(seed, byte(2))
	}
	f.Fuzz(func(t *testing.T, in []byte, version byte) {
		if version != 1 && version != 2 {
			return
		}
		r := bytes.NewReader(in)
		h, err := ReadProxyHeader(r, version)
		if err != nil || h == nil {
			return
		}
		used := len(in) - r.Len()
		switch version {
		case 1:
			if used > 107 || in[used-1] != '\n' {
				t.Fatalf("v1 header accepted after %d bytes ending %q", used, in[max(0, used-2):used])
			}
		case 2:
			if used < 16 || used != 16+(int(in[14])<<8|int(in[15])) {
				t.Fatalf("v2 header accepted after %d bytes, its length field says %d", used, 16+(int(in[14])<<8|int(in[15])))
			}
		}
	})
}
