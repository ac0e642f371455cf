// Package admin is algd's admin HTTP listener: /metrics for Prometheus,
// /healthz for a supervisor or a balancer, and /status, the same picture as
// JSON and as a self-refreshing HTML page that a person reads. It reads
// everything from a Source, which internal/daemon implements over the running
// daemon, and keeps no counters of its own: the numbers are those the data
// plane already keeps (handler statistics, realserver state, port usage,
// the pipe's byte counts), read at request time.
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
	// Listeners are the [[ftp]] listeners, in configuration order.
	Listeners []Listener `json:"listeners"`
	// RTSP are the [[rtsp]] listeners, in configuration order.
	RTSP []RTSPListener `json:"rtsp,omitempty"`
	// Pools are the realserver pools, in configuration order.
	Pools []Pool `json:"pools"`
	// Live are the live sessions, oldest first.
	Live []alg.SessionInfo `json:"live"`
	// Local says when algd itself ran out of a resource.
	Local LocalResources `json:"local_resources"`
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

// Listener is one [[ftp]] listener and what it did since algd started
// (counters survive reloads).
type Listener struct {
	// Name is the listener's name; Pool the pool it serves.
	Name string `json:"name"`
	Pool string `json:"pool"`
	// Addrs are the control addresses it accepts on, implicit FTPS ones
	// included.
	Addrs []netip.AddrPort `json:"addrs"`
	// Proxy is the PROXY protocol version required ("" when off).
	Proxy string `json:"proxy_protocol,omitempty"`
	// Counters are the listener's statistics.
	Counters Counters `json:"counters"`
	// PortsInUse of PortsSize passive ports are reserved now;
	// PortExhaustions counts the times none was free.
	PortsInUse      int    `json:"ports_in_use"`
	PortsSize       int    `json:"ports_size"`
	PortExhaustions uint64 `json:"port_exhaustions"`
	// DataRefusals are the addresses whose data connections were refused
	// (passive ports and backend_ports alike), most refusals first: a
	// bounded table; DataRefusalsEvicted counts addresses dropped from it
	// to make room.
	DataRefusals        []DataRefusal `json:"data_refusals,omitempty"`
	DataRefusalsEvicted uint64        `json:"data_refusals_evicted,omitempty"`
}

// DataRefusal is one address of a listener's table of refused data
// connections.
type DataRefusal struct {
	Address netip.Addr `json:"address"`
	// Theft counts connections to a port expecting another address;
	// Second those to a port already paired; OutsideWindow those from a
	// realserver while its session had no transfer command outstanding.
	Theft         uint64    `json:"theft"`
	Second        uint64    `json:"second_connection"`
	OutsideWindow uint64    `json:"outside_window"`
	Last          time.Time `json:"last"`
}

// Counters are a listener's statistics (ftp.Stats, summed over the
// handlers that served it across reloads).
type Counters struct {
	Sessions          int64 `json:"sessions"`
	Active            int64 `json:"active"`
	Refused           int64 `json:"refused"`
	DataConns         int64 `json:"data_conns"`
	BytesDown         int64 `json:"bytes_down"`
	BytesUp           int64 `json:"bytes_up"`
	Theft             int64 `json:"theft"`
	DataSecond        int64 `json:"data_second_connection"`
	DataOutsideWindow int64 `json:"data_outside_window"`
	Bounce            int64 `json:"bounce"`
	PassiveExhausted  int64 `json:"passive_exhausted"`
	// PassivePerClient counts PASV/EPSV refused because the client
	// address held [limits] max_data_ports_per_client ports.
	PassivePerClient  int64 `json:"passive_per_client"`
	TLSHandshakes     int64 `json:"tls_handshakes"`
	TLSFailures       int64 `json:"tls_failures"`
	TLSReuseRefused   int64 `json:"tls_reuse_refused"`
	BadBackendReplies int64 `json:"bad_backend_replies"`
	// ProxyRefused counts connections dropped for a missing, malformed
	// or untrusted PROXY header.
	ProxyRefused int64 `json:"proxy_refused"`
	// TransfersFailed counts transfers whose data connection did not
	// carry the whole transfer (the client got 425 or 426), by reason.
	TransfersFailed FailedTransfers `json:"transfers_failed"`
	// CommandsRefused counts command lines refused and never forwarded,
	// by reason (telnet, control, syntax, unknown, tls, prot).
	CommandsRefused map[string]int64 `json:"commands_refused,omitempty"`
	// Overloaded counts the sessions (of Refused) refused because algd
	// itself ran out of a resource.
	Overloaded int64 `json:"overloaded"`
}

// FailedTransfers are failed transfers by reason (ftp.Stats Failed*): the
// data connection was never made, the client's TLS handshake on it
// failed, either side reset it, algd cut it (ABOR, session end), or
// nothing moved on it for data_idle_timeout.
type FailedTransfers struct {
	Connect int64 `json:"connect"`
	TLS     int64 `json:"tls"`
	Reset   int64 `json:"reset"`
	Cut     int64 `json:"cut"`
	Idle    int64 `json:"idle"`
}

// Add returns the field-wise sum of f and o.
func (f FailedTransfers) Add(o FailedTransfers) FailedTransfers {
	return FailedTransfers{Connect: f.Connect + o.Connect, TLS: f.TLS + o.TLS, Reset: f.Reset + o.Reset,
		Cut: f.Cut + o.Cut, Idle: f.Idle + o.Idle}
}

// Add returns the field-wise sum of c and o.
func (c Counters) Add(o Counters) Counters {
	return Counters{
		Sessions: c.Sessions + o.Sessions, Active: c.Active + o.Active, Refused: c.Refused + o.Refused,
		DataConns: c.DataConns + o.DataConns, BytesDown: c.BytesDown + o.BytesDown, BytesUp: c.BytesUp + o.BytesUp,
		Theft: c.Theft + o.Theft, DataSecond: c.DataSecond + o.DataSecond, DataOutsideWindow: c.DataOutsideWindow + o.DataOutsideWindow,
		Bounce: c.Bounce + o.Bounce, PassiveExhausted: c.PassiveExhausted + o.PassiveExhausted,
		PassivePerClient: c.PassivePerClient + o.PassivePerClient,
		TLSHandshakes:    c.TLSHandshakes + o.TLSHandshakes, TLSFailures: c.TLSFailures + o.TLSFailures,
		TLSReuseRefused: c.TLSReuseRefused + o.TLSReuseRefused, BadBackendReplies: c.BadBackendReplies + o.BadBackendReplies,
		ProxyRefused: c.ProxyRefused + o.ProxyRefused, TransfersFailed: c.TransfersFailed.Add(o.TransfersFailed),
		CommandsRefused: addCounts(c.CommandsRefused, o.CommandsRefused), Overloaded: c.Overloaded + o.Overloaded,
	}
}

// addCounts returns the key-wise sum of a and b, nil when both are empty.
func addCounts(a, b map[string]int64) map[string]int64 {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make(map[string]int64, len(a))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
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
}

// State is the realserver's state in a word: "up", "drained" (weight 0)
// or "down".
func (r Realserver) State() string {
	switch {
	case !r.Up:
		return "down"
	case r.Weight == 0:
		return "drained"
	}
	return "up"
}
