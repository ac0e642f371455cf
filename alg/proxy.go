package alg

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// ErrProxyUntrusted is returned for a connection that must carry a PROXY
// header but comes from an address outside Proxy.From.
var ErrProxyUntrusted = errors.New("alg: connection from outside proxy_protocol_from")

// Bounds of the PROXY protocol (haproxy's proxy-protocol.txt §2.1, §2.2).
const (
	proxyV1Max      = 107 // longest v1 line, CRLF included
	proxyV2Fixed    = 16  // v2 signature (12), version/command, family, length (2)
	proxyV2MaxBody  = 4096
	proxyDefaultTTL = 5 * time.Second
)

// Proxy is a listener's PROXY protocol policy: connections from From must
// start with a header of Version, which names the real client; any other
// connection is dropped. Its counter is safe for concurrent use; the other
// fields are set before use and not changed after.
type Proxy struct {
	// Version is 1 (text) or 2 (binary).
	Version byte
	// From are the balancers trusted to send headers.
	From []netip.Prefix
	// Timeout bounds the wait for the header; 0 means 5s.
	Timeout time.Duration
	// Refused counts connections dropped: untrusted, without a header or
	// with a malformed one. It may point into a listener's counters, which
	// outlive the policy across reloads; nil: Client makes one.
	Refused *atomic.Int64
	once    sync.Once
}

// refused counts a dropped connection.
func (p *Proxy) refused() {
	p.once.Do(func() {
		if p.Refused == nil {
			p.Refused = new(atomic.Int64)
		}
	})
	p.Refused.Add(1)
}

// Trusted reports whether a may send PROXY headers.
func (p *Proxy) Trusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, pf := range p.From {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// Client applies the policy to a freshly accepted c: it reads the header
// (exactly its bytes, so what follows stays in the socket for splice) and
// returns the client address it names. A LOCAL header (the balancer's own
// health check) yields the balancer's address. Errors are counted in
// Refused; the caller closes c.
func (p *Proxy) Client(c *net.TCPConn, deadline time.Time) (netip.AddrPort, error) {
	from := AddrPortOf(c.RemoteAddr())
	if !p.Trusted(from.Addr()) {
		p.refused()
		return netip.AddrPort{}, fmt.Errorf("proxy header from %s: %w", from, ErrProxyUntrusted)
	}
	ttl := p.Timeout
	if ttl <= 0 {
		ttl = proxyDefaultTTL
	}
	if d := time.Now().Add(ttl); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	h, err := ReadProxyHeader(c, p.Version)
	if err != nil {
		p.refused()
		return netip.AddrPort{}, fmt.Errorf("proxy header from %s: %w", from, err)
	}
	src, _, ok := h.TCPAddrs()
	if h.Command.IsLocal() || !ok {
		return from, nil
	}
	ap := src.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// ReadProxyHeader reads one PROXY header of version (1 or 2) from r and
// not a byte more: a v1 line is read up to its LF, a v2 header up to the
// length it announces. Parsing is go-proxyproto's.
func ReadProxyHeader(r io.Reader, version byte) (*proxyproto.Header, error) {
	buf := make([]byte, 5, proxyV1Max)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case version == 1 && bytes.Equal(buf, proxyproto.SIGV1):
		one := make([]byte, 1)
		for buf[len(buf)-1] != '\n' {
			if len(buf) == proxyV1Max {
				return nil, proxyproto.ErrVersion1HeaderTooLong
			}
			if _, err := io.ReadFull(r, one); err != nil {
				return nil, fmt.Errorf("read: %w", err)
			}
			buf = append(buf, one[0])
		}
	case version == 2 && bytes.Equal(buf, proxyproto.SIGV2[:5]):
		buf = append(buf, make([]byte, proxyV2Fixed-5)...)
		if _, err := io.ReadFull(r, buf[5:]); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		if !bytes.Equal(buf[:12], proxyproto.SIGV2) {
			return nil, proxyproto.ErrNoProxyProtocol
		}
		n := int(binary.BigEndian.Uint16(buf[14:16]))
		if n > proxyV2MaxBody {
			return nil, proxyproto.ErrInvalidLength
		}
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(r, buf[proxyV2Fixed:]); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	default:
		return nil, fmt.Errorf("want a v%d header: %w", version, proxyproto.ErrNoProxyProtocol)
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(buf)))
	if err != nil {
		return nil, err
	}
	if h.Version != version {
		return nil, fmt.Errorf("v%d header, want v%d: %w", h.Version, version, proxyproto.ErrUnknownProxyProtocolVersion)
	}
	return h, nil
}

// WriteProxyHeader writes a PROXY header of version (1 or 2) naming src as
// the client and dst as the address it connected to.
func WriteProxyHeader(w io.Writer, version byte, src, dst netip.AddrPort) error {
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
	if _, err := h.WriteTo(w); err != nil {
		return fmt.Errorf("write proxy header: %w", err)
	}
	return nil
}

// clientKey carries the client address of a PROXY header in a context.
type clientKey struct{}

// WithClient returns ctx carrying the client's address as a PROXY header
// gave it.
func WithClient(ctx context.Context, client netip.AddrPort) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientOf returns the client of connection c: the address of an accepted
// PROXY header carried by ctx, else c's peer address (unmapped).
func ClientOf(ctx context.Context, c net.Conn) netip.AddrPort {
	if ap, ok := ctx.Value(clientKey{}).(netip.AddrPort); ok {
		return ap
	}
	return AddrPortOf(c.RemoteAddr())
}

// ProxyHandler enforces a PROXY protocol policy in front of a Handler: it
// drops what the policy refuses and serves the rest with the header's
// client in the context (see ClientOf). The header is read in the
// connection's own goroutine, so a slow balancer holds up no accept.
type ProxyHandler struct {
	// Proxy is the policy; nil serves every connection as it is.
	Proxy *Proxy
	// Next serves the connections the policy admits.
	Next Handler
	// Logger receives refusals at Info; nil means slog.Default().
	Logger *slog.Logger
}

// Serve applies the policy to c, then passes it on.
func (h ProxyHandler) Serve(ctx context.Context, c *net.TCPConn) {
	if h.Proxy == nil {
		h.Next.Serve(ctx, c)
		return
	}
	client, err := h.Proxy.Client(c, time.Time{})
	if err != nil {
		log := h.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Info("connection dropped", "listen", AddrPortOf(c.LocalAddr()).String(), "err", err)
		c.SetLinger(0)
		c.Close()
		return
	}
	h.Next.Serve(WithClient(ctx, client), c)
}
