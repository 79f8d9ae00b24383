package stats

import (
	"fmt"
	"math"
	"sort"
)

// checkValues rejects empty input and NaN; ±Inf is rejected too when finite is true.
func checkValues(fn, name string, values []float64, finite bool) error {
	if len(values) == 0 {
		return fmt.Errorf("stats.%s: %s is empty, want at least one value", fn, name)
	}
	for i, v := range values {
		if math.IsNaN(v) {
			return fmt.Errorf("stats.%s: %s[%d] is NaN, want a number", fn, name, i)
		}
		if finite && math.IsInf(v, 0) {
			return fmt.Errorf("stats.%s: %s[%d] is %v, want a finite number", fn, name, i, v)
		}
	}
	return nil
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of values by linear interpolation between order
// statistics (type 7, numpy's default). values is not modified.
func Quantile(values []float64, q float64) (float64, error) {
	qs, err := quantiles("Quantile", values, []float64{q})
	if err != nil {
		return 0, err
	}
	return qs[0], nil
}

// Quantiles returns the quantiles of values at each level in qs (each in [0, 1]), sorting values
// once. values is not modified.
func Quantiles(values []float64, qs []float64) ([]float64, error) {
	return quantiles("Quantiles", values, qs)
}

func quantiles(fn string, values, qs []float64) ([]float64, error) {
	if err := checkValues(fn, "values", values, false); err != nil {
		return nil, err
	}
	for i, q := range qs {
		if !(q >= 0 && q <= 1) { // also catches NaN
			return nil, fmt.Errorf("stats.%s: quantile level %d is %v, want a number in [0, 1]", fn, i, q)
		}
	}
	x := append([]float64(nil), values...)
	sort.Float64s(x)
	out := make([]float64, len(qs))
	n := len(x)
	for i, q := range qs {
		h := float64(n-1) * q
		lo := int(math.Floor(h))
		if lo >= n-1 {
			out[i] = x[n-1]
			continue
		}
		frac := h - float64(lo)
		if frac == 0 {
			out[i] = x[lo] // exact order statistic; avoids Inf−Inf
			continue
		}
		out[i] = x[lo] + frac*(x[lo+1]-x[lo])
	}
	return out, nil
}

// Median returns the 0.5-quantile of values (the mean of the two middle values for even n).
func Median(values []float64) (float64, error) {
	qs, err := quantiles("Median", values, []float64{0.5})
	if err != nil {
		return 0, err
	}
	return qs[0], nil
}

// MeanStd returns the mean and the sample standard deviation (divisor n−1) of values; for a
// single value the standard deviation is 0. Values must be finite.
func MeanStd(values []float64) (mean, std float64, err error) {
	if err := checkValues("MeanStd", "values", values, true); err != nil {
		return 0, 0, err
	}
	n := float64(len(values))
	for _, v := range values {
		mean += v
	}
	mean /= n
	if len(values) == 1 {
		return mean, 0, nil
	}
	var ss float64
	for _, v := range values {
		d := v - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / (n - 1)), nil
}
