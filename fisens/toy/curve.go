package toy

import (
	"fmt"
	"math"

	"github.com/fisens/fisens/fisens"
)

// Curve is the perturbation manifold of one feature: the curve τ ↦ π(x(τ)) in the simplex, where
// x(τ) is x0 with feature Feature set to Chart.X(x0_j, τ), and along it the objective
// f = log π_y (y fixed), its derivative, the metric and FI, all in the chart's coordinate τ.
type Curve struct {
	X0      [2]float64
	Feature int
	Chart   Chart
	Label   int         // y, the same all along the curve
	Values  []float64   // the feature's values x_j (increasing)
	Tau     []float64   // their coordinates in the chart
	Pi      [][]float64 // π at each point
	F       []float64   // f(τ) = log π_y
	DF      []float64   // f'(τ) = df/dτ
	G       []float64   // the Fisher metric (1 × 1) in the chart: Σ_k π_k (d log π_k/dτ)²
	FI      []float64   // fisens' FI of perturbing the feature at each point (= f'²/G where G > 0)
	Bound   []float64   // (1 − π_y)/π_y
	Rank    []int       // rank of G used by fisens (1, or 0 where the output does not move)
	// S is the arc length on the manifold, ∫ √G |dτ| (trapezoid rule), signed so that it grows with
	// the index and zero at x0: it is the same whatever the chart, so f plotted against S is too.
	S []float64
	// Origin is the geometry at x0 itself (τ = τ0), where FI is defined.
	Origin *Local
}

// Along computes the Curve of perturbing feature of x0 through the values (strictly increasing,
// with x0[feature] between the first and the last) in chart ch, from one input Jacobian of all the
// points. label < 0 (or an objective with the predicted label) takes y = the class predicted at
// x0; y then stays fixed along the curve.
func Along(an *fisens.Analyzer, x0 [2]float64, label, feature int, ch Chart, values []float64, opt fisens.Options) (*Curve, error) {
	if an == nil {
		return nil, fmt.Errorf("toy: Along: nil analyzer")
	}
	if feature != 0 && feature != 1 {
		return nil, fmt.Errorf("toy: Along: feature %d, want 0 or 1", feature)
	}
	if opt.Objective.Grad != nil {
		return nil, fmt.Errorf("toy: Along: objective %q: the curve is written for f = log π_y", opt.Objective)
	}
	if len(values) < 2 {
		return nil, fmt.Errorf("toy: Along: %d values, want at least 2", len(values))
	}
	for i := 1; i < len(values); i++ {
		if !(values[i] > values[i-1]) {
			return nil, fmt.Errorf("toy: Along: values must be strictly increasing (values[%d] = %g after %g)", i, values[i], values[i-1])
		}
	}
	v0 := x0[feature]
	if v0 < values[0] || v0 > values[len(values)-1] {
		return nil, fmt.Errorf("toy: Along: x0[%d] = %g lies outside the values [%g, %g]", feature, v0, values[0], values[len(values)-1])
	}
	if err := ch.check(v0); err != nil {
		return nil, err
	}
	n := len(values)
	c := &Curve{X0: x0, Feature: feature, Chart: ch, Values: append([]float64(nil), values...), Tau: make([]float64, n)}
	pts := make([][2]float64, n+1)
	for i, v := range values {
		c.Tau[i] = ch.Tau(v0, v)
		if math.IsNaN(c.Tau[i]) || math.IsInf(c.Tau[i], 0) || math.Abs(ch.X(v0, c.Tau[i])-v) > 1e-9*math.Max(1, math.Abs(v)) {
			return nil, fmt.Errorf("toy: Along: chart %q cannot reach the value %g from x0 = %g", ch.Name, v, v0)
		}
		pts[i] = x0
		pts[i][feature] = v
	}
	pts[n] = x0 // last: the origin
	// The label: fixed along the curve, the prediction at x0 unless given.
	if label < 0 || opt.Objective.Label == fisens.PredictedLabel {
		z, err := an.Logits(pointsBatch(pts[n:], -1))
		if err != nil {
			return nil, err
		}
		label = 0
		for k := range z {
			if z[k] > z[label] {
				label = k
			}
		}
	}
	c.Label = label
	fixed := fisens.Options{Objective: fisens.Objective{Label: fisens.TrueLabel}, Convention: opt.Convention, RelTol: opt.RelTol, Eps: opt.Eps}
	jac, err := an.InputJacobian(pointsBatch(pts, label))
	if err != nil {
		return nil, err
	}
	if jac.P != 2 {
		return nil, fmt.Errorf("toy: Along: the classifier's input has %d values, want 2 features", jac.P)
	}
	for _, p := range []*[]float64{&c.F, &c.DF, &c.G, &c.FI, &c.Bound, &c.S} {
		*p = make([]float64, n)
	}
	c.Pi, c.Rank = make([][]float64, n), make([]int, n)
	cols := []int{feature}
	for i := 0; i < n; i++ {
		l, err := localFrom(jac, i, x0, cols, ch, []float64{c.Tau[i]}, label, fixed)
		if err != nil {
			return nil, fmt.Errorf("toy: Along: value %g: %w", values[i], err)
		}
		c.Pi[i] = l.Pi
		c.F[i] = math.Log(l.Pi[label])
		c.DF[i], c.G[i] = l.Grad[0], l.G[0][0]
		c.FI[i], c.Bound[i], c.Rank[i] = l.Result.FI, l.Result.Bound, l.Result.Rank
	}
	if c.Origin, err = localFrom(jac, n, x0, cols, ch, []float64{ch.Tau0}, label, fixed); err != nil {
		return nil, err
	}
	// Arc length: cumulative trapezoid of √G |dτ|, then shifted to 0 at x0.
	for i := 1; i < n; i++ {
		ds := 0.5 * (math.Sqrt(math.Max(0, c.G[i])) + math.Sqrt(math.Max(0, c.G[i-1]))) * math.Abs(c.Tau[i]-c.Tau[i-1])
		c.S[i] = c.S[i-1] + ds
	}
	var s0 float64
	for i := 1; i < n; i++ {
		if v0 <= values[i] {
			t := (v0 - values[i-1]) / (values[i] - values[i-1])
			s0 = c.S[i-1] + t*(c.S[i]-c.S[i-1])
			break
		}
	}
	for i := range c.S {
		c.S[i] -= s0
	}
	return c, nil
}

// Linspace returns n ≥ 2 values evenly spaced from lo to hi, both included.
func Linspace(lo, hi float64, n int) []float64 {
	if n < 2 {
		return []float64{lo}
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return out
}

// Logspace returns n ≥ 2 values evenly spaced in log10 from 10^lo to 10^hi.
func Logspace(lo, hi float64, n int) []float64 {
	out := Linspace(lo, hi, n)
	for i, v := range out {
		out[i] = math.Pow(10, v)
	}
	return out
}
