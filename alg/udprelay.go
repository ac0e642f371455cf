package alg

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Relay sizing. A batch is what one recvmmsg/sendmmsg moves; a slot holds
// one datagram. RTP senders keep packets under the path MTU (gortsplib and
// ffmpeg: 1472 bytes of payload), so 2 KiB leaves room; a longer datagram
// arrives truncated (MSG_TRUNC) and is dropped and counted, never relayed
// cut.
const (
	udpBatchSize = 16
	udpSlotSize  = 2048
)

// UDPLeg is one side of a media relay: the pair algd owns on that side and
// the peer's RTP (0) and RTCP (1) endpoints there. Packets are accepted on
// the pair only from the peer's endpoints (or from Sources) and sent only
// to them. A peer endpoint with port 0 accepts any source port of its
// address and is never sent to.
type UDPLeg struct {
	// Pair is algd's sockets on this side; the relay owns it from
	// NewUDPRelay on.
	Pair *UDPPair
	// Peer are the endpoints of the client (client leg) or of the
	// realserver (backend leg).
	Peer [2]netip.AddrPort
	// Sources are further addresses the peer's datagrams are accepted
	// from, on the ports of Peer: a realserver whose media leaves from
	// another of its addresses (RFC 2326 §12.39 source=, or a socket on
	// the wildcard address). Nothing is sent to them. The relay keeps the
	// slice; it must not change after NewUDPRelay.
	Sources []netip.Prefix
}

// DropReason says why the relay dropped a datagram.
type DropReason int

