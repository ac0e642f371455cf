// Command rtspsourced runs tests/rtspsource in a process of its own, for
// suites that place the realserver and the client in network namespaces
// of their own (tests/netns):
//
//	rtspsourced serve IP UDPPORT [IDLE]
//	                               serve "/stream" on IP (RTSP port chosen by the
//	                               kernel, media on UDPPORT and UDPPORT+1); prints
//	                               "ready ADDR:PORT", serves until SIGTERM or
//	                               SIGINT, then prints "sent N"; IDLE (seconds) is
//	                               the server's idle timeout, its sessions'
//	                               timeout plus 5 s (rtspsource.Options.Idle)
//	rtspsourced play URL SECONDS   play URL over UDP (forced: no fallback to TCP)
//	                               for SECONDS; prints "good N bad M span S": N
//	                               intact packets, M others, S the packets the
//	                               source sent from the first one that arrived to
//	                               the last (by their numbers)
//
// It exits non-zero on error.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/algd/algd/tests/rtspsource"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rtspsourced:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 && (len(args) != 4 || args[0] != "serve") {
		return fmt.Errorf("usage: rtspsourced serve IP UDPPORT [IDLE] | play URL SECONDS")
	}
	switch args[0] {
	case "serve":
		port, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("port %q: %w", args[2], err)
		}
		var idle time.Duration
		if len(args) == 4 {
			secs, err := strconv.Atoi(args[3])
			if err != nil {
				return fmt.Errorf("idle %q: %w", args[3], err)
			}
			idle = time.Duration(secs) * time.Second
		}
		return serve(args[1], port, idle)
	case "play":
		secs, err := strconv.ParseFloat(args[2], 64)
		if err != nil {
			return fmt.Errorf("seconds %q: %w", args[2], err)
		}
		return play(args[1], time.Duration(secs*float64(time.Second)))
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func serve(ip string, port int, idle time.Duration) error {
	s, err := rtspsource.New(rtspsource.Options{IP: ip, UDPPort: port, Idle: idle})
	if err != nil {
		return err
	}
	fmt.Printf("ready %s\n", s.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	s.Close()
	fmt.Printf("sent %d\n", s.Sent.Load())
	return nil
}

func play(u string, d time.Duration) error {
	pu, err := base.ParseURL(u)
	if err != nil {
		return err
	}
	proto := gortsplib.ProtocolUDP
	c := &gortsplib.Client{Scheme: pu.Scheme, Host: pu.Host, Protocol: &proto}
	var switched atomic.Bool
	c.OnTransportSwitch = func(error) { switched.Store(true) }
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(pu)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	var (
		mu          sync.Mutex
		good, bad   int64
		first, last uint32
	)
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		i, ok := rtspsource.Index(pkt.Payload)
		if !ok {
			bad++
			return
		}
		if good == 0 || i < first {
			first = i
		}
		if good == 0 || i > last {
			last = i
		}
		good++
	})
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	time.Sleep(d)
	mu.Lock()
	span := int64(0)
	if good > 0 {
		span = int64(last-first) + 1
	}
	fmt.Printf("good %d bad %d span %d\n", good, bad, span)
	mu.Unlock()
	if switched.Load() {
		return fmt.Errorf("the client switched transport")
	}
	return nil
}
