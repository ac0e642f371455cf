package rtsp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/algd/algd/pool"
)

// Checker is the RTSP health check (health kind "rtsp"): an OPTIONS
// request (RFC 2326 §10.1) answered 200.
type Checker struct {
	// Dial makes the connection (from backend_source, with a PROXY
	// header when the pool sends them); nil dials plainly.
	Dial pool.Dial
}

// Check sends OPTIONS to addr and reads the answer.
func (k *Checker) Check(ctx context.Context, addr netip.AddrPort) error {
	c, stop, err := k.Dial.Connect(ctx, addr)
	if err != nil {
		return fmt.Errorf("rtsp check: %w", err)
	}
	defer c.Close()
	defer stop()
	req := &Message{Method: "OPTIONS", URI: "rtsp://" + addr.String() + "/", Proto: "RTSP/1.0",
		Header: []Field{{"CSeq", "1"}, {"User-Agent", "algd-check"}}}
	if _, err := c.Write(req.AppendTo(nil)); err != nil {
		return fmt.Errorf("rtsp check: %w", err)
	}
	r := NewReader(c, 0)
	for {
		m, _, err := r.Read()
		if err != nil {
			return fmt.Errorf("rtsp check: %w", err)
		}
		if m == nil || m.IsRequest() {
			continue // a frame or a server request: not the answer
		}
		if m.Status != 200 {
			return fmt.Errorf("rtsp check: OPTIONS answered %d %q", m.Status, m.Reason)
		}
		return nil
	}
}
