package ftp

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// pureBanner is pure-ftpd 1.0.50's five-line greeting.
const pureBanner = "220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n" +
	"220-You are user number 1 of 50 allowed.\r\n" +
	"220-Local time is now 15:04. Server port: 21.\r\n" +
	"220-This is a private system - No anonymous login\r\n" +
	"220 You will be disconnected after 15 minutes of inactivity.\r\n"

// replyCases: in is read with maxLines to want (or an error matching err),
// out is want.AppendWire (which reads back to want), rest what is left in
// the stream after the reply.
var replyCases = []struct {
	name     string
	in       string
	maxLines int
	want     Reply
	out      string
	rest     string
	err      error
}{
	{name: "vsftpd 227", in: "227 Entering Passive Mode (10,0,0,1,195,80).\r\n", maxLines: 10,
		want: Reply{227, []string{"227 Entering Passive Mode (10,0,0,1,195,80)."}},
		out:  "227 Entering Passive Mode (10,0,0,1,195,80).\r\n"},
	{name: "pure-ftpd 229", in: "229 Extended Passive mode OK (|||50000|)\r\n", maxLines: 10,
		want: Reply{229, []string{"229 Extended Passive mode OK (|||50000|)"}},
		out:  "229 Extended Passive mode OK (|||50000|)\r\n"},
	{name: "pure-ftpd banner", in: pureBanner, maxLines: 10,
		want: Reply{220, strings.Split(strings.TrimSuffix(pureBanner, "\r\n"), "\r\n")},
		out:  pureBanner},
	{name: "pure-ftpd banner at exactly max lines", in: pureBanner + "USER", maxLines: 5,
		want: Reply{220, strings.Split(strings.TrimSuffix(pureBanner, "\r\n"), "\r\n")},
		out:  pureBanner, rest: "USER"},
	{name: "pure-ftpd 226", in: "226-File successfully transferred\r\n226 0.000 seconds (measured here), 1.23 Mbytes per second\r\n", maxLines: 10,
		want: Reply{226, []string{"226-File successfully transferred", "226 0.000 seconds (measured here), 1.23 Mbytes per second"}},
		out:  "226-File successfully transferred\r\n226 0.000 seconds (measured here), 1.23 Mbytes per second\r\n"},
	{name: "rfc 959 example with inner code", in: "123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n234 starts with another code\r\n123 The last line\r\n", maxLines: 10,
		want: Reply{123, []string{"123-First line", "Second line", "  234 A line beginning with numbers", "234 starts with another code", "123 The last line"}},
		out:  "123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n234 starts with another code\r\n123 The last line\r\n"},
	{name: "inner ddd- of same code", in: "211-Status\r\n211-still going\r\n211x not the end\r\n2110 nor this\r\n211 End\r\n", maxLines: 10,
		want: Reply{211, []string{"211-Status", "211-still going", "211x not the end", "2110 nor this", "211 End"}},
		out:  "211-Status\r\n211-still going\r\n211x not the end\r\n2110 nor this\r\n211 End\r\n"},
	{name: "feat", in: "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n211 End\r\n", maxLines: 10,
		want: Reply{211, []string{"211-Features:", " EPRT", " EPSV", " MDTM", "211 End"}},
		out:  "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n211 End\r\n"},
	{name: "multi-line ended by bare code", in: "211-x\r\n211\r\n", maxLines: 10,
		want: Reply{211, []string{"211-x", "211"}}, out: "211-x\r\n211\r\n"},
	{name: "bare code", in: "200\r\n", maxLines: 10,
		want: Reply{200, []string{"200"}}, out: "200\r\n"},
	{name: "preliminary then final", in: "150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n", maxLines: 10,
		want: Reply{150, []string{"150 Opening BINARY mode data connection."}},
		out:  "150 Opening BINARY mode data connection.\r\n", rest: "226 Transfer complete.\r\n"},
	{name: "bare lf endings", in: "220-a\n220 b\n", maxLines: 10,
		want: Reply{220, []string{"220-a", "220 b"}}, out: "220-a\r\n220 b\r\n"},
	{name: "cr without lf inside", in: "220 a\rb\r\n", maxLines: 10,
		want: Reply{220, []string{"220 a\rb"}}, out: "220 a\rb\r\n"},
	{name: "latin-1 and iac kept", in: "257 \"/caf\xe9\xff\xff\" created\r\n", maxLines: 10,
		want: Reply{257, []string{"257 \"/caf\xe9\xff\xff\" created"}}, out: "257 \"/caf\xe9\xff\xff\" created\r\n"},
	{name: "code 100", in: "100 x\r\n", maxLines: 1, want: Reply{100, []string{"100 x"}}, out: "100 x\r\n"},
	{name: "code 599", in: "599 x\r\n", maxLines: 1, want: Reply{599, []string{"599 x"}}, out: "599 x\r\n"},
	{name: "max lines zero means one", in: "220 hi\r\n", maxLines: 0, want: Reply{220, []string{"220 hi"}}, out: "220 hi\r\n"},
	{name: "too many lines", in: pureBanner, maxLines: 4, err: ErrBadReply},
	{name: "endless", in: strings.Repeat("220-more\r\n", 1000), maxLines: 100, err: ErrBadReply},
	{name: "no code", in: "hello\r\n", maxLines: 10, err: ErrBadReply},
	{name: "short code", in: "22 x\r\n", maxLines: 10, err: ErrBadReply},
	{name: "code 099", in: "099 x\r\n", maxLines: 10, err: ErrBadReply},
	{name: "code 600", in: "600 x\r\n", maxLines: 10, err: ErrBadReply},
	{name: "code then letter", in: "220x\r\n", maxLines: 10, err: ErrBadReply},
	{name: "four digits", in: "2200 x\r\n", maxLines: 10, err: ErrBadReply},
	{name: "empty line", in: "\r\n", maxLines: 10, err: ErrBadReply},
	{name: "nothing", in: "", maxLines: 10, err: io.EOF},
	{name: "partial first line", in: "220 hi", maxLines: 10, err: io.ErrUnexpectedEOF},
	{name: "eof inside multi-line", in: "220-hi\r\n", maxLines: 10, err: io.ErrUnexpectedEOF},
	{name: "eof inside last line", in: "220-hi\r\n220 ok", maxLines: 10, err: io.ErrUnexpectedEOF},
	{name: "other code does not end", in: "220-hi\r\n221 bye\r\n", maxLines: 10, err: io.ErrUnexpectedEOF},
	{name: "nul", in: "220 h\x00i\r\n", maxLines: 10, err: ErrNUL},
	{name: "nul inside multi-line", in: "220-hi\r\nx\x00\r\n220 ok\r\n", maxLines: 10, err: ErrNUL},
	{name: "overlong line", in: "220-" + longLine + "\r\n220 ok\r\n", maxLines: 10, err: ErrLineTooLong},
}

