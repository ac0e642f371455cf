package pool

import (
	"net/netip"
	"testing"
)

// refKey is the kernel's bucket for addr written out the long way: fold to
// 32 bits with shifts, multiply in 64 bits, reduce modulo 2^32, keep the
// top 8 bits.
func refKey(addr netip.Addr) int {
	addr = addr.Unmap()
	var fold uint64
	b := addr.AsSlice()
	for i := 0; i < len(b); i += 4 {
		fold ^= uint64(b[i])<<24 | uint64(b[i+1])<<16 | uint64(b[i+2])<<8 | uint64(b[i+3])
	}
	product := fold * 0x61C88647 % (1 << 32)
	return int(product / (1 << 24))
}

// refTable is ip_vs_sh_reassign written differently: the kernel list (the
// configuration reversed) with each realserver repeated max(weight, 1)
// times, repeated until 256 buckets are filled. Entries are configuration
// indexes.
func refTable(weights []int) [256]int {
	var cycle []int
	for i := len(weights) - 1; i >= 0; i-- {
		for range max(weights[i], 1) {
			cycle = append(cycle, i)
		}
	}
	var t [256]int
	for b := range t {
		t[b] = cycle[b%len(cycle)]
	}
	return t
}

// refPick is the kernel's sh lookup with fallback over refTable; ok says
// which configuration indexes may take sessions.
func refPick(t [256]int, key int, ok func(int) bool) int {
	if ok(t[key]) {
		return t[key]
	}
	for off := range 256 {
		if i := t[(2*key+off)%256]; ok(i) {
			return i
		}
	}
	return -1
}

// TestSHHashKeyByHand pins a few buckets computed by hand, so that refKey
// and shHashKey cannot both be wrong the same way.
func TestSHHashKeyByHand(t *testing.T) {
	tests := []struct {
		addr string
		want uint32
	}{
		// 192.0.2.1 = 0xC0000201. Modulo 2^32:
		//   0xC0000000 * 0x61C88647: only the low 2 bits of 3*0x61C88647
		//     = 0x1255992D5 survive the shift by 30: 01 -> 0x40000000
		//   0x201 * 0x61C88647 = 0xC3910C8E00 + 0x61C88647 = 0xC3F2D51447
		//     -> 0xF2D51447
		//   sum 0x132D51447 -> 0x32D51447; top byte 0x32 = 50.
		{"192.0.2.1", 50},
		// 10.0.0.1 = 0x0A000001: 0x0A000000 * M keeps the low byte of
		// 10 * 0x47 = 0x2C6 -> 0xC6000000; plus M = 0x127C88647
		// -> 0x27C88647; top byte 0x27 = 39.
		{"10.0.0.1", 39},
		// 198.51.100.7 = 0xC6336407: 0xC6000000 * M -> 0xEA000000
		// (0xC6 * 0x47 = 0x36EA), 0x336407 * M -> 0xC11467F1;
		// sum -> 0xAB1467F1; top byte 0xAB = 171.
		{"198.51.100.7", 171},
		// 2001:db8::1 folds to 0x20010DB8 ^ 0 ^ 0 ^ 0x00000001 =
		// 0x20010DB9: 0x20000000 * M -> 0xE0000000 (2 * 0x...47 ends
		// in 0xE), 0x10000 * M -> 0x86470000, 0xDB9 * M -> 0xD8BAA44F;
		// sum -> 0x3F01A44F; top byte 0x3F = 63.
		{"2001:db8::1", 63},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := shHashKey(a); got != tt.want {
			t.Errorf("shHashKey(%s) = %d, want %d (by hand)", tt.addr, got, tt.want)
		}
		if got := refKey(a); got != int(tt.want) {
			t.Errorf("refKey(%s) = %d, want %d (by hand)", tt.addr, got, tt.want)
		}
	}
}

// TestSHPickByHand: three realservers of weight 1 in configuration order
// A, B, C are C, B, A in the kernel's list, so bucket b holds
// [C, B, A][b % 3]; 192.0.2.1 is bucket 50 and 50 % 3 = 2: A. With
// weights 1, 2, 3 the cycle is C C C B B A and 50 % 6 = 2: C.
func TestSHPickByHand(t *testing.T) {
	tests := []struct {
		weights []int
		client  string
		want    int
	}{
		{[]int{1, 1, 1}, "192.0.2.1", 0},
		{[]int{1, 1, 1}, "::ffff:192.0.2.1", 0}, // mapped: hashed as IPv4
		{[]int{1, 2, 3}, "192.0.2.1", 2},
		// 10.0.0.1: bucket 39 = 3*13, so [C, B, A][0] = C; 39 % 6 = 3: B.
		{[]int{1, 1, 1}, "10.0.0.1", 2},
		{[]int{1, 2, 3}, "10.0.0.1", 1},
	}
	for _, tt := range tests {
		p := testPool("sh", tt.weights, 0)
		l, err := p.Pick(netip.MustParseAddr(tt.client))
		if err != nil {
			t.Fatal(err)
		}
		if got := index(p, l.Realserver()); got != tt.want {
			t.Errorf("weights %v client %s: realserver %d, want %d", tt.weights, tt.client, got, tt.want)
		}
	}
}

