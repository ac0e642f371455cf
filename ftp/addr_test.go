package ftp

import (
	"net/netip"
	"strings"
	"testing"
)

// mustAP is netip.MustParseAddrPort, short for the tables.
func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// addrCase is one row of a PASV/PORT/EPRT table: in is parsed to want (or
// fails with an error containing err); out is what Format makes of want,
// and parses back to want.
type addrCase struct {
	name string
	in   string
	want netip.AddrPort
	out  string
	err  string
}

var pasvCases = []addrCase{
	{name: "vsftpd/proftpd trailing dot", in: "Entering Passive Mode (10,0,0,1,195,80).", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "pure-ftpd no dot", in: "Entering Passive Mode (10,0,0,1,195,80)", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "passive mode on with parens", in: "Passive mode on (127,0,0,1,4,1)", want: mustAP("127.0.0.1:1025"), out: "Entering Passive Mode (127,0,0,1,4,1)."},
	{name: "passive mode on without parens", in: "Passive mode on 10,0,0,1,195,80", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "equals sign", in: "=10,0,0,1,195,80", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "bare numbers", in: "192,168,1,2,0,21", want: mustAP("192.168.1.2:21"), out: "Entering Passive Mode (192,168,1,2,0,21)."},
	{name: "spaces around commas", in: "Entering Passive Mode ( 10 , 0, 0 ,1,195 ,  80 )", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "other numbers before", in: "Mode 2 of 3, ok (192,168,1,2,0,21).", want: mustAP("192.168.1.2:21"), out: "Entering Passive Mode (192,168,1,2,0,21)."},
	{name: "seven numbers skipped", in: "1,2,3,4,5,6,7 then (10,0,0,1,0,21)", want: mustAP("10.0.0.1:21"), out: "Entering Passive Mode (10,0,0,1,0,21)."},
	{name: "leading zeros", in: "(010,000,000,001,000,021)", want: mustAP("10.0.0.1:21"), out: "Entering Passive Mode (10,0,0,1,0,21)."},
	{name: "extremes", in: "(255,255,255,255,255,255)", want: mustAP("255.255.255.255:65535"), out: "Entering Passive Mode (255,255,255,255,255,255)."},
	{name: "non-ascii text around", in: "Entr\xe9e en mode passif \xff(10,0,0,1,195,80)\xff", want: mustAP("10.0.0.1:50000"), out: "Entering Passive Mode (10,0,0,1,195,80)."},
	{name: "256", in: "Entering Passive Mode (10,0,0,256,195,80).", err: `"256"`},
	{name: "minus one", in: "Entering Passive Mode (10,0,0,1,-1,80).", err: `"-1"`},
	{name: "minus one first", in: "(-1,0,0,1,195,80)", err: `"-1"`},
	{name: "99999", in: "Entering Passive Mode (10,0,0,1,99999,80).", err: `"99999"`},
	{name: "huge number", in: "(10,0,0,1,195,123456789012345678901234567890)", err: "not 0-255"},
	{name: "too few numbers", in: "Entering Passive Mode (10,0,0,1,195).", err: "no h1"},
	{name: "no numbers", in: "Entering Passive Mode", err: "no h1"},
	{name: "empty", in: "", err: "no h1"},
	{name: "dots instead of commas", in: "Entering Passive Mode (10.0.0.1.195.80)", err: "no h1"},
}