func TestReadReply(t *testing.T) {
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 64)
			got, err := ReadReply(r, 512, tc.maxLines)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ReadReply = %+v, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil || got.Code != tc.want.Code || !slices.Equal(got.Lines, tc.want.Lines) {
				t.Fatalf("ReadReply = %+v, %v; want %+v", got, err, tc.want)
			}
			if rest, _ := io.ReadAll(r); string(rest) != tc.rest {
				t.Errorf("left %q in the stream; want %q", rest, tc.rest)
			}
			out := got.AppendWire(nil)
			if string(out) != tc.out {
				t.Fatalf("AppendWire = %q; want %q", out, tc.out)
			}
			back, err := ReadReply(bufio.NewReader(strings.NewReader(string(out))), 512, tc.maxLines)
			if err != nil || back.Code != got.Code || !slices.Equal(back.Lines, got.Lines) {
				t.Fatalf("ReadReply(AppendWire) = %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

func TestReplyAccessors(t *testing.T) {
	cases := []struct {
		name  string
		in    Reply
		final bool
		text  string
	}{
		{name: "227", in: Reply{227, []string{"227 Entering Passive Mode (10,0,0,1,195,80)."}}, final: true, text: "Entering Passive Mode (10,0,0,1,195,80)."},
		{name: "multi-line text is the last line", in: Reply{229, []string{"229-(|||1|)", "229 Extended Passive mode OK (|||2|)"}}, final: true, text: "Extended Passive mode OK (|||2|)"},
		{name: "150 is preliminary", in: Reply{150, []string{"150 Here comes the directory listing."}}, final: false, text: "Here comes the directory listing."},
		{name: "199 is preliminary", in: Reply{199, []string{"199 x"}}, final: false, text: "x"},
		{name: "200 is final", in: Reply{200, []string{"200 PORT command successful."}}, final: true, text: "PORT command successful."},
		{name: "bare code", in: Reply{200, []string{"200"}}, final: true, text: ""},
		{name: "code and space", in: Reply{200, []string{"200 "}}, final: true, text: ""},
		{name: "no lines", in: Reply{Code: 500}, final: true, text: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.Final(); got != tc.final {
				t.Errorf("Final() = %v; want %v", got, tc.final)
			}
			if got := tc.in.Text(); got != tc.text {
				t.Errorf("Text() = %q; want %q", got, tc.text)
			}
		})
	}
}

func TestNewReply(t *testing.T) {
	cases := []struct {
		name string
		code int
		text string
		want []string
	}{
		{name: "single", code: 227, text: "Entering Passive Mode (10,0,0,1,195,80).", want: []string{"227 Entering Passive Mode (10,0,0,1,195,80)."}},
		{name: "empty text keeps the space", code: 200, text: "", want: []string{"200 "}},
		{name: "trailing newline ignored", code: 221, text: "Goodbye.\r\n", want: []string{"221 Goodbye."}},
		{name: "lone cr kept", code: 200, text: "a\rb\r", want: []string{"200 a\rb\r"}},
		{name: "multi-line", code: 220, text: "Welcome\r\nto algd\nready", want: []string{"220-Welcome", "220-to algd", "220 ready"}},
		{name: "inner line that looks final", code: 220, text: "first\n220 not the end\nlast", want: []string{"220-first", "220-220 not the end", "220 last"}},
		{name: "feat form", code: 211, text: "Features:\n EPRT\n EPSV\n UTF8\nEnd", want: []string{"211-Features:", " EPRT", " EPSV", " UTF8", "211 End"}},
		{name: "first line with space gets the code", code: 211, text: " x\nEnd", want: []string{"211- x", "211 End"}},
		{name: "empty inner line", code: 214, text: "a\n\nb", want: []string{"214-a", "214-", "214 b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NewReply(tc.code, tc.text)
			if got.Code != tc.code || !slices.Equal(got.Lines, tc.want) {
				t.Fatalf("NewReply(%d, %q) = %q; want %q", tc.code, tc.text, got.Lines, tc.want)
			}
			wire := got.AppendWire(nil)
			back, err := ReadReply(bufio.NewReader(strings.NewReader(string(wire))), 512, len(tc.want))
			if err != nil || back.Code != got.Code || !slices.Equal(back.Lines, got.Lines) {
				t.Fatalf("ReadReply(%q) = %+v, %v; want %+v", wire, back, err, got)
			}
		})
	}
}

func TestAppendWireAppends(t *testing.T) {
	got := NewReply(200, "ok").AppendWire([]byte("prefix:"))
	if string(got) != "prefix:200 ok\r\n" {
		t.Fatalf("AppendWire = %q", got)
	}
}

func FuzzReadReply(f *testing.F) {
	for _, tc := range replyCases {
		if len(tc.in) < 1024 {
			f.Add([]byte(tc.in), tc.maxLines)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, maxLines int) {
		maxLines %= 16
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		rep, err := ReadReply(r, 64, maxLines)
		if len(rep.Lines) > max(maxLines, 1) {
			t.Fatalf("ReadReply(%q, maxLines %d) = %d lines", in, maxLines, len(rep.Lines))
		}
		if err != nil {
			return
		}
		if len(rep.Lines) == 0 {
			t.Fatalf("ReadReply(%q) = no lines and no error", in)
		}
		if c, _, ok := replyCodeOf([]byte(rep.Lines[0])); !ok || c != rep.Code {
			t.Fatalf("ReadReply(%q) = code %d, first line %q", in, rep.Code, rep.Lines[0])
		}
		for i := 1; i < len(rep.Lines)-1; i++ {
			if c, sep, ok := replyCodeOf([]byte(rep.Lines[i])); ok && c == rep.Code && sep != '-' {
				t.Fatalf("ReadReply(%q): line %d %q should have ended the reply", in, i, rep.Lines[i])
			}
		}
		_ = rep.Text()
		wire := rep.AppendWire(nil)
		// A line that ended in a bare LF is one byte longer on the wire.
		back, err := ReadReply(bufio.NewReaderSize(strings.NewReader(string(wire)), 16), 64+1, maxLines)
		if err != nil || back.Code != rep.Code || !slices.Equal(back.Lines, rep.Lines) {
			t.Fatalf("ReadReply(%q) = %+v; its wire form reads back as %+v, %v", in, rep, back, err)
		}
	})
}

func BenchmarkReadReply(b *testing.B) {
	sr := strings.NewReader(pureBanner)
	r := bufio.NewReaderSize(sr, 4096)
	b.SetBytes(int64(len(pureBanner)))
	for b.Loop() {
		sr.Reset(pureBanner)
		r.Reset(sr)
		if _, err := ReadReply(r, 512, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// replyLine is one result of ReplyReader.Next.
type replyLine struct {
	line string
	code int
	more bool
}

// readReplyLines calls Next until an error and returns every line and the
// error.
func readReplyLines(rr *ReplyReader) ([]replyLine, error) {
	var out []replyLine
	for {
		line, code, more, err := rr.Next()
		if err != nil {
			return out, err
		}
		out = append(out, replyLine{string(line), code, more})
	}
}

func TestReplyReader(t *testing.T) {
	many := strings.Repeat("211-entry\r\n", 20000)
	cases := []struct {
		name string
		in   string
		want []replyLine
		n    int // instead of want: this many lines
		err  error
	}{
		{name: "single lines", in: "220 hi\r\n331 pass\r\n", err: io.EOF,
			want: []replyLine{{"220 hi", 220, false}, {"331 pass", 331, false}}},
		{name: "multi-line then single", in: "211-a\r\n b\r\n211 end\r\n200 ok\r\n", err: io.EOF,
			want: []replyLine{{"211-a", 211, true}, {" b", 211, true}, {"211 end", 211, false}, {"200 ok", 200, false}}},
		{name: "inner codes do not end", in: "123-x\r\n234 other\r\n123-same\r\n123\r\n", err: io.EOF,
			want: []replyLine{{"123-x", 123, true}, {"234 other", 123, true}, {"123-same", 123, true}, {"123", 123, false}}},
		{name: "20000 lines", in: "211-Status\r\n" + many + "211 End\r\n", n: 20002, err: io.EOF},
		{name: "eof inside", in: "211-a\r\n b\r\n", err: io.ErrUnexpectedEOF,
			want: []replyLine{{"211-a", 211, true}, {" b", 211, true}}},
		{name: "bad first line after a reply", in: "200 ok\r\nhello\r\n", err: ErrBadReply,
			want: []replyLine{{"200 ok", 200, false}}},
		{name: "line without end stops at the limit", in: "211-a\r\n" + longLine, err: ErrLineTooLong,
			want: []replyLine{{"211-a", 211, true}}},
		{name: "nul", in: "211-a\r\nb\x00\r\n211 end\r\n", err: ErrNUL,
			want: []replyLine{{"211-a", 211, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readReplyLines(NewReplyReader(bufio.NewReaderSize(strings.NewReader(tc.in), 16), 512))
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v; want %v", err, tc.err)
			}
			if tc.n > 0 {
				if len(got) != tc.n || got[0].more != true || got[len(got)-1].more {
					t.Fatalf("%d lines, first %v, last %v; want %d lines", len(got), got[0], got[len(got)-1], tc.n)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("lines %+v; want %+v", got, tc.want)
			}
		})
	}
}

// TestReplyReaderResumes: a read error inside a line (a deadline) leaves
// the line where it was; the next call goes on with it.
func TestReplyReaderResumes(t *testing.T) {
	in := "211-a long first line\r\n211 end\r\n"
	rr := NewReplyReader(bufio.NewReaderSize(iotest.TimeoutReader(strings.NewReader(in)), 16), 512)
	if _, _, _, err := rr.Next(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("first Next: %v; want the timeout", err)
	}
	got, err := readReplyLines(rr)
	want := []replyLine{{"211-a long first line", 211, true}, {"211 end", 211, false}}
	if err != io.EOF || !slices.Equal(got, want) {
		t.Fatalf("after the timeout: %+v, %v; want %+v", got, err, want)
	}
}

// FuzzReplyReader reads the same bytes with ReplyReader and with repeated
// ReadReply calls: both see the same replies, line for line, and stop with
// the same error.
func FuzzReplyReader(f *testing.F) {
	for _, tc := range replyCases {
		if len(tc.in) < 1024 {
			f.Add([]byte(tc.in + tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, gerr := readReplyLines(NewReplyReader(bufio.NewReaderSize(strings.NewReader(string(in)), 16), 64))
		var want []replyLine
		var werr error
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		for werr == nil {
			var rep Reply
			rep, werr = ReadReply(r, 64, len(in)+1)
			for i, l := range rep.Lines {
				want = append(want, replyLine{l, rep.Code, i < len(rep.Lines)-1})
			}
		}
		// ReadReply returns nothing of a reply it cannot finish: those
		// lines, all but the last of a reply, are ReplyReader's alone.
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("ReplyReader %+v; ReadReply %+v", got, want)
		}
		for _, l := range got[len(want):] {
			if !l.more || werr == io.EOF {
				t.Fatalf("ReplyReader %+v; ReadReply %+v, %v", got, want, werr)
			}
		}
		if (gerr == nil) != (werr == nil) || errors.Is(gerr, io.EOF) != errors.Is(werr, io.EOF) ||
			errors.Is(gerr, ErrBadReply) != errors.Is(werr, ErrBadReply) || errors.Is(gerr, ErrLineTooLong) != errors.Is(werr, ErrLineTooLong) {
			t.Fatalf("ReplyReader ends with %v; ReadReply with %v", gerr, werr)
		}
	})
}
