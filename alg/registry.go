package alg

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// drainPoll is how often a draining registry asks its sessions whether
// they are idle.
const drainPoll = 100 * time.Millisecond

// Session is a live session of any protocol, as the registry sees it.
type Session interface {
	// Info describes the session now, for the status page.
	Info() SessionInfo
	// TryDrain ends the session if it is idle: nothing owed to the client
	// (no request waiting for its answer) and nothing in flight (no data
	// connection or media stream open or expected). A busy session is
	// left alone and asked again later.
	TryDrain()
	// End ends the session now, busy or not: transfers and streams in
	// flight are cut (an operator's "end session"). FTP says 421 first.
	End()
}

// SessionInfo describes one live session, whatever its protocol.
type SessionInfo struct {
	// ID is the session id that every log line of the session carries.
	ID string `json:"id"`
	// Proto is the listener's protocol: "ftp", "rtsp".
	Proto string `json:"proto"`
	// Listener is the name of the listener.
	Listener string `json:"listener"`
	// Client is the client's address (from a PROXY header when one was
	// accepted).
	Client netip.AddrPort `json:"client"`
	// Realserver is the realserver's control address; zero while an FTP
	// session routed by user has not sent USER yet.
	Realserver netip.AddrPort `json:"realserver"`
	// User is the FTP user name the session sent with USER (the latest
	// one); "" before USER and for other protocols. Never a password.
	User string `json:"user,omitempty"`
	// TLS reports a control connection under TLS.
	TLS bool `json:"tls"`
	// Mode is how data goes: for FTP the data mode of the latest transfer
	// set-up ("passive", "active"), for RTSP the transport of its streams
	// ("udp", "interleaved"); "" before any.
	Mode string `json:"mode"`
	// Transferring reports a data connection or a media stream open now.
	Transferring bool `json:"transferring"`
	// Transfers counts finished data connections (FTP) or streams set up
	// (RTSP); BytesDown (realserver to client) and BytesUp (client to
	// realserver) the bytes they carried, those of running FTP transfers
	// included (the bytes the peers acknowledged so far, TLS overhead
	// counted, until the exact count at the end).
	Transfers int   `json:"transfers"`
	BytesDown int64 `json:"bytes_down"`
	BytesUp   int64 `json:"bytes_up"`
	// Started is when the session began.
	Started time.Time `json:"started"`
}

// Registry knows every live session of the listeners that share it, of
// every protocol, for the status page, and drains them at shutdown. It
// also numbers the sessions, so ids stay unique across handlers rebuilt
// by a reload. Safe for concurrent use; the zero value is not usable,
// call NewRegistry.
type Registry struct {
	ids atomic.Uint64

	mu       sync.Mutex
	sessions map[Session]struct{}
	empty    chan struct{}              // closed while no session is registered
	ended    Traffic                    // what sessions that left carried
	endedBy  map[netip.AddrPort]Traffic // the same by realserver; one entry per address ever used

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	empty := make(chan struct{})
	close(empty)
	return &Registry{sessions: make(map[Session]struct{}), empty: empty, drain: make(chan struct{})}
}

// NextID returns a new session id for listener name: the name, a dash
// and a number unique in the registry.
func (r *Registry) NextID(name string) string {
	return name + "-" + strconv.FormatUint(r.ids.Add(1), 10)
}

// Add registers s and returns the function that removes it. A session
// added after Drain is asked to drain like the others, at its first idle
// moment.
func (r *Registry) Add(s Session) (remove func()) {
	r.mu.Lock()
	if len(r.sessions) == 0 {
		r.empty = make(chan struct{})
	}
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	return func() {
		in := s.Info() // before the lock: Info takes the session's own
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.sessions[s]; !ok {
			return
		}
		delete(r.sessions, s)
		r.credit(in)
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

// list copies the live sessions.
func (r *Registry) list() []Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Session, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// Traffic is bytes carried: Down from realservers to clients, Up from
// clients to realservers.
type Traffic struct {
	Down int64 `json:"bytes_down"`
	Up   int64 `json:"bytes_up"`
}

// add returns t plus the bytes of in.
func (t Traffic) add(in SessionInfo) Traffic {
	return Traffic{Down: t.Down + in.BytesDown, Up: t.Up + in.BytesUp}
}

// credit adds the bytes of a session that left to the totals; r.mu is
// held.
func (r *Registry) credit(in SessionInfo) {
	r.ended = r.ended.add(in)
	if !in.Realserver.IsValid() {
		return
	}
	if r.endedBy == nil {
		r.endedBy = make(map[netip.AddrPort]Traffic)
	}
	r.endedBy[in.Realserver] = r.endedBy[in.Realserver].add(in)
}

// Snapshot is the registry at one moment: the live sessions, and the
// bytes every session carried, those that left and the live ones so far.
type Snapshot struct {
	// Live describes every live session, oldest first.
	Live []SessionInfo
	// Total is the bytes of every session since the registry was made;
	// ByRealserver the same by realserver address (sessions without one
	// count in Total only).
	Total        Traffic
	ByRealserver map[netip.AddrPort]Traffic
}

// Snapshot takes the live sessions and the byte totals together, so that
// a session leaving meanwhile is counted once: either live or among
// those that left. A session that left counts the bytes its last Info
// showed (an RTSP media session that outlives its control connection
// adds no more once that connection has left).
func (r *Registry) Snapshot() Snapshot {
	r.mu.Lock()
	all := make([]Session, 0, len(r.sessions))
	for s := range r.sessions {
		all = append(all, s)
	}
	sn := Snapshot{Total: r.ended, ByRealserver: make(map[netip.AddrPort]Traffic, len(r.endedBy))}
	maps.Copy(sn.ByRealserver, r.endedBy)
	r.mu.Unlock()
	sn.Live = describe(all)
	for _, in := range sn.Live {
		sn.Total = sn.Total.add(in)
		if in.Realserver.IsValid() {
			sn.ByRealserver[in.Realserver] = sn.ByRealserver[in.Realserver].add(in)
		}
	}
	return sn
}

// Sessions describes every live session, oldest first.
func (r *Registry) Sessions() []SessionInfo { return describe(r.list()) }

// describe reads the Info of every session in all, oldest first.
func describe(all []Session) []SessionInfo {
	out := make([]SessionInfo, 0, len(all))
	for _, s := range all {
		out = append(out, s.Info())
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

// End ends every live session whose id is id (Session.End) and reports
// how many there were: 0 when none is live.
func (r *Registry) End(id string) int {
	n := 0
	for _, s := range r.list() {
		if s.Info().ID == id {
			s.End()
			n++
		}
	}
	return n
}

// Drain asks every session, now and later, to end as soon as it is idle
// (Session.TryDrain), polling until none is left.
func (r *Registry) Drain() {
	r.drainOnce.Do(func() {
		close(r.drain)
		go r.drainLoop()
	})
}

// drainLoop asks every session to drain, polling until none is left.
func (r *Registry) drainLoop() {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		list := r.list()
		if len(list) == 0 {
			return
		}
		for _, s := range list {
			s.TryDrain()
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
