package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
)

// The kernel data path for RTSP media (Handler.Kernel set). A UDP stream
// still gets its two pairs of sockets and its alg.UDPRelay, exactly as on
// the proxy path; in addition algd asks the kernel for four persistent
// mappings (mediaMappings), so that the stream's RTP and RTCP are
// translated by conntrack and never reach those sockets. What does reach
// them was not mapped: a datagram from anyone but the client's ports or
// the realserver's mapped source, which the relay refuses and counts as
// it always did (or, from the realserver's control address when it
// announced another source=, relays in user space). Streams whose
// realserver may send from addresses not known at SETUP (a pool with
// media_sources) stay on the proxy path (errSources).
//
// conntrack's view of a UDP flow: the first packet creates the entry, its
// tuple is the original direction and the reply tuple, after NAT, is
// what the other side sends back. Whichever side sends first (the client
// its punch packets or receiver reports, the realserver its RTP), its
// mapping makes the entry, and the other side's packets match the reply
// tuple and are translated back. The two mappings of a socket pair are
// mirror images, so either way the client talks to the VIP port it was
// told and the realserver to the backend port it was told.

// kernelPoll is how often the conntrack counters of kernel streams are
// read into the listener's metrics (and the session's sign of life)
// without being asked; a scrape of /metrics, /status and the session
// timeout read them too, but never more often than kernelPollMin.
const (
	kernelPoll    = 5 * time.Second
	kernelPollMin = time.Second
)

// Header bytes per datagram: conntrack counts IP packets, the relay and
// the metrics count UDP payload. IP options and IPv6 extension headers
// are not taken off (RTP carries none).
const (
	udp4Header = 20 + 8 // IPv4 header without options, UDP header
	udp6Header = 40 + 8 // IPv6 header, UDP header
)

// Why a stream of a kernel-path listener stays on the proxy path, by
// design rather than by a kernel error.
var (
	// errFamily: the kernel cannot translate between address families.
	errFamily = errors.New("client and realserver media differ in address family")
	// errSources: the pool has media_sources, so the realserver's media
	// may come from an address nobody named at SETUP. conntrack pairs
	// the client's flow with exactly one realserver flow: a second one
	// with the same client-side tuple would clash, so only a relay that
	// sees each datagram's source can serve such a stream.
	errSources = errors.New("the pool has media_sources: the realserver's media may come from an address not known at SETUP")
)

// mediaMappings returns the kernel mappings of one UDP stream. For RTP
// (0) and RTCP (1): client is the client's port (from its client_port),
// vip algd's client-side port (the server_port it was told), backend
// algd's backend-side port (the client_port the realserver was told) and
// server the realserver's (its source address and server_port; port 0
// when it named none). Up: the client's datagrams to the VIP port go to
// the realserver from the backend port. Down: the realserver's to the
// backend port go to the client from the VIP port. Each is the other's
// reply, so either side may send first. Up is left out when the
// realserver's port is unknown (nowhere to send: the proxy path drops
// those too); down then accepts any source port. The mappings have no
// timeout: they live until the session ends (TEARDOWN, the session
// timeout, which conntrack's counters refresh, or shutdown) and removes
// them.
func mediaMappings(client, vip, backend, server [2]netip.AddrPort) []alg.Mapping {
	var ms []alg.Mapping
	for i := range 2 {
		if server[i].Port() != 0 {
			ms = append(ms, alg.Mapping{Proto: alg.UDP, From: client[i], Dst: vip[i], To: server[i], Source: backend[i],
				Persistent: true})
		}
		ms = append(ms, alg.Mapping{Proto: alg.UDP, From: server[i], Dst: backend[i], To: client[i], Source: vip[i],
			Persistent: true})
	}
	return ms
}

// kernelStream is the kernel side of a UDP stream: its mappings and what
// conntrack counted on them.
type kernelStream struct {
	hdr    int64 // header bytes per datagram, udp4Header or udp6Header
	totals *alg.UDPStats
	log    *slog.Logger
	stats  alg.UDPStats // counted from conntrack, as payload
	lastUp atomic.Int64 // unix nanoseconds of the last poll that saw the client send

	mu     sync.Mutex
	maps   []kernelMap
	polled time.Time // the last read of the counters
	closed bool
}

