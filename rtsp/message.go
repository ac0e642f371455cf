package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This codec is written here instead of using gortsplib's pkg/base because
// a proxy must pass on what it does not understand exactly as it came:
// base.Header is a map keyed by canonicalised names, which loses the order
// and spelling of header fields and merges repeated ones; base.Request
// also parses the URL, which refuses some that servers accept.

// Limits of the codec, RTSP/1.0 messages being small: a request line or
// header line, the number of header fields, and a body (an SDP, a
// GET_PARAMETER answer).
const (
	// DefaultMaxLine is the longest start or header line, CRLF included,
	// when Reader.MaxLine is 0.
	DefaultMaxLine = 4096
	// DefaultMaxHeaders is the most header fields of one message when
	// Reader.MaxHeaders is 0.
	DefaultMaxHeaders = 64
	// DefaultMaxBody is the largest Content-Length accepted when
	// Reader.MaxBody is 0.
	DefaultMaxBody = 64 << 10
	// frameHeader is the size of an interleaved frame's header: '$', the
	// channel and a 16-bit length (RFC 2326 §10.12).
	frameHeader = 4
)

// ErrMalformed is wrapped by Reader.Read for input that is not RTSP, or
// exceeds the reader's limits; the caller answers 400 and closes.
var ErrMalformed = errors.New("rtsp: malformed message")

// Field is one header field, spelled as it came.
type Field struct {
	Name, Value string
}

// Message is one RTSP request or response (RFC 2326 §6, §7). A request has
// a Method; a response has none.
type Message struct {
	// Method and URI are the request line's; empty for a response.
	Method, URI string
	// Proto is "RTSP/1.0".
	Proto string
	// Status and Reason are the status line's; zero for a request.
	Status int
	Reason string
	// Header holds the fields in order.
	Header []Field
	// Body is the entity, Content-Length bytes.
	Body []byte
}

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool { return m.Method != "" }

// Get returns the value of the first field called name (case-insensitive)
// and whether there is one.
func (m *Message) Get(name string) (string, bool) {
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Set gives the first field called name the value, keeping its place and
// spelling, and deletes any other field of that name; a new field goes at
// the end.
func (m *Message) Set(name, value string) {
	found := false
	out := m.Header[:0]
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, name) {
			if found {
				continue
			}
			found = true
			f.Value = value
		}
		out = append(out, f)
	}
	m.Header = out
	if !found {
		m.Header = append(m.Header, Field{Name: name, Value: value})
	}
}

// SetBody replaces the body and fixes Content-Length.
func (m *Message) SetBody(b []byte) {
	m.Body = b
	if _, ok := m.Get("Content-Length"); ok || len(b) > 0 {
		m.Set("Content-Length", strconv.Itoa(len(b)))
	}
}

// AppendTo appends the wire form of m to b.
func (m *Message) AppendTo(b []byte) []byte {
	proto := m.Proto
	if proto == "" {
		proto = "RTSP/1.0"
	}
	if m.IsRequest() {
		b = append(b, m.Method...)
		b = append(b, ' ')
		b = append(b, m.URI...)
		b = append(b, ' ')
		b = append(b, proto...)
	} else {
		b = append(b, proto...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(m.Status), 10)
		b = append(b, ' ')
		b = append(b, m.Reason...)
	}
	b = append(b, "\r\n"...)
	for _, f := range m.Header {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, m.Body...)
}

// String is the wire form of m.
func (m *Message) String() string { return string(m.AppendTo(nil)) }

// Reader reads RTSP messages and interleaved frames from one side of a
// connection, within bounds.
type Reader struct {
	// MaxLine, MaxHeaders and MaxBody bound what one message may hold;
	// zero means DefaultMaxLine, DefaultMaxHeaders, DefaultMaxBody.
	MaxLine, MaxHeaders, MaxBody int

	br    *bufio.Reader
	frame []byte
}

// NewReader returns a Reader on r with a buffer of maxLine bytes (0 for
// DefaultMaxLine).
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{MaxLine: maxLine, br: bufio.NewReaderSize(r, maxLine)}
}

