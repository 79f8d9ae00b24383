package toy

import (
	"fmt"
	"math"

	"github.com/fisens/fisens/fisens"
)

// Grid is a regular grid over the plane of the two features. Points are numbered row-major as an
// image is: row 0 is the top (x2 = X2[1]), column 0 the left (x1 = X1[0]), so a map over the grid
// shown as a picture has x1 growing to the right and x2 growing upwards.
type Grid struct {
	X1, X2 [2]float64 // ranges [lo, hi] of x1 (columns) and x2 (rows)
	N1, N2 int        // points along x1 and along x2; a count of 1 uses lo alone
}

// Validate reports a grid that has no points or a bad range.
func (g Grid) Validate() error {
	if g.N1 < 1 || g.N2 < 1 {
		return fmt.Errorf("toy: grid of %d × %d points, want at least 1 × 1", g.N1, g.N2)
	}
	for name, r := range map[string][2]float64{"X1": g.X1, "X2": g.X2} {
		if math.IsNaN(r[0]) || math.IsNaN(r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) || r[0] > r[1] {
			return fmt.Errorf("toy: grid range %s = %v, want finite lo ≤ hi", name, r)
		}
	}
	return nil
}

// Len returns the number of points, N1·N2.
func (g Grid) Len() int { return g.N1 * g.N2 }

func axis(r [2]float64, n, i int) float64 {
	if n == 1 {
		return r[0]
	}
	return r[0] + (r[1]-r[0])*float64(i)/float64(n-1)
}

// Point returns the features (x1, x2) of point i (row-major, row 0 at the top).
func (g Grid) Point(i int) [2]float64 {
	row, col := i/g.N1, i%g.N1
	return [2]float64{axis(g.X1, g.N1, col), axis(g.X2, g.N2, g.N2-1-row)}
}

// Describe says how to read a map over the grid.
func (g Grid) Describe() string {
	return fmt.Sprintf("x1 from %g to %g left to right, x2 from %g to %g bottom to top (%d × %d points)",
		g.X1[0], g.X1[1], g.X2[0], g.X2[1], g.N1, g.N2)
}

// Batch returns the grid as a fisens.Batch of shape [N1·N2, 2], every point labelled label; a
// negative label gives no labels (for objectives that use the predicted label).
func (g Grid) Batch(label int) (fisens.Batch, error) {
	if err := g.Validate(); err != nil {
		return fisens.Batch{}, err
	}
	pts := make([][2]float64, g.Len())
	for i := range pts {
		pts[i] = g.Point(i)
	}
	return pointsBatch(pts, label), nil
}

// pointsBatch makes a batch of shape [len(pts), 2] labelled label (none if label < 0).
func pointsBatch(pts [][2]float64, label int) fisens.Batch {
	b := fisens.Batch{X: make([]float32, 2*len(pts)), Shape: []int{len(pts), 2}}
	for i, p := range pts {
		b.X[2*i], b.X[2*i+1] = float32(p[0]), float32(p[1])
	}
	if label >= 0 {
		b.Labels = make([]int, len(pts))
		for i := range b.Labels {
			b.Labels[i] = label
		}
	}
	return b
}

// Field holds the measures of one perturbation at every point of a Grid, as row-major maps
// (figures.HeatMap{Values: f.FI, H: f.Grid.N2, W: f.Grid.N1}).
type Field struct {
	Grid  Grid
	K     int
	Cols  []int       // the perturbed features (nil: both)
	Form  fisens.Form // Additive or Scaling
	Probs [][]float64 // Probs[k][i] = π_k at point i
	Pred  []float64   // the predicted class at each point (a float, to draw it as a map)
	Label []float64   // the y of the objective at each point
	FI    []float64   // FI of the perturbation
	Rank  []float64   // the rank r of G used for FI
	Bound []float64   // (1 − π_y)/π_y, the odds against y
	// JacNorm is ‖∂ log π_y/∂ω‖₂ and SoftmaxJacNorm ‖∂π/∂ω‖_F (see fisens.Result).
	JacNorm, SoftmaxJacNorm []float64
}

