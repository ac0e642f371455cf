package ftp

import (
	"errors"
	"strings"
	"testing"
)

// ok marks a commandCase that parses.
const ok Refusal = -1

// commandCases: in is a line as ReadLine returns it; err the refusal, or
// ok with want its Command, out its String (which parses back to want)
// and log its LogString.
var commandCases = []struct {
	name string
	in   string
	err  Refusal
	want Command
	out  string
	log  string
}{
	{name: "user", in: "USER anonymous", err: ok, want: Command{"USER", "anonymous"}, out: "USER anonymous", log: "USER anonymous"},
	{name: "lower case verb", in: "user anonymous", err: ok, want: Command{"USER", "anonymous"}, out: "USER anonymous", log: "USER anonymous"},
	{name: "mixed case verb, arg kept", in: "rEtR Some File.TXT", err: ok, want: Command{"RETR", "Some File.TXT"}, out: "RETR Some File.TXT", log: "RETR Some File.TXT"},
	{name: "no arg", in: "NOOP", err: ok, want: Command{"NOOP", ""}, out: "NOOP", log: "NOOP"},
	{name: "trailing space", in: "LIST ", err: ok, want: Command{"LIST", ""}, out: "LIST", log: "LIST"},
	{name: "trailing space in arg kept", in: "CWD dir ", err: ok, want: Command{"CWD", "dir "}, out: "CWD dir ", log: "CWD dir "},
	{name: "two spaces keep one in arg", in: "CWD  dir", err: ok, want: Command{"CWD", " dir"}, out: "CWD  dir", log: "CWD  dir"},
	{name: "empty", in: "", err: ok, want: Command{}, out: "", log: ""},
	{name: "pass masked", in: "PASS s3cret", err: ok, want: Command{"PASS", "s3cret"}, out: "PASS s3cret", log: "PASS ****"},
	{name: "lower pass masked", in: "pass s3cret words", err: ok, want: Command{"PASS", "s3cret words"}, out: "PASS s3cret words", log: "PASS ****"},
	{name: "empty pass", in: "PASS", err: ok, want: Command{"PASS", ""}, out: "PASS", log: "PASS"},
	{name: "acct masked", in: "ACCT money", err: ok, want: Command{"ACCT", "money"}, out: "ACCT money", log: "ACCT ****"},
	{name: "passive not masked", in: "PASV", err: ok, want: Command{"PASV", ""}, out: "PASV", log: "PASV"},
	{name: "latin-1 e9 arg verbatim", in: "RETR caf\xe9", err: ok, want: Command{"RETR", "caf\xe9"}, out: "RETR caf\xe9", log: "RETR caf\xe9"},
	{name: "utf-8 and 0xfe arg verbatim", in: "STOR \xe2\x82\xac\xfe\xf4\xf2", err: ok, want: Command{"STOR", "\xe2\x82\xac\xfe\xf4\xf2"}, out: "STOR \xe2\x82\xac\xfe\xf4\xf2", log: "STOR \xe2\x82\xac\xfe\xf4\xf2"},
	{name: "digits in verb", in: "xsha256 f", err: ok, want: Command{"XSHA256", "f"}, out: "XSHA256 f", log: "XSHA256 f"},
	{name: "telnet ip dm before abor (lftp, oobinline)", in: "\xff\xf4\xff\xf2ABOR", err: ok, want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "iac lost to urgent data", in: "\xff\xf4\xf2ABOR", err: ok, want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "dm lost to urgent data", in: "\xff\xf4\xffabor", err: ok, want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "lone dm", in: "\xf2ABOR", err: ok, want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},

	// Telnet bytes anywhere else: proftpd drops them, others do not.
	{name: "telnet bytes only", in: "\xff\xf4\xff\xf2", err: RefusedTelnet},
	{name: "telnet ip inside verb", in: "U\xff\xf4SER x", err: RefusedTelnet},
	{name: "telnet bytes inside abor", in: "AB\xff\xf4OR", err: RefusedTelnet},
	{name: "telnet prefix before user", in: "\xff\xf4\xff\xf2USER x", err: RefusedTelnet},
	{name: "telnet prefix before space", in: "\xff\xf4 x", err: RefusedTelnet},
	{name: "telnet after verb", in: "USER\xff\xf4 x", err: RefusedTelnet},
	{name: "telnet will in arg", in: "USER x\xff\xfb\x01", err: RefusedTelnet},
	{name: "iac iac in arg", in: "STOR a\xff\xffb", err: RefusedTelnet},
	{name: "telnet prefix before abor arg-less lone f4 before user", in: "\xf4USER x", err: RefusedTelnet},

	// Control bytes: proftpd ends the verb at TAB and VT and drops others.
	{name: "tab separator", in: "USER\tx", err: RefusedControl},
	{name: "vt separator", in: "USER\vx", err: RefusedControl},
	{name: "ff separator", in: "USER\fx", err: RefusedControl},
	{name: "lone cr separator", in: "USER\rx", err: RefusedControl},
	{name: "cr in arg", in: "STOR a\rb", err: RefusedControl},
	{name: "lf in arg", in: "STOR a\nb", err: RefusedControl},
	{name: "del in verb", in: "US\x7fER x", err: RefusedControl},
	{name: "soh in verb", in: "US\x01ER x", err: RefusedControl},
	{name: "esc in arg", in: "CWD \x1b[2J", err: RefusedControl},
	{name: "tab after space", in: "USER \tx", err: RefusedControl},
	{name: "leading tab", in: "\tUSER x", err: RefusedControl},
	{name: "trailing tab", in: "CWD dir\t", err: RefusedControl},

	// Syntax: no verb where every ftpd sees the same one.
	{name: "leading space", in: " USER x", err: RefusedSyntax},
	{name: "space only", in: " ", err: RefusedSyntax},
	{name: "p@sw (pasv in vsftpd and pure-ftpd)", in: "P@SW", err: RefusedSyntax},
	{name: "nbsp separator", in: "USER\xa0x", err: RefusedSyntax},
	{name: "non-ascii verb", in: "n\xe9op x", err: RefusedSyntax},
	{name: "digit first", in: "1USER x", err: RefusedSyntax},
	{name: "overlong verb", in: "USERUSERUSER x", err: RefusedSyntax},
	{name: "arg of spaces (proftpd reads none)", in: "CWD  ", err: RefusedSyntax},

	// Unknown verbs: ftpserverlib reads XQUIT as QUIT.
	{name: "unknown verb", in: "XQUIT", err: RefusedUnknown},
	{name: "verb glued to arg", in: "USERx", err: RefusedUnknown},
	{name: "verb and a letter", in: "USERX x", err: RefusedUnknown},
	{name: "pass glued to secret", in: "PASSs3cret", err: RefusedSyntax},
	{name: "pass glued to short secret", in: "PASSs3c", err: RefusedUnknown},
}

