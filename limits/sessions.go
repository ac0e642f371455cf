package limits

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ErrTooManySessions is returned by Acquire when the global session cap is
// reached.
var ErrTooManySessions = errors.New("limits: too many sessions")

// ErrTooManyFromClient is returned by Acquire when the client address has
// reached its own session cap.
var ErrTooManyFromClient = errors.New("limits: too many sessions from this client")

// Sessions caps concurrent sessions globally and per client address.
// Safe for concurrent use.
//
// Client addresses are compared after Unmap, so an IPv4 client seen on a
// dual-stack listener (::ffff:a.b.c.d) and on an IPv4 one counts as one
// client; zones are kept, since fe80::1%a and fe80::1%b are different hosts.
// A client's entry is deleted when its last session ends, so the map holds
// only clients with live sessions.
type Sessions struct {
	mu        sync.Mutex
	max       int
	perClient int
	active    int
	clients   counts
}

// NewSessions returns caps of max sessions in all and perClient sessions
// per client address. Zero (or a negative value) means unlimited.
func NewSessions(max, perClient int) *Sessions {
	return &Sessions{
		max:       max,
		perClient: perClient,
		clients:   make(counts),
	}
}

// Acquire counts a new session from client, or refuses it with
// ErrTooManySessions (checked first) or ErrTooManyFromClient. On success the
// caller must call release when the session ends; release may be called any
// number of times and from any goroutine, only the first call counts.
func (s *Sessions) Acquire(client netip.Addr) (release func(), err error) {
	client = client.Unmap()
	s.mu.Lock()
	if s.max > 0 && s.active >= s.max {
		s.mu.Unlock()
		return nil, ErrTooManySessions
	}
	n := s.clients[client]
	if s.perClient > 0 && n >= s.perClient {
		s.mu.Unlock()
		return nil, ErrTooManyFromClient
	}
	s.clients[client] = n + 1
	s.active++
	s.mu.Unlock()

	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		s.release(client)
	}, nil
}

// release ends one session of client (already unmapped).
func (s *Sessions) release(client netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	s.clients.dec(client)
}

// Active is the number of sessions now.
func (s *Sessions) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// ActiveFrom is the number of sessions now from client (compared after
// Unmap).
func (s *Sessions) ActiveFrom(client netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[client.Unmap()]
}

// SetLimits replaces both caps (zero or negative: unlimited), for a reload.
// They apply to later Acquire calls only: sessions already counted are kept
// even when they now exceed a lowered cap.
func (s *Sessions) SetLimits(max, perClient int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max = max
	s.perClient = perClient
}
