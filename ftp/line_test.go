package ftp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// lineResult is what one ReadLine call gives: a line or an error.
type lineResult struct {
	line string
	err  error
}

// readAllLines calls ReadLine until io.EOF (or a foreign error) and
// collects every result, the final io.EOF included; after ErrLineTooLong it
// skips the rest of that line, as a caller that goes on would. Each call but the last
// consumes at least one byte, so an input of n bytes gives at most n+1
// results; the loop stops there in case ReadLine does not.
func readAllLines(r *bufio.Reader, max, n int) []lineResult {
	var out []lineResult
	for range n + 1 {
		line, err := ReadLine(r, max)
		out = append(out, lineResult{string(line), err})
		if errors.Is(err, ErrLineTooLong) {
			if derr := discardLine(r); derr != nil {
				out = append(out, lineResult{err: derr})
				break
			}
		}
		if err == io.EOF || (err != nil && !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrNUL) && err != io.ErrUnexpectedEOF) {
			break
		}
	}
	return out
}

var (
	longLine    = strings.Repeat("A", 100<<10)
	eofResult   = lineResult{err: io.EOF}
	tooLong     = lineResult{err: ErrLineTooLong}
	nulResult   = lineResult{err: ErrNUL}
	partialLine = lineResult{err: io.ErrUnexpectedEOF}
)

var lineCases = []struct {
	name string
	in   string
	max  int
	want []lineResult
}{
	{name: "crlf", in: "USER anonymous\r\nPASS x\r\n", max: 512, want: []lineResult{{line: "USER anonymous"}, {line: "PASS x"}, eofResult}},
	{name: "bare lf", in: "USER anonymous\nPASS x\n", max: 512, want: []lineResult{{line: "USER anonymous"}, {line: "PASS x"}, eofResult}},
	{name: "mixed endings", in: "A\nB\r\nC\n", max: 512, want: []lineResult{{line: "A"}, {line: "B"}, {line: "C"}, eofResult}},
	{name: "cr without lf stays", in: "RETR a\rb\r\n", max: 512, want: []lineResult{{line: "RETR a\rb"}, eofResult}},
	{name: "cr before crlf stays", in: "NOOP\r\r\n", max: 512, want: []lineResult{{line: "NOOP\r"}, eofResult}},
	{name: "lone cr is no line end", in: "NOOP\rNOOP\r\n", max: 512, want: []lineResult{{line: "NOOP\rNOOP"}, eofResult}},
	{name: "empty line", in: "\r\n\n", max: 512, want: []lineResult{{line: ""}, {line: ""}, eofResult}},
	{name: "iac and telnet ip/dm kept", in: "\xff\xf4\xff\xf2ABOR\r\n", max: 512, want: []lineResult{{line: "\xff\xf4\xff\xf2ABOR"}, eofResult}},
	{name: "escaped iac kept", in: "RETR a\xff\xffb\r\n", max: 512, want: []lineResult{{line: "RETR a\xff\xffb"}, eofResult}},
	{name: "latin-1 e9 kept", in: "RETR caf\xe9.txt\r\n", max: 512, want: []lineResult{{line: "RETR caf\xe9.txt"}, eofResult}},
	{name: "utf-8 kept", in: "CWD r\xc3\xa9pertoire\r\n", max: 512, want: []lineResult{{line: "CWD r\xc3\xa9pertoire"}, eofResult}},
	{name: "nul then next line", in: "US\x00ER x\r\nNOOP\r\n", max: 512, want: []lineResult{nulResult, {line: "NOOP"}, eofResult}},
	{name: "nul at end", in: "NOOP\x00\r\n", max: 512, want: []lineResult{nulResult, eofResult}},
	{name: "nul in partial line", in: "NO\x00OP", max: 512, want: []lineResult{partialLine, eofResult}},
	{name: "partial line at eof", in: "NOOP\r\nQUIT", max: 512, want: []lineResult{{line: "NOOP"}, partialLine, eofResult}},
	{name: "partial cr at eof", in: "\r", max: 512, want: []lineResult{partialLine, eofResult}},
	{name: "nothing", in: "", max: 512, want: []lineResult{eofResult}},
	{name: "exact fit with crlf", in: "NOOP\r\nNOOP\r\n", max: 6, want: []lineResult{{line: "NOOP"}, {line: "NOOP"}, eofResult}},
	{name: "one over with crlf", in: "NOOPS\r\nNOOP\r\n", max: 6, want: []lineResult{tooLong, {line: "NOOP"}, eofResult}},
	{name: "exact fit with lf", in: "NOOPS\n", max: 6, want: []lineResult{{line: "NOOPS"}, eofResult}},
	{name: "partial at eof exactly max", in: "NOOPSS", max: 6, want: []lineResult{partialLine, eofResult}},
	{name: "partial at eof over max", in: "NOOPSSS", max: 6, want: []lineResult{tooLong, eofResult}},
	{name: "100 KiB line discarded", in: longLine + "\r\nNOOP\r\n", max: 512, want: []lineResult{tooLong, {line: "NOOP"}, eofResult}},
	{name: "100 KiB line at eof", in: "NOOP\r\n" + longLine, max: 512, want: []lineResult{{line: "NOOP"}, tooLong, eofResult}},
	{name: "100 KiB line with nul is too long", in: "\x00" + longLine + "\r\nQUIT\r\n", max: 512, want: []lineResult{tooLong, {line: "QUIT"}, eofResult}},
	{name: "100 KiB line allowed", in: longLine + "\r\n", max: 200 << 10, want: []lineResult{{line: longLine}, eofResult}},
	{name: "max zero is the buffer size", in: longLine + "\r\nNOOP\r\n", max: 0, want: []lineResult{tooLong, {line: "NOOP"}, eofResult}},
}

