package alg

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is a relay socket pair's batch I/O on Linux: recvmmsg(2) into
// fixed slots and sendmmsg(2) of the kept ones to one destination, through
// the sockets' syscall.RawConn so that the runtime poller still does the
// waiting. Every header, iovec and source-address buffer is allocated
// once, so relaying a datagram allocates nothing (golang.org/x/net's
// ReadBatch allocates each source address).
type udpBatch struct {
	in, out syscall.RawConn
	buf     []byte

	rh    []unix.Mmsghdr
	riov  []unix.Iovec
	names []unix.RawSockaddrInet6 // big enough for IPv4 and IPv6 sources
	rn    int
	rerr  error
	readF func(fd uintptr) bool

	wh    []unix.Mmsghdr
	wiov  []unix.Iovec
	to    unix.RawSockaddrInet6
	toLen uint32
	woff  int
	wk    int
	wn    int
	werr  error
	writF func(fd uintptr) bool
}

// newUDPBatch prepares batch I/O from in to dst through out; dst with
// port 0 is never sent to.
func newUDPBatch(in, out *net.UDPConn, dst netip.AddrPort) (udpBatchIO, error) {
	rin, err := in.SyscallConn()
	if err != nil {
		return nil, err
	}
	rout, err := out.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &udpBatch{
		in: rin, out: rout,
		buf:   make([]byte, udpBatchSize*udpSlotSize),
		rh:    make([]unix.Mmsghdr, udpBatchSize),
		riov:  make([]unix.Iovec, udpBatchSize),
		names: make([]unix.RawSockaddrInet6, udpBatchSize),
		wh:    make([]unix.Mmsghdr, udpBatchSize),
		wiov:  make([]unix.Iovec, udpBatchSize),
	}
	for i := range b.rh {
		b.riov[i].Base = &b.buf[i*udpSlotSize]
		b.riov[i].SetLen(udpSlotSize)
		b.rh[i].Hdr.Iov = &b.riov[i]
		b.rh[i].Hdr.SetIovlen(1)
		b.rh[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	if dst.Port() != 0 {
		b.toLen = b.setDst(out, dst)
	}
	for i := range b.wh {
		b.wh[i].Hdr.Iov = &b.wiov[i]
		b.wh[i].Hdr.SetIovlen(1)
		b.wh[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.to))
		b.wh[i].Hdr.Namelen = b.toLen
	}
	b.readF = b.readFd
	b.writF = b.writeFd
	return b, nil
}

// setDst encodes dst in the family of out's socket (an IPv4 destination
// of an IPv6 socket becomes v4-mapped) and returns the sockaddr length.
func (b *udpBatch) setDst(out *net.UDPConn, dst netip.AddrPort) uint32 {
	la, _ := out.LocalAddr().(*net.UDPAddr)
	if la != nil && la.IP.To4() != nil && dst.Addr().Unmap().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.to))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
		sa.Addr = dst.Addr().Unmap().As4()
		return unix.SizeofSockaddrInet4
	}
	b.to.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&b.to.Port))[:], dst.Port())
	b.to.Addr = dst.Addr().As16()
	return unix.SizeofSockaddrInet6
}

func (b *udpBatch) readFd(fd uintptr) bool {
	for i := range b.rh {
		b.rh[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.rh[i].Hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rh[0])), uintptr(len(b.rh)), unix.MSG_DONTWAIT, 0, 0)
	for errno == unix.EINTR {
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rh[0])), uintptr(len(b.rh)), unix.MSG_DONTWAIT, 0, 0)
	}
	if errno == unix.EAGAIN {
		return false // the poller waits for the next datagram
	}
	b.rn, b.rerr = int(n), nil
	if errno != 0 {
		b.rn, b.rerr = 0, errno
	}
	return true
}

// read fills slots with what has arrived, waiting until something has.
func (b *udpBatch) read() (int, error) {
	if err := b.in.Read(b.readF); err != nil {
		return 0, err
	}
	return b.rn, b.rerr
}

// datagram returns slot i of the last read: its bytes, its source and
// whether it was truncated.
func (b *udpBatch) datagram(i int) ([]byte, netip.AddrPort, bool) {
	h := &b.rh[i]
	data := b.buf[i*udpSlotSize : i*udpSlotSize+int(h.Len)]
	trunc := h.Hdr.Flags&unix.MSG_TRUNC != 0
	sa := &b.names[i]
	var port [2]byte
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port = *(*[2]byte)(unsafe.Pointer(&s4.Port))
		return data, netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), binary.BigEndian.Uint16(port[:])), trunc
	case unix.AF_INET6:
		port = *(*[2]byte)(unsafe.Pointer(&sa.Port))
		return data, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), binary.BigEndian.Uint16(port[:])), trunc
	}
	return data, netip.AddrPort{}, trunc
}

// queue sets message k of the next write to slot i's datagram.
func (b *udpBatch) queue(k, i int) {
	b.wiov[k].Base = &b.buf[i*udpSlotSize]
	b.wiov[k].SetLen(int(b.rh[i].Len))
}

// queued returns the length of message k of the next write.
func (b *udpBatch) queued(k int) int { return int(b.wiov[k].Len) }

func (b *udpBatch) writeFd(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.wh[b.woff])), uintptr(b.wk-b.woff), unix.MSG_DONTWAIT, 0, 0)
	for errno == unix.EINTR {
		n, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.wh[b.woff])), uintptr(b.wk-b.woff), unix.MSG_DONTWAIT, 0, 0)
	}
	if errno == unix.EAGAIN {
		return false // the poller waits for room in the send buffer
	}
	b.wn, b.werr = int(n), nil
	if errno != 0 {
		b.wn, b.werr = 0, errno
	}
	return true
}

// write sends messages off..k-1 and returns how many went.
func (b *udpBatch) write(off, k int) (int, error) {
	if b.toLen == 0 {
		return 0, nil
	}
	b.woff, b.wk = off, k
	if err := b.out.Write(b.writF); err != nil {
		return 0, err
	}
	return b.wn, b.werr
}
