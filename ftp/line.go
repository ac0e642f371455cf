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
// The rest of that line has been discarded, so a caller may answer 500 and
// read the next line, or close.
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
// ReadLine never buffers more than max bytes beyond r's own buffer; max <= 0
// means r's buffer size.
//
// Errors:
//   - ErrLineTooLong: the line exceeded max; the rest of it, up to and
//     including its LF (or up to EOF), has been discarded.
//   - ErrNUL: the line, which fitted, holds a NUL byte; it was consumed.
//   - io.EOF: the stream ended cleanly before the first byte of a line.
//   - io.ErrUnexpectedEOF: the stream ended inside a line.
//   - any other error comes from r, wrapped; the stream position is then
//     undefined and the connection should be closed.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = r.Size()
	}
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			if err == nil {
				return nil, ErrLineTooLong
			}
			return nil, discardLine(r, err)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return finishLine(line)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(line) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, fmt.Errorf("ftp: read line: %w", err)
		}
	}
}

// finishLine strips the line end of a complete line and checks it for NUL.
func finishLine(line []byte) ([]byte, error) {
	line = line[:len(line)-1] // the LF
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return nil, ErrNUL
	}
	return line, nil
}

// discardLine skips the rest of an overlong line, whose last read ended with
// err (bufio.ErrBufferFull or a read error), up to and including its LF.
func discardLine(r *bufio.Reader, err error) error {
	for {
		switch {
		case err == nil, err == io.EOF:
			return ErrLineTooLong
		case !errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("ftp: read line: %w", err)
		}
		_, err = r.ReadSlice('\n')
	}
}
