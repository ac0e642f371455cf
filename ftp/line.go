// Package ftp is algd's FTP application-layer gateway: the control-channel
// codec (lines, commands, multi-line replies, PORT/EPRT/PASV/EPSV
// addresses), the control session that relays and rewrites them, and the
// pairing of data connections through the VIP.
package ftp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is returned by ReadLine for a line longer than its limit.
// ReadLine stops as soon as it knows: the stream is then inside that line,
// so a caller answers 500 and closes (or skips the rest of the line itself).
var ErrLineTooLong = errors.New("ftp: line too long")

// ErrNUL is returned by ReadLine for a line holding a NUL byte, which
// RFC 959 §4.1.3 excludes from the control channel. The whole line has been
// consumed.
var ErrNUL = errors.New("ftp: NUL byte in line")

// ReadLine reads one control-channel line (RFC 959 §4, Telnet NVT lines) of
// at most max bytes including its line end, and returns it without the line
// end as a fresh slice that the caller owns.
//
// A line ends at LF; a CR LF pair or a bare LF is removed, a CR not followed
// by LF stays in the line. Every other byte is kept verbatim: bytes >= 0x80
// (RFC 2640 paths) and Telnet IAC (0xFF) sequences are not interpreted.
// ReadLine never buffers more than max bytes beyond r's own buffer, and
// never consumes more than max bytes of a line; max <= 0 means r's buffer
// size.
//
// Errors:
//   - ErrLineTooLong: max bytes of the line have come without its LF, and
//     at least one more byte is there. Exactly max bytes of the line have
//     been consumed: however long the line (a peer may send one without end
//     for ever), the error comes when the limit is passed, not at the
//     line's end.
//   - ErrNUL: the line, which fitted, holds a NUL byte; it was consumed.
//   - io.EOF: the stream ended cleanly before the first byte of a line.
//   - io.ErrUnexpectedEOF: the stream ended inside a line.
//   - any other error comes from r, wrapped; the stream position is then
//     undefined and the connection should be closed.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	line, _, err := ReadLineCRLF(r, max)
	return line, err
}

// ReadLineCRLF is ReadLine that also reports whether the line ended with
// CR LF, as RFC 959 §4.1 requires of commands, rather than a bare LF.
func ReadLineCRLF(r *bufio.Reader, max int) (line []byte, crlf bool, err error) {
	line, crlf, err = appendLineCRLF(nil, r, max)
	if err != nil {
		return nil, false, err
	}
	return line, crlf, nil
}

// appendLine reads one line as ReadLine does, appends it (without its line
// end) to dst and returns the extended slice. On an error from r (not
// ErrLineTooLong, ErrNUL or an EOF), the bytes of the line read so far are
// appended and returned with the error, so that a caller may retry after a
// timeout: appendLine(partial, r, max) goes on with the same line.
func appendLine(dst []byte, r *bufio.Reader, max int) ([]byte, error) {
	dst, _, err := appendLineCRLF(dst, r, max)
	return dst, err
}

// appendLineCRLF is appendLine that also reports whether the line ended
// with CR LF.
func appendLineCRLF(dst []byte, r *bufio.Reader, max int) ([]byte, bool, error) {
	if max <= 0 {
		max = r.Size()
	}
	start := len(dst)
	for {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				switch {
				case err != io.EOF:
					return dst, false, fmt.Errorf("ftp: read line: %w", err)
				case len(dst) == start:
					return dst, false, io.EOF
				}
				return dst[:start], false, io.ErrUnexpectedEOF
			}
		}
		room := max - (len(dst) - start) // bytes the line may still take, LF included
		if room == 0 {
			return dst[:start], false, ErrLineTooLong
		}
		buf, _ := r.Peek(min(r.Buffered(), room))
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			dst = append(dst, buf[:i]...)
			r.Discard(i + 1)
			return finishLine(dst, start)
		}
		dst = append(dst, buf...)
		r.Discard(len(buf))
	}
}

// finishLine strips the CR of a CR LF from the line that starts at
// line[start:] (its LF is already gone), says whether there was one, and
// checks the line for NUL.
func finishLine(line []byte, start int) ([]byte, bool, error) {
	crlf := false
	if n := len(line); n > start && line[n-1] == '\r' {
		line, crlf = line[:n-1], true
	}
	if bytes.IndexByte(line[start:], 0) >= 0 {
		return line[:start], false, ErrNUL
	}
	return line, crlf, nil
}

// discardLine skips the rest of a line that ReadLine found too long, up to
// and including its LF or the end of the stream (then nil).
func discardLine(r *bufio.Reader) error {
	for {
		_, err := r.ReadSlice('\n')
		switch {
		case err == nil, err == io.EOF:
			return nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("ftp: read line: %w", err)
		}
	}
}
