package pool

import (
	"net/netip"
	"testing"
	"time"
)

func BenchmarkPick(b *testing.B) {
	weights := []int{1, 2, 3, 4, 5, 6, 7, 8}
	clients := make([]netip.Addr, 1024)
	for i := range clients {
		clients[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	for _, tc := range []struct {
		sched   string
		persist time.Duration
	}{
		{"rr", 0}, {"wrr", 0}, {"lc", 0}, {"wlc", 0}, {"sh", 0}, {"wlc", time.Minute},
	} {
		name := tc.sched
		if tc.persist > 0 {
			name += "+persistence"
		}
		b.Run(name, func(b *testing.B) {
			p := testPool(tc.sched, weights, tc.persist)
			i := 0
			for b.Loop() {
				l, err := p.Pick(clients[i%len(clients)])
				if err != nil {
					b.Fatal(err)
				}
				l.Release()
				i++
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	p := testPool("wlc", []int{1, 2, 3, 4}, 0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Pick(client)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release()
		}
	})
}
