package ftp

import (
	"strings"
	"testing"
)

// commandCases: in is a line as ReadLine returns it, want its Command, out
// its String (which parses back to want) and log its LogString.
var commandCases = []struct {
	name string
	in   string
	want Command
	out  string
	log  string
}{
	{name: "user", in: "USER anonymous", want: Command{"USER", "anonymous"}, out: "USER anonymous", log: "USER anonymous"},
	{name: "lower case verb", in: "user anonymous", want: Command{"USER", "anonymous"}, out: "USER anonymous", log: "USER anonymous"},
	{name: "mixed case verb, arg kept", in: "rEtR Some File.TXT", want: Command{"RETR", "Some File.TXT"}, out: "RETR Some File.TXT", log: "RETR Some File.TXT"},
	{name: "no arg", in: "NOOP", want: Command{"NOOP", ""}, out: "NOOP", log: "NOOP"},
	{name: "trailing space", in: "LIST ", want: Command{"LIST", ""}, out: "LIST", log: "LIST"},
	{name: "two spaces keep one in arg", in: "CWD  dir", want: Command{"CWD", " dir"}, out: "CWD  dir", log: "CWD  dir"},
	{name: "empty", in: "", want: Command{}, out: "", log: ""},
	{name: "leading space", in: " foo", want: Command{"", "foo"}, out: " foo", log: " foo"},
	{name: "pass masked", in: "PASS s3cret", want: Command{"PASS", "s3cret"}, out: "PASS s3cret", log: "PASS ****"},
	{name: "lower pass masked", in: "pass s3cret words", want: Command{"PASS", "s3cret words"}, out: "PASS s3cret words", log: "PASS ****"},
	{name: "empty pass", in: "PASS", want: Command{"PASS", ""}, out: "PASS", log: "PASS"},
	{name: "acct masked", in: "ACCT money", want: Command{"ACCT", "money"}, out: "ACCT money", log: "ACCT ****"},
	{name: "passive not masked", in: "PASV", want: Command{"PASV", ""}, out: "PASV", log: "PASV"},
	{name: "latin-1 e9 arg verbatim", in: "RETR caf\xe9", want: Command{"RETR", "caf\xe9"}, out: "RETR caf\xe9", log: "RETR caf\xe9"},
	{name: "iac in arg verbatim", in: "STOR a\xff\xffb", want: Command{"STOR", "a\xff\xffb"}, out: "STOR a\xff\xffb", log: "STOR a\xff\xffb"},
	{name: "cr in arg verbatim", in: "STOR a\rb", want: Command{"STOR", "a\rb"}, out: "STOR a\rb", log: "STOR a\rb"},
	{name: "non-ascii verb bytes kept", in: "n\xe9op x", want: Command{"N\xe9OP", "x"}, out: "N\xe9OP x", log: "N\xe9OP x"},
	{name: "telnet ip dm before abor (lftp, oobinline)", in: "\xff\xf4\xff\xf2ABOR", want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "iac lost to urgent data", in: "\xff\xf4\xf2ABOR", want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "dm lost to urgent data", in: "\xff\xf4\xffabor", want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "lone dm", in: "\xf2ABOR", want: Command{"ABOR", ""}, out: "ABOR", log: "ABOR"},
	{name: "telnet bytes only", in: "\xff\xf4\xff\xf2", want: Command{}, out: "", log: ""},
	{name: "telnet bytes inside verb kept", in: "AB\xff\xf4OR", want: Command{"AB\xff\xf4OR", ""}, out: "AB\xff\xf4OR", log: "AB\xff\xf4OR"},
	{name: "telnet before space", in: "\xff\xf4 x", want: Command{"", "x"}, out: " x", log: " x"},
}

func TestParseCommand(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseCommand([]byte(tc.in))
			if got != tc.want {
				t.Fatalf("ParseCommand(%q) = %q; want %q", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.out {
				t.Errorf("String() = %q; want %q", s, tc.out)
			}
			if l := got.LogString(); l != tc.log {
				t.Errorf("LogString() = %q; want %q", l, tc.log)
			}
			if back := ParseCommand([]byte(tc.out)); back != tc.want {
				t.Errorf("ParseCommand(%q) = %q; want %q", tc.out, back, tc.want)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := ParseCommand(in)
		if strings.ContainsRune(c.Verb, ' ') {
			t.Fatalf("ParseCommand(%q): verb %q has a space", in, c.Verb)
		}
		if strings.ContainsAny(c.Verb, "abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("ParseCommand(%q): verb %q not upper-cased", in, c.Verb)
		}
		if c.Verb != "" && strings.IndexByte("\xff\xf4\xf2", c.Verb[0]) >= 0 {
			t.Fatalf("ParseCommand(%q): verb %q starts with a Telnet byte", in, c.Verb)
		}
		if len(c.Verb)+len(c.Arg) > len(in) {
			t.Fatalf("ParseCommand(%q) = %q: longer than its input", in, c)
		}
		if back := ParseCommand([]byte(c.String())); back != c {
			t.Fatalf("ParseCommand(%q) = %q; String %q parses to %q", in, c, c.String(), back)
		}
		if c.Verb == "PASS" && c.Arg != "" && c.LogString() != "PASS ****" {
			t.Fatalf("LogString of %q = %q; the password shows", in, c.LogString())
		}
	})
}

func BenchmarkParseCommand(b *testing.B) {
	line := []byte("RETR some/path/to/a/file.bin")
	for b.Loop() {
		if c := ParseCommand(line); c.Verb != "RETR" {
			b.Fatal(c)
		}
	}
}
