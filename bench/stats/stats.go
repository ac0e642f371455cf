// Package stats summarises the repeated measurements of the benchmarks:
// medians, ranges and the ratio of two medians, and a least-squares slope
// for the memory-per-session figure.
package stats

import (
	"fmt"
	"slices"
)

// Sample is the values of one measurement over the rounds.
type Sample []float64

// Median returns the median of s (the mean of the middle two for an even
// count), or 0 for an empty sample.
func (s Sample) Median() float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	m := len(c) / 2
	if len(c)%2 == 1 {
		return c[m]
	}
	return (c[m-1] + c[m]) / 2
}

// Range returns the smallest and largest value, or 0, 0 for an empty
// sample.
func (s Sample) Range() (lo, hi float64) {
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Min(s), slices.Max(s)
}

// Format renders "median (lo-hi)" with the verb for one number, such as
// "%.0f".
func (s Sample) Format(verb string) string {
	if len(s) == 0 {
		return "n/a"
	}
	lo, hi := s.Range()
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Median(), lo, hi)
}

// Ratio returns median(a) / median(b), or 0 when b's median is 0.
func Ratio(a, b Sample) float64 {
	mb := b.Median()
	if mb == 0 {
		return 0
	}
	return a.Median() / mb
}

// Slope returns the least-squares slope of y over x, or an error when the
// points are fewer than two or all x are equal.
func Slope(x, y []float64) (float64, error) {
	if len(x) != len(y) || len(x) < 2 {
		return 0, fmt.Errorf("slope: need two or more points, got %d x and %d y", len(x), len(y))
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	n := float64(len(x))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0, fmt.Errorf("slope: all x are %v", mx)
	}
	return sxy / sxx, nil
}
