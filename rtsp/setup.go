package rtsp

import (
	"net/netip"

	"github.com/algd/algd/alg"
)

// setupState is a SETUP with a UDP transport between request and answer:
// the two pairs reserved for it and the client's own ports.
type setupState struct {
	client, backend *alg.UDPPair
	cRTP, cRTCP     uint16
}

// close releases the pairs of a SETUP that will not be relayed.
func (st *setupState) close() {
	if st == nil {
		return
	}
	if st.client != nil {
		st.client.Close()
	}
	if st.backend != nil {
		st.backend.Close()
	}
}

// setupRequest rewrites a SETUP's Transport for the realserver: multicast
// specs are dropped (461 when nothing is left), a UDP spec gets a pair on
// each side and its client_port becomes the backend-side pair.
// answered is true when algd replied itself and nothing goes to the
// realserver.
func (s *conn) setupRequest(m *Message, p *pending) (answered bool, err error) {
	v, ok := m.Get("Transport")
	if !ok {
		return false, nil // the realserver answers that
	}
	var t Transport
	if t.Unmarshal(v) != nil {
		return false, nil
	}
	kept := t.Specs[:0]
	for _, sp := range t.Specs {
		if !sp.IsMulticast() {
			kept = append(kept, sp)
		}
	}
	if len(kept) == 0 {
		s.h.stats().Unsupported.Add(1)
		return true, s.reply(m, 461, "Unsupported Transport")
	}
	t.Specs = kept
	st := &setupState{}
	for i := range t.Specs {
		sp := &t.Specs[i]
		if sp.IsTCP() {
			continue
		}
		rtp, rtcp, ok := sp.Ports("client_port")
		if !ok {
			continue
		}
		if st.client == nil {
			st.cRTP, st.cRTCP = rtp, rtcp
			release, err := s.h.PerClientPairs.Acquire(s.peer.Addr())
			if err != nil {
				s.h.stats().PerClient.Add(1)
				s.log.Warn("client holds its share of media pairs", "max", s.h.Limits.MaxMediaPairsPerClient)
				return true, s.reply(m, 453, "Not Enough Bandwidth")
			}
			if st.client, err = s.h.MediaPorts.Pair(s.vip); err == nil {
				st.client.OnClose = release // the share goes back with the pair
				st.backend, err = s.h.BackendPorts.Pair(s.backLocal.Addr())
			} else {
				release()
			}
			if err != nil {
				st.close()
				s.h.stats().Exhausted.Add(1)
				s.log.Warn("no media pair", "err", err)
				return true, s.reply(m, 453, "Not Enough Bandwidth")
			}
		}
		sp.SetPorts("client_port", st.backend.Port(), st.backend.Port()+1)
		if _, ok := sp.Get("destination"); ok {
			sp.Set("destination", s.backLocal.Addr().String())
		}
	}
	m.Set("Transport", t.Marshal())
	if st.client != nil {
		p.setup = st
	}
	return false, nil
}

// setupResponse handles the realserver's answer to a SETUP: on success
// with a UDP transport it starts the relay, attaches it to the session and
// rewrites the Transport for the client; otherwise the pairs go back.
// An interleaved answer passes untouched.
func (s *conn) setupResponse(m *Message, st *setupState) {
	sv, _ := m.Get("Session")
	id, timeout := parseSession(sv)
	if timeout == 0 {
		timeout = s.h.sessionTimeout()
	}
	var t Transport
	v, hasT := m.Get("Transport")
	if m.Status/100 != 2 || !hasT || t.Unmarshal(v) != nil {
		st.close()
		return
	}
	sp := &t.Specs[0]
	if sp.IsTCP() || st == nil || id == "" {
		st.close()
		if sp.IsTCP() {
			s.h.stats().Interleaved.Add(1)
		} else if st != nil {
			s.log.Warn("SETUP answered without a session id: media not relayed")
		}
		if id != "" {
			md := s.h.table().attach(id, s, timeout)
			s.remember(md)
			if sp.IsTCP() {
				md.setInterleaved()
				s.setUp(md, nil)
			}
		}
		return
	}
	announced, hasSource := sp.Get("source")
	ms := mediaSources(s.rs.Addr().Unmap(), s.h.Pool, announced, hasSource)
	var back [2]netip.AddrPort
	if rtp, rtcp, ok := sp.Ports("server_port"); ok {
		back = [2]netip.AddrPort{netip.AddrPortFrom(ms.peer, rtp), netip.AddrPortFrom(ms.peer, rtcp)}
	} else {
		back = [2]netip.AddrPort{netip.AddrPortFrom(ms.peer, 0), netip.AddrPortFrom(ms.peer, 0)}
	}
	front := [2]netip.AddrPort{netip.AddrPortFrom(s.peer.Addr(), st.cRTP), netip.AddrPortFrom(s.peer.Addr(), st.cRTCP)}
	r := alg.NewUDPRelay(alg.UDPLeg{Pair: st.client, Peer: front}, alg.UDPLeg{Pair: st.backend, Peer: back, Sources: ms.also})
	r.Totals = &s.h.stats().Media
	log := s.log.With("rtsp_session", id, "vip_port", st.client.Port())
	r.OnDrop = dropLogger(log, ms)
	u := &udpStream{relay: r, kernel: s.mapMedia(front, st, back, log)}
	path := "proxy"
	if u.kernel != nil {
		path = "kernel"
	}
	md := s.h.table().attach(id, s, timeout)
	s.remember(md)
	if !md.add(u) {
		return
	}
	s.setUp(md, u)
	if ms.refused {
		s.h.stats().SourcesRefused.Add(1)
		log.Warn("media source refused: media from it is dropped", "source", ms.announced, "reason", ms.why,
			"accepted", back[0].String(), "hint", "add the address to the pool's media_sources if it is the realserver's")
	}
	r.Start()
	s.h.stats().Streams.Add(1)
	if u.kernel != nil {
		s.h.stats().KernelStreams.Add(1)
	}
	log.Info("stream", "client_ports", front[0].String(), "backend_pair", st.backend.Port(), "server", back[0].String(), "path", path)

	if _, ok := sp.Get("client_port"); ok {
		sp.SetPorts("client_port", st.cRTP, st.cRTCP)
	}
	if _, ok := sp.Get("server_port"); ok {
		sp.SetPorts("server_port", st.client.Port(), st.client.Port()+1)
	}
	if _, ok := sp.Get("source"); ok {
		sp.Set("source", s.vip.String())
	}
	if _, ok := sp.Get("destination"); ok {
		sp.Set("destination", s.peer.Addr().String())
	}
	m.Set("Transport", t.Marshal())
}
