// Command naiverelay is the baseline of bench scenario 5: a UDP relay that
// moves one datagram per system call each way (ReadFromUDP, then
// WriteToUDP), with one goroutine per stream, the way a first relay is
// usually written. Stream i listens on -listen:(-front+2i), accepts
// datagrams only from -peer:(-peer-port+2i), and sends them from
// -listen:(-back+2i) to -to:(-to-port+2i): the RTP half of the pairs algd
// would use, in the client-to-server direction.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1", "address of both socket sides")
	front := flag.Int("front", 61800, "first client-side port")
	back := flag.Int("back", 62200, "first server-side port")
	peer := flag.String("peer", "127.0.0.1", "the sender's address")
	peerPort := flag.Int("peer-port", 61400, "the first sender port")
	to := flag.String("to", "127.0.0.1", "the receiver's address")
	toPort := flag.Int("to-port", 61000, "the first receiver port")
	streams := flag.Int("streams", 1, "streams")
	flag.Parse()
	if err := run(*listen, *peer, *to, *front, *back, *peerPort, *toPort, *streams); err != nil {
		slog.Error("naiverelay", "err", err)
		os.Exit(1)
	}
}

func run(listen, peer, to string, front, back, peerPort, toPort, streams int) error {
	la, err := netip.ParseAddr(listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	ta, err := netip.ParseAddr(to)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	var conns []*net.UDPConn
	for i := range streams {
		in, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(la, uint16(front+2*i))))
		if err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
		out, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(la, uint16(back+2*i))))
		if err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
		conns = append(conns, in, out)
		want := net.UDPAddrFromAddrPort(netip.AddrPortFrom(pa, uint16(peerPort+2*i)))
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ta, uint16(toPort+2*i)))
		go relay(in, out, want, dst)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// relay copies datagrams from want arriving on in to dst through out, one
// at a time, until in is closed.
func relay(in, out *net.UDPConn, want, dst *net.UDPAddr) {
	buf := make([]byte, 2048)
	for {
		n, from, err := in.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if from.Port != want.Port || !from.IP.Equal(want.IP) {
			continue
		}
		_, _ = out.WriteToUDP(buf[:n], dst)
	}
}
