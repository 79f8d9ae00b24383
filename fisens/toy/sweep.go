package toy

import (
	"fmt"
	"math"

	"github.com/fisens/fisens/fisens"
	"github.com/gomlx/compute"
)

// Rescale is the perturbation of one feature of one input for the same classifier with that feature
// measured in units C[i] (x' = c·x): the same points of the same manifold in other coordinates.
type Rescale struct {
	C              []float64
	FI             []float64 // FI of the additive perturbation of the feature (invariant)
	Rank           []int
	Bound          []float64
	JacNorm        []float64 // ‖∂ log π_y/∂x'‖: proportional to 1/c
	SoftmaxJacNorm []float64 // ‖∂π/∂x'‖_F: proportional to 1/c
	Cook           []float64 // Cook's curvature C_max of the additive perturbation: not invariant either
}

// Rescaling evaluates, for each unit c in cs, the model m.Rescaled with feature measured in units c
// at the input c-scaled x0: FI, the Jacobian norms (fisens.Analyzer.Cook returns all of them) and
// Cook's local influence of the additive perturbation of that feature. label is the true label
// (ignored by objectives with the predicted label).
func Rescaling(b compute.Backend, m *Model, x0 [2]float64, label, feature int, cs []float64, opt fisens.Options) (*Rescale, error) {
	if m == nil {
		return nil, fmt.Errorf("toy: Rescaling: nil model")
	}
	if feature != 0 && feature != 1 {
		return nil, fmt.Errorf("toy: Rescaling: feature %d, want 0 or 1", feature)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("toy: Rescaling: no units given")
	}
	r := &Rescale{C: append([]float64(nil), cs...)}
	for _, c := range cs {
		u := [2]float64{1, 1}
		u[feature] = c
		mc, err := m.Rescaled(u)
		if err != nil {
			return nil, err
		}
		an, err := fisens.NewAnalyzer(b, mc)
		if err != nil {
			return nil, err
		}
		x := x0
		x[feature] *= c
		res, err := an.Cook(pointsBatch([][2]float64{x}, label), fisens.Perturbation{InputCols: []int{feature}}, opt)
		if err != nil {
			return nil, fmt.Errorf("toy: Rescaling: units %g: %w", c, err)
		}
		r.FI = append(r.FI, res.FI.FI)
		r.Rank = append(r.Rank, res.FI.Rank)
		r.Bound = append(r.Bound, res.FI.Bound)
		r.JacNorm = append(r.JacNorm, res.FI.JacNorm)
		r.SoftmaxJacNorm = append(r.SoftmaxJacNorm, res.FI.SoftmaxJacNorm)
		r.Cook = append(r.Cook, res.Curvature)
	}
	return r, nil
}

// CookAt returns Cook's local influence (with FI and the Jacobian norms of the same perturbation)
// of perturbing the features cols in the given form at each point: one fisens.Analyzer.Cook per
// point. label is the true label (ignored by objectives with the predicted label).
func CookAt(an *fisens.Analyzer, pts [][2]float64, label int, cols []int, form fisens.Form, opt fisens.Options) ([]fisens.CookResult, error) {
	if an == nil {
		return nil, fmt.Errorf("toy: CookAt: nil analyzer")
	}
	if err := checkCols(cols); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = []int{0, 1}
	}
	out := make([]fisens.CookResult, len(pts))
	for i, p := range pts {
		r, err := an.Cook(pointsBatch([][2]float64{p}, label), fisens.Perturbation{InputCols: cols, Form: form}, opt)
		if err != nil {
			return nil, fmt.Errorf("toy: CookAt: point %v: %w", p, err)
		}
		out[i] = *r
	}
	return out, nil
}

// SimplexXY maps a probability vector of 3 classes to the plane: the barycentric combination of
// the corners (0, 0) for class 0, (1, 0) for class 1 and (1/2, √3/2) for class 2.
func SimplexXY(pi []float64) (x, y float64, err error) {
	if len(pi) != 3 {
		return 0, 0, fmt.Errorf("toy: SimplexXY: %d probabilities, want 3", len(pi))
	}
	return pi[1] + 0.5*pi[2], math.Sqrt(3) / 2 * pi[2], nil
}

// Triangle returns the outline of the 3-class simplex in SimplexXY's coordinates (closed).
func Triangle() (x, y []float64) {
	h := math.Sqrt(3) / 2
	return []float64{0, 1, 0.5, 0}, []float64{0, 0, h, 0}
}