func TestSHTable(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"one", []int{1}},
		{"equal", []int{1, 1, 1}},
		{"weighted", []int{1, 2, 3}},
		{"weight 0 still takes a bucket", []int{0, 1, 5}},
		{"weight above the table", []int{300, 1}},
		{"many", []int{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool("sh", tt.weights, 0)
			sh := p.sched.(*sourceHash)
			want := refTable(tt.weights)
			for b := range sh.table {
				if got := index(p, sh.table[b]); got != want[b] {
					t.Fatalf("bucket %d holds %d, want %d", b, got, want[b])
				}
			}
		})
	}
}

// shClients is a spread of IPv4 and IPv6 client addresses.
func shClients() []netip.Addr {
	var cs []netip.Addr
	for i := range 600 {
		cs = append(cs, netip.AddrFrom4([4]byte{byte(i * 37), byte(i), byte(i >> 3), byte(i * 11)}))
	}
	for i := range 200 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		b[7], b[11], b[15] = byte(i*13), byte(i>>2), byte(i)
		cs = append(cs, netip.AddrFrom16(b))
	}
	return cs
}

func TestSHPick(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		down    []int
		exclude []int
	}{
		{"all up", []int{1, 2, 3}, nil, nil},
		{"drained falls back", []int{1, 0, 3, 2}, nil, nil},
		{"down falls back", []int{1, 2, 3}, []int{2}, nil},
		{"excluded falls back", []int{2, 2, 1}, nil, []int{0}},
		{"down and excluded", []int{1, 1, 1, 1}, []int{1}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool("sh", tt.weights, 0)
			rs := p.Realservers()
			eff := append([]int(nil), tt.weights...)
			for _, i := range tt.down {
				setDown(t, p, i)
				eff[i] = 0 // a down realserver is built in with weight 0
			}
			var ex []*Realserver
			excluded := map[int]bool{}
			for _, i := range tt.exclude {
				ex = append(ex, rs[i])
				excluded[i] = true
			}
			ok := func(i int) bool { return eff[i] > 0 && !excluded[i] }
			table := refTable(eff)
			for _, c := range shClients() {
				want := refPick(table, refKey(c), ok)
				l, err := p.Pick(c, ex...)
				if err != nil {
					t.Fatalf("Pick(%s): %v", c, err)
				}
				if got := index(p, l.Realserver()); got != want {
					t.Fatalf("Pick(%s) = %d, want %d", c, got, want)
				}
				l.Release()
			}
		})
	}
}

// TestSHRebuildOnHealth: a realserver that comes back gets its buckets
// back, so clients return to where they were.
func TestSHRebuildOnHealth(t *testing.T) {
	p := testPool("sh", []int{1, 1, 1}, 0)
	before := map[netip.Addr]*Realserver{}
	for _, c := range shClients() {
		l, err := p.Pick(c)
		if err != nil {
			t.Fatal(err)
		}
		before[c] = l.Realserver()
		l.Release()
	}
	r := p.Realservers()[1]
	setDown(t, p, 1)
	moved := 0
	for c, was := range before {
		l, err := p.Pick(c)
		if err != nil {
			t.Fatal(err)
		}
		if l.Realserver() == r {
			t.Fatalf("client %s sent to a down realserver", c)
		}
		if l.Realserver() != was {
			moved++
		}
		l.Release()
	}
	if moved == 0 {
		t.Fatal("no client moved when a realserver went down")
	}
	if changed, _ := r.recordCheck(nil, 0, r.lastAt, 1, 1); changed {
		p.changed(r, true, nil)
	}
	for c, was := range before {
		l, err := p.Pick(c)
		if err != nil {
			t.Fatal(err)
		}
		if l.Realserver() != was {
			t.Fatalf("client %s did not return to its realserver after it came back", c)
		}
		l.Release()
	}
}