// The reasons a datagram is dropped, in UDPStats.DroppedBy order.
const (
	// DropSource: it came from another address or port than the leg's
	// peer and Sources.
	DropSource DropReason = iota
	// DropTruncated: it was longer than a relay slot (MSG_TRUNC).
	DropTruncated
	// DropUnsendable: the other leg has no port to send to, or the send
	// failed.
	DropUnsendable
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

// String is the reason's metric label: "source", "truncated",
// "unsendable".
func (r DropReason) String() string {
	switch r {
	case DropSource:
		return "source"
	case DropTruncated:
		return "truncated"
	case DropUnsendable:
		return "unsendable"
	}
	return "unknown"
}

// Drop describes a dropped datagram, for UDPRelay.OnDrop.
type Drop struct {
	// Reason is why it was dropped.
	Reason DropReason
	// From is its source (the zero AddrPort when a batch send failed);
	// To is where it was to go (port 0: nowhere known). Up says it
	// arrived on the client leg (else on the backend leg); RTCP says on
	// the RTCP socket (else RTP).
	From, To netip.AddrPort
	Up, RTCP bool
}

// UDPStats counts a relay's packets; safe for concurrent use. One value
// may be shared by many relays (a listener's totals).
type UDPStats struct {
	// UpPackets/UpBytes went from the client leg to the backend leg,
	// DownPackets/DownBytes the other way.
	UpPackets, UpBytes, DownPackets, DownBytes atomic.Int64
	// Dropped counts datagrams from unexpected sources, truncated ones and
	// ones that could not be sent; DroppedBy splits it by DropReason.
	Dropped   atomic.Int64
	DroppedBy [NumDropReasons]atomic.Int64
}

// drop counts n datagrams dropped for reason r.
func (st *UDPStats) drop(r DropReason, n int) {
	st.Dropped.Add(int64(n))
	st.DroppedBy[r].Add(int64(n))
}

// UDPRelay moves RTP and RTCP datagrams of one media stream between a
// client leg and a backend leg: what the client sends to the client pair
// goes out of the backend pair to the realserver, and back. Every socket
// has one goroutine that reads a batch, drops datagrams from any source
// other than that leg's peer, and writes the rest as one batch to the
// other leg. Buffers are allocated once per socket.
type UDPRelay struct {
	// Stats counts this relay's packets.
	Stats UDPStats
	// Totals, when set before Start, counts them as well.
	Totals *UDPStats
	// OnDrop, when set before Start, is told about the first datagram
	// the relay drops for each reason (so at most NumDropReasons times
	// over the relay's life, never per packet), from a relay goroutine:
	// it must not block.
	OnDrop func(Drop)

	client, backend UDPLeg
	lastUp          atomic.Int64  // unix nanoseconds of the last datagram from the client
	told            atomic.Uint32 // bit r: OnDrop was called for reason r
	wg              sync.WaitGroup
	once            sync.Once
}

// NewUDPRelay returns a relay between two legs; it owns both pairs.
func NewUDPRelay(client, backend UDPLeg) *UDPRelay {
	for _, l := range []*UDPLeg{&client, &backend} {
		for i, ap := range l.Peer {
			l.Peer[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	// Sources compare with unmapped addresses: a prefix given as
	// IPv4-mapped IPv6 would never match.
	backend.Sources = unmapPrefixes(backend.Sources)
	client.Sources = unmapPrefixes(client.Sources)
	r := &UDPRelay{client: client, backend: backend}
	r.lastUp.Store(time.Now().UnixNano())
	return r
}

// Start relays until Close.
func (r *UDPRelay) Start() {
	for i := range 2 {
		r.wg.Go(func() {
			r.pump(&r.client, &r.backend, i, true)
		})
		r.wg.Go(func() {
			r.pump(&r.backend, &r.client, i, false)
		})
	}
}

// Close closes both pairs, releasing their ports, and waits for the
// relay's goroutines. Safe to call more than once.
func (r *UDPRelay) Close() {
	r.once.Do(func() {
		r.client.Pair.Close()
		r.backend.Pair.Close()
		r.wg.Wait()
	})
}

// LastUp is when the client last sent a datagram that was relayed (or
// when the relay was made): RTCP receiver reports keep a playing session
// alive this way.
func (r *UDPRelay) LastUp() time.Time { return time.Unix(0, r.lastUp.Load()) }

// udpBatchIO is one direction's batch I/O (udpbatch_linux.go: recvmmsg
// and sendmmsg without an allocation per datagram; udpbatch_other.go:
// golang.org/x/net). read fills slots; datagram returns slot i of the last
// read; queue makes slot i message k of the next write; write sends
// messages off..k-1 to the destination and returns how many went.
type udpBatchIO interface {
	read() (int, error)
	datagram(i int) (data []byte, from netip.AddrPort, truncated bool)
	queue(k, i int)
	queued(k int) int
	write(off, k int) (int, error)
}

// pump relays what arrives on socket i (0 RTP, 1 RTCP) of leg from, sent
// by its peer, to the peer of leg to through to's socket i, until the
// socket is closed.
func (r *UDPRelay) pump(from, to *UDPLeg, i int, up bool) {
	want, dst := from.Peer[i], to.Peer[i]
	bio, err := newUDPBatch(from.Pair.Conns[i], to.Pair.Conns[i], dst)
	if err != nil {
		return
	}
	canSend := dst.Port() != 0
	for {
		n, err := bio.read()
		if err != nil && n == 0 {
			return // closed: the relay is ending
		}
		var dropped [NumDropReasons]int
		k, bytes := 0, 0
		for j := range n {
			data, src, trunc := bio.datagram(j)
			switch {
			case !fromPeer(src, want, from.Sources):
				dropped[DropSource]++
				r.tell(Drop{Reason: DropSource, From: src, To: dst, Up: up, RTCP: i == 1})
			case trunc:
				dropped[DropTruncated]++
				r.tell(Drop{Reason: DropTruncated, From: src, To: dst, Up: up, RTCP: i == 1})
			case !canSend:
				dropped[DropUnsendable]++
				r.tell(Drop{Reason: DropUnsendable, From: src, To: dst, Up: up, RTCP: i == 1})
			default:
				bio.queue(k, j)
				k++
				bytes += len(data)
			}
		}
		for off := 0; off < k; {
			w, err := bio.write(off, k)
			if err != nil || w == 0 {
				dropped[DropUnsendable] += k - off
				r.tell(Drop{Reason: DropUnsendable, To: dst, Up: up, RTCP: i == 1})
				for j := off; j < k; j++ {
					bytes -= bio.queued(j)
				}
				k = off
				break
			}
			off += w
		}
		r.count(&dropped)
		if k == 0 {
			continue
		}
		st := &r.Stats
		if up {
			r.lastUp.Store(time.Now().UnixNano())
			st.UpPackets.Add(int64(k))
			st.UpBytes.Add(int64(bytes))
			if r.Totals != nil {
				r.Totals.UpPackets.Add(int64(k))
				r.Totals.UpBytes.Add(int64(bytes))
			}
		} else {
			st.DownPackets.Add(int64(k))
			st.DownBytes.Add(int64(bytes))
			if r.Totals != nil {
				r.Totals.DownPackets.Add(int64(k))
				r.Totals.DownBytes.Add(int64(bytes))
			}
		}
	}
}

// count adds one batch's drops to the relay's counters and the totals.
func (r *UDPRelay) count(dropped *[NumDropReasons]int) {
	for reason, n := range dropped {
		if n == 0 {
			continue
		}
		r.Stats.drop(DropReason(reason), n)
		if r.Totals != nil {
			r.Totals.drop(DropReason(reason), n)
		}
	}
}

// tell calls OnDrop for the relay's first drop of each reason.
func (r *UDPRelay) tell(d Drop) {
	bit := uint32(1) << d.Reason
	if r.OnDrop == nil || r.told.Load()&bit != 0 {
		return
	}
	if r.told.Or(bit)&bit != 0 {
		return // another of the relay's goroutines was first
	}
	r.OnDrop(d)
}

// fromPeer reports whether a datagram's source (unmapped) is want, or an
// address in sources with want's port (any port when want's port is 0).
func fromPeer(from, want netip.AddrPort, sources []netip.Prefix) bool {
	if want.Port() != 0 && from.Port() != want.Port() {
		return false
	}
	if from.Addr() == want.Addr() {
		return true
	}
	for _, p := range sources {
		if p.Contains(from.Addr()) {
			return true
		}
	}
	return false
}

// unmapPrefixes returns ps with IPv4-mapped IPv6 prefixes as IPv4 ones.
func unmapPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := ps
	for i, p := range ps {
		if !p.Addr().Is4In6() || p.Bits() < 96 {
			continue // shorter mapped prefixes hold no IPv4 prefix
		}
		if &out[0] == &ps[0] {
			out = slices.Clone(ps) // the caller's slice stays as given
		}
		out[i] = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return out
}
