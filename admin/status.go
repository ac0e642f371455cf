// Package admin is algd's admin HTTP listener: /metrics for Prometheus,
// /healthz for a supervisor or a balancer, and /status, the same picture as
// JSON and as a self-refreshing HTML page that a person reads. It reads
// everything from a Source, which internal/daemon implements over the running
// daemon, and keeps no counters of its own: the numbers are those the data
// plane already keeps (handler statistics, realserver state, port usage,
// the pipe's byte counts), read at request time. It knows no protocol:
// listeners and sessions come as alg.ListenerStatus and alg.SessionInfo,
// and each protocol's metrics come from its own collector
// (Server.Collectors).
package admin

import (
	"net/netip"
	"time"

	"github.com/algd/algd/alg"
)

// Source gives the admin listener its picture of the daemon. Status is
// called once per request, from any goroutine.
type Source interface {
	Status() Status
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Status

// Status calls f.
func (f SourceFunc) Status() Status { return f() }

// Status is everything /status shows and /metrics exports.
type Status struct {
	// Version is algd's version.
	Version string `json:"version"`
	// Started is when the process started; Time when this was taken.
	Started time.Time `json:"started"`
	Time    time.Time `json:"time"`
	// Draining is true after SIGTERM, while transfers finish.
	Draining bool `json:"draining"`
	// Reloads says how the SIGHUP reloads went.
	Reloads Reloads `json:"reloads"`
	// Sessions is the number of live control sessions over every
	// listener; MaxSessions the cap ([limits] max_sessions).
	Sessions    int `json:"sessions"`
	MaxSessions int `json:"max_sessions"`
	// Listeners are the listeners of every protocol ([[ftp]], then
	// [[rtsp]]), in configuration order.
	Listeners []alg.ListenerStatus `json:"listeners"`
	// Pools are the realserver pools, in configuration order.
	Pools []Pool `json:"pools"`
	// Live are the live sessions, oldest first.
	Live []alg.SessionInfo `json:"live"`
	// Local says when algd itself ran out of a resource.
	Local LocalResources `json:"local_resources"`
	// Traffic is the bytes every session carried since algd started,
	// those of running transfers so far included.
	Traffic alg.Traffic `json:"traffic"`
	// History is what the charts of the status page draw: a sample every
	// few seconds over the last minutes, oldest first.
	History []Sample `json:"history"`
}

// Sample is the daemon at one moment of its History. Rates are over the
// time since the sample before (0 in the first).
type Sample struct {
	Time time.Time `json:"time"`
	// Sessions is the number of live control sessions, Transferring
	// those with a data connection or media stream open.
	Sessions     int `json:"sessions"`
	Transferring int `json:"transferring"`
	// Down and Up are bytes per second (realserver to client, client to
	// realserver) that sessions carried, running transfers included.
	Down float64 `json:"bytes_down_per_second"`
	Up   float64 `json:"bytes_up_per_second"`
	// Refused is sessions refused per second (limits, no realserver), over
	// every listener.
	Refused float64 `json:"refused_per_second"`
}

// LocalResources counts the times algd itself ran out of a resource
// (descriptors, socket memory, source ports) while accepting a client or
// connecting to a realserver. Such an error is algd's: it is never
// counted against a realserver.
type LocalResources struct {
	// Errors counts them by kind: "files" (EMFILE, ENFILE), "memory"
	// (ENOBUFS, ENOMEM), "source_address" (EADDRNOTAVAIL).
	Errors map[string]uint64 `json:"errors"`
	// Last is the latest: its kind, what algd was doing, the error and
	// when (zero: never).
	LastKind string    `json:"last_kind,omitempty"`
	LastOp   string    `json:"last_op,omitempty"`
	Last     string    `json:"last_error,omitempty"`
	LastAt   time.Time `json:"last_at,omitzero"`
}

// Reloads counts configuration reloads.
type Reloads struct {
	// OK and Failed count reloads applied and refused.
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
	// Last is when the latest reload was tried; LastError its error, empty
	// when it was applied.
	Last      time.Time `json:"last,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Pool is one realserver pool.
type Pool struct {
	Name      string       `json:"name"`
	Scheduler string       `json:"scheduler"`
	Members   []Realserver `json:"realservers"`
}

// Realserver is one pool member and its state.
type Realserver struct {
	Address netip.AddrPort `json:"address"`
	// Up is the health state; Weight 0 means drained.
	Up     bool `json:"up"`
	Weight int  `json:"weight"`
	// Active sessions now, Total ever.
	Active int    `json:"active"`
	Total  uint64 `json:"total"`
	// LastCheck is when the latest health check ended (zero before the
	// first), CheckLatency how long it took, CheckError why it failed.
	LastCheck    time.Time     `json:"last_check,omitzero"`
	CheckLatency time.Duration `json:"check_latency_ns"`
	CheckError   string        `json:"check_error,omitempty"`
	// SessionFailures counts sessions that could not connect to the
	// realserver or were not greeted in time; Suspect is true while the
	// latest of them is more recent than any success. Neither takes the
	// realserver down: health checks do.
	SessionFailures uint64 `json:"session_failures"`
	Suspect         bool   `json:"suspect,omitempty"`
	// Disabled is set by an operator (POST .../disable): no new session
	// whatever the health and weight, until enabled or the next reload.
	Disabled bool `json:"disabled,omitempty"`
	// CheckFailures counts failed health checks; LastChange is when the
	// realserver last went up, down, disabled or enabled (zero: not since
	// algd started).
	CheckFailures uint64    `json:"check_failures"`
	LastChange    time.Time `json:"last_change,omitzero"`
	// BytesDown and BytesUp are what the sessions to this address carried
	// since algd started (realserver to client, client to realserver),
	// running transfers included; an address in two pools shows the sum.
	BytesDown int64 `json:"bytes_down"`
	BytesUp   int64 `json:"bytes_up"`
	// CheckLatencies is the histogram of health check durations, for
	// /metrics.
	CheckLatencies Histogram `json:"-"`
}

// Histogram is a histogram read at one moment: Count observations summing
// to Sum (seconds), Buckets their cumulative counts by upper bound.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// State is the realserver's state in a word: "up", "drained" (weight 0),
// "disabled" (by an operator) or "down".
func (r Realserver) State() string {
	switch {
	case r.Disabled:
		return "disabled"
	case !r.Up:
		return "down"
	case r.Weight == 0:
		return "drained"
	}
	return "up"
}

// Listener returns the listener called name, and whether there is one.
func (st Status) Listener(name string) (alg.ListenerStatus, bool) {
	for _, l := range st.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return alg.ListenerStatus{}, false
}
