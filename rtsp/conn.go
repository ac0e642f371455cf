package rtsp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/pool"
)

// conn is one client control connection and its realserver connection.
// It owns both TCP connections, the pool lease and the media pairs of
// SETUPs still waiting for their answer; media sessions it set up live in
// the Handler's table and outlive it when they relay UDP.
type conn struct {
	h           *Handler
	client      *net.TCPConn
	backend     *net.TCPConn
	peer, local netip.AddrPort
	backLocal   netip.AddrPort
	vip         netip.Addr
	rs          netip.AddrPort
	lease       *pool.Lease
	id          string // the registry's, as logged under "session"
	started     time.Time
	log         *slog.Logger
	cancel      context.CancelFunc // closes both sides

	// framesDown and framesUp count interleaved frames' bytes.
	framesDown, framesUp atomic.Int64

	// urls is used by the client loop (ToBack sets Front) and read by the
	// backend loop: guarded by mu.
	urls URLMap

	wmu sync.Mutex // serialises writes to the client

	mu      sync.Mutex
	pend    map[string]*pending // by CSeq
	touched map[*media]bool     // sessions used on this connection
	// inflight counts requests read and not yet forwarded or answered,
	// and answers taken from pend and not yet written: with pend, what a
	// drain waits for.
	inflight int
	drained  bool // TryDrain closed the connection
	// streams are the UDP streams set up through this connection while
	// their sessions live; doneDown and doneUp the bytes of those ended.
	streams          []stream
	doneDown, doneUp int64
	transfers        int    // streams set up, UDP or interleaved
	mode             string // transport of the latest: "udp", "interleaved"
}

// stream is a UDP stream set up through a connection, and its session.
type stream struct {
	md *media
	u  *udpStream
}

// pending is a request sent to the realserver and waiting for its answer.
type pending struct {
	method  string
	session string // the request's Session id
	setup   *setupState
}

// serve runs the connection until either side closes or ctx ends.
func (s *conn) serve(ctx context.Context) {
	defer s.client.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.cancel = cancel
	stop := context.AfterFunc(ctx, func() { s.client.Close() })
	defer stop()

	cr := NewReader(s.client, s.h.Limits.MaxLineBytes)
	s.deadline()
	first, _, err := cr.Read()
	if err != nil || first == nil || !first.IsRequest() {
		s.readFailed("client", err)
		return
	}
	if s.h.Sessions != nil {
		release, err := s.h.Sessions.Acquire(s.peer.Addr())
		if err != nil {
			s.h.stats().Refused.Add(1)
			s.log.Info("connection refused", "err", err)
			s.reply(first, 503, "Service Unavailable")
			return
		}
		defer release()
	}
	if err := s.connect(ctx, first); err != nil {
		s.h.stats().Refused.Add(1)
		s.log.Warn("no realserver", "err", err)
		s.reply(first, 503, "Service Unavailable")
		return
	}
	// The connection leaves the registry after cleanup, which registers
	// the media sessions that go on without it.
	defer s.register()()
	defer s.cleanup()
	stopB := context.AfterFunc(ctx, func() { s.backend.Close() })
	defer stopB()
	s.log.Info("connection")

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		s.backendLoop()
	}()
	s.clientLoop(cr, first)
	cancel()
	<-done
}

// deadline arms the client read deadline for the control idle timeout.
func (s *conn) deadline() {
	if d := s.h.Limits.ControlIdleTimeout.Duration; d > 0 {
		s.client.SetReadDeadline(time.Now().Add(d))
	}
}

// readFailed logs why reading from side stopped: EOF and closed
// connections are the normal end.
func (s *conn) readFailed(side string, err error) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.log.Debug("closed", "side", side)
	case errors.Is(err, ErrMalformed):
		s.log.Info("malformed input", "side", side, "err", err)
		if side == "client" {
			s.writeClient([]byte("RTSP/1.0 400 Bad Request\r\n\r\n"))
		}
	default:
		s.log.Debug("read failed", "side", side, "err", err)
	}
}

