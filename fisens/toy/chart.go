package toy

import (
	"fmt"
	"math"
)

// Chart is a coordinate τ for perturbing one feature: the perturbed value is X(x0, τ), with
// X(x0, Tau0) = x0 (no perturbation). A chart with X'(τ0) ≠ 0 is a diffeomorphic
// re-parameterisation of the additive perturbation near τ0, and FI is the same in all of them.
type Chart struct {
	Name string
	Tau0 float64                       // the unperturbed τ
	X    func(x0, tau float64) float64 // the perturbed value of the feature
	DX   func(x0, tau float64) float64 // ∂X/∂τ
	Tau  func(x0, x float64) float64   // the inverse: τ such that X(x0, τ) = x
}

// The charts of the notebook. Additive and Scaling are fisens.Additive and fisens.Scaling.
var (
	// Additive is x0 + ω, ω0 = 0.
	Additive = Chart{Name: "additive x+ω", Tau0: 0,
		X:   func(x0, t float64) float64 { return x0 + t },
		DX:  func(x0, t float64) float64 { return 1 },
		Tau: func(x0, x float64) float64 { return x - x0 }}
	// Scaling is x0·ω, ω0 = 1 (a diffeomorphism only where x0 ≠ 0).
	Scaling = Chart{Name: "scaling x·ω", Tau0: 1,
		X:   func(x0, t float64) float64 { return x0 * t },
		DX:  func(x0, t float64) float64 { return x0 },
		Tau: func(x0, x float64) float64 { return x / x0 }}
	// CubicScaling is x0·τ³, τ0 = 1: the scaling perturbation with ω = τ³.
	CubicScaling = Chart{Name: "scaling x·τ³", Tau0: 1,
		X:   func(x0, t float64) float64 { return x0 * t * t * t },
		DX:  func(x0, t float64) float64 { return 3 * x0 * t * t },
		Tau: func(x0, x float64) float64 { return math.Cbrt(x / x0) }}
	// ExpScaling is x0·e^τ, τ0 = 0: the scaling perturbation with ω = e^τ (a log-scale knob).
	ExpScaling = Chart{Name: "scaling x·e^τ", Tau0: 0,
		X:   func(x0, t float64) float64 { return x0 * math.Exp(t) },
		DX:  func(x0, t float64) float64 { return x0 * math.Exp(t) },
		Tau: func(x0, x float64) float64 { return math.Log(x / x0) }}
	// SinhAdditive is x0 + sinh(2τ), τ0 = 0: a non-linear re-parameterisation of the additive
	// perturbation that is a diffeomorphism everywhere (X' = 2 cosh 2τ ≥ 2).
	SinhAdditive = Chart{Name: "additive x+sinh 2τ", Tau0: 0,
		X:   func(x0, t float64) float64 { return x0 + math.Sinh(2*t) },
		DX:  func(x0, t float64) float64 { return 2 * math.Cosh(2*t) },
		Tau: func(x0, x float64) float64 { return math.Asinh(x-x0) / 2 }}
	// CubicAdditive is x0 + τ³, τ0 = 0: NOT a diffeomorphism at τ0 (X'(0) = 0), so the perturbation
	// does not move the output to first order and FI is 0 there (rank 0).
	CubicAdditive = Chart{Name: "additive x+τ³", Tau0: 0,
		X:   func(x0, t float64) float64 { return x0 + t*t*t },
		DX:  func(x0, t float64) float64 { return 3 * t * t },
		Tau: func(x0, x float64) float64 { return math.Cbrt(x - x0) }}
)

// Units is the additive perturbation of the feature measured in units c (x' = c·x): x0 + τ/c.
func Units(c float64) Chart {
	return Chart{Name: fmt.Sprintf("additive in units ×%g", c), Tau0: 0,
		X:   func(x0, t float64) float64 { return x0 + t/c },
		DX:  func(x0, t float64) float64 { return 1 / c },
		Tau: func(x0, x float64) float64 { return c * (x - x0) }}
}

// check verifies that the chart is complete and that X(x0, Tau0) = x0 and Tau inverts X at x0.
func (c Chart) check(x0 float64) error {
	if c.X == nil || c.DX == nil || c.Tau == nil {
		return fmt.Errorf("toy: chart %q lacks X, DX or Tau", c.Name)
	}
	x := c.X(x0, c.Tau0)
	tol := 1e-12 * math.Max(1, math.Abs(x0))
	if math.Abs(x-x0) > tol {
		return fmt.Errorf("toy: chart %q: X(%g, τ0 = %g) = %g, want %g (τ0 must be the unperturbed point)", c.Name, x0, c.Tau0, x, x0)
	}
	if t := c.Tau(x0, x0); math.IsNaN(t) || math.Abs(t-c.Tau0) > 1e-9*math.Max(1, math.Abs(c.Tau0)) {
		return fmt.Errorf("toy: chart %q is not invertible at x0 = %g (τ(x0) = %g, want %g; a scaling chart needs x0 ≠ 0)", c.Name, x0, t, c.Tau0)
	}
	return nil
}
