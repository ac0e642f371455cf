package alg

import (
	"net"
	"net/netip"
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
// the pair only from the peer's endpoints and sent only to them. A peer
// endpoint with port 0 accepts any source port of its address and is never
// sent to.
type UDPLeg struct {
	// Pair is algd's sockets on this side; the relay owns it from
	// NewUDPRelay on.
	Pair *UDPPair
	// Peer are the endpoints of the client (client leg) or of the
	// realserver (backend leg).
	Peer [2]netip.AddrPort
}

// UDPStats counts a relay's packets; safe for concurrent use. One value
// may be shared by many relays (a listener's totals).
type UDPStats struct {
	// UpPackets/UpBytes went from the client leg to the backend leg,
	// DownPackets/DownBytes the other way.
	UpPackets, UpBytes, DownPackets, DownBytes atomic.Int64
	// Dropped counts datagrams from unexpected sources, truncated ones and
	// ones that could not be sent.
	Dropped atomic.Int64
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

	client, backend UDPLeg
	lastUp          atomic.Int64 // unix nanoseconds of the last datagram from the client
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
	r := &UDPRelay{client: client, backend: backend}
	r.lastUp.Store(time.Now().UnixNano())
	return r
}

// Start relays until Close.
func (r *UDPRelay) Start() {
	for i := range 2 {
		r.wg.Go(func() {
			r.pump(r.client.Pair.Conns[i], r.client.Peer[i], r.backend.Pair.Conns[i], r.backend.Peer[i], true)
		})
		r.wg.Go(func() {
			r.pump(r.backend.Pair.Conns[i], r.backend.Peer[i], r.client.Pair.Conns[i], r.client.Peer[i], false)
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

// pump relays what arrives on in from want to dst through out until in is
// closed.
func (r *UDPRelay) pump(in *net.UDPConn, want netip.AddrPort, out *net.UDPConn, dst netip.AddrPort, up bool) {
	bio, err := newUDPBatch(in, out, dst)
	if err != nil {
		return
	}
	canSend := dst.Port() != 0
	st := &r.Stats
	for {
		n, err := bio.read()
		if err != nil && n == 0 {
			return // closed: the relay is ending
		}
		k, bytes := 0, 0
		for i := range n {
			data, from, trunc := bio.datagram(i)
			if !canSend || trunc || !fromPeer(from, want) {
				continue
			}
			bio.queue(k, i)
			k++
			bytes += len(data)
		}
		dropped := n - k
		for off := 0; off < k; {
			w, err := bio.write(off, k)
			if err != nil || w == 0 {
				dropped += k - off
				for i := off; i < k; i++ {
					bytes -= bio.queued(i)
				}
				k = off
				break
			}
			off += w
		}
		if dropped > 0 {
			st.Dropped.Add(int64(dropped))
			if r.Totals != nil {
				r.Totals.Dropped.Add(int64(dropped))
			}
		}
		if k == 0 {
			continue
		}
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

// fromPeer reports whether a datagram's source (unmapped) is want (any
// port of want's address when want's port is 0).
func fromPeer(from, want netip.AddrPort) bool {
	if from.Addr() != want.Addr() {
		return false
	}
	return want.Port() == 0 || from.Port() == want.Port()
}
