package ftpc

import (
	"bufio"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestReadReply reads single- and multi-line replies, and refuses broken
// ones.
func TestReadReply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Reply
		rest string // what must remain unread
		bad  bool
	}{
		{"single", "200 ok\r\nNEXT", Reply{200, []string{"200 ok"}}, "NEXT", false},
		{"code only", "226\r\n", Reply{226, []string{"226"}}, "", false},
		{"bare LF", "200 ok\n", Reply{200, []string{"200 ok"}}, "", false},
		{"multi", "211-Features\r\n EPSV\r\n211 End\r\n", Reply{211, []string{"211-Features", " EPSV", "211 End"}}, "", false},
		{"multi, other codes and dashes inside", "220-a\r\n230 not the end\r\n220-still\r\n220\r\n200 next\r\n",
			Reply{220, []string{"220-a", "230 not the end", "220-still", "220"}}, "200 next\r\n", false},
		{"pure-ftpd banner", "220---------- Welcome ----------\r\n220-You are user 1\r\n220 bye\r\n",
			Reply{220, []string{"220---------- Welcome ----------", "220-You are user 1", "220 bye"}}, "", false},
		{"non-UTF-8 and IAC kept", "550 \xff\xfe file\r\n", Reply{550, []string{"550 \xff\xfe file"}}, "", false},
		{"letters", "2x0 ok\r\n", Reply{}, "", true},
		{"short", "20\r\n", Reply{}, "", true},
		{"code 600", "600 x\r\n", Reply{}, "", true},
		{"code 099", "099 x\r\n", Reply{}, "", true},
		{"no separator", "200ok\r\n", Reply{}, "", true},
		{"cut", "200 ok", Reply{}, "", true},
		{"multi cut", "211-a\r\n b\r\n", Reply{}, "", true},
		{"empty", "", Reply{}, "", true},
		{"overlong", "200 " + strings.Repeat("x", maxLine) + "\r\n", Reply{}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), maxLine)
			got, err := readReply(r)
			if tc.bad {
				if err == nil {
					t.Fatalf("readReply(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("readReply(%q): %v", tc.in, err)
			}
			if got.Code != tc.want.Code || !slices.Equal(got.Lines, tc.want.Lines) {
				t.Errorf("readReply(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			var rest strings.Builder
			if _, err := r.WriteTo(&rest); err != nil {
				t.Fatal(err)
			}
			if rest.String() != tc.rest {
				t.Errorf("left %q unread, want %q", rest.String(), tc.rest)
			}
		})
	}
}

