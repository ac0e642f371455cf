package limits

import (
	"errors"
	"log/slog"
	"maps"
	"sync"
	"syscall"
	"time"
)

// Kinds of local resource errors, the label values of LocalErrors.
const (
	// LocalFiles: the process or the system ran out of file descriptors
	// (EMFILE, ENFILE).
	LocalFiles = "files"
	// LocalMemory: the kernel refused socket buffers or memory (ENOBUFS,
	// ENOMEM).
	LocalMemory = "memory"
	// LocalAddr: no local address or source port to connect from
	// (EADDRNOTAVAIL: the ephemeral range toward that destination is
	// used up, or the configured source address is not on this host).
	LocalAddr = "source_address"
)

// LocalKind reports whether err is algd's own resource exhaustion rather
// than something the peer did, and which kind ("" when it is not): a
// connect that fails with EMFILE says nothing about the realserver.
func LocalKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return LocalFiles
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return LocalMemory
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return LocalAddr
	}
	return ""
}

// LocalErrors counts the times algd ran out of a local resource (file
// descriptors, socket memory, source ports), by kind, and remembers the
// latest; it logs them at Error, at most once per Interval and kind, with
// the number left unlogged in between. One LocalErrors is shared by every
// listener of the process. The zero value is ready; it is safe for
// concurrent use.
type LocalErrors struct {
	// Logger receives the reports; nil means slog.Default(). Set it
	// before the first Record.
	Logger *slog.Logger
	// Interval is the least time between two reports of one kind; zero
	// means 10s.
	Interval time.Duration
	// Now is the clock; nil means time.Now. A seam for tests.
	Now func() time.Time

	mu     sync.Mutex
	counts map[string]uint64
	logged map[string]time.Time // when each kind was last logged
	quiet  map[string]uint64    // occurrences since then, not logged
	last   LocalError
}

// LocalError is the latest local resource error.
type LocalError struct {
	// Kind is one of LocalFiles, LocalMemory, LocalAddr.
	Kind string
	// Op says what algd was doing ("accept", "connect to realserver").
	Op string
	// Err is the error text; At when it happened (zero: never).
	Err string
	At  time.Time
}

// Record counts err when it is a local resource error and reports
// whether it was; op says what failed, for the log. Other errors are left
// to the caller.
func (l *LocalErrors) Record(op string, err error) bool {
	kind := LocalKind(err)
	if kind == "" {
		return false
	}
	if l == nil {
		return true
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	every := l.Interval
	if every <= 0 {
		every = 10 * time.Second
	}
	l.mu.Lock()
	if l.counts == nil {
		l.counts = make(map[string]uint64)
		l.logged = make(map[string]time.Time)
		l.quiet = make(map[string]uint64)
	}
	l.counts[kind]++
	l.last = LocalError{Kind: kind, Op: op, Err: err.Error(), At: now}
	prev, seen := l.logged[kind]
	report := !seen || now.Sub(prev) >= every
	var unlogged uint64
	if report {
		l.logged[kind] = now
		unlogged, l.quiet[kind] = l.quiet[kind], 0
	} else {
		l.quiet[kind]++
	}
	l.mu.Unlock()
	if report {
		log := l.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Error("algd out of a local resource (not a realserver failure)", "kind", kind, "op", op,
			"err", err, "unlogged_since_last", unlogged)
	}
	return true
}

// Counts returns the number of local resource errors by kind.
func (l *LocalErrors) Counts() map[string]uint64 {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counts)
}

// Last returns the latest local resource error; its At is zero when there
// was none.
func (l *LocalErrors) Last() LocalError {
	if l == nil {
		return LocalError{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
