package alg

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkExpectTransfer is what one passive transfer costs the
// expectation machinery: Expect (a port and its listener), the peer's
// connection accepted and paired, the listener refusing until Close, and
// Close. The peer's dial and close are in the figure too.
func BenchmarkExpectTransfer(b *testing.B) {
	d := NewDataPorts(61600, 61699)
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: peer.AsSlice()}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
		if err != nil {
			b.Fatal(err)
		}
		pc, err := dialer.Dial("tcp", x.AddrPort().String())
		if err != nil {
			b.Fatal(err)
		}
		c, err := x.Accept(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		pc.Close()
		x.Close()
	}
}

// BenchmarkExpectClose is the listener's share alone: Expect and Close of
// a port nobody connects to.
func BenchmarkExpectClose(b *testing.B) {
	d := NewDataPorts(61600, 61699)
	local, peer := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.5")
	b.ReportAllocs()
	for b.Loop() {
		x, err := d.Expect(Expect{Local: local, Peer: peer, Deadline: time.Now().Add(10 * time.Second)})
		if err != nil {
			b.Fatal(err)
		}
		x.Close()
	}
}