var portCases = []addrCase{
	{name: "plain", in: "10,0,0,1,195,80", want: mustAP("10.0.0.1:50000"), out: "10,0,0,1,195,80"},
	{name: "loopback", in: "127,0,0,1,4,1", want: mustAP("127.0.0.1:1025"), out: "127,0,0,1,4,1"},
	{name: "leading zeros", in: "010,0,0,001,0,21", want: mustAP("10.0.0.1:21"), out: "10,0,0,1,0,21"},
	{name: "port zero kept", in: "10,0,0,1,0,0", want: mustAP("10.0.0.1:0"), out: "10,0,0,1,0,0"},
	{name: "extremes", in: "255,255,255,255,255,255", want: mustAP("255.255.255.255:65535"), out: "255,255,255,255,255,255"},
	{name: "256", in: "10,0,0,256,195,80", err: `"256"`},
	{name: "minus one", in: "10,0,0,1,-1,80", err: `"-1"`},
	{name: "99999", in: "10,0,0,1,195,99999", err: `"99999"`},
	{name: "too few numbers", in: "10,0,0,1,195", err: "got 5"},
	{name: "too many numbers", in: "10,0,0,1,195,80,1", err: "got 7"},
	{name: "trailing comma", in: "10,0,0,1,195,80,", err: "got 7"},
	{name: "spaces are not strict", in: "10, 0,0,1,195,80", err: "number 2"},
	{name: "parentheses", in: "(10,0,0,1,195,80)", err: "number 1"},
	{name: "empty number", in: "10,,0,1,195,80", err: "number 2"},
	{name: "plus sign", in: "10,0,0,1,+195,80", err: "number 5"},
	{name: "empty", in: "", err: "got 1"},
}

var eprtCases = []addrCase{
	{name: "rfc 2428 ipv4", in: "|1|132.235.1.2|6275|", want: mustAP("132.235.1.2:6275"), out: "|1|132.235.1.2|6275|"},
	{name: "rfc 2428 ipv6", in: "|2|1080::8:800:200C:417A|5282|", want: mustAP("[1080::8:800:200c:417a]:5282"), out: "|2|1080::8:800:200c:417a|5282|"},
	{name: "ipv6 loopback", in: "|2|::1|5282|", want: mustAP("[::1]:5282"), out: "|2|::1|5282|"},
	{name: "other delimiter", in: "!1!10.0.0.1!2121!", want: mustAP("10.0.0.1:2121"), out: "|1|10.0.0.1|2121|"},
	{name: "ipv4-mapped stays family 2", in: "|2|::ffff:10.0.0.1|2121|", want: mustAP("[::ffff:10.0.0.1]:2121"), out: "|2|::ffff:10.0.0.1|2121|"},
	{name: "port 65535", in: "|1|10.0.0.1|65535|", want: mustAP("10.0.0.1:65535"), out: "|1|10.0.0.1|65535|"},
	{name: "bad family", in: "|3|10.0.0.1|2121|", err: "family not 1 or 2"},
	{name: "family 1 with ipv6", in: "|1|::1|2121|", err: "family 1"},
	{name: "family 2 with ipv4", in: "|2|10.0.0.1|2121|", err: "family 2"},
	{name: "family 1 with mapped", in: "|1|::ffff:10.0.0.1|2121|", err: "family 1"},
	{name: "port zero", in: "|1|10.0.0.1|0|", err: "not 1-65535"},
	{name: "port 65536", in: "|1|10.0.0.1|65536|", err: "not 1-65535"},
	{name: "port 99999", in: "|1|10.0.0.1|99999|", err: `"99999"`},
	{name: "port minus one", in: "|1|10.0.0.1|-1|", err: `"-1"`},
	{name: "octet 256", in: "|1|10.0.0.256|2121|", err: "bad address"},
	{name: "zone", in: "|2|fe80::1%eth0|2121|", err: "bad address"},
	{name: "hostname", in: "|1|localhost|2121|", err: "bad address"},
	{name: "missing last delimiter", in: "|1|10.0.0.1|2121", err: "want <d>"},
	{name: "extra field", in: "|1|10.0.0.1|2121|x|", err: "want <d>"},
	{name: "mixed delimiters", in: "|1!10.0.0.1|2121|", err: "want <d>"},
	{name: "space delimiter", in: " 1 10.0.0.1 2121 ", err: "delimiter"},
	{name: "too short", in: "|", err: "too short"},
	{name: "empty", in: "", err: "too short"},
}

