package ftpc

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Bounds of one reply: a server that exceeds them is broken or hostile,
// and the test should fail rather than buffer without end.
const (
	// maxLine is the longest reply line accepted, CRLF included. It is
	// also the size of the control connection's read buffer.
	maxLine = 8 << 10
	// maxLines is the most lines one multi-line reply may have.
	maxLines = 10000
)

// errBadReply is wrapped by every error about a malformed reply.
var errBadReply = errors.New("malformed reply")

// Reply is one server reply: Code and the raw lines (without CRLF).
type Reply struct {
	// Code is the three-digit reply code.
	Code int
	// Lines are the reply's lines as received, code prefix included,
	// line ending removed; a single-line reply has one.
	Lines []string
}

// String returns the lines joined with "\n".
func (r Reply) String() string { return strings.Join(r.Lines, "\n") }

// readReply reads one complete reply from r (RFC 959 §4.2). A single-line
// reply is "xyz text"; a multi-line one starts with "xyz-text" and ends
// with the first line that starts with the same code followed by a space
// (or that is the code alone); the lines between may hold anything,
// including other codes. Lines end with CRLF; a bare LF is tolerated.
func readReply(r *bufio.Reader) (Reply, error) {
	first, err := readLine(r)
	if err != nil {
		return Reply{}, err
	}
	code, sep, err := parseFirst(first)
	if err != nil {
		return Reply{}, err
	}
	rep := Reply{Code: code, Lines: []string{first}}
	if sep != '-' {
		return rep, nil
	}
	prefix := first[:3]
	for {
		if len(rep.Lines) >= maxLines {
			return rep, fmt.Errorf("%w: more than %d lines", errBadReply, maxLines)
		}
		line, err := readLine(r)
		if err != nil {
			return rep, err
		}
		rep.Lines = append(rep.Lines, line)
		if line == prefix || strings.HasPrefix(line, prefix+" ") {
			return rep, nil
		}
	}
}

// readLine reads one line and removes its CRLF (or LF).
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("%w: line longer than %d bytes", errBadReply, maxLine)
	}
	if err != nil {
		if len(b) > 0 {
			return "", fmt.Errorf("%w: %q cut by %w", errBadReply, b, err)
		}
		return "", fmt.Errorf("read reply: %w", err)
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return string(b), nil
}

// parseFirst checks the first line of a reply: three digits, the first
// one 1-5 (RFC 959 §4.2.1), then the end of the line, a space, or '-' for
// a multi-line reply. It returns the code and the separator (0 at the end).
func parseFirst(line string) (int, byte, error) {
	if len(line) < 3 {
		return 0, 0, fmt.Errorf("%w: %q", errBadReply, line)
	}
	code := 0
	for i := range 3 {
		d := line[i]
		if d < '0' || d > '9' {
			return 0, 0, fmt.Errorf("%w: %q", errBadReply, line)
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 || code > 599 {
		return 0, 0, fmt.Errorf("%w: code out of range in %q", errBadReply, line)
	}
	if len(line) == 3 {
		return code, 0, nil
	}
	switch sep := line[3]; sep {
	case ' ', '-':
		return code, sep, nil
	default:
		return 0, 0, fmt.Errorf("%w: %q", errBadReply, line)
	}
}
