//go:build interop

package rtspinterop

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// relayServer is a gortsplib realserver that serves to readers what a
// publisher sends on the same path.
type relayServer struct {
	srv  *gortsplib.Server
	addr netip.AddrPort

	mu      sync.Mutex
	streams map[string]*published
}

type published struct {
	stream *gortsplib.ServerStream
	by     *gortsplib.ServerSession
}

func startRelayServer(t *testing.T, ip string, udpPort int) *relayServer {
	t.Helper()
	s := &relayServer{streams: make(map[string]*published)}
	s.srv = &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    ip + ":0",
		UDPRTPAddress:  net.JoinHostPort(ip, itoa(udpPort)),
		UDPRTCPAddress: net.JoinHostPort(ip, itoa(udpPort+1)),
	}
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	s.addr = s.srv.NetListener().Addr().(*net.TCPAddr).AddrPort()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *relayServer) get(path string) *published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[path]
}

// OnSessionClose drops a publisher's stream.
func (s *relayServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, st := range s.streams {
		if st.by == ctx.Session {
			st.stream.Close()
			delete(s.streams, p)
		}
	}
}

// OnDescribe serves a published path.
func (s *relayServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if p := s.get(ctx.Path); p != nil {
		return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
	}
	return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
}

// OnAnnounce takes a publisher.
func (s *relayServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	st := &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.streams[ctx.Path]; old != nil {
		old.stream.Close()
	}
	s.streams[ctx.Path] = &published{stream: st, by: ctx.Session}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup sets up publishers and readers of a published path.
func (s *relayServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if p := s.get(ctx.Path); p != nil {
		return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
	}
	return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
}

// OnPlay says yes.
func (s *relayServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord forwards the publisher's packets to the path's readers.
func (s *relayServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	p := s.get(ctx.Path)
	if p == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		p.stream.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}
