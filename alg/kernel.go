package alg

import (
	"net/netip"
	"time"
)

// Kernel is the kernel data path: one-shot NAT mappings that make the
// kernel carry a data connection (or a media flow) that algd has decided
// on, so its bytes never enter algd. A protocol asks for a mapping where
// it would otherwise accept and dial a data connection itself; what needs
// the bytes (TLS, PROXY headers) stays on the proxy path. The
// implementation is alg/nat (nftables maps and conntrack); nil means the
// proxy path only.
type Kernel interface {
	// Map installs m in one batch and returns it. The error names what
	// is missing (capability, table gone) and means: use the proxy path.
	Map(m Mapping) (Mapped, error)
}

// Transport is a mapping's layer 4 protocol.
type Transport uint8

// The transports a mapping carries.
const (
	TCP Transport = iota
	UDP
)

// String names t as nftables does.
func (t Transport) String() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// Mapping is one connection (TCP) or flow (UDP) the kernel is to forward:
// packets from From (its port: any when 0) to Dst are sent to To, with
// their source rewritten to Source (its port: kept when 0).
//
// Passive FTP: From the client, Dst the VIP and the 227 port, To the
// realserver's data port, Source the backend_source address. Active FTP:
// From the realserver, Dst backend_source and a backend_ports port, To
// the client's PORT address, Source the VIP and active_source_port.
type Mapping struct {
	Proto  Transport
	From   netip.AddrPort
	Dst    netip.AddrPort
	To     netip.AddrPort
	Source netip.AddrPort
	// Timeout is how long the mapping waits for its connection; for a
	// Persistent one, how long it lives without traffic.
	Timeout time.Duration
	// Persistent mappings (RTSP media) forward every flow that matches
	// until Remove; others forward one connection: the first that
	// matches, after which the mapping is gone from the kernel's maps
	// and later connections reach whatever listens on Dst (algd's
	// expectation, which refuses them as it does on the proxy path).
	Persistent bool
	// Events are called from one goroutine of the implementation; each
	// may be nil.
	Events KernelEvents
}

// KernelEvents tell the owner of a mapping what conntrack saw.
type KernelEvents struct {
	// Connected: the connection (or first flow) that took the mapping,
	// as the client sent it.
	Connected func(from, to netip.AddrPort)
	// Ended: that connection's conntrack entry is gone (closed, cut or
	// timed out), with what it carried.
	Ended func(Counters)
}

// Counters are what conntrack counted on one connection: Orig in the
// direction of its first packet (From to Dst), Reply the other way.
type Counters struct {
	OrigBytes, OrigPackets   uint64
	ReplyBytes, ReplyPackets uint64
	// Closed: a TCP connection ended by FIN both ways (not by a reset,
	// a cut or a timeout).
	Closed bool
}

// Mapped is an installed mapping.
type Mapped interface {
	// Counters reads the live counters of the connection(s) the mapping
	// made (zero before one exists).
	Counters() (Counters, error)
	// Cut deletes the connections the mapping made from conntrack, so
	// that no more of their packets are forwarded (ABOR, session end).
	Cut() error
	// Remove takes the mapping out of the kernel's maps if it is still
	// there; the connections it made go on (until Cut).
	Remove() error
}
