// Package rtspsource is the RTSP realserver of algd's tests: a gortsplib
// server that plays "/stream" (an H.264 medium, one RTP packet every
// 5 ms, each payload numbered and checkable with CheckPayload) and
// accepts publishers on any other path, counting their packets. Suites
// whose realserver must be a peer nobody here wrote (ffmpeg, GStreamer)
// use tests/rtspinterop instead.
package rtspsource

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// magic starts every RTP payload the source and the tests' publishers
// send; the next 4 bytes are the packet's index.
var magic = []byte("algd-rtsp-test")

// PayloadSize is the size of every Payload.
const PayloadSize = 200

// Payload is the RTP payload of packet i: magic, i, then i's low byte.
func Payload(i uint32) []byte {
	p := make([]byte, 0, PayloadSize)
	p = append(p, magic...)
	p = binary.BigEndian.AppendUint32(p, i)
	return append(p, bytes.Repeat([]byte{byte(i)}, PayloadSize-len(p))...)
}

// CheckPayload reports whether p is a Payload, intact.
func CheckPayload(p []byte) bool {
	_, ok := Index(p)
	return ok
}

// Index returns the number i of Payload p, and whether p is intact.
func Index(p []byte) (uint32, bool) {
	if len(p) != PayloadSize || !bytes.HasPrefix(p, magic) {
		return 0, false
	}
	i := binary.BigEndian.Uint32(p[len(magic):])
	return i, bytes.Equal(p, Payload(i))
}

// Packet is RTP packet i of SSRC ssrc (payload type 96, 90 kHz clock at
// 200 packets a second).
func Packet(i uint32, ssrc uint32) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: i * 450, SSRC: ssrc, Marker: true},
		Payload: Payload(i),
	}
}

// Media is the H.264 medium "/stream" plays (and what tests publish).
func Media() *description.Media {
	return &description.Media{
		Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{
			PayloadTyp:        96,
			SPS:               []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20},
			PPS:               []byte{0x44, 0x01, 0xc0, 0x25, 0x2f, 0x05, 0x32, 0x40},
			PacketizationMode: 1,
		}},
	}
}

// Options place a Server: RTSP on IP (port chosen by the kernel), media
// sockets on MediaIP (default IP) at UDPPort and UDPPort+1.
type Options struct {
	IP, MediaIP string
	UDPPort     int
	// Source, when set, is added as source=<Source> to the Transport of
	// every SETUP answer (a server sending its media from another
	// address, RFC 2326 §12.39; gortsplib's server never does).
	Source string
	// Idle is the server's IdleTimeout (its sessions' timeout plus 5 s,
	// at least 1 s); zero: gortsplib's 60 s.
	Idle time.Duration
}

// Server is a running source. Its counters may be read at any time.
type Server struct {
	srv    *gortsplib.Server
	addr   netip.AddrPort
	stream *gortsplib.ServerStream
	medi   *description.Media

	// Received counts intact RTP packets from publishers, Bad the others.
	Received, Bad atomic.Int64
	// Sessions counts sessions opened.
	Sessions atomic.Int64
	// Sent counts the RTP packets of "/stream" written (to every player).
	Sent atomic.Int64

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Start runs a source on ip with media on udpPort and udpPort+1 until
// the test ends.
func Start(t testing.TB, ip string, udpPort int) *Server {
	t.Helper()
	return StartOpts(t, Options{IP: ip, UDPPort: udpPort})
}

// StartOpts runs a source placed by o until the test ends.
func StartOpts(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New runs a source placed by o until Close (for a process of its own,
// cmd rtspsourced; tests use Start or StartOpts).
func New(o Options) (*Server, error) {
	if o.MediaIP == "" {
		o.MediaIP = o.IP
	}
	s := &Server{medi: Media()}
	s.srv = &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    net.JoinHostPort(o.IP, "0"),
		UDPRTPAddress:  net.JoinHostPort(o.MediaIP, fmt.Sprint(o.UDPPort)),
		UDPRTCPAddress: net.JoinHostPort(o.MediaIP, fmt.Sprint(o.UDPPort+1)),
		IdleTimeout:    o.Idle,
	}
	if o.Source != "" {
		s.srv.Listen = func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return sourceListener{ln, o.Source}, nil
		}
	}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("rtsp source %s: %w", o.IP, err)
	}
	s.addr = s.srv.NetListener().Addr().(*net.TCPAddr).AddrPort()
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{s.medi}}}
	if err := s.stream.Initialize(); err != nil {
		s.srv.Close()
		return nil, fmt.Errorf("rtsp source stream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			s.stream.WritePacketRTP(s.medi, Packet(i, 0x1234))
			s.Sent.Add(1)
		}
	})
	return s, nil
}

// Close stops the source.
func (s *Server) Close() {
	s.stop()
	s.wg.Wait()
	s.stream.Close()
	s.srv.Close()
}

// Addr is the source's RTSP address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// sourceListener hands out connections that announce source= in the
// Transport of every SETUP answer.
type sourceListener struct {
	net.Listener
	source string
}

func (l sourceListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return sourceConn{c, []byte("source=" + l.source + ";server_port=")}, nil
}

// sourceConn adds source= before server_port= in what the server writes:
// gortsplib writes each response with one Write.
type sourceConn struct {
	net.Conn
	with []byte
}

func (c sourceConn) Write(b []byte) (int, error) {
	if !bytes.Contains(b, []byte("\r\nTransport: ")) {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(bytes.Replace(b, []byte("server_port="), c.with, 1)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// OnSessionOpen counts sessions.
func (s *Server) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx) { s.Sessions.Add(1) }

// OnDescribe serves "/stream".
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Path != "/stream" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

// OnAnnounce accepts a publisher on any path.
func (s *Server) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup sets up "/stream" for players and anything for publishers.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if ctx.Path != "/stream" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

// OnPause says yes.
func (s *Server) OnPause(*gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPlay says yes.
func (s *Server) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord counts what the publisher sends.
func (s *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		if CheckPayload(pkt.Payload) {
			s.Received.Add(1)
		} else {
			s.Bad.Add(1)
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}