// TestParsePASV finds the address in 227 texts of every known wording.
func TestParsePASV(t *testing.T) {
	tests := []struct {
		name string
		in   Reply
		want string // "" for an error
	}{
		{"vsftpd", Reply{227, []string{"227 Entering Passive Mode (127,0,0,21,78,33)."}}, "127.0.0.21:20001"},
		{"no parentheses", Reply{227, []string{"227 Entering Passive Mode 10,1,2,3,0,21"}}, "10.1.2.3:21"},
		{"other wording", Reply{227, []string{"227 Passive mode on (192,168,0,1,255,255)"}}, "192.168.0.1:65535"},
		{"code only digits ignored", Reply{227, []string{"227 =1,2,3,4,5,6"}}, "1.2.3.4:1286"},
		{"multi-line", Reply{227, []string{"227-hello", "227 ok (9,8,7,6,0,1)"}}, "9.8.7.6:1"},
		{"number over 255", Reply{227, []string{"227 (127,0,0,256,1,1)"}}, ""},
		{"four digits", Reply{227, []string{"227 (1127,0,0,1,1,1)"}}, ""},
		{"five numbers", Reply{227, []string{"227 (127,0,0,1,1)"}}, ""},
		{"seventh digit glued", Reply{227, []string{"227 (127,0,0,1,1,1234)"}}, ""},
		{"spaces", Reply{227, []string{"227 (127, 0, 0, 1, 1, 1)"}}, ""},
		{"nothing", Reply{227, []string{"227 Passive"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePASV(tc.in.text())
			if tc.want == "" {
				if err == nil || !errors.Is(err, errBadAddr) {
					t.Fatalf("parsePASV(%q) = %v, %v; want errBadAddr", tc.in, got, err)
				}
				return
			}
			if err != nil || got != netip.MustParseAddrPort(tc.want) {
				t.Errorf("parsePASV(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestParseEPSV finds the port in 229 texts.
func TestParseEPSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint16 // 0 for an error
	}{
		{"vsftpd", "229 Entering Extended Passive Mode (|||20001|)", 20001},
		{"pure-ftpd", "229 Extended Passive mode OK (|||65535|)", 65535},
		{"other delimiter", "229 ok (!!!1!)", 1},
		{"after another parenthesis", "229 (see) ok (|||21|)", 21},
		{"port 0", "229 (|||0|)", 0},
		{"port too big", "229 (|||65536|)", 0},
		{"mixed delimiters", "229 (||!21|)", 0},
		{"no port", "229 (||||)", 0},
		{"address given", "229 (|1|127.0.0.1|21|)", 0},
		{"no closing", "229 (|||21|", 0},
		{"digit delimiter", "229 (11121)", 0},
		{"nothing", "229 EPSV", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEPSV(Reply{229, []string{tc.in}}.text())
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("parseEPSV(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseEPSV(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestFormatActive formats PORT and EPRT, and the PASV parser reads the
// PORT numbers back.
func TestFormatActive(t *testing.T) {
	tests := []struct {
		in         string
		port, eprt string // "" for an error
	}{
		{"127.0.0.1:20000", "PORT 127,0,0,1,78,32", "EPRT |1|127.0.0.1|20000|"},
		{"10.0.0.255:1", "PORT 10,0,0,255,0,1", "EPRT |1|10.0.0.255|1|"},
		{"[::ffff:1.2.3.4]:65535", "PORT 1,2,3,4,255,255", "EPRT |1|1.2.3.4|65535|"},
		{"[::1]:21", "", "EPRT |2|::1|21|"},
		{"[fe80::1%lo]:21", "", "EPRT |2|fe80::1|21|"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tc.in)
			port, err := formatPORT(ap)
			if (err != nil) != (tc.port == "") || port != tc.port {
				t.Errorf("formatPORT(%v) = %q, %v; want %q", ap, port, err, tc.port)
			}
			if tc.port != "" {
				back, err := parsePASV(strings.TrimPrefix(port, "PORT "))
				if err != nil || back != netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) {
					t.Errorf("round trip of %q = %v, %v", port, back, err)
				}
			}
			eprt, err := formatEPRT(ap)
			if (err != nil) != (tc.eprt == "") || eprt != tc.eprt {
				t.Errorf("formatEPRT(%v) = %q, %v; want %q", ap, eprt, err, tc.eprt)
			}
		})
	}
}

// FuzzReadReply checks that a reply read from any bytes is well formed:
// its code heads the first line and, for a multi-line reply, the last.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"200 ok\r\n", "211-a\r\n b\r\n211 c\r\n", "220---\r\n220\r\n", "2\r\n", "550-\xff\n550 x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := readReply(bufio.NewReaderSize(strings.NewReader(in), maxLine))
		if err != nil {
			return
		}
		if len(rep.Lines) == 0 || rep.Code < 100 || rep.Code > 599 {
			t.Fatalf("readReply(%q) = %+v", in, rep)
		}
		code := rep.Lines[0][:3]
		last := rep.Lines[len(rep.Lines)-1]
		if len(rep.Lines) > 1 && last != code && !strings.HasPrefix(last, code+" ") {
			t.Fatalf("readReply(%q): multi-line reply ends with %q", in, last)
		}
		for _, l := range rep.Lines {
			if strings.ContainsRune(l, '\n') {
				t.Fatalf("readReply(%q): line %q holds LF", in, l)
			}
		}
	})
}
