package alg

import (
	"net/netip"
	"sync"
	"testing"
)

// byteSession is a Session whose bytes the test sets.
type byteSession struct {
	mu sync.Mutex
	in SessionInfo
}

func (s *byteSession) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in
}

func (s *byteSession) TryDrain() {}
func (s *byteSession) End()      {}

func (s *byteSession) carry(down, up int64) {
	s.mu.Lock()
	s.in.BytesDown += down
	s.in.BytesUp += up
	s.mu.Unlock()
}

// TestRegistryTraffic: Snapshot counts the bytes of live sessions and of
// those that left, each once, in total and by realserver; a session
// without a realserver counts in the total only; removing twice credits
// once.
func TestRegistryTraffic(t *testing.T) {
	r := NewRegistry()
	rs1, rs2 := netip.MustParseAddrPort("127.0.0.11:21"), netip.MustParseAddrPort("127.0.0.12:21")
	a := &byteSession{in: SessionInfo{ID: "a", Realserver: rs1}}
	b := &byteSession{in: SessionInfo{ID: "b", Realserver: rs2}}
	c := &byteSession{in: SessionInfo{ID: "c"}}
	removeA, removeB := r.Add(a), r.Add(b)
	r.Add(c)
	a.carry(100, 1)
	b.carry(20, 2)
	c.carry(3, 0)
	check := func(when string, live int, total Traffic, by map[netip.AddrPort]Traffic) {
		t.Helper()
		sn := r.Snapshot()
		if len(sn.Live) != live || sn.Total != total || len(sn.ByRealserver) != len(by) {
			t.Errorf("%s: %d live, total %+v, by realserver %v; want %d, %+v, %v", when, len(sn.Live), sn.Total, sn.ByRealserver, live, total, by)
		}
		for k, v := range by {
			if sn.ByRealserver[k] != v {
				t.Errorf("%s: %s carried %+v, want %+v", when, k, sn.ByRealserver[k], v)
			}
		}
	}
	check("all live", 3, Traffic{123, 3}, map[netip.AddrPort]Traffic{rs1: {100, 1}, rs2: {20, 2}})
	a.carry(50, 0)
	removeA()
	removeA()
	check("a left", 2, Traffic{173, 3}, map[netip.AddrPort]Traffic{rs1: {150, 1}, rs2: {20, 2}})
	a.carry(1000, 0) // a's bytes after it left are not counted
	b.carry(5, 5)
	removeB()
	check("b left", 1, Traffic{178, 8}, map[netip.AddrPort]Traffic{rs1: {150, 1}, rs2: {25, 7}})
	// A new session to rs1 adds to what the ended ones carried.
	d := &byteSession{in: SessionInfo{ID: "d", Realserver: rs1, BytesDown: 7}}
	r.Add(d)
	check("d live", 2, Traffic{185, 8}, map[netip.AddrPort]Traffic{rs1: {157, 1}, rs2: {25, 7}})
}

// TestRegistrySnapshotRace: sessions leaving while snapshots are taken
// are counted once, never twice or not at all (run with -race).
func TestRegistrySnapshotRace(t *testing.T) {
	r := NewRegistry()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		s := &byteSession{in: SessionInfo{ID: "s", BytesDown: 10}}
		remove := r.Add(s)
		wg.Go(func() {
			if i%2 == 0 {
				remove()
			}
		})
	}
	for range 50 {
		if sn := r.Snapshot(); sn.Total.Down != 10*n {
			t.Fatalf("snapshot counts %d bytes, want %d", sn.Total.Down, 10*n)
		}
	}
	wg.Wait()
	if sn := r.Snapshot(); sn.Total.Down != 10*n || len(sn.Live) != n/2 {
		t.Errorf("after: %d bytes over %d live, want %d over %d", sn.Total.Down, len(sn.Live), 10*n, n/2)
	}
}
