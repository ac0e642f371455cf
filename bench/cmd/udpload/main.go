// Command udpload is the load of bench scenario 5: it sends RTP-sized
// datagrams as fast as it can on a number of streams and receives them on
// as many sinks, and prints how many arrived per second in the measured
// window, and how much CPU a given process (the relay) spent in it.
//
// Stream i sends from -src:(-src-port+2i) to the i-th address of -dst (a
// comma-separated list: the relay's ports) and its sink listens on
// -sink:(-sink-port+2i). The load must cost less per packet than the
// relay it drives, or it measures itself: the sender hands the kernel
// many datagrams per call (UDP generic segmentation offload, which
// loopback delivers as separate datagrams; sendmmsg where it is missing)
// and the sinks read batches (recvmmsg) copying only the first bytes of
// each datagram.
//
// With -sink-netns the sinks live in that network namespace (ip netns)
// while the senders stay in the namespace udpload runs in: the load of
// the namespace topology, client on one side of the director and
// realserver on the other, counted by one process.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/algd/algd/bench/netns"
)

// batch is the datagrams of one send or receive call.
const batch = 32

func main() {
	src := flag.String("src", "127.0.0.1", "address the streams are sent from")
	srcPort := flag.Int("src-port", 61400, "first source port (stream i: +2i)")
	dst := flag.String("dst", "", "comma-separated destinations, one per stream")
	sink := flag.String("sink", "127.0.0.1", "address of the sinks")
	sinkPort := flag.Int("sink-port", 61000, "first sink port (stream i: +2i)")
	size := flag.Int("size", 1200, "datagram payload bytes")
	warmup := flag.Duration("warmup", 300*time.Millisecond, "load before the window")
	dur := flag.Duration("duration", 3*time.Second, "measured window")
	pid := flag.Int("cpu-pid", 0, "report the CPU seconds of this process in the window")
	core := flag.Int("core", 1, "report the busy fraction of this core in the window")
	rate := flag.Float64("rate", 0, "offered packets per second over all streams; 0: as fast as possible")
	sinkNS := flag.String("sink-netns", "", "network namespace (ip netns) of the sinks; default: udpload's own")
	gso := flag.Bool("gso", true, "send with UDP segmentation offload (one skb of 32 datagrams, split where it is received); false: sendmmsg, one skb a datagram")
	flag.Parse()
	if err := run(*src, *dst, *sink, *sinkNS, *srcPort, *sinkPort, *size, *warmup, *dur, *pid, *core, *rate, *gso); err != nil {
		slog.Error("udpload", "err", err)
		os.Exit(1)
	}
}

func run(src, dst, sink, sinkNS string, srcPort, sinkPort, size int, warmup, dur time.Duration, pid, core int, rate float64, gso bool) error {
	sa, err := netip.ParseAddr(src)
	if err != nil {
		return fmt.Errorf("src: %w", err)
	}
	ka, err := netip.ParseAddr(sink)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	var dsts []netip.AddrPort
	for _, d := range strings.Split(dst, ",") {
		ap, err := netip.ParseAddrPort(d)
		if err != nil {
			return fmt.Errorf("dst: %w", err)
		}
		dsts = append(dsts, ap)
	}
	var received atomic.Int64
	var wg sync.WaitGroup
	var closers []*net.UDPConn
	defer func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}()
	sinks, err := listenSinks(ka, sinkPort, len(dsts), sinkNS)
	closers = append(closers, sinks...)
	if err != nil {
		return err
	}
	for _, c := range sinks {
		wg.Go(func() { receive(c, &received) })
	}
	var senders []*net.UDPConn
	for i, d := range dsts {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(sa, uint16(srcPort+2*i))), net.UDPAddrFromAddrPort(d))
		if err != nil {
			return fmt.Errorf("sender %d: %w", i, err)
		}
		_ = c.SetWriteBuffer(4 << 20)
		closers = append(closers, c)
		senders = append(senders, c)
	}
	var stop atomic.Bool
	var sent atomic.Int64
	var sg sync.WaitGroup
	sg.Go(func() { send(senders, size, rate, gso, &stop, &sent) })

	time.Sleep(warmup)
	b0, i0 := coreTicks(core)
	r0, s0, c0, t0 := received.Load(), sent.Load(), cpu(pid), time.Now()
	time.Sleep(dur)
	r1, s1, c1, secs := received.Load(), sent.Load(), cpu(pid), time.Since(t0).Seconds()
	b1, i1 := coreTicks(core)
	stop.Store(true)
	sg.Wait()
	busy := 0.0
	if all := (b1 - b0) + (i1 - i0); all > 0 {
		busy = (b1 - b0) / all
	}
	fmt.Printf("pkts=%d secs=%.3f sent=%d cpu=%.3f busy=%.3f\n", r1-r0, secs, s1-s0, c1-c0, busy)
	return nil
}

