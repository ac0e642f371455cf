//go:build linux && interop

package nat

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// streamSize is what one iteration of BenchmarkStream sends.
const streamSize = 256 << 20

// BenchmarkStream measures one TCP stream from the client namespace to
// the realserver's through the director: "routed" (the director only
// forwards: the client connects to the realserver's address), "dnat"
// (through a mapping) and "dnat-flowtable" (the same with
// Options.Flowtable on the director's two interfaces). Each iteration is
// a new connection sending streamSize bytes; the mapped ones also check
// that conntrack counted them.
//
//	go test -tags interop -run - -bench Stream -benchtime 8x ./alg/nat
//
// For the flowtable, on a kernel without one, in the qemu guest of
// tests/vm with nf_conntrack_netlink, nf_flow_table, nf_flow_table_inet
// and nft_flow_offload added to build.sh's MODS:
//
//	CGO_ENABLED=0 go test -c -tags interop -o nat.test ./alg/nat
//	tests/vm/run.sh nat.test -test.run - -test.bench Stream -test.benchtime 3x
//
// Figures: docs/kernel-path.md#flowtable.
func BenchmarkStream(b *testing.B) {
	for _, v := range []struct {
		name      string
		mapped    bool
		flowtable []string
	}{{"routed", false, nil}, {"dnat", true, nil}, {"dnat-flowtable", true, []string{"d0", "d1"}}} {
		b.Run(v.name, func(b *testing.B) {
			tp := newTopology(b)
			f := families[0]
			var tb *Table
			if v.mapped {
				var err error
				tb, err = Open(context.Background(), Options{NetNS: tp.director, Flowtable: v.flowtable})
				if err != nil && v.flowtable != nil {
					b.Skipf("no flowtable here (CONFIG_NF_FLOW_TABLE): %v", err)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { tb.Close(true) })
			}
			real := netip.AddrPortFrom(f.real, 9000)
			rl := listen(b, tp.real, "tcp", real)
			go func() {
				for {
					c, err := rl.Accept()
					if err != nil {
						return
					}
					go func() { io.Copy(io.Discard, c); c.Close() }()
				}
			}()
			buf := make([]byte, 256<<10)
			b.SetBytes(streamSize)
			b.ResetTimer()
			for i := range b.N {
				dst := real
				var ev *events
				if v.mapped {
					var kev alg.KernelEvents
					ev, kev = newEvents()
					dst = netip.AddrPortFrom(f.vip, uint16(30000+i))
					if _, err := tb.Map(alg.Mapping{Proto: alg.TCP, From: netip.AddrPortFrom(f.client, 0), Dst: dst,
						To: real, Source: netip.AddrPortFrom(f.dirR, 0), Timeout: 10 * time.Second, Events: kev}); err != nil {
						b.Fatal(err)
					}
				}
				c, err := dial(context.Background(), tp.client, f.client, dst)
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < streamSize; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.CloseWrite()
				io.Copy(io.Discard, c) // the realserver's FIN
				upSent := sent(b, c)
				c.Close()
				if ev != nil {
					b.StopTimer()
					end := within(b, ev.ended, "Ended")
					checkCounters(b, end, streamSize, 0, upSent, 0)
					b.StartTimer()
				}
			}
		})
	}
}
