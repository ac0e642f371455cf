package alg

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// header formats a PROXY header with go-proxyproto.
func header(t *testing.T, version byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadProxyHeader reads headers of both versions, and only them: the
// bytes after the header stay in the stream.
func TestReadProxyHeader(t *testing.T) {
	local2 := []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00") // v2 LOCAL, no address
	tests := []struct {
		name    string
		version byte
		in      []byte
		src     string // "" for a LOCAL header
		wantErr bool
	}{
		{"v1 tcp4", 1, []byte("PROXY TCP4 192.0.2.10 203.0.113.1 5555 21\r\n"), "192.0.2.10:5555", false},
		{"v1 tcp6", 1, []byte("PROXY TCP6 2001:db8::10 2001:db8::1 5555 21\r\n"), "[2001:db8::10]:5555", false},
		{"v1 unknown", 1, []byte("PROXY UNKNOWN\r\n"), "", false},
		{"v2 tcp4", 2, header(t, 2, "192.0.2.10:5555", "203.0.113.1:21"), "192.0.2.10:5555", false},
		{"v2 tcp6", 2, header(t, 2, "[2001:db8::10]:5555", "[2001:db8::1]:21"), "[2001:db8::10]:5555", false},
		{"v2 local", 2, local2, "", false},
		{"v1 when v2 wanted", 2, []byte("PROXY TCP4 192.0.2.10 203.0.113.1 5555 21\r\n"), "", true},
		{"v2 when v1 wanted", 1, header(t, 2, "192.0.2.10:5555", "203.0.113.1:21"), "", true},
		{"no header", 1, []byte("USER anonymous\r\n"), "", true},
		{"v1 too long", 1, []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), "", true},
		{"v1 bad address", 1, []byte("PROXY TCP4 192.0.2.300 203.0.113.1 5555 21\r\n"), "", true},
		{"v2 truncated", 2, header(t, 2, "192.0.2.10:5555", "203.0.113.1:21")[:20], "", true},
		{"empty", 2, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(append(append([]byte{}, tt.in...), "REST"...))
			h, err := ReadProxyHeader(r, tt.version)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			src, _, ok := h.TCPAddrs()
			switch {
			case tt.src == "" && ok && !h.Command.IsLocal():
				t.Errorf("want a LOCAL header, got source %v", src)
			case tt.src != "" && (!ok || src.AddrPort().String() != tt.src):
				t.Errorf("source = %v, want %s", src, tt.src)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != "REST" {
				t.Errorf("after the header: %q, want \"REST\" (read too much or too little)", rest)
			}
		})
	}
}

// dialFrom connects from the loopback address from to addr, writes pre and
// returns the connection; nil when the connect itself was reset (a refused
// connection may be reset before the dialer returns).
func dialFrom(t *testing.T, from string, addr netip.AddrPort, pre []byte) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr.String())
	if IsReset(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if len(pre) > 0 {
		c.Write(pre)
	}
	return c.(*net.TCPConn)
}