// listenSinks opens n sinks on addr, from port first (stream i: +2i),
// in namespace ns when it is not "". It returns those it opened even on
// an error, for the caller to close.
func listenSinks(addr netip.Addr, first, n int, ns string) ([]*net.UDPConn, error) {
	var cs []*net.UDPConn
	open := func() error {
		for i := range n {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(first+2*i))))
			if err != nil {
				return fmt.Errorf("sink %d: %w", i, err)
			}
			_ = c.SetReadBuffer(4 << 20)
			cs = append(cs, c)
		}
		return nil
	}
	if ns == "" {
		return cs, open()
	}
	return cs, netns.Do(ns, open)
}

// send writes batches round-robin over the streams until stop: one
// segmented write of batch datagrams per stream when the kernel offers
// UDP_SEGMENT and gso is set, else one sendmmsg. With a rate it sleeps
// whenever it is ahead of rate packets a second.
func send(cs []*net.UDPConn, size int, rate float64, gso bool, stop *atomic.Bool, sent *atomic.Int64) {
	start := time.Now()
	pace := func() {
		if rate <= 0 {
			return
		}
		for float64(sent.Load()) > rate*time.Since(start).Seconds() {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for _, c := range cs {
		if !gso || setSegment(c, size) != nil {
			gso = false
			break
		}
	}
	if gso {
		buf := make([]byte, size*batch)
		for !stop.Load() {
			for _, c := range cs {
				if _, err := c.Write(buf); err == nil {
					sent.Add(batch)
				}
				pace()
			}
		}
		return
	}
	payload := make([]byte, size)
	ms := make([]ipv4.Message, batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{payload}
	}
	pcs := make([]*ipv4.PacketConn, len(cs))
	for i, c := range cs {
		pcs[i] = ipv4.NewPacketConn(c)
	}
	for !stop.Load() {
		for _, c := range pcs {
			n, err := c.WriteBatch(ms, 0)
			if err == nil {
				sent.Add(int64(n))
			}
			pace()
		}
	}
}

// setSegment turns on UDP generic segmentation offload on c: a write of
// k×size bytes leaves as k datagrams of size bytes.
func setSegment(c *net.UDPConn, size int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("udp segment: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, size)
	}); err != nil {
		return fmt.Errorf("udp segment: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("udp segment: %w", serr)
	}
	return nil
}

// receive counts the datagrams arriving on c until it is closed.
func receive(c *net.UDPConn, n *atomic.Int64) {
	p := ipv4.NewPacketConn(c)
	ms := make([]ipv4.Message, batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 16)} // MSG_TRUNC: count, do not copy
	}
	for {
		k, err := p.ReadBatch(ms, unix.MSG_TRUNC)
		if err != nil {
			return
		}
		n.Add(int64(k))
	}
}

// coreTicks returns the busy and idle (idle+iowait) ticks of one core
// from /proc/stat; busy counts interrupts and softirqs, where loopback
// delivery runs.
func coreTicks(core int) (busy, idle float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu"+strconv.Itoa(core) {
			continue
		}
		for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
			n, _ := strconv.ParseFloat(v, 64)
			if i == 3 || i == 4 {
				idle += n
			} else {
				busy += n
			}
		}
	}
	return busy, idle
}

// cpu returns the user+system seconds of process pid, 0 when pid is 0 or
// unreadable.
func cpu(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}
