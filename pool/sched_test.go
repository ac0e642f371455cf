package pool

import (
	"slices"
	"testing"
)

func TestRoundRobinDistribution(t *testing.T) {
	tests := []struct {
		name       string
		sched      string
		weights    []int
		down       []int
		n          int
		wantSeq    []int // the first picks, by configuration index
		wantCounts []int // over n picks
	}{
		{"rr ignores weights", "rr", []int{1, 2, 3}, nil, 300,
			[]int{0, 1, 2, 0, 1, 2}, []int{100, 100, 100}},
		{"rr skips drained", "rr", []int{1, 0, 3}, nil, 300,
			[]int{0, 2, 0, 2}, []int{150, 0, 150}},
		{"rr skips down", "rr", []int{1, 2, 3}, []int{0}, 300,
			[]int{1, 2, 1, 2}, []int{0, 150, 150}},
		{"wrr 1,2,3 interleaved", "wrr", []int{1, 2, 3}, nil, 600,
			[]int{2, 1, 2, 0, 1, 2, 2, 1, 2, 0, 1, 2}, []int{100, 200, 300}},
		{"wrr steps by gcd", "wrr", []int{2, 4, 6}, nil, 600,
			[]int{2, 1, 2, 0, 1, 2}, []int{100, 200, 300}},
		{"wrr 4,3,2", "wrr", []int{4, 3, 2}, nil, 900,
			[]int{0, 0, 1, 0, 1, 2, 0, 1, 2}, []int{400, 300, 200}},
		{"wrr down counts as 0", "wrr", []int{1, 2, 3}, []int{2}, 300,
			[]int{1, 0, 1, 1, 0, 1}, []int{100, 200, 0}},
		{"wrr skips drained", "wrr", []int{0, 1, 1}, nil, 100,
			[]int{1, 2, 1, 2}, []int{0, 50, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool(tt.sched, tt.weights, 0)
			for _, i := range tt.down {
				setDown(t, p, i)
			}
			counts := make([]int, len(tt.weights))
			var seq []int
			for range tt.n {
				l, err := p.Pick(client)
				if err != nil {
					t.Fatal(err)
				}
				i := index(p, l.Realserver())
				counts[i]++
				if len(seq) < len(tt.wantSeq) {
					seq = append(seq, i)
				}
				l.Release()
			}
			if !slices.Equal(seq, tt.wantSeq) {
				t.Errorf("sequence %v, want %v", seq, tt.wantSeq)
			}
			if !slices.Equal(counts, tt.wantCounts) {
				t.Errorf("counts %v, want %v", counts, tt.wantCounts)
			}
		})
	}
}

// TestWRRExcluded: an excluded realserver is passed over like an IPVS
// overloaded destination, and the others keep their interleaving.
func TestWRRExcluded(t *testing.T) {
	p := testPool("wrr", []int{1, 2, 3}, 0)
	rs := p.Realservers()
	var seq []int
	for range 6 {
		l, err := p.Pick(client, rs[2])
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, index(p, l.Realserver()))
		l.Release()
	}
	// cw=3: nobody else; cw=2: B; cw=1: A B; then again.
	want := []int{1, 0, 1, 1, 0, 1}
	if !slices.Equal(seq, want) {
		t.Errorf("sequence %v, want %v", seq, want)
	}
}

// TestLeastConn holds every lease, so Active grows, and checks each choice.
func TestLeastConn(t *testing.T) {
	tests := []struct {
		name    string
		sched   string
		weights []int
		want    []int
	}{
		// Ties go to the first in configuration order.
		{"lc", "lc", []int{1, 2, 3}, []int{0, 1, 2, 0, 1, 2, 0}},
		{"lc skips drained", "lc", []int{1, 0, 3}, []int{0, 2, 0, 2}},
		// Active/Weight: (0,0,0) A; (1,0,0) B; (1,1,0) C; 1,1/2,1/3 C;
		// 1,1/2,2/3 B; 1,1,2/3 C; 1,1,1 A; 2,1,1 B; 2,3/2,1 C.
		{"wlc", "wlc", []int{1, 2, 3}, []int{0, 1, 2, 2, 1, 2, 0, 1, 2}},
		{"wlc skips drained", "wlc", []int{2, 0, 1}, []int{0, 2, 0, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool(tt.sched, tt.weights, 0)
			var held []*Lease
			var got []int
			for range tt.want {
				l, err := p.Pick(client)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, l)
				got = append(got, index(p, l.Realserver()))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("choices %v, want %v", got, tt.want)
			}
			// Releasing one lease of the realserver chosen last makes
			// it the least loaded again.
			last := held[len(held)-1]
			last.Release()
			l, err := p.Pick(client)
			if err != nil {
				t.Fatal(err)
			}
			if l.Realserver() != last.Realserver() {
				t.Errorf("after a release chose %d, want %d",
					index(p, l.Realserver()), index(p, last.Realserver()))
			}
		})
	}
}

func TestGCD(t *testing.T) {
	tests := []struct{ a, b, want int }{
		{0, 5, 5}, {5, 0, 5}, {12, 18, 6}, {7, 3, 1}, {100, 100, 100},
	}
	for _, tt := range tests {
		if got := gcd(tt.a, tt.b); got != tt.want {
			t.Errorf("gcd(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