// OnGrid computes FI of perturbing the features cols (nil: both) in the given form at every point
// of g, with one input Jacobian for the whole grid (fisens.Analyzer.InputJacobian and
// InputJacobian.FI). label ≥ 0 labels every point with that class (for the default true-label
// objective); label < 0 needs an objective that uses the predicted label (fisens.LogProbPred).
func OnGrid(an *fisens.Analyzer, g Grid, label int, cols []int, form fisens.Form, opt fisens.Options) (*Field, error) {
	if an == nil {
		return nil, fmt.Errorf("toy: OnGrid: nil analyzer")
	}
	if label < 0 && opt.Objective.Label == fisens.TrueLabel {
		return nil, fmt.Errorf("toy: OnGrid: objective %q needs a label ≥ 0 (or use fisens.LogProbPred)", opt.Objective)
	}
	if err := checkCols(cols); err != nil {
		return nil, err
	}
	b, err := g.Batch(label)
	if err != nil {
		return nil, err
	}
	jac, err := an.InputJacobian(b)
	if err != nil {
		return nil, err
	}
	if jac.P != 2 {
		return nil, fmt.Errorf("toy: OnGrid: the classifier's input has %d values, want 2 features", jac.P)
	}
	res, err := jac.FI(cols, form, opt)
	if err != nil {
		return nil, err
	}
	n, K := g.Len(), jac.K
	f := &Field{Grid: g, K: K, Cols: cols, Form: form, Probs: make([][]float64, K)}
	for k := range f.Probs {
		f.Probs[k] = make([]float64, n)
	}
	for _, p := range []*[]float64{&f.Pred, &f.Label, &f.FI, &f.Rank, &f.Bound, &f.JacNorm, &f.SoftmaxJacNorm} {
		*p = make([]float64, n)
	}
	for i, r := range res {
		pi, _, err := fisens.Softmax(jac.LogitsOf(i))
		if err != nil {
			return nil, fmt.Errorf("toy: OnGrid: point %v: %w", g.Point(i), err)
		}
		for k := range pi {
			f.Probs[k][i] = pi[k]
		}
		f.Pred[i], f.Label[i], f.FI[i], f.Rank[i] = float64(r.Pred), float64(r.Label), r.FI, float64(r.Rank)
		f.Bound[i], f.JacNorm[i], f.SoftmaxJacNorm[i] = r.Bound, r.JacNorm, r.SoftmaxJacNorm
	}
	return f, nil
}

// checkCols accepts nil or distinct features among 0 and 1.
func checkCols(cols []int) error {
	seen := [2]bool{}
	for _, c := range cols {
		if c < 0 || c > 1 {
			return fmt.Errorf("toy: feature %d out of range: the models have features 0 and 1", c)
		}
		if seen[c] {
			return fmt.Errorf("toy: feature %d listed twice in %v", c, cols)
		}
		seen[c] = true
	}
	if cols != nil && len(cols) == 0 {
		return fmt.Errorf("toy: empty feature list (use nil for both features)")
	}
	return nil
}

// RatioToBound returns FI/Bound at every point: 1 where FI attains the odds against y, the
// fraction of it a low-dimensional perturbation reaches elsewhere (0 where the bound is 0).
func (f *Field) RatioToBound() []float64 {
	out := make([]float64, len(f.FI))
	for i := range out {
		if f.Bound[i] > 0 {
			out[i] = f.FI[i] / f.Bound[i]
		}
	}
	return out
}

// MaxProb returns max_k π_k at every point (the confidence of the prediction).
func (f *Field) MaxProb() []float64 {
	out := make([]float64, len(f.FI))
	for i := range out {
		for k := 0; k < f.K; k++ {
			out[i] = math.Max(out[i], f.Probs[k][i])
		}
	}
	return out
}

// GapAtRank returns max |FI/Bound − 1| over the points where fisens used rank r, and how many
// points had that rank: at r = K − 1 the gap is rounding, below it FI may fall short of the bound.
func (f *Field) GapAtRank(r int) (gap float64, count int) {
	for i, v := range f.Rank {
		if int(v) != r {
			continue
		}
		count++
		if f.Bound[i] > 0 {
			gap = math.Max(gap, math.Abs(f.FI[i]/f.Bound[i]-1))
		}
	}
	return gap, count
}

// MaxRelDiff returns max_i |a_i/b_i − 1| over the points where b_i > 0, and how many there were:
// e.g. MaxRelDiff(f.FI, f.Bound) checks FI = (1 − π_y)/π_y.
func MaxRelDiff(a, b []float64) (float64, int) {
	m, n := 0.0, 0
	for i := range a {
		if i < len(b) && b[i] > 0 {
			m = math.Max(m, math.Abs(a[i]/b[i]-1))
			n++
		}
	}
	return m, n
}