// connect connects to a realserver through alg.Backends: the one of the
// request's session, if algd knows it, else one picked from the pool,
// failing over to the others and retrying busy ones, with the timeouts
// and marking FTP has.
func (s *conn) connect(ctx context.Context, first *Message) error {
	var prefer netip.AddrPort
	if v, ok := first.Get("Session"); ok {
		id, _ := parseSession(v)
		if m := s.h.table().get(id); m != nil {
			prefer = m.rs
		}
	}
	b := alg.Backends{
		Pool:    s.h.Pool,
		Source:  s.h.BackendSource,
		Timeout: s.h.Limits.BackendConnectTimeout.Duration,
		Dial:    s.h.Dial,
		Local:   s.h.Local,
		Logger:  s.log,
	}
	bk, err := b.Open(ctx, s.peer.Addr(), prefer, nil)
	if err != nil {
		return err
	}
	s.backend, s.rs, s.lease = bk.Conn, bk.Addr, bk.Lease
	s.backLocal = alg.AddrPortOf(bk.Conn.LocalAddr())
	s.urls = URLMap{Back: s.rs, VIP: s.vip, Front: authority(netip.AddrPortFrom(s.vip, s.local.Port()))}
	s.log = s.log.With("backend", s.rs.String())
	return nil
}

// clientLoop relays what the client sends, starting with first, until
// the client or the realserver connection ends.
func (s *conn) clientLoop(cr *Reader, first *Message) {
	m, frame := first, []byte(nil) // first is counted in inflight
	for {
		var err error
		if m != nil {
			err = s.fromClient(m)
			if m.IsRequest() {
				s.busy(-1)
			}
		} else {
			_, err = s.backend.Write(frame) // interleaved data: untouched
			s.framesUp.Add(int64(len(frame)))
		}
		if err != nil {
			s.log.Debug("write to realserver failed", "err", err)
			return
		}
		s.deadline()
		m, frame, err = cr.Read()
		if err != nil {
			s.readFailed("client", err)
			return
		}
		if m != nil && m.IsRequest() {
			s.busy(1)
		}
	}
}

// busy counts a request or answer in flight (n 1) or done (n -1).
func (s *conn) busy(n int) {
	s.mu.Lock()
	s.inflight += n
	s.mu.Unlock()
}

// backendLoop relays what the realserver sends until it closes.
func (s *conn) backendLoop() {
	br := NewReader(s.backend, s.h.Limits.MaxLineBytes)
	for {
		m, frame, err := br.Read()
		if err != nil {
			s.readFailed("backend", err)
			return
		}
		switch {
		case m == nil:
			err = s.writeClient(frame)
			s.framesDown.Add(int64(len(frame)))
		case m.IsRequest(): // a server's request (ANNOUNCE, GET_PARAMETER)
			s.mu.Lock()
			m.URI = s.urls.ToFront(m.URI)
			s.mu.Unlock()
			err = s.writeClient(m.AppendTo(nil))
		default:
			err = s.fromBackend(m)
		}
		if err != nil {
			s.log.Debug("write to client failed", "err", err)
			return
		}
	}
}

// fromClient rewrites a client request and sends it to the realserver,
// or answers it here (461, 453, 454).
func (s *conn) fromClient(m *Message) error {
	if !m.IsRequest() { // the client's answer to a server request
		_, err := s.backend.Write(m.AppendTo(nil))
		return err
	}
	s.log.Debug("request", "method", m.Method, "uri", m.URI)
	s.mu.Lock()
	m.URI = s.urls.ToBack(m.URI)
	s.mu.Unlock()
	p := &pending{method: strings.ToUpper(m.Method)}
	if v, ok := m.Get("Session"); ok {
		p.session, _ = parseSession(v)
		if md := s.h.table().get(p.session); md != nil {
			if md.rs != s.rs {
				// The session lives on another realserver than this
				// connection's (RFC 2326 §12.37 lets a client use any
				// connection): algd keeps one realserver per connection.
				return s.reply(m, 454, "Session Not Found")
			}
			md.touch()
			s.remember(md)
		}
	}
	switch p.method {
	case "SETUP":
		if answered, err := s.setupRequest(m, p); answered {
			return err
		}
	case "TEARDOWN":
		// The session ends with the request: clients close the
		// connection right after sending it, often before the answer.
		if md := s.h.table().get(p.session); md != nil && md.rs == s.rs {
			md.close("teardown")
		}
	}
	cseq, _ := m.Get("CSeq")
	s.mu.Lock()
	if old := s.pend[cseq]; old != nil && old.setup != nil {
		old.setup.close() // a reused CSeq: the old answer can no longer be told apart
	}
	s.pend[cseq] = p
	s.mu.Unlock()
	_, err := s.backend.Write(m.AppendTo(nil))
	return err
}

