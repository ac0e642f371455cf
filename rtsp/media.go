package rtsp

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
)

// media is one RTSP session (a Session id) as algd sees it: the
// realserver that owns it and the UDP relays of its streams. It outlives
// control connections: a client may TEARDOWN or keep alive over a new one.
type media struct {
	id      string
	rs      netip.AddrPort
	timeout time.Duration
	table   *mediaTable

	last atomic.Int64 // unix nanoseconds of the last request of the session

	mu     sync.Mutex
	relays []*alg.UDPRelay
	closed bool
	timer  *time.Timer
}

// mediaTable holds the live media sessions of one listener by id.
type mediaTable struct {
	mu   sync.Mutex
	byID map[string]*media
	// onClose is called once per ended session, outside the lock.
	onClose func(m *media, why string)
}

func newMediaTable(onClose func(*media, string)) *mediaTable {
	return &mediaTable{byID: make(map[string]*media), onClose: onClose}
}

// get returns the live session id, or nil.
func (t *mediaTable) get(id string) *media {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// attach returns session id of realserver rs, creating it with the given
// timeout. A session of that id on another realserver is a different one
// (ids are only unique per server): it is replaced.
func (t *mediaTable) attach(id string, rs netip.AddrPort, timeout time.Duration) *media {
	t.mu.Lock()
	m := t.byID[id]
	if m != nil && m.rs == rs {
		t.mu.Unlock()
		m.touch()
		return m
	}
	old := m
	m = &media{id: id, rs: rs, timeout: timeout, table: t}
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

// len is the number of live sessions.
func (t *mediaTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// closeAll ends every session (shutdown).
func (t *mediaTable) closeAll(why string) {
	t.mu.Lock()
	all := make([]*media, 0, len(t.byID))
	for _, m := range t.byID {
		all = append(all, m)
	}
	t.mu.Unlock()
	for _, m := range all {
		m.close(why)
	}
}

// touch records a sign of life of the session.
func (m *media) touch() { m.last.Store(time.Now().UnixNano()) }

// add hands a relay to the session, which closes it with the session. It
// reports false (and closes r) when the session has ended meanwhile.
func (m *media) add(r *alg.UDPRelay) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		r.Close()
		return false
	}
	m.relays = append(m.relays, r)
	m.mu.Unlock()
	return true
}

// udp reports whether the session relays any stream over UDP.
func (m *media) udp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.relays) > 0
}

// lastSeen is the latest sign of life: a request of the session or a
// datagram from the client on any of its relays (RTCP receiver reports
// while playing, RTP while recording).
func (m *media) lastSeen() time.Time {
	t := time.Unix(0, m.last.Load())
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.relays {
		if u := r.LastUp(); u.After(t) {
			t = u
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

// close ends the session: its relays stop and their ports go back. Safe
// to call more than once.
func (m *media) close(why string) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	relays := m.relays
	m.relays = nil
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
	t := m.table
	t.mu.Lock()
	if t.byID[m.id] == m {
		delete(t.byID, m.id)
	}
	t.mu.Unlock()
	for _, r := range relays {
		r.Close()
	}
	if t.onClose != nil {
		t.onClose(m, why)
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
