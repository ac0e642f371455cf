package pool

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// pickUsers maps n user names to the configuration index of the
// realserver hrw gives each, releasing every lease.
func pickUsers(t *testing.T, p *Pool, n int) []int {
	t.Helper()
	out := make([]int, n)
	for i := range n {
		l, err := p.PickUser(fmt.Sprintf("user%05d", i), client)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = index(p, l.Realserver())
		l.Release()
	}
	return out
}

// TestHRWMovesOnlyTheLeavingRealserversUsers maps 20000 users over four
// realservers, then takes one away (down, drained, removed from the
// configuration): exactly its users move, and they spread over the
// others; when it comes back they (and only they) return.
func TestHRWMovesOnlyTheLeavingRealserversUsers(t *testing.T) {
	const n = 20000
	p := testPool("hrw", []int{1, 1, 1, 1}, 0)
	before := pickUsers(t, p, n)
	counts := make([]int, 4)
	for _, i := range before {
		counts[i]++
	}
	for i, c := range counts {
		if math.Abs(float64(c)-n/4) > n/4*0.1 {
			t.Errorf("realserver %d has %d of %d users, want about %d", i, c, n, n/4)
		}
	}

	check := func(name string, after []int, gone int) {
		t.Helper()
		moved := make([]int, 4)
		for u := range n {
			switch {
			case before[u] == gone && after[u] == gone:
				t.Fatalf("%s: user%05d still on the realserver that left", name, u)
			case before[u] == gone:
				moved[after[u]]++
			case after[u] != before[u]:
				t.Fatalf("%s: user%05d moved from %d to %d, though its realserver stayed", name, u, before[u], after[u])
			}
		}
		for i, m := range moved {
			if i != gone && m < counts[gone]/3/2 {
				t.Errorf("%s: realserver %d took %d of the %d moved users, want about a third", name, i, m, counts[gone])
			}
		}
	}

	setDown(t, p, 2)
	check("down", pickUsers(t, p, n), 2)
	r := p.Realservers()[2]
	if changed, up := r.recordCheck(nil, 0, time.Now(), p.health.rise, p.health.fall); changed {
		p.changed(r, up, nil)
	}
	if back := pickUsers(t, p, n); !slices.Equal(back, before) {
		t.Fatal("users did not all return when the realserver came back up")
	}

	if err := p.SetWeight(p.Realservers()[1], 0); err != nil {
		t.Fatal(err)
	}
	check("drained", pickUsers(t, p, n), 1)

	// Removed from the configuration: a new pool without realserver 0;
	// indexes shift by one, so compare addresses.
	c := testConf("hrw", []int{1, 1, 1, 1}, 0)
	addrs := make([]string, 4)
	for i, rc := range c.Realservers {
		addrs[i] = rc.AddrPort.String()
	}
	c.Realservers = c.Realservers[1:]
	q := New(c, NoChecker{})
	for u := range n {
		l, err := q.PickUser(fmt.Sprintf("user%05d", u), client)
		if err != nil {
			t.Fatal(err)
		}
		got := l.Realserver().Addr().String()
		l.Release()
		if before[u] != 0 && got != addrs[before[u]] {
			t.Fatalf("removed: user%05d moved from %s to %s, though its realserver stayed", u, addrs[before[u]], got)
		}
	}
}

// TestHRWWeights: a realserver of weight 3 gets about three times the
// users of one of weight 1.
func TestHRWWeights(t *testing.T) {
	const n = 20000
	p := testPool("hrw", []int{1, 3}, 0)
	counts := make([]int, 2)
	for _, i := range pickUsers(t, p, n) {
		counts[i]++
	}
	if r := float64(counts[1]) / float64(counts[0]); r < 2.6 || r > 3.4 {
		t.Errorf("weights 1:3 gave %v users, ratio %.2f, want about 3", counts, r)
	}
}

// TestHRWSameUserAnyClient: the user decides, not the client address; and
// with no user, hrw hashes the client address.
func TestHRWSameUserAnyClient(t *testing.T) {
	p := testPool("hrw", []int{1, 1, 1, 1, 1}, 0)
	first := -1
	for i := range 50 {
		c := client.Next()
		for range i {
			c = c.Next()
		}
		l, err := p.PickUser("alice", c)
		if err != nil {
			t.Fatal(err)
		}
		got := index(p, l.Realserver())
		l.Release()
		if first == -1 {
			first = got
		} else if got != first {
			t.Fatalf("alice from %s went to %d, from elsewhere to %d", c, got, first)
		}
	}
	seen := map[int]bool{}
	c := client
	for range 200 {
		c = c.Next()
		l, err := p.Pick(c)
		if err != nil {
			t.Fatal(err)
		}
		seen[index(p, l.Realserver())] = true
		l.Release()
	}
	if len(seen) != 5 {
		t.Errorf("200 client addresses reached %d of 5 realservers", len(seen))
	}
}

// TestPersistenceByUser: with persistence, a user keeps the realserver it
// was given from any address, while another user (from the same address)
// is scheduled on its own; an address alone is remembered apart from users.
func TestPersistenceByUser(t *testing.T) {
	p := testPool("rr", []int{1, 1, 1}, time.Minute)
	a, err := p.PickUser("alice", client)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.PickUser("bob", client)
	if err != nil {
		t.Fatal(err)
	}
	if a.Realserver() == b.Realserver() {
		t.Fatal("rr gave bob alice's realserver: the user is not the persistence key")
	}
	a.Release()
	for i := range 5 {
		l, err := p.PickUser("alice", client.Next().Next())
		if err != nil {
			t.Fatal(err)
		}
		if l.Realserver() != a.Realserver() {
			t.Fatalf("pick %d: alice moved from %s to %s", i, a.Realserver().Addr(), l.Realserver().Addr())
		}
		l.Release()
	}
	if n := p.persist.len(); n != 2 {
		t.Errorf("persistence table holds %d entries, want 2 (alice, bob)", n)
	}
}