// fromBackend rewrites a realserver response and sends it to the client.
func (s *conn) fromBackend(m *Message) error {
	cseq, _ := m.Get("CSeq")
	s.mu.Lock()
	p := s.pend[cseq]
	delete(s.pend, cseq)
	s.inflight++ // until the answer is written
	urls := s.urls
	s.mu.Unlock()
	defer s.busy(-1)
	for _, name := range []string{"Content-Base", "Content-Location", "RTP-Info"} {
		if v, ok := m.Get(name); ok {
			m.Set(name, urls.ToFront(v))
		}
	}
	if ct, _ := m.Get("Content-Type"); len(m.Body) > 0 && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/sdp") {
		m.SetBody(urls.SDP(m.Body))
	}
	if p != nil {
		if p.method == "SETUP" {
			s.setupResponse(m, p.setup)
		}
	}
	if v, ok := m.Get("Session"); ok {
		id, _ := parseSession(v)
		if md := s.h.table().get(id); md != nil && md.rs == s.rs {
			md.touch()
		}
	}
	return s.writeClient(m.AppendTo(nil))
}

// reply answers req from algd itself.
func (s *conn) reply(req *Message, status int, reason string) error {
	return s.writeClient(NewResponse(req, status, reason).AppendTo(nil))
}

func (s *conn) writeClient(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.client.Write(b)
	return err
}

// remember notes that md was used on this connection, which holds it
// (media.hold) until it closes.
func (s *conn) remember(md *media) {
	s.mu.Lock()
	if s.touched == nil {
		s.touched = make(map[*media]bool)
	}
	seen := s.touched[md]
	s.touched[md] = true
	s.mu.Unlock()
	if !seen {
		md.hold()
	}
}

// setUp counts a stream set up through the connection: u is its UDP
// stream, nil for an interleaved one. Streams of ended sessions are
// folded into the byte counts.
func (s *conn) setUp(md *media, u *udpStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers++
	if u == nil {
		s.mode = "interleaved"
		return
	}
	s.mode = "udp"
	live := s.streams[:0]
	for _, st := range s.streams {
		if st.md.udp() {
			live = append(live, st)
			continue
		}
		down, up := st.u.bytes() // final: the session's close polled
		s.doneDown += down
		s.doneUp += up
	}
	clear(s.streams[len(live):])
	s.streams = append(live, stream{md, u})
}

// cleanup runs when the connection ends: pairs of unanswered SETUPs go
// back, sessions that relay nothing over UDP end with their control
// connection (their media was interleaved in it, or never set up), and
// the realserver connection and lease are released.
func (s *conn) cleanup() {
	s.backend.Close()
	s.mu.Lock()
	pend, touched := s.pend, s.touched
	s.pend, s.touched = map[string]*pending{}, nil
	s.mu.Unlock()
	for _, p := range pend {
		if p.setup != nil {
			p.setup.close()
		}
	}
	for md := range touched {
		if !md.udp() {
			md.close("control closed")
		}
		md.release(s)
	}
	if s.lease != nil {
		s.lease.Release()
	}
	s.h.stats().ConnDurations.Observe(time.Since(s.started))
	s.log.Info("connection closed", "streams", s.transfers, "duration", alg.Seconds(time.Since(s.started)))
}
