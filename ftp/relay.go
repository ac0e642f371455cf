package ftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Multi-line realserver replies are relayed line by line (readBackend):
// a session never holds a whole reply, whatever its length.

const (
	// maxHeldBytes and maxHeldLines bound a multi-line reply that algd
	// reads whole before the client gets it (FEAT, 227/229, a transfer's
	// final reply, an unsolicited reply); every other multi-line reply is
	// relayed as it comes, within max_reply_bytes.
	maxHeldBytes = 64 << 10
	maxHeldLines = 1000
	// streamFlush is how much of a relayed multi-line reply algd buffers
	// before writing it to the client (it writes sooner when the realserver
	// has nothing more ready).
	streamFlush = 16 << 10
)

// nextLine reads the realserver's next reply line. A realserver gets the
// idle timeout for each line; while a transfer runs, it may take as long
// as the transfer (its final reply comes when the data is through).
func (s *session) nextLine(ctx context.Context) (line []byte, code int, more bool, err error) {
	for {
		s.backend.SetReadDeadline(time.Now().Add(s.idle))
		line, code, more, err = s.bk.Next()
		var ne net.Error
		if err == nil || ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			return line, code, more, err
		}
		s.ctl.Lock()
		wait := s.active.Load() > 0 || s.transferPending()
		s.ctl.Unlock()
		if !wait {
			return line, code, more, err
		}
	}
}

// holds reports whether the multi-line reply starting with code must be
// read whole before the client gets any of it: algd rewrites it (227, 229,
// FEAT, the replies to PASV, EPSV, PORT and EPRT), holds it until the data
// is through (a transfer's final reply), or nobody asked for it. The
// others (replies to plain commands such as STAT, HELP or LIST's 150) are
// relayed as they come.
func (s *session) holds(code int) bool {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if code == 227 || code == 229 || len(s.queue) == 0 {
		return true
	}
	k := s.queue[0].kind
	if code < 200 {
		return k == kindTransfer // a 1xx may become 425 (transferPrelim)
	}
	return k != kindPlain && k != kindQUIT
}

// readRest reads the rest of a multi-line reply whose first line is first
// and gives emit every line of it, the first included, with more false for
// the last. Beyond limit bytes (line ends counted) or maxLines lines (0:
// any number), lines are read and dropped, and the last one is replaced
// by "ddd Reply truncated by algd.", so the reply still ends cleanly for
// the client and the next reply is found where the realserver's ends.
func (s *session) readRest(ctx context.Context, first []byte, code, limit, maxLines int, emit func(line []byte, more bool) error) error {
	total, n := len(first)+2, 1
	if err := emit(first, true); err != nil {
		return err
	}
	for {
		line, _, more, err := s.nextLine(ctx)
		if err != nil {
			return err
		}
		total, n = total+len(line)+2, n+1
		over := total > limit || (maxLines > 0 && n > maxLines)
		switch {
		case !over:
			err = emit(line, more)
		case !more:
			s.logger().Warn("realserver reply truncated", "code", code, "bytes", total, "lines", n)
			err = emit(truncated(code), false)
		}
		if err != nil || !more {
			return err
		}
	}
}

// truncated is the last line of a reply cut by algd.
func truncated(code int) []byte {
	return fmt.Appendf(nil, "%d Reply truncated by algd.", code)
}

// streamBuffers holds the buffers of replies being relayed.
var streamBuffers = sync.Pool{New: func() any { b := make([]byte, 0, streamFlush+8192); return &b }}

// stream relays a multi-line reply to the client as it comes, through a
// buffer of about streamFlush bytes that is written whenever it is full or
// the realserver has nothing more ready, within max_reply_bytes. While the
// reply is open, s.open holds its code, so that any reply of algd's own
// (a 421) first ends it for the client. rerr is a failure to read the
// reply, werr one to write it to the client.
func (s *session) stream(ctx context.Context, first []byte, code int) (rerr, werr error) {
	bp := streamBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		*bp = buf[:0]
		streamBuffers.Put(bp)
	}()
	rerr = s.readRest(ctx, first, code, s.maxReply, 0, func(line []byte, more bool) error {
		buf = append(append(buf, line...), '\r', '\n')
		if more && len(buf) < streamFlush && s.bk.Buffered() > 0 {
			return nil
		}
		s.ctl.Lock()
		defer s.ctl.Unlock()
		s.open, s.lastCode = code, code
		werr = s.write(buf)
		buf = buf[:0]
		if werr == nil {
			// A client reading a long reply is not idle.
			s.touchData()
		}
		if !more && werr == nil {
			s.open = 0
		}
		return werr
	})
	if werr != nil {
		rerr = nil
	}
	return rerr, werr
}

// relayed completes a reply that stream relayed: a final reply answers the
// oldest pending command, which is then done. done is true when the
// session should end after it (QUIT).
func (s *session) relayed(code int) (done bool, err error) {
	if code < 200 {
		return false, nil
	}
	p := s.queue[0]
	s.queue = s.queue[1:]
	return s.flushLocal(p)
}
