package ftp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrBadReply is returned by ReadReply for a reply that does not start with
// a three-digit code 100-599 (RFC 959 §4.2) or that has more lines than
// allowed.
var ErrBadReply = errors.New("ftp: malformed reply")

// Reply is one server reply, possibly multi-line (RFC 959 §4.2):
// "ddd-text" ... "ddd text". Lines keep their exact bytes (without the line
// end) so that a proxy relays them intact.
type Reply struct {
	// Code is the reply code, 100-599.
	Code int
	// Lines are the raw lines: the first starts with "ddd-" (multi-line) or
	// "ddd " (single line); the last is "ddd text" or just "ddd".
	Lines []string
}

// ReadReply reads one complete reply from r. maxLine bounds each line as in
// ReadLine; maxLines bounds the number of lines, so an endless multi-line
// reply is an error rather than a hang or unbounded memory (maxLines <= 0
// means 1). A reply of any length can be read line by line with a
// ReplyReader instead.
//
// The first line must start with a code 100-599 followed by a space, a
// hyphen or the line end; anything else is ErrBadReply. After "ddd-", any
// line is part of the reply (including lines that start with other codes or
// with "ddd-" of the same code) until one that starts with the same code
// followed by a space, or is exactly the code.
//
// At a clean end of the stream before the reply, ReadReply returns io.EOF;
// inside it, io.ErrUnexpectedEOF. Line errors (ErrLineTooLong, ErrNUL) and a
// reply over maxLines lines (ErrBadReply) are wrapped; after any error the
// caller cannot tell where the next reply starts and should close.
func ReadReply(r *bufio.Reader, maxLine, maxLines int) (Reply, error) {
	maxLines = max(maxLines, 1)
	rr := NewReplyReader(r, maxLine)
	var rep Reply
	for {
		line, code, more, err := rr.Next()
		if err != nil {
			return Reply{}, err
		}
		rep.Code = code
		rep.Lines = append(rep.Lines, string(line))
		if !more {
			return rep, nil
		}
		if len(rep.Lines) >= maxLines {
			return Reply{}, fmt.Errorf("%w: %d reply still open after %d lines", ErrBadReply, code, maxLines)
		}
	}
}

// ReplyReader reads replies one line at a time (RFC 959 §4.2), so that a
// multi-line reply of any length passes through a buffer of one line: a
// proxy relays it as it comes, or keeps what it needs.
type ReplyReader struct {
	r       *bufio.Reader
	maxLine int
	code    int    // the code of the reply being read; 0 between replies
	lines   int    // lines of it returned so far
	line    []byte // the last line returned, or a line cut by a read error
	partial bool   // line holds the start of a line cut by a read error
}

// NewReplyReader returns a ReplyReader on r whose lines are bounded by
// maxLine as in ReadLine.
func NewReplyReader(r *bufio.Reader, maxLine int) *ReplyReader {
	return &ReplyReader{r: r, maxLine: maxLine}
}

// Next reads the next line: the first line of a reply, or the next line of
// the reply begun by an earlier call. It returns the line without its line
// end (valid until the next call), the reply's code, and more, which is
// true while lines of the same reply follow. The reply's grammar is that of
// ReadReply.
//
// At a clean end of the stream between replies, Next returns io.EOF;
// inside one, io.ErrUnexpectedEOF. A first line without a code is
// ErrBadReply; ErrLineTooLong and ErrNUL are wrapped. After those, the
// caller cannot tell where the next reply starts and should close. An error
// from the underlying reader (a read deadline, say) is wrapped and leaves
// the reader where it was: calling Next again goes on with the same line.
func (rr *ReplyReader) Next() (line []byte, code int, more bool, err error) {
	if !rr.partial {
		rr.line = rr.line[:0]
	}
	rr.line, err = appendLine(rr.line, rr.r, rr.maxLine)
	rr.partial = false
	switch {
	case err == nil:
	case errors.Is(err, ErrLineTooLong), errors.Is(err, ErrNUL):
		return nil, 0, false, fmt.Errorf("ftp: read reply %d line %d: %w", rr.code, rr.lines+1, err)
	case err == io.EOF && rr.code == 0:
		return nil, 0, false, io.EOF
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return nil, 0, false, io.ErrUnexpectedEOF
	default:
		rr.partial = true
		return nil, 0, false, err
	}
	rr.lines++
	if rr.code == 0 {
		c, sep, ok := replyCodeOf(rr.line)
		if !ok {
			return nil, 0, false, fmt.Errorf("%w: first line %.40q", ErrBadReply, rr.line)
		}
		if sep != '-' {
			rr.lines = 0
			return rr.line, c, false, nil
		}
		rr.code = c
		return rr.line, c, true, nil
	}
	code = rr.code
	if c, sep, ok := replyCodeOf(rr.line); ok && c == code && sep != '-' {
		rr.code, rr.lines = 0, 0
		return rr.line, code, false, nil
	}
	return rr.line, code, true, nil
}

