package ftp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// drainPoll is how often a draining session checks whether it is idle
// (no command pending, no data connection open or expected).
const drainPoll = 100 * time.Millisecond

// Registry knows every live control session of the handlers that share it,
// for the status page, and drains them at shutdown. It also numbers the
// sessions, so ids stay unique across handlers rebuilt by a reload. Safe
// for concurrent use; the zero value is not usable, call NewRegistry.
type Registry struct {
	ids atomic.Uint64

	mu       sync.Mutex
	sessions map[*session]*regEntry
	empty    chan struct{} // closed while no session is registered

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
}

// regEntry is what the registry knows about one session besides the
// session itself.
type regEntry struct {
	id       string
	listener string
	client   netip.AddrPort
	started  time.Time
	tls      atomic.Bool // the client's control connection is under TLS
}

// SessionInfo describes one live session.
type SessionInfo struct {
	// ID is the session id that every log line of the session carries.
	ID string `json:"id"`
	// Listener is the name of the [[ftp]] listener.
	Listener string `json:"listener"`
	// Client is the client's address (from a PROXY header when one was
	// accepted).
	Client netip.AddrPort `json:"client"`
	// Realserver is the realserver's control address.
	Realserver netip.AddrPort `json:"realserver"`
	// TLS reports a control connection under TLS (AUTH TLS or implicit).
	TLS bool `json:"tls"`
	// Mode is the data mode of the latest transfer set-up: "passive",
	// "active", or "" before any.
	Mode string `json:"mode"`
	// Transferring reports a data connection open now.
	Transferring bool `json:"transferring"`
	// Transfers counts finished data connections; BytesDown (realserver to
	// client) and BytesUp (client to realserver) the bytes they carried.
	Transfers int   `json:"transfers"`
	BytesDown int64 `json:"bytes_down"`
	BytesUp   int64 `json:"bytes_up"`
	// Started is when the session began.
	Started time.Time `json:"started"`
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	empty := make(chan struct{})
	close(empty)
	return &Registry{sessions: make(map[*session]*regEntry), empty: empty, drain: make(chan struct{})}
}

// nextID returns a new session id for listener name.
func (r *Registry) nextID(name string) string {
	return name + "-" + strconv.FormatUint(r.ids.Add(1), 10)
}

// add registers s and returns its entry and the function that removes it.
func (r *Registry) add(s *session, e *regEntry) (remove func()) {
	r.mu.Lock()
	if len(r.sessions) == 0 {
		r.empty = make(chan struct{})
	}
	r.sessions[s] = e
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.sessions[s]; !ok {
			return
		}
		delete(r.sessions, s)
		if len(r.sessions) == 0 {
			close(r.empty)
		}
	}
}

// Len is the number of live sessions.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Sessions describes every live session, oldest first. Byte counts grow
// when a data connection ends (they come from the pipe's results).
func (r *Registry) Sessions() []SessionInfo {
	r.mu.Lock()
	type pair struct {
		s *session
		e *regEntry
	}
	all := make([]pair, 0, len(r.sessions))
	for s, e := range r.sessions {
		all = append(all, pair{s, e})
	}
	r.mu.Unlock()
	out := make([]SessionInfo, 0, len(all))
	for _, p := range all {
		out = append(out, p.s.info(p.e))
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return cmpID(a.ID, b.ID)
	})
	return out
}

// cmpID orders ids by length first, so "x-9" comes before "x-10".
func cmpID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Drain asks every session, now and later, to end as soon as it is idle:
// no command waiting for its reply, no data connection open or expected.
// An idle session is told 421 and closed; a transfer in flight finishes
// first. Sessions started after Drain end at their first idle moment.
func (r *Registry) Drain() {
	r.drainOnce.Do(func() {
		close(r.drain)
		go r.drainLoop()
	})
}

// drainLoop ends every session as soon as it is idle, polling until none
// is left.
func (r *Registry) drainLoop() {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		r.mu.Lock()
		list := make([]*session, 0, len(r.sessions))
		for s := range r.sessions {
			list = append(list, s)
		}
		r.mu.Unlock()
		if len(list) == 0 {
			return
		}
		for _, s := range list {
			s.tryDrain()
		}
		<-t.C
	}
}

// Draining is closed once Drain has been called.
func (r *Registry) Draining() <-chan struct{} { return r.drain }

// Wait blocks until no session is registered or ctx is done.
func (r *Registry) Wait(ctx context.Context) error {
	for {
		r.mu.Lock()
		empty := r.empty
		n := len(r.sessions)
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-empty:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// info reads what the status page shows about s.
func (s *session) info(e *regEntry) SessionInfo {
	in := SessionInfo{
		ID:         e.id,
		Listener:   e.listener,
		Client:     e.client,
		Realserver: s.rsAddr,
		TLS:        e.tls.Load(),
		Started:    e.started,
	}
	in.Transferring = s.active.Load() > 0
	s.mu.Lock()
	defer s.mu.Unlock()
	in.BytesDown, in.BytesUp, in.Transfers = s.down, s.up, s.transfers
	switch {
	case s.current != nil && s.current.x == nil, s.current == nil && s.port != nil:
		in.Mode = "active"
	case s.current != nil, s.waiting != nil:
		in.Mode = "passive"
	}
	return in
}

// drainIdle reports whether a draining session may end now: nothing is
// owed to the client and no data connection is open or expected. Called
// with s.ctl held.
func (s *session) drainIdle() bool {
	if len(s.queue) > 0 || s.active.Load() > 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting == nil && s.port == nil
}

// tryDrain ends s with a 421 if it is idle (RFC 959: the server is going
// away); a session with a command or transfer in flight is left alone.
func (s *session) tryDrain() {
	s.ctl.Lock()
	idle := s.cancel != nil && s.endErr == nil && s.drainIdle()
	if idle {
		s.send(NewReply(421, "Service closing control connection, server shutting down."))
	}
	s.ctl.Unlock()
	if idle {
		s.end(errDraining)
	}
}

// sessionID numbers a new session of h: through the registry when there is
// one (ids unique across reloads), else per handler.
func (h *Handler) sessionID() string {
	if h.Registry != nil {
		return h.Registry.nextID(h.Name)
	}
	return h.Name + "-" + strconv.FormatUint(h.ids.Add(1), 10)
}

// register adds s to the handler's registry, if any, and returns the
// function that removes it again.
func (s *session) register(id string, client netip.AddrPort, tlsOn bool) (remove func()) {
	r := s.h.Registry
	if r == nil {
		return func() {}
	}
	e := &regEntry{id: id, listener: s.h.Name, client: client, started: time.Now()}
	e.tls.Store(tlsOn)
	return r.add(s, e)
}

// markTLS records that s's control connection is now under TLS.
func (s *session) markTLS() {
	r := s.h.Registry
	if r == nil {
		return
	}
	r.mu.Lock()
	e := r.sessions[s]
	r.mu.Unlock()
	if e != nil {
		e.tls.Store(true)
	}
}

// errDraining ends a session closed by a drain.
var errDraining = errors.New("server draining")