// checkAddrCases runs a table through parse, format and the round trip.
func checkAddrCases(t *testing.T, cases []addrCase, parse func(string) (netip.AddrPort, error), format func(netip.AddrPort) (string, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parse(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			out, err := format(tc.want)
			if err != nil || out != tc.out {
				t.Fatalf("format(%v) = %q, %v; want %q", tc.want, out, err, tc.out)
			}
			back, err := parse(out)
			if err != nil || back != tc.want {
				t.Fatalf("parse(format(%v)) = %v, %v", tc.want, back, err)
			}
		})
	}
}

func TestParsePASV(t *testing.T) { checkAddrCases(t, pasvCases, ParsePASV, FormatPASV) }

func TestParsePORT(t *testing.T) { checkAddrCases(t, portCases, ParsePORT, FormatPORT) }

func TestParseEPRT(t *testing.T) {
	checkAddrCases(t, eprtCases, ParseEPRT, func(a netip.AddrPort) (string, error) { return FormatEPRT(a), nil })
}

func TestFormatSixErrors(t *testing.T) {
	cases := []struct {
		name string
		in   netip.AddrPort
		want string // "" for an error
	}{
		{name: "ipv4-mapped unmapped", in: mustAP("[::ffff:10.0.0.1]:21"), want: "10,0,0,1,0,21"},
		{name: "ipv6", in: mustAP("[2001:db8::1]:21")},
		{name: "ipv6 loopback", in: mustAP("[::1]:21")},
		{name: "zero value", in: netip.AddrPort{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port, perr := FormatPORT(tc.in)
			pasv, verr := FormatPASV(tc.in)
			if tc.want == "" {
				if perr == nil || verr == nil {
					t.Fatalf("FormatPORT/FormatPASV(%v) = %q, %v / %q, %v; want errors", tc.in, port, perr, pasv, verr)
				}
				return
			}
			if perr != nil || port != tc.want {
				t.Errorf("FormatPORT(%v) = %q, %v; want %q", tc.in, port, perr, tc.want)
			}
			if wantPASV := "Entering Passive Mode (" + tc.want + ")."; verr != nil || pasv != wantPASV {
				t.Errorf("FormatPASV(%v) = %q, %v; want %q", tc.in, pasv, verr, wantPASV)
			}
		})
	}
}

func TestFormatEPRTZone(t *testing.T) {
	in := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 2121)
	if got, want := FormatEPRT(in), "|2|fe80::1|2121|"; got != want {
		t.Fatalf("FormatEPRT(%v) = %q; want %q", in, got, want)
	}
}

// epsvCase is one row of the EPSV table: in parses to want (or fails with
// an error containing err); out is FormatEPSV(want).
type epsvCase struct {
	name string
	in   string
	want uint16
	out  string
	err  string
}

var epsvCases = []epsvCase{
	{name: "vsftpd/proftpd", in: "Entering Extended Passive Mode (|||50000|)", want: 50000, out: "Entering Extended Passive Mode (|||50000|)"},
	{name: "vsftpd/proftpd trailing dot", in: "Entering Extended Passive Mode (|||50000|).", want: 50000, out: "Entering Extended Passive Mode (|||50000|)"},
	{name: "pure-ftpd", in: "Extended Passive mode OK (|||50000|)", want: 50000, out: "Entering Extended Passive Mode (|||50000|)"},
	{name: "other delimiter", in: "Entering Extended Passive Mode (!!!6446!)", want: 6446, out: "Entering Extended Passive Mode (|||6446|)"},
	{name: "digit delimiter", in: "(111801)", want: 80, out: "Entering Extended Passive Mode (|||80|)"},
	{name: "paren delimiter", in: "ok ()))1234))", want: 1234, out: "Entering Extended Passive Mode (|||1234|)"},
	{name: "second parenthesis", in: "Mode (really) (|||21|)", want: 21, out: "Entering Extended Passive Mode (|||21|)"},
	{name: "bare", in: "(|||1|)", want: 1, out: "Entering Extended Passive Mode (|||1|)"},
	{name: "max", in: "(|||65535|)", want: 65535, out: "Entering Extended Passive Mode (|||65535|)"},
	{name: "leading zeros", in: "(|||00021|)", want: 21, out: "Entering Extended Passive Mode (|||21|)"},
	{name: "port zero", in: "Entering Extended Passive Mode (|||0|)", err: "not 1-65535"},
	{name: "65536", in: "Entering Extended Passive Mode (|||65536|)", err: "not 1-65535"},
	{name: "99999", in: "Entering Extended Passive Mode (|||99999|)", err: `"99999"`},
	{name: "minus one", in: "Entering Extended Passive Mode (|||-1|)", err: "no (|||port|)"},
	{name: "no port", in: "Entering Extended Passive Mode (||||)", err: "no (|||port|)"},
	{name: "no closing paren", in: "Entering Extended Passive Mode (|||50000|", err: "no (|||port|)"},
	{name: "mixed delimiters", in: "(|!|50000|)", err: "no (|||port|)"},
	{name: "closing delimiter differs", in: "(|||50000!)", err: "no (|||port|)"},
	{name: "address given", in: "(|1|10.0.0.1|50000|)", err: "no (|||port|)"},
	{name: "space delimiter", in: "(   50000 )", err: "no (|||port|)"},
	{name: "pasv text", in: "Entering Passive Mode (10,0,0,1,195,80)", err: "no (|||port|)"},
	{name: "empty", in: "", err: "no (|||port|)"},
}