// kernelMap is one installed mapping and what of its counters was
// counted already.
type kernelMap struct {
	m    alg.Mapped
	up   bool // its original direction is the client's
	seen alg.Counters
}

// mapStream installs the mappings of a stream on k, all or none. The
// error says why the stream stays on the proxy path.
func mapStream(k alg.Kernel, client, vip, backend, server [2]netip.AddrPort, totals *alg.UDPStats, log *slog.Logger) (*kernelStream, error) {
	fam := client[0].Addr().Unmap().Is4()
	for _, ap := range [][2]netip.AddrPort{vip, backend, server} {
		if ap[0].Addr().Unmap().Is4() != fam {
			return nil, errFamily
		}
	}
	ks := &kernelStream{hdr: udp6Header, totals: totals, log: log}
	if fam {
		ks.hdr = udp4Header
	}
	ks.lastUp.Store(time.Now().UnixNano())
	v := unmap2(vip)
	for _, m := range mediaMappings(unmap2(client), v, unmap2(backend), unmap2(server)) {
		m.Events.Connected = func(from, to netip.AddrPort) {
			log.Debug("media flow in the kernel", "from", from.String(), "to", to.String())
		}
		mp, err := k.Map(m)
		if err != nil {
			ks.close()
			return nil, fmt.Errorf("map %s %s to %s: %w", m.Proto, m.From, m.Dst, err)
		}
		ks.maps = append(ks.maps, kernelMap{m: mp, up: m.Dst == v[0] || m.Dst == v[1]})
	}
	return ks, nil
}

