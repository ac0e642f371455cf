package rtsp

import (
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
)

// media is one RTSP session (a Session id) as algd sees it: the
// realserver that owns it and its UDP streams (relays, and kernel mappings
// on the kernel path). It outlives
// control connections: a client may TEARDOWN or keep alive over a new one.
// While it relays UDP and no control connection holds it, it is in the
// registry on its own (registry.go).
type media struct {
	id      string
	rs      netip.AddrPort
	timeout time.Duration
	table   *Media
	// h is the handler generation that set the session up: its Stats
	// count the end; log is that control connection's logger.
	h       *Handler
	log     *slog.Logger
	origin  string         // the registry id of that control connection
	client  netip.AddrPort // its client
	started time.Time

	last atomic.Int64 // unix nanoseconds of the last request of the session

	mu          sync.Mutex
	streams     []*udpStream
	interleaved bool // a stream was set up interleaved (RTP/AVP/TCP)
	closed      bool
	timer       *time.Timer
	poller      *time.Timer // reads the kernel streams' counters; nil on the proxy path
	holders     int         // control connections that used the session and are open
	detached    func()      // removes its own registry entry; nil when not registered
}

// Media is the table of the live media sessions (Session ids) of one
// listener. It outlives handler generations: give every Handler of a
// listener the same Media, so that a request carrying a Session id finds
// its session whichever handler took the control connection, and Close it
// once at shutdown. Safe for concurrent use; make it with NewMedia.
type Media struct {
	mu   sync.Mutex
	byID map[string]*media
}

// NewMedia returns an empty media session table.
func NewMedia() *Media {
	return &Media{byID: make(map[string]*media)}
}

// get returns the live session id, or nil.
func (t *Media) get(id string) *media {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// attach returns session id of the realserver of s, creating it with the
// given timeout. A session of that id on another realserver is a
// different one (ids are only unique per server): it is replaced.
func (t *Media) attach(id string, s *conn, timeout time.Duration) *media {
	t.mu.Lock()
	m := t.byID[id]
	if m != nil && m.rs == s.rs {
		t.mu.Unlock()
		m.touch()
		return m
	}
	old := m
	m = &media{id: id, rs: s.rs, timeout: timeout, table: t, h: s.h, log: s.log,
		origin: s.id, client: s.peer, started: time.Now()}
	m.touch()
	t.byID[id] = m
	m.mu.Lock() // expire reads timer under mu
	m.timer = time.AfterFunc(timeout, m.expire)
	m.mu.Unlock()
	t.mu.Unlock()
	if old != nil {
		old.close("replaced")
	}
	return m
}

// Len is the number of live media sessions.
func (t *Media) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Close ends every media session (shutdown): relays stop and their
// ports go back.
func (t *Media) Close() {
	t.mu.Lock()
	all := make([]*media, 0, len(t.byID))
	for _, m := range t.byID {
		all = append(all, m)
	}
	t.mu.Unlock()
	for _, m := range all {
		m.close("shutdown")
	}
}

// touch records a sign of life of the session.
func (m *media) touch() { m.last.Store(time.Now().UnixNano()) }

// add hands a stream to the session, which closes it with the session.
// It reports false (and closes u) when the session has ended meanwhile.
func (m *media) add(u *udpStream) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		u.close()
		return false
	}
	m.streams = append(m.streams, u)
	if u.kernel != nil && m.poller == nil {
		m.poller = time.AfterFunc(kernelPoll, m.pollKernel)
	}
	m.mu.Unlock()
	return true
}

// pollKernel reads the conntrack counters of the session's kernel
// streams into the metrics, every kernelPoll until the session ends.
func (m *media) pollKernel() {
	for _, u := range m.udpStreams() {
		u.poll()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.poller.Reset(kernelPoll)
	}
}

// pollKernel reads the conntrack counters of every kernel stream of the
// table into the metrics (a scrape, /status).
func (t *Media) pollKernel() {
	t.mu.Lock()
	all := make([]*media, 0, len(t.byID))
	for _, m := range t.byID {
		all = append(all, m)
	}
	t.mu.Unlock()
	for _, m := range all {
		for _, u := range m.udpStreams() {
			u.poll()
		}
	}
}

// udpStreams returns the session's UDP streams now.
func (m *media) udpStreams() []*udpStream {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.streams)
}

// setInterleaved notes a stream set up interleaved in a control
// connection.
func (m *media) setInterleaved() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.interleaved = true
}

// relaying reports whether the session has a stream (UDP or interleaved)
// and has not ended: a transfer in flight, which a drain lets finish.
func (m *media) relaying() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.closed && (len(m.streams) > 0 || m.interleaved)
}

// udp reports whether the session relays any stream over UDP.
func (m *media) udp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams) > 0
}

// lastSeen is the latest sign of life: a request of the session or a
// datagram from the client on any of its streams (RTCP receiver reports
// while playing, RTP while recording), relayed by algd or counted by
// conntrack (read now: the session's end is decided on it).
func (m *media) lastSeen() time.Time {
	t := time.Unix(0, m.last.Load())
	for _, u := range m.udpStreams() {
		u.pollNow()
		if l := u.lastUp(); l.After(t) {
			t = l
		}
	}
	return t
}

// expire runs when the timer fires: it ends an idle session or waits for
// the rest of the timeout.
func (m *media) expire() {
	left := m.timeout - time.Since(m.lastSeen())
	if left > 0 {
		m.mu.Lock()
		if !m.closed {
			m.timer.Reset(left)
		}
		m.mu.Unlock()
		return
	}
	m.close("timeout")
}

// close ends the session: its kernel flows are cut, its relays stop and
// their ports go back. Safe
// to call more than once.
func (m *media) close(why string) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	streams, detached := m.streams, m.detached
	m.streams, m.detached = nil, nil
	if m.timer != nil {
		m.timer.Stop()
	}
	if m.poller != nil {
		m.poller.Stop()
	}
	m.mu.Unlock()
	t := m.table
	t.mu.Lock()
	if t.byID[m.id] == m {
		delete(t.byID, m.id)
	}
	t.mu.Unlock()
	for _, u := range streams {
		u.close()
	}
	m.h.stats().SessionsEnded.Add(1)
	m.h.stats().MediaDurations.Observe(time.Since(m.started))
	m.log.Info("media session ended", "rtsp_session", m.id, "why", why, "duration", alg.Seconds(time.Since(m.started)))
	if detached != nil {
		detached() // after the relays: their ports are back
	}
}

// parseSession splits a Session header value (RFC 2326 §12.37) into the
// id and the timeout, zero when absent or invalid.
func parseSession(v string) (id string, timeout time.Duration) {
	id, params, _ := strings.Cut(v, ";")
	id = strings.TrimSpace(id)
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "timeout") {
			if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n > 0 && n < 86400 {
				timeout = time.Duration(n) * time.Second
			}
		}
	}
	return id, timeout
}