func TestParseEPSV(t *testing.T) {
	for _, tc := range epsvCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEPSV(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseEPSV(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseEPSV(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
			if out := FormatEPSV(tc.want); out != tc.out {
				t.Fatalf("FormatEPSV(%d) = %q; want %q", tc.want, out, tc.out)
			}
			if back, err := ParseEPSV(tc.out); err != nil || back != tc.want {
				t.Fatalf("ParseEPSV(FormatEPSV(%d)) = %d, %v", tc.want, back, err)
			}
		})
	}
}

// fuzzAddrRoundTrip checks that a successful parse formats and parses back
// to the same value.
func fuzzAddrRoundTrip(t *testing.T, in string, parse func(string) (netip.AddrPort, error), format func(netip.AddrPort) (string, error)) {
	got, err := parse(in)
	if err != nil {
		return
	}
	out, err := format(got)
	if err != nil {
		t.Fatalf("parse(%q) = %v, which does not format: %v", in, got, err)
	}
	back, err := parse(out)
	if err != nil || back != got {
		t.Fatalf("parse(%q) = %v; format gives %q; parsing that gives %v, %v", in, got, out, back, err)
	}
}

func FuzzParsePASV(f *testing.F) {
	for _, tc := range pasvCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) { fuzzAddrRoundTrip(t, in, ParsePASV, FormatPASV) })
}

func FuzzParsePORT(f *testing.F) {
	for _, tc := range portCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) { fuzzAddrRoundTrip(t, in, ParsePORT, FormatPORT) })
}

func FuzzParseEPRT(f *testing.F) {
	for _, tc := range eprtCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fuzzAddrRoundTrip(t, in, ParseEPRT, func(a netip.AddrPort) (string, error) { return FormatEPRT(a), nil })
	})
}

func FuzzParseEPSV(f *testing.F) {
	for _, tc := range epsvCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		port, err := ParseEPSV(in)
		if err != nil {
			return
		}
		if port == 0 {
			t.Fatalf("ParseEPSV(%q) = port 0 without an error", in)
		}
		if back, err := ParseEPSV(FormatEPSV(port)); err != nil || back != port {
			t.Fatalf("ParseEPSV(%q) = %d; round trip gives %d, %v", in, port, back, err)
		}
	})
}

func BenchmarkParsePASV(b *testing.B) {
	for b.Loop() {
		if _, err := ParsePASV("Entering Passive Mode (10,0,0,1,195,80)."); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatPASV(b *testing.B) {
	a := mustAP("10.0.0.1:50000")
	for b.Loop() {
		if _, err := FormatPASV(a); err != nil {
			b.Fatal(err)
		}
	}
}
