package stats

import (
	"fmt"
	"math"
	"sort"
)

// checkPair validates two paired samples for a correlation.
func checkPair(fn string, x, y []float64) error {
	if len(x) != len(y) {
		return fmt.Errorf("stats.%s: len(x) = %d and len(y) = %d, want equal lengths", fn, len(x), len(y))
	}
	if len(x) < 2 {
		return fmt.Errorf("stats.%s: %d pairs, want at least 2", fn, len(x))
	}
	if err := checkValues(fn, "x", x, true); err != nil {
		return err
	}
	return checkValues(fn, "y", y, true)
}

// Pearson returns the linear correlation coefficient of the paired samples x and y. It is an
// error if either sample is constant (the coefficient is undefined).
func Pearson(x, y []float64) (float64, error) {
	if err := checkPair("Pearson", x, y); err != nil {
		return 0, err
	}
	return pearson("Pearson", x, y)
}

func pearson(fn string, x, y []float64) (float64, error) {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 {
		return 0, fmt.Errorf("stats.%s: x is constant, correlation is undefined", fn)
	}
	if syy == 0 {
		return 0, fmt.Errorf("stats.%s: y is constant, correlation is undefined", fn)
	}
	r := sxy / math.Sqrt(sxx*syy)
	return math.Max(-1, math.Min(1, r)), nil
}

// Spearman returns the rank correlation of the paired samples x and y: the Pearson correlation
// of their ranks, tied values sharing the average of their ranks.
func Spearman(x, y []float64) (float64, error) {
	if err := checkPair("Spearman", x, y); err != nil {
		return 0, err
	}
	return pearson("Spearman", Ranks(x), Ranks(y))
}

// Ranks returns the 1-based ranks of x in increasing order, tied values sharing the average of
// the ranks they span (e.g. [10 20 20 30] → [1 2.5 2.5 4]). NaN values get NaN ranks.
func Ranks(x []float64) []float64 {
	idx := make([]int, 0, len(x))
	r := make([]float64, len(x))
	for i, v := range x {
		if math.IsNaN(v) {
			r[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	for k := 0; k < len(idx); {
		j := k
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[k]] {
			j++
		}
		avg := float64(k+j)/2 + 1 // ranks k+1 … j+1
		for m := k; m <= j; m++ {
			r[idx[m]] = avg
		}
		k = j + 1
	}
	return r
}
