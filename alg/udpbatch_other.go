//go:build !linux

package alg

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// xnetBatch is the relay's batch I/O where recvmmsg is not at hand:
// golang.org/x/net's ReadBatch and WriteBatch (one datagram a call on
// most systems; the source address of each is allocated).
type xnetBatch struct {
	rb, wb xnetBatchConn
	buf    []byte
	rms    []ipv4.Message
	wms    []ipv4.Message
	to     *net.UDPAddr
}

// xnetBatchConn is the batch I/O of golang.org/x/net's ipv4 and ipv6
// packet conns (their Message types are one type).
type xnetBatchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newXnetBatchConn(c *net.UDPConn) xnetBatchConn {
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// newUDPBatch prepares batch I/O from in to dst through out; dst with
// port 0 is never sent to.
func newUDPBatch(in, out *net.UDPConn, dst netip.AddrPort) (udpBatchIO, error) {
	b := &xnetBatch{
		rb: newXnetBatchConn(in), wb: newXnetBatchConn(out),
		buf: make([]byte, udpBatchSize*udpSlotSize),
		rms: make([]ipv4.Message, udpBatchSize),
		wms: make([]ipv4.Message, udpBatchSize),
	}
	bufs := make([][]byte, 2*udpBatchSize)
	for i := range b.rms {
		b.rms[i].Buffers = bufs[2*i : 2*i+1 : 2*i+1]
		b.rms[i].Buffers[0] = b.buf[i*udpSlotSize : (i+1)*udpSlotSize]
		b.wms[i].Buffers = bufs[2*i+1 : 2*i+2 : 2*i+2]
	}
	if dst.Port() != 0 {
		b.to = net.UDPAddrFromAddrPort(dst)
		if b.to.IP.To4() != nil {
			b.to.IP = b.to.IP.To4()
		}
	}
	for i := range b.wms {
		b.wms[i].Addr = b.to
	}
	return b, nil
}

func (b *xnetBatch) read() (int, error) { return b.rb.ReadBatch(b.rms, 0) }

func (b *xnetBatch) datagram(i int) ([]byte, netip.AddrPort, bool) {
	m := &b.rms[i]
	var from netip.AddrPort
	if ua, ok := m.Addr.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		from = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return m.Buffers[0][:m.N], from, m.Flags&syscall.MSG_TRUNC != 0
}

func (b *xnetBatch) queue(k, i int) { b.wms[k].Buffers[0] = b.rms[i].Buffers[0][:b.rms[i].N] }

func (b *xnetBatch) queued(k int) int { return len(b.wms[k].Buffers[0]) }

func (b *xnetBatch) write(off, k int) (int, error) {
	if b.to == nil {
		return 0, nil
	}
	return b.wb.WriteBatch(b.wms[off:k], 0)
}