// mapMedia puts a stream on the kernel path when the listener has one
// (Handler.Kernel) and the stream can take it: front are the client's
// ports, st the pairs, back the realserver's media endpoints. nil: the
// stream is relayed (the proxy path), and the reason is logged and
// counted.
func (s *conn) mapMedia(front [2]netip.AddrPort, st *setupState, back [2]netip.AddrPort, log *slog.Logger) *kernelStream {
	if s.h.Kernel == nil {
		return nil
	}
	pair := func(p *alg.UDPPair) [2]netip.AddrPort {
		return [2]netip.AddrPort{netip.AddrPortFrom(p.Addr(), p.Port()), netip.AddrPortFrom(p.Addr(), p.Port()+1)}
	}
	ks, err := (*kernelStream)(nil), errSources
	if s.h.Pool == nil || len(s.h.Pool.MediaSources()) == 0 {
		ks, err = mapStream(s.h.Kernel, front, pair(st.client), pair(st.backend), back, &s.h.stats().Media, log)
	}
	switch {
	case errors.Is(err, errFamily), errors.Is(err, errSources):
		s.h.stats().KernelRefused.Add(1)
		log.Info("media stays on the proxy path", "why", err)
	case err != nil:
		s.h.stats().KernelRefused.Add(1)
		log.Warn("media stays on the proxy path: the kernel refused a mapping", "err", err)
	}
	return ks
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func unmap2(p [2]netip.AddrPort) [2]netip.AddrPort {
	return [2]netip.AddrPort{unmapAP(p[0]), unmapAP(p[1])}
}

// poll reads the mappings' counters and adds what is new to the stream's
// stats and the listener's totals; a client packet seen refreshes
// lastUp. Unless now, it does nothing within kernelPollMin of the
// last read.
func (ks *kernelStream) poll(now bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed || !now && time.Since(ks.polled) < kernelPollMin {
		return
	}
	ks.polled = time.Now()
	var d [4]int64 // up packets, up bytes, down packets, down bytes
	for i := range ks.maps {
		km := &ks.maps[i]
		c, err := km.m.Counters()
		if err != nil {
			ks.log.Debug("media counters unread", "err", err)
			continue
		}
		var n alg.Counters
		n, km.seen = newSince(c, km.seen)
		orig, reply := 0, 2
		if !km.up {
			orig, reply = 2, 0
		}
		d[orig] += int64(n.OrigPackets)
		d[orig+1] += int64(n.OrigBytes)
		d[reply] += int64(n.ReplyPackets)
		d[reply+1] += int64(n.ReplyBytes)
	}
	for _, st := range []*alg.UDPStats{&ks.stats, ks.totals} {
		if st == nil {
			continue
		}
		st.UpPackets.Add(d[0])
		st.UpBytes.Add(max(0, d[1]-ks.hdr*d[0]))
		st.DownPackets.Add(d[2])
		st.DownBytes.Add(max(0, d[3]-ks.hdr*d[2]))
	}
	if d[0] > 0 {
		ks.lastUp.Store(time.Now().UnixNano())
	}
}

// newSince is what c counted beyond seen, and the new seen. The
// counters of a mapping only grow (conntrack's of its live flows plus
// those of the flows that ended), but a read may miss a flow that ends
// meanwhile (the ended sum not yet holding it): a counter lower than
// seen counts nothing and is read again at the next poll.
func newSince(c, seen alg.Counters) (n, next alg.Counters) {
	f := func(c, seen uint64) (uint64, uint64) {
		if c < seen {
			return 0, seen
		}
		return c - seen, c
	}
	n.OrigPackets, next.OrigPackets = f(c.OrigPackets, seen.OrigPackets)
	n.OrigBytes, next.OrigBytes = f(c.OrigBytes, seen.OrigBytes)
	n.ReplyPackets, next.ReplyPackets = f(c.ReplyPackets, seen.ReplyPackets)
	n.ReplyBytes, next.ReplyBytes = f(c.ReplyBytes, seen.ReplyBytes)
	return n, next
}

// close counts the stream's last packets, takes its mappings out of the
// kernel and deletes the flows they made, so that nothing more of the
// stream is forwarded. Safe to call more than once.
func (ks *kernelStream) close() {
	ks.poll(true)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return
	}
	ks.closed = true
	for _, km := range ks.maps {
		if err := km.m.Remove(); err != nil {
			ks.log.Warn("media mapping not removed", "err", err)
		}
		if err := km.m.Cut(); err != nil {
			ks.log.Warn("media flow not cut", "err", err)
		}
	}
}

// udpStream is one UDP stream of a media session: the relay on algd's
// pairs and, on the kernel path, the mappings that carry its media
// instead. It is closed with its session.
type udpStream struct {
	relay  *alg.UDPRelay
	kernel *kernelStream // nil: the proxy path
}

// close ends the stream: the kernel flows first, then the relay, whose
// pairs go back only once nothing is forwarded to their ports.
func (u *udpStream) close() {
	if u.kernel != nil {
		u.kernel.close()
	}
	u.relay.Close()
}

// lastUp is when the client last sent a datagram of the stream, as far
// as algd knows (on the kernel path: as of the latest poll).
func (u *udpStream) lastUp() time.Time {
	t := u.relay.LastUp()
	if u.kernel != nil {
		if k := time.Unix(0, u.kernel.lastUp.Load()); k.After(t) {
			t = k
		}
	}
	return t
}

// bytes is the UDP payload the stream carried each way, relayed by algd
// or counted by conntrack (as of the latest poll).
func (u *udpStream) bytes() (down, up int64) {
	down, up = u.relay.Stats.DownBytes.Load(), u.relay.Stats.UpBytes.Load()
	if u.kernel != nil {
		down += u.kernel.stats.DownBytes.Load()
		up += u.kernel.stats.UpBytes.Load()
	}
	return down, up
}

// pollNow reads the kernel counters of a stream on the kernel path.
func (u *udpStream) pollNow() {
	if u.kernel != nil {
		u.kernel.poll(true)
	}
}

// poll reads the kernel counters of a stream on the kernel path (at
// most every kernelPollMin).
func (u *udpStream) poll() {
	if u.kernel != nil {
		u.kernel.poll(false)
	}
}