// Buffered returns how many bytes of the stream are already read and not
// yet returned: zero when the next Next would wait for the peer.
func (rr *ReplyReader) Buffered() int { return rr.r.Buffered() }

// Open returns the code of the reply whose first line Next has returned
// but not yet its last; 0 between replies.
func (rr *ReplyReader) Open() int { return rr.code }

// replyCodeOf parses the start of a reply line: a code 100-599 and the byte
// after it (' ', '-', or 0 for a line that is just the code). ok is false
// for anything else.
func replyCodeOf(line []byte) (code int, sep byte, ok bool) {
	if len(line) < 3 {
		return 0, 0, false
	}
	for _, b := range line[:3] {
		if b < '0' || b > '9' {
			return 0, 0, false
		}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if code < 100 || code > 599 {
		return 0, 0, false
	}
	if len(line) == 3 {
		return code, 0, true
	}
	if sep = line[3]; sep != ' ' && sep != '-' {
		return 0, 0, false
	}
	return code, sep, true
}

// NewReply builds a reply with the given code (100-599) and text. Text
// without a newline gives the single line "ddd text". Text with newlines
// (LF or CR LF; one at the very end is ignored) gives a multi-line reply:
// "ddd-" before every line but the last, which gets "ddd ", except that an
// inner line starting with a space is kept as it is (the RFC 2389 FEAT
// form, " MDTM"). For a code 100-599 and text without NUL bytes, ReadReply
// reads AppendWire's bytes back as the same Reply.
func NewReply(code int, text string) Reply {
	if t, ok := strings.CutSuffix(text, "\n"); ok {
		text = strings.TrimSuffix(t, "\r")
	}
	parts := strings.Split(text, "\n")
	c := strconv.Itoa(code)
	rep := Reply{Code: code, Lines: make([]string, len(parts))}
	for i, p := range parts {
		if i < len(parts)-1 {
			p = strings.TrimSuffix(p, "\r")
		}
		switch {
		case i == len(parts)-1:
			rep.Lines[i] = c + " " + p
		case i > 0 && strings.HasPrefix(p, " "):
			rep.Lines[i] = p
		default:
			rep.Lines[i] = c + "-" + p
		}
	}
	return rep
}

// Final reports whether r completes a command (RFC 959 §4.2: 2yz-5yz),
// as opposed to a 1yz preliminary reply.
func (r Reply) Final() bool { return r.Code >= 200 }

// Text returns the text of the last line after "ddd ", which is where a 227
// or 229 reply carries its address; "" for a last line that is just the
// code.
func (r Reply) Text() string {
	if len(r.Lines) == 0 {
		return ""
	}
	last := r.Lines[len(r.Lines)-1]
	if len(last) <= 4 {
		return ""
	}
	return last[4:]
}

// AppendWire appends the reply's lines to b, each followed by CR LF, and
// returns the extended slice.
func (r Reply) AppendWire(b []byte) []byte {
	for _, l := range r.Lines {
		b = append(b, l...)
		b = append(b, '\r', '\n')
	}
	return b
}
