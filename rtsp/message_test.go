package rtsp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// readAll reads every message and frame of in, formatting each back.
func readAll(in string, r *Reader) ([]string, error) {
	var out []string
	for {
		m, f, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if m != nil {
			out = append(out, m.String())
		} else {
			out = append(out, string(f))
		}
	}
}

var messageCases = []struct {
	name string
	in   string
	out  []string // each message or frame as written back; nil with err
	err  error
}{
	{"request", "OPTIONS rtsp://10.0.0.1/a RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		[]string{"OPTIONS rtsp://10.0.0.1/a RTSP/1.0\r\nCSeq: 1\r\n\r\n"}, nil},
	{"header case, order and duplicates kept", "GET_PARAMETER * RTSP/1.0\r\ncseq: 2\r\nX-Odd:  v \r\nx-odd: w\r\n\r\n",
		[]string{"GET_PARAMETER * RTSP/1.0\r\ncseq: 2\r\nX-Odd: v\r\nx-odd: w\r\n\r\n"}, nil},
	{"response with body", "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nv=0\r\n",
		[]string{"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nv=0\r\n"}, nil},
	{"LF only, folded header", "RTSP/1.0 200 OK\nCSeq: 4\nPublic: OPTIONS,\n DESCRIBE\n\n",
		[]string{"RTSP/1.0 200 OK\r\nCSeq: 4\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"}, nil},
	{"pipelined with frames between", "$\x00\x00\x03abcPLAY rtsp://h/s RTSP/1.0\r\nCSeq: 5\r\n\r\n\r\n$\x01\x00\x00TEARDOWN rtsp://h/s RTSP/1.0\r\nCSeq: 6\r\n\r\n",
		[]string{"$\x00\x00\x03abc", "PLAY rtsp://h/s RTSP/1.0\r\nCSeq: 5\r\n\r\n", "$\x01\x00\x00", "TEARDOWN rtsp://h/s RTSP/1.0\r\nCSeq: 6\r\n\r\n"}, nil},
	{"large frame", "$\x02\x01\x04" + strings.Repeat("x", 260), []string{"$\x02\x01\x04" + strings.Repeat("x", 260)}, nil},
	{"not rtsp", "GET / HTTP/1.1 extra\r\n\r\n", nil, ErrMalformed},
	{"bad status", "RTSP/1.0 2000 OK\r\n\r\n", nil, ErrMalformed},
	{"header without colon", "OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n", nil, ErrMalformed},
	{"NUL", "OPTIONS * RTSP/1.0\r\nCSeq: 1\x00\r\n\r\n", nil, ErrMalformed},
	{"body too large", "RTSP/1.0 200 OK\r\nContent-Length: 70000\r\n\r\n", nil, ErrMalformed},
	{"negative length", "RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", nil, ErrMalformed},
	{"line too long", "OPTIONS * RTSP/1.0\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", nil, ErrMalformed},
	{"too many headers", "OPTIONS * RTSP/1.0\r\n" + strings.Repeat("A: b\r\n", 65) + "\r\n", nil, ErrMalformed},
	{"cut body", "RTSP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", nil, io.ErrUnexpectedEOF},
	{"cut frame", "$\x00\x00\x09abc", nil, io.ErrUnexpectedEOF},
	{"cut headers", "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", nil, io.ErrUnexpectedEOF},
}

func TestReader(t *testing.T) {
	for _, tc := range messageCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.in, NewReader(strings.NewReader(tc.in), 0))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if strings.Join(got, "|") != strings.Join(tc.out, "|") {
				t.Errorf("got  %q\nwant %q", got, tc.out)
			}
			// Round trip: what was written back reads the same again.
			again, err := readAll("", NewReader(strings.NewReader(strings.Join(got, "")), 0))
			if err != nil || strings.Join(again, "|") != strings.Join(got, "|") {
				t.Errorf("round trip: %q, %v", again, err)
			}
		})
	}
}

func TestMessageSet(t *testing.T) {
	tests := []struct {
		name, in, key, value, want string
	}{
		{"in place keeps spelling", "RTSP/1.0 200 OK\r\ncontent-base: a\r\nCSeq: 1\r\n\r\n", "Content-Base", "b",
			"RTSP/1.0 200 OK\r\ncontent-base: b\r\nCSeq: 1\r\n\r\n"},
		{"duplicates removed", "RTSP/1.0 200 OK\r\nX: 1\r\nX: 2\r\n\r\n", "x", "3", "RTSP/1.0 200 OK\r\nX: 3\r\n\r\n"},
		{"appended", "RTSP/1.0 200 OK\r\n\r\n", "Session", "s", "RTSP/1.0 200 OK\r\nSession: s\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := NewReader(strings.NewReader(tc.in), 0).Read()
			if err != nil {
				t.Fatal(err)
			}
			m.Set(tc.key, tc.value)
			if got := m.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetBodyFixesLength(t *testing.T) {
	m, _, err := NewReader(strings.NewReader("RTSP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	m.SetBody([]byte("abcdef"))
	if got := m.String(); got != "RTSP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nabcdef" {
		t.Errorf("got %q", got)
	}
}

// FuzzReader: the reader never panics, never returns more than its
// limits allow, and what it accepts formats back into input it accepts
// the same way.
func FuzzReader(f *testing.F) {
	for _, tc := range messageCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readAll(string(in), NewReader(bytes.NewReader(in), 512))
		for _, s := range got {
			if len(s) > 512*DefaultMaxHeaders+DefaultMaxBody+4+0xffff {
				t.Fatalf("message of %d bytes", len(s))
			}
		}
		if err != nil {
			return
		}
		again, err := readAll("", NewReader(strings.NewReader(strings.Join(got, "")), 0))
		if err != nil || strings.Join(again, "|") != strings.Join(got, "|") {
			t.Fatalf("round trip of %q: %q, %v", got, again, err)
		}
	})
}