// closedByPeer reports whether the peer closed or reset c (nil: reset at
// connect).
func closedByPeer(c *net.TCPConn) bool {
	if c == nil {
		return true
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestProxyExpectation puts a balancer in front of a passive port: a
// direct connection, a balancer connection without header and one whose
// header names another client are refused; the one naming the expected
// client is accepted with the bytes after its header intact.
func TestProxyExpectation(t *testing.T) {
	for _, v := range []byte{1, 2} {
		t.Run("v"+string('0'+v), func(t *testing.T) {
			d := NewDataPorts(61530, 61531)
			px := &Proxy{Version: v, From: []netip.Prefix{netip.MustParsePrefix("127.0.0.50/32")}, Timeout: 2 * time.Second, Refused: new(atomic.Int64)}
			d.SetProxy(px)
			var thief atomic.Value
			x, err := d.Expect(Expect{
				Local: netip.MustParseAddr("127.0.0.80"), Peer: netip.MustParseAddr("192.0.2.10"),
				Deadline:  time.Now().Add(20 * time.Second),
				OnRefused: func(from netip.AddrPort, _ Refusal) { thief.Store(from) },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			got := make(chan *net.TCPConn, 1)
			go func() {
				c, _ := x.Accept(context.Background())
				got <- c
			}()
			hdr := func(src string) []byte {
				if v == 1 {
					ap := netip.MustParseAddrPort(src)
					return []byte("PROXY TCP4 " + ap.Addr().String() + " 127.0.0.80 " + itoa(ap.Port()) + " 61530\r\n")
				}
				return header(t, 2, src, "127.0.0.80:61530")
			}
			steps := []struct {
				name    string
				from    string
				pre     []byte
				refused int64
				theft   string
			}{
				{"untrusted direct", "127.0.0.5", nil, 1, ""},
				{"untrusted with header", "127.0.0.51", hdr("192.0.2.10:4000"), 2, ""},
				{"balancer without header", "127.0.0.50", []byte("RETR-junk-bytes\r\n"), 3, ""},
				{"balancer, spoofed client", "127.0.0.50", hdr("192.0.2.66:4000"), 3, "192.0.2.66:4000"},
			}
			for _, s := range steps {
				c := dialFrom(t, s.from, x.AddrPort(), s.pre)
				if !closedByPeer(c) {
					t.Fatalf("%s: connection not closed", s.name)
				}
				for deadline := time.Now().Add(10 * time.Second); px.Refused.Load() < s.refused && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				if n := px.Refused.Load(); n != s.refused {
					t.Fatalf("%s: refused = %d, want %d", s.name, n, s.refused)
				}
				if s.theft != "" {
					for deadline := time.Now().Add(10 * time.Second); thief.Load() == nil && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
					if f, _ := thief.Load().(netip.AddrPort); f.String() != s.theft {
						t.Fatalf("%s: OnRefused got %v, want %s", s.name, f, s.theft)
					}
				}
			}
			good := dialFrom(t, "127.0.0.50", x.AddrPort(), append(hdr("192.0.2.10:4000"), "DATA"...))
			c := <-got
			if c == nil {
				t.Fatal("the client's connection through the balancer was not accepted")
			}
			defer c.Close()
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "DATA" {
				t.Fatalf("bytes after the header: %q %v", buf, err)
			}
			good.Close()
		})
	}
}

// TestProxyHandler serves a trusted connection with the header's client
// in the context and drops an untrusted one before the handler sees it.
func TestProxyHandler(t *testing.T) {
	px := &Proxy{Version: 1, From: []netip.Prefix{netip.MustParsePrefix("127.0.0.50/32")}, Refused: new(atomic.Int64)}
	seen := make(chan netip.AddrPort, 2)
	h := ProxyHandler{Proxy: px, Next: handlerFunc(func(ctx context.Context, c *net.TCPConn) {
		seen <- ClientOf(ctx, c)
		c.Close()
	})}
	ln, err := Listen(context.Background(), netip.MustParseAddrPort("127.0.0.80:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &Server{Handler: h}
	go srv.Serve(ctx, ln)
	addr := AddrPortOf(ln.Addr())
	tests := []struct {
		name, from string
		pre        string
		want       string // "" for dropped
	}{
		{"trusted", "127.0.0.50", "PROXY TCP4 192.0.2.10 127.0.0.80 5555 21\r\n", "192.0.2.10:5555"},
		{"trusted local", "127.0.0.50", "PROXY UNKNOWN\r\n", "127.0.0.50"},
		{"untrusted", "127.0.0.51", "PROXY TCP4 192.0.2.10 127.0.0.80 5555 21\r\n", ""},
		{"missing", "127.0.0.50", "USER x\r\nPASS y\r\nQUIT\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, tt.from, addr, []byte(tt.pre))
			if tt.want == "" {
				if !closedByPeer(c) {
					t.Fatal("not dropped")
				}
				select {
				case got := <-seen:
					t.Fatalf("handler served %v", got)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			got := <-seen
			if got.String() != tt.want && got.Addr().String() != tt.want {
				t.Fatalf("client = %v, want %s", got, tt.want)
			}
		})
	}
	if px.Refused.Load() != 2 {
		t.Errorf("refused = %d, want 2", px.Refused.Load())
	}
}

type handlerFunc func(context.Context, *net.TCPConn)

func (f handlerFunc) Serve(ctx context.Context, c *net.TCPConn) { f(ctx, c) }

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}
