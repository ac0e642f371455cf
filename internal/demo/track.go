package demo

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// errClosed is returned by the tracker's hooks once the server is closing.
var errClosed = errors.New("demo server closed")

// tracker holds every socket the server owns (the control listener, the
// passive data listeners, control and data connections) and every piece of
// work in flight (client handlers, open files), so that Close can cut them
// all, like a realserver being killed, and then wait for the work to end.
type tracker struct {
	mu      sync.Mutex
	closed  bool
	closers map[io.Closer]struct{}
	// work counts client handlers and open files; Add only happens under
	// mu while !closed, so it never races with the Wait in Close.
	work sync.WaitGroup
}

func newTracker() *tracker {
	return &tracker{closers: make(map[io.Closer]struct{})}
}

// add registers c to be closed by shutdown. It reports false, and leaves c
// alone, when the tracker is already shut down.
func (t *tracker) add(c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.closers[c] = struct{}{}
	return true
}

// prune forgets every registered closer that reports itself stale (closed
// by its owner behind our back).
func (t *tracker) prune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.closers {
		if s, ok := c.(interface{ stale() bool }); ok && s.stale() {
			delete(t.closers, c)
		}
	}
}

// remove forgets c (it was closed by its owner).
func (t *tracker) remove(c io.Closer) {
	t.mu.Lock()
	delete(t.closers, c)
	t.mu.Unlock()
}

// enter counts one piece of work; it reports false once shut down.
func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.work.Add(1)
	return true
}

// leave ends one piece of work counted by enter.
func (t *tracker) leave() { t.work.Done() }

// shutdown marks the tracker closed and closes everything registered. It
// reports false when it had already been called.
func (t *tracker) shutdown() bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.closed = true
	all := make([]io.Closer, 0, len(t.closers))
	for c := range t.closers {
		all = append(all, c)
	}
	clear(t.closers)
	t.mu.Unlock()
	for _, c := range all {
		_ = c.Close() // teardown: errors on already-broken sockets are expected
	}
	return true
}

// listener is a net.Listener whose accepted connections are tracked. The
// control listener also counts one piece of work per accepted connection:
// ftpserverlib runs one handler per connection and calls
// MainDriver.ClientDisconnected when it ends, where the driver leaves.
type listener struct {
	net.Listener
	t         *tracker
	countWork bool
}

// Accept returns the next connection, registered with the tracker. After
// shutdown it closes late arrivals and returns the inner listener's error.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &conn{Conn: c, t: l.t}
		if !l.t.add(tc) {
			_ = c.Close()
			continue // the inner listener is closed too: next Accept fails
		}
		if l.countWork && !l.t.enter() {
			l.t.remove(tc)
			_ = c.Close()
			continue
		}
		return tc, nil
	}
}

// Close closes the inner listener and forgets it.
func (l *listener) Close() error {
	l.t.remove(l)
	return l.Listener.Close()
}

// stale reports whether the inner listener was closed without our Close:
// ftpserverlib closes a passive listener through its own *net.TCPListener
// reference, never through the wrapper. A closed socket refuses
// RawConn.Control with net.ErrClosed; nothing is done to an open one.
func (l *listener) stale() bool {
	sc, ok := l.Listener.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// conn is a tracked connection; closing it forgets it.
type conn struct {
	net.Conn
	t *tracker
}

// Close closes the connection and forgets it.
func (c *conn) Close() error {
	c.t.remove(c)
	return c.Conn.Close()
}
