// Package inproc is the one way algd's in-process suites start algd:
// internal/daemon from a conf.Config, wired as production wires it, run
// until the test ends; and the one place they read what it counts, from
// Status(). Suites that run the built binary use tests/algdrun instead.
package inproc

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/internal/daemon"
)

// Start completes cfg with its defaults, validates it and runs algd with
// it and the seams of o until the test ends; a Run that ends in an error
// fails the test. Without a fake kernel (o.Kernel) the kernel data path
// counts as unavailable: the suites run as root, where "auto" would open
// algd's nftables table, shared by every process outside a namespace of
// its own; the real kernel path is tests/netns's.
func Start(t testing.TB, cfg *conf.Config, o daemon.Options) *daemon.Daemon {
	t.Helper()
	if o.Kernel == nil && o.KernelOff == "" {
		o.KernelOff = "in-process test"
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

// FreePort returns a TCP address of ip that nothing listens on now.
func FreePort(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// Listener is the status of d's listener name; a daemon without it fails
// the test.
func Listener(t testing.TB, d *daemon.Daemon, name string) alg.ListenerStatus {
	t.Helper()
	l, ok := d.Status().Listener(name)
	if !ok {
		t.Fatalf("status shows no listener %q", name)
	}
	return l
}

// Counter reads one counter of d's listener by its /status name
// ("theft", "streams.udp", "dropped.source"). A name the listener does
// not have fails the test.
func Counter(t testing.TB, d *daemon.Daemon, listener, name string) int64 {
	t.Helper()
	n, ok := Listener(t, d, listener).Counters[name]
	if !ok {
		t.Fatalf("counter %q of listener %q: /status has no such counter", name, listener)
	}
	return n
}
