package stats

import (
	"math"
	"testing"
)

func TestMedianRange(t *testing.T) {
	tests := []struct {
		name           string
		s              Sample
		median, lo, hi float64
		format         string
	}{
		{"empty", nil, 0, 0, 0, "n/a"},
		{"one", Sample{3}, 3, 3, 3, "3 (3–3)"},
		{"odd unsorted", Sample{5, 1, 3}, 3, 1, 5, "3 (1–5)"},
		{"even", Sample{4, 1, 2, 10}, 3, 1, 10, "3 (1–10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Median(); got != tt.median {
				t.Errorf("Median = %v, want %v", got, tt.median)
			}
			lo, hi := tt.s.Range()
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("Range = %v-%v, want %v-%v", lo, hi, tt.lo, tt.hi)
			}
			if got := tt.s.Format("%.0f"); got != tt.format {
				t.Errorf("Format = %q, want %q", got, tt.format)
			}
		})
	}
}

func TestMedianKeepsOrder(t *testing.T) {
	s := Sample{3, 1, 2}
	_ = s.Median()
	if s[0] != 3 || s[1] != 1 || s[2] != 2 {
		t.Errorf("Median reordered its sample: %v", s)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name string
		a, b Sample
		want float64
	}{
		{"half", Sample{1, 1, 1}, Sample{2, 2, 2}, 0.5},
		{"medians not means", Sample{1, 2, 100}, Sample{4, 4, 4}, 0.5},
		{"zero denominator", Sample{1}, Sample{0}, 0},
		{"empty denominator", Sample{1}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ratio(tt.a, tt.b); got != tt.want {
				t.Errorf("Ratio = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlope(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		want    float64
		wantErr bool
	}{
		{"line", []float64{1000, 4000, 8000}, []float64{10e6 + 3e6, 10e6 + 12e6, 10e6 + 24e6}, 3000, false},
		{"noisy", []float64{0, 1, 2, 3}, []float64{0, 1.1, 1.9, 3}, 0.98, false},
		{"one point", []float64{1}, []float64{1}, 0, true},
		{"same x", []float64{2, 2}, []float64{1, 3}, 0, true},
		{"length mismatch", []float64{1, 2}, []float64{1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Slope(tt.x, tt.y)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if math.Abs(got-tt.want) > 1e-9*math.Max(1, math.Abs(tt.want)) {
				t.Errorf("Slope = %v, want %v", got, tt.want)
			}
		})
	}
}
