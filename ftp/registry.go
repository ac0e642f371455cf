package ftp

import (
	"errors"
	"strconv"
	"time"

	"github.com/algd/algd/alg"
)

// Info reads what the status page shows about s (alg.Session).
func (s *session) Info() alg.SessionInfo {
	in := alg.SessionInfo{
		ID:       s.id,
		Proto:    "ftp",
		Listener: s.h.Name,
		Client:   s.clientAddr,
		TLS:      s.tlsShown.Load(),
		Started:  s.started,
	}
	in.Transferring = s.active.Load() > 0
	s.mu.Lock()
	defer s.mu.Unlock()
	in.BytesDown, in.BytesUp, in.Transfers = s.down, s.up, s.transfers
	for lv := range s.live {
		d, u := lv.bytes()
		in.BytesDown += d
		in.BytesUp += u
	}
	in.Realserver, in.User = s.rsAddr, s.user
	switch {
	case s.current != nil && s.current.x == nil, s.current == nil && s.port != nil:
		in.Mode = "active"
	case s.current != nil, s.waiting != nil:
		in.Mode = "passive"
	}
	return in
}

// drainQuiet is how long a draining session must have sent no command
// and moved no data (since it began) before it is ended: a client in
// the middle of a conversation (a login, PASV then RETR, one transfer
// after another) finishes it; only one that waits is told 421. This
// matters most when the drain is a takeover, where sessions accepted
// just before the new algd took the listener would otherwise be ended
// between USER and PASS.
const drainQuiet = time.Second

// drainIdle reports whether a draining session may end now: nothing is
// owed to the client, no data connection is open or expected, and the
// session has been quiet (no command, no data) for drainQuiet. Called with s.ctl held.
func (s *session) drainIdle() bool {
	if len(s.queue) > 0 || s.active.Load() > 0 {
		return false
	}
	last := s.started.UnixNano()
	last = max(last, s.lastCmd.Load(), s.dataMoved.Load())
	if time.Since(time.Unix(0, last)) < drainQuiet {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting == nil && s.port == nil
}

// TryDrain ends s with a 421 if it is idle (RFC 959: the server is going
// away); a session with a command or transfer in flight is left alone.
func (s *session) TryDrain() {
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

// End ends s now, transfers in flight or not, with a 421 (alg.Session):
// an operator ended it.
func (s *session) End() {
	s.ctl.Lock()
	live := s.cancel != nil && s.endErr == nil
	if live {
		s.send(NewReply(421, "Session ended by the administrator, closing control connection."))
	}
	s.ctl.Unlock()
	if live {
		s.end(errEnded)
	}
}

// sessionID numbers a new session of h: through the registry when there is
// one (ids unique across reloads), else per handler.
func (h *Handler) sessionID() string {
	if h.Registry != nil {
		return h.Registry.NextID(h.Name)
	}
	return h.Name + "-" + strconv.FormatUint(h.ids.Add(1), 10)
}

// register adds s to the handler's registry, if any, and returns the
// function that removes it again.
func (s *session) register() (remove func()) {
	if s.h.Registry == nil {
		return func() {}
	}
	return s.h.Registry.Add(s)
}

// errDraining ends a session closed by a drain.
var errDraining = errors.New("server draining")

// errEnded ends a session an operator ended (admin listener).
var errEnded = errors.New("ended by the administrator")
