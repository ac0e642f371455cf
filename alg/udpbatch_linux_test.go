package alg

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPBatch drives the recvmmsg/sendmmsg I/O directly: sources are
// decoded for IPv4 and IPv6, oversized datagrams are flagged truncated,
// and what is queued arrives at the destination.
func TestUDPBatch(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		size int
		want bool // truncated
	}{
		{"ipv4", "127.0.0.12", 1200, false},
		{"ipv4 truncated", "127.0.0.12", udpSlotSize + 1, true},
		{"ipv6", "::1", 1200, false},
		{"ipv6 truncated", "::1", udpSlotSize + 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			listen := func() *net.UDPConn {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(tc.ip)})
				if err != nil {
					t.Skipf("no %s: %v", tc.ip, err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			in, out, peer, dst := listen(), listen(), listen(), listen()
			dstAP := dst.LocalAddr().(*net.UDPAddr).AddrPort()
			b, err := newUDPBatch(in, out, dstAP)
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte{7}, tc.size)
			for range 3 {
				if _, err := peer.WriteToUDPAddrPort(msg, in.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
					t.Fatal(err)
				}
			}
			got := 0
			for got < 3 {
				n, err := b.read()
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					data, from, trunc := b.datagram(i)
					wantFrom := peer.LocalAddr().(*net.UDPAddr).AddrPort()
					wantFrom = netip.AddrPortFrom(wantFrom.Addr().Unmap(), wantFrom.Port())
					if from != wantFrom || trunc != tc.want {
						t.Errorf("datagram from %s truncated %v, want from %s truncated %v", from, trunc, wantFrom, tc.want)
					}
					if !tc.want && !bytes.Equal(data, msg) {
						t.Errorf("datagram of %d bytes, want %d", len(data), len(msg))
					}
					b.queue(i, i)
				}
				if !tc.want {
					if w, err := b.write(0, n); err != nil || w != n {
						t.Fatalf("write %d of %d: %v", w, n, err)
					}
				}
				got += n
			}
			if tc.want {
				return
			}
			buf := make([]byte, 4096)
			for range 3 {
				dst.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := dst.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if want := out.LocalAddr().(*net.UDPAddr).AddrPort(); from != want || n != len(msg) {
					t.Errorf("got %d bytes from %s, want %d from %s", n, from, len(msg), want)
				}
			}
		})
	}
}