// Read returns the next message, or the next interleaved frame whole
// ('$', channel, length, payload). A frame is valid until the next Read.
// Empty lines between messages are skipped (RFC 2326 §4 keep-alives).
// Input that breaks the limits or is not RTSP yields an error wrapping
// ErrMalformed; the end of input yields io.EOF (io.ErrUnexpectedEOF in the
// middle of a message).
func (r *Reader) Read() (*Message, []byte, error) {
	for {
		c, err := r.br.Peek(1)
		if err != nil {
			return nil, nil, err
		}
		switch c[0] {
		case '$':
			f, err := r.readFrame()
			return nil, f, err
		case '\r', '\n':
			r.br.Discard(1)
			continue
		}
		m, err := r.readMessage()
		return m, nil, err
	}
}

func (r *Reader) readFrame() ([]byte, error) {
	h, err := r.br.Peek(frameHeader)
	if err != nil {
		return nil, unexpected(err)
	}
	n := frameHeader + (int(h[2])<<8 | int(h[3]))
	if cap(r.frame) < n {
		r.frame = make([]byte, n, frameHeader+0xffff)
	}
	r.frame = r.frame[:n]
	if _, err := io.ReadFull(r.br, r.frame); err != nil {
		return nil, unexpected(err)
	}
	return r.frame, nil
}

// line reads one line without its CRLF (or LF), within MaxLine.
func (r *Reader) line() (string, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(b) > r.maxLine() {
		return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, r.maxLine())
	}
	if err != nil {
		return "", unexpected(err)
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	if bytes.IndexByte(b, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL byte", ErrMalformed)
	}
	return string(b), nil
}

func (r *Reader) readMessage() (*Message, error) {
	start, err := r.line()
	if err != nil {
		return nil, err
	}
	m := &Message{}
	if err := m.parseStart(start); err != nil {
		return nil, err
	}
	for {
		l, err := r.line()
		if err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' { // folded continuation (RFC 2326 §4.2, RFC 822)
			if len(m.Header) == 0 {
				return nil, fmt.Errorf("%w: continuation before any header", ErrMalformed)
			}
			last := &m.Header[len(m.Header)-1]
			last.Value = strings.TrimSpace(last.Value + " " + strings.TrimSpace(l))
			continue
		}
		if len(m.Header) >= r.maxHeaders() {
			return nil, fmt.Errorf("%w: more than %d header fields", ErrMalformed, r.maxHeaders())
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: header line %q", ErrMalformed, l)
		}
		m.Header = append(m.Header, Field{Name: name, Value: strings.TrimSpace(value)})
	}
	if v, ok := m.Get("Content-Length"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > r.maxBody() {
			return nil, fmt.Errorf("%w: Content-Length %q (at most %d)", ErrMalformed, v, r.maxBody())
		}
		if n > 0 {
			m.Body = make([]byte, n)
			if _, err := io.ReadFull(r.br, m.Body); err != nil {
				return nil, unexpected(err)
			}
		}
	}
	return m, nil
}

// parseStart parses a request line or a status line.
func (m *Message) parseStart(l string) error {
	if strings.HasPrefix(l, "RTSP/") {
		proto, rest, ok := strings.Cut(l, " ")
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if !ok || err != nil || n < 100 || n > 999 || len(code) != 3 {
			return fmt.Errorf("%w: status line %q", ErrMalformed, l)
		}
		m.Proto, m.Status, m.Reason = proto, n, reason
		return nil
	}
	parts := strings.Split(l, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasPrefix(parts[2], "RTSP/") || !isToken(parts[0]) {
		return fmt.Errorf("%w: request line %q", ErrMalformed, l)
	}
	m.Method, m.URI, m.Proto = parts[0], parts[1], parts[2]
	return nil
}

// isToken reports whether s is a method name: letters, digits, '_', '-'.
func isToken(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (r *Reader) maxLine() int    { return orDefault(r.MaxLine, DefaultMaxLine) }
func (r *Reader) maxHeaders() int { return orDefault(r.MaxHeaders, DefaultMaxHeaders) }
func (r *Reader) maxBody() int    { return orDefault(r.MaxBody, DefaultMaxBody) }

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// unexpected turns an EOF inside a message into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// NewResponse returns a response to req with the given status, carrying
// req's CSeq (and Session, if any) as RFC 2326 §12.17 asks.
func NewResponse(req *Message, status int, reason string) *Message {
	m := &Message{Proto: "RTSP/1.0", Status: status, Reason: reason}
	if v, ok := req.Get("CSeq"); ok {
		m.Header = append(m.Header, Field{Name: "CSeq", Value: v})
	}
	if v, ok := req.Get("Session"); ok {
		m.Header = append(m.Header, Field{Name: "Session", Value: v})
	}
	return m
}
