package rtsp

import (
	"slices"
	"strconv"

	"github.com/algd/algd/alg"
)

// An RTSP control connection is an alg.Session from the moment it has a
// realserver until it closes. A media session that still relays UDP once
// every control connection that used it has closed (RFC 2326 lets the
// client keep it alive and TEARDOWN over a new connection) is registered
// on its own until it ends, under the id of the control connection that
// set it up, so that a drain waits for it; a new control connection using
// it takes it back.
var (
	_ alg.Session = (*conn)(nil)
	_ alg.Session = (*media)(nil)
)

// sessionID numbers a new control connection of h: through the registry
// when there is one (ids unique across handler generations), else per
// handler.
func (h *Handler) sessionID() string {
	if h.Registry != nil {
		return h.Registry.NextID(h.Name)
	}
	return h.Name + "-" + strconv.FormatUint(h.ids.Add(1), 10)
}

// register adds s to the handler's registry, if any, and returns the
// function that removes it again.
func (s *conn) register() (remove func()) {
	if s.h.Registry == nil {
		return func() {}
	}
	return s.h.Registry.Add(s)
}

// Info describes the control connection (alg.Session): its streams are
// those set up through it, Transferring says one of the media sessions it
// used still has a stream.
func (s *conn) Info() alg.SessionInfo {
	in := alg.SessionInfo{
		ID:         s.id,
		Proto:      "rtsp",
		Listener:   s.h.Name,
		Client:     s.peer,
		Realserver: s.rs,
		Started:    s.started,
		BytesDown:  s.framesDown.Load(),
		BytesUp:    s.framesUp.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in.Mode, in.Transfers = s.mode, s.transfers
	in.BytesDown += s.doneDown
	in.BytesUp += s.doneUp
	for _, st := range s.streams {
		st.u.poll()
		down, up := st.u.bytes()
		in.BytesDown += down
		in.BytesUp += up
	}
	in.Transferring = s.relaying()
	return in
}

// relaying reports whether a media session the connection used still has
// a stream; s.mu is held.
func (s *conn) relaying() bool {
	for md := range s.touched {
		if md.relaying() {
			return true
		}
	}
	return false
}

// TryDrain closes the control connection, both sides, if it is idle: no
// request waits for its answer and no media session it used has a stream
// (a playing stream finishes first: TEARDOWN or the session timeout end
// it). RTSP/1.0 has no way for a server to say goodbye: the connection
// just closes.
func (s *conn) TryDrain() {
	s.mu.Lock()
	idle := !s.drained && s.inflight == 0 && len(s.pend) == 0 && !s.relaying()
	if idle {
		s.drained = true
	}
	s.mu.Unlock()
	if idle {
		s.log.Info("drained: idle control connection closed")
		s.cancel()
	}
}

// End closes the control connection now, streams in flight or not
// (alg.Session): an operator ended it. The media sessions it used end
// with it, UDP streams included (a client hanging up leaves those).
func (s *conn) End() {
	s.log.Info("session ended by the administrator")
	s.mu.Lock()
	touched := make([]*media, 0, len(s.touched))
	for md := range s.touched {
		touched = append(touched, md)
	}
	s.mu.Unlock()
	for _, md := range touched {
		md.close("ended by the administrator")
	}
	s.cancel()
}

// hold notes that one more open control connection uses m; a media
// session registered on its own leaves the registry, the connection
// speaking for it now.
func (m *media) hold() {
	m.mu.Lock()
	m.holders++
	detached := m.detached
	m.detached = nil
	m.mu.Unlock()
	if detached != nil {
		detached()
	}
}

// release notes that control connection s, which held m, has closed. A
// session left without control connection that still relays UDP is
// registered on its own in s's registry, before s leaves it, so that a
// drain never sees a moment without either.
func (m *media) release(s *conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holders--
	if m.holders > 0 || m.closed || len(m.streams) == 0 || m.detached != nil || s.h.Registry == nil {
		return
	}
	m.detached = s.h.Registry.Add(m)
	m.log.Info("media session goes on without control connection", "rtsp_session", m.id)
}

// Info describes a media session registered on its own: its streams,
// their bytes, the client and realserver of the control connection that
// set it up.
func (m *media) Info() alg.SessionInfo {
	in := alg.SessionInfo{
		ID:         m.origin,
		Proto:      "rtsp",
		Listener:   m.h.Name,
		Client:     m.client,
		Realserver: m.rs,
		Mode:       "udp",
		Started:    m.started,
	}
	m.mu.Lock()
	closed, streams := m.closed, slices.Clone(m.streams)
	m.mu.Unlock()
	in.Transferring = !closed && len(streams) > 0
	in.Transfers = len(streams)
	for _, u := range streams {
		u.poll()
		down, up := u.bytes()
		in.BytesDown += down
		in.BytesUp += up
	}
	return in
}

// TryDrain does nothing: a media session without control connection is
// a stream in flight, which ends with its TEARDOWN (over a new control
// connection) or its timeout.
func (m *media) TryDrain() {}

// End closes the media session now, its streams with it (alg.Session).
func (m *media) End() { m.close("ended by the administrator") }