func TestParseCommand(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCommand([]byte(tc.in))
			if tc.err != ok {
				var le *LineError
				if !errors.As(err, &le) || le.Reason != tc.err {
					t.Fatalf("ParseCommand(%q) = %q, %v; want refusal %s", tc.in, got, err, tc.err)
				}
				if got != (Command{}) {
					t.Errorf("refused line gave Command %q", got)
				}
				if strings.Contains(le.Head, "s3c") || strings.Contains(le.Error(), "s3c") {
					t.Errorf("refusal of %q shows the secret: %q, %v", tc.in, le.Head, le)
				}
				if r := le.Reply(); r.Code != 500 {
					t.Errorf("refusal reply %d, want 500", r.Code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if s := got.String(); s != tc.out {
				t.Errorf("String() = %q; want %q", s, tc.out)
			}
			if l := got.LogString(); l != tc.log {
				t.Errorf("LogString() = %q; want %q", l, tc.log)
			}
			if back, err := ParseCommand([]byte(tc.out)); err != nil || back != tc.want {
				t.Errorf("ParseCommand(%q) = %q, %v; want %q", tc.out, back, err, tc.want)
			}
		})
	}
}

// TestParseCommandSeparators tries every byte but the letters and digits
// between a known verb and its argument: only a space is a separator, and
// only 0x80-0xFE make a (refused, unknown) verb rather than a refusal for
// an ambiguous byte.
func TestParseCommandSeparators(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		if isLetter(c) || '0' <= c && c <= '9' {
			continue
		}
		line := []byte("USER" + string([]byte{c}) + "x")
		got, err := ParseCommand(line)
		var le *LineError
		switch {
		case c == ' ':
			if err != nil || got != (Command{"USER", "x"}) {
				t.Errorf("%q: %q, %v", line, got, err)
			}
		case !errors.As(err, &le):
			t.Errorf("%q: %q, %v; want a refusal", line, got, err)
		case c == 0xFF && le.Reason != RefusedTelnet,
			(c < 0x20 || c == 0x7F) && le.Reason != RefusedControl,
			c >= 0x20 && c != 0x7F && c != 0xFF && le.Reason != RefusedSyntax:
			t.Errorf("%q: refused for %s", line, le.Reason)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCommand(in)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || c != (Command{}) {
				t.Fatalf("ParseCommand(%q) = %q, %v", in, c, err)
			}
			if len(le.Head) > maxVerb || (len(le.Head) > 4 && strings.EqualFold(le.Head[:4], "PASS")) {
				t.Fatalf("ParseCommand(%q): log head %q", in, le.Head)
			}
			return
		}
		if c.Verb != "" && !knownVerbs[c.Verb] {
			t.Fatalf("ParseCommand(%q): unknown verb %q accepted", in, c.Verb)
		}
		for _, b := range []byte(c.String()) {
			if b < 0x20 || b == 0x7F || b == 0xFF {
				t.Fatalf("ParseCommand(%q) = %q: control or Telnet byte accepted", in, c)
			}
		}
		if c.Arg != "" && strings.Trim(c.Arg, " ") == "" {
			t.Fatalf("ParseCommand(%q) = %q: argument of spaces", in, c)
		}
		if len(c.Verb)+len(c.Arg) > len(in) {
			t.Fatalf("ParseCommand(%q) = %q: longer than its input", in, c)
		}
		if back, err := ParseCommand([]byte(c.String())); err != nil || back != c {
			t.Fatalf("ParseCommand(%q) = %q; String %q parses to %q, %v", in, c, c.String(), back, err)
		}
		if c.Verb == "PASS" && c.Arg != "" && c.LogString() != "PASS ****" {
			t.Fatalf("LogString of %q = %q; the password shows", in, c.LogString())
		}
	})
}

func BenchmarkParseCommand(b *testing.B) {
	line := []byte("RETR some/path/to/a/file.bin")
	for b.Loop() {
		if c, err := ParseCommand(line); err != nil || c.Verb != "RETR" {
			b.Fatal(c, err)
		}
	}
}