func TestReadLine(t *testing.T) {
	for _, tc := range lineCases {
		// Each case runs on a large buffer, and on the smallest bufio buffer
		// fed one byte at a time, so lines cross buffer fills.
		readers := map[string]*bufio.Reader{
			"big":   bufio.NewReaderSize(strings.NewReader(tc.in), 64<<10),
			"small": bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tc.in)), 16),
		}
		for rname, r := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				got := readAllLines(r, tc.max, len(tc.in))
				if len(got) != len(tc.want) {
					t.Fatalf("got %d results %.200v; want %d", len(got), got, len(tc.want))
				}
				for i := range got {
					if got[i].line != tc.want[i].line || !errors.Is(got[i].err, tc.want[i].err) {
						t.Errorf("result %d = %.60q, %v; want %.60q, %v", i, got[i].line, got[i].err, tc.want[i].line, tc.want[i].err)
					}
				}
			})
		}
	}
}

func TestReadLineFreshCopy(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("USER a\r\nPASS b\r\n"), 16)
	first, err := ReadLine(r, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLine(r, 64); err != nil {
		t.Fatal(err)
	}
	if string(first) != "USER a" {
		t.Fatalf("first line changed to %q after the next read", first)
	}
}

func TestReadLineReaderError(t *testing.T) {
	cases := []struct {
		name string
		in   io.Reader
		max  int
	}{
		{name: "timeout mid line", in: iotest.TimeoutReader(strings.NewReader("NOOP")), max: 512},
		{name: "error at once", in: iotest.ErrReader(iotest.ErrTimeout), max: 512},
		{name: "timeout while discarding", in: iotest.TimeoutReader(strings.NewReader(strings.Repeat("x", 64))), max: 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(tc.in, 16)
			var err error
			for range 10 {
				if _, err = ReadLine(r, tc.max); !errors.Is(err, ErrLineTooLong) {
					break
				}
			}
			if !errors.Is(err, iotest.ErrTimeout) {
				t.Fatalf("ReadLine = %v; want a wrapped %v", err, iotest.ErrTimeout)
			}
		})
	}
}

// FuzzReadLine checks ReadLine against a direct model: split the input
// after each LF; a segment longer than max is ErrLineTooLong, one with a
// NUL is ErrNUL, an unterminated tail is io.ErrUnexpectedEOF (or
// ErrLineTooLong if it exceeds max); then io.EOF.
func FuzzReadLine(f *testing.F) {
	for _, tc := range lineCases {
		if len(tc.in) < 1024 {
			f.Add([]byte(tc.in), tc.max)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = max % 64
		if max <= 0 {
			max = 16 // the buffer size below
		}
		var want []lineResult
		for _, seg := range bytes.SplitAfter(in, []byte("\n")) {
			switch {
			case len(seg) == 0:
			case len(seg) > max:
				want = append(want, tooLong)
			case seg[len(seg)-1] != '\n':
				want = append(want, partialLine)
			case bytes.IndexByte(seg, 0) >= 0:
				want = append(want, nulResult)
			default:
				line := bytes.TrimSuffix(bytes.TrimSuffix(seg, []byte("\n")), []byte("\r"))
				want = append(want, lineResult{line: string(line)})
			}
		}
		want = append(want, eofResult)
		got := readAllLines(bufio.NewReaderSize(bytes.NewReader(in), 16), max, len(in))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("max %d: result %d = %q, %v; want %q, %v", max, i, got[i].line, got[i].err, want[i].line, want[i].err)
			}
			if len(got[i].line)+1 > max {
				t.Fatalf("max %d: line %q longer than the limit", max, got[i].line)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("max %d: got %d results; want %d", max, len(got), len(want))
		}
	})
}

func BenchmarkReadLine(b *testing.B) {
	in := strings.Repeat("RETR some/path/to/a/file.bin\r\n", 64)
	sr := strings.NewReader(in)
	r := bufio.NewReaderSize(sr, 4096)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		sr.Reset(in)
		r.Reset(sr)
		for {
			if _, err := ReadLine(r, 512); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// endless is a reader of 'A' bytes that never ends, counting what it gives.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	e.n += len(p)
	return len(p), nil
}

// TestReadLineWithoutEnd: a line that never ends is ErrLineTooLong once
// max bytes have come, having consumed exactly max bytes of it and read no
// more than one buffer beyond.
func TestReadLineWithoutEnd(t *testing.T) {
	for _, max := range []int{16, 512, 4096, 65536} {
		src := &endless{}
		r := bufio.NewReaderSize(src, 512)
		if _, err := ReadLine(r, max); !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("max %d: %v; want ErrLineTooLong", max, err)
		}
		if consumed := src.n - r.Buffered(); consumed != max {
			t.Errorf("max %d: consumed %d bytes", max, consumed)
		}
		if src.n > max+512 {
			t.Errorf("max %d: read %d bytes", max, src.n)
		}
	}
}

// TestReadLineCRLF: the line end is reported, so a command ended by a bare
// LF (which RFC 959 does not allow and ftpds may read differently) can be
// refused.
func TestReadLineCRLF(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("USER a\r\nPASS b\nNOOP\r\r\n\nQUIT\r\n"))
	for _, want := range []struct {
		line string
		crlf bool
	}{{"USER a", true}, {"PASS b", false}, {"NOOP\r", true}, {"", false}, {"QUIT", true}} {
		line, crlf, err := ReadLineCRLF(r, 512)
		if err != nil || string(line) != want.line || crlf != want.crlf {
			t.Fatalf("ReadLineCRLF = %q, %v, %v; want %q, %v", line, crlf, err, want.line, want.crlf)
		}
	}
	if _, _, err := ReadLineCRLF(r, 512); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}
