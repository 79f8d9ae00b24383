package fisens

import (
	"fmt"
	"math"
)

// LabelSource says which label y an objective uses.
type LabelSource int

const (
	// TrueLabel uses the example's label (Shu & Zhu Setups 0, 1, 2).
	TrueLabel LabelSource = iota
	// PredictedLabel uses argmax z (Setups 3 and 4).
	PredictedLabel
)

// Objective is the scalar f whose influence FI measures, as a function of the logits z.
// The zero value is log π_y with y the true label.
type Objective struct {
	Name  string      // shown in outputs; "" → "log p(true)" or "log p(pred)"
	Label LabelSource // which y the objective uses
	// Grad returns ∂f/∂z (length K) at logits z with probabilities pi, for label y. nil means
	// f = log π_y, whose gradient is e_y − π.
	Grad func(z, pi []float64, y int) []float64
	// Hess returns ∂²f/∂z² (K × K, row-major) for Cook's curvature. nil with Grad == nil means
	// log π_y, whose Hessian is −(diag(π) − ππᵀ); nil with a custom Grad makes Cook unavailable.
	Hess func(z, pi []float64, y int) []float64
}

// LogProbTrue is f = log π_y with y the true label.
var LogProbTrue = Objective{Name: "log p(true)", Label: TrueLabel}

// LogProbPred is f = log π_y with y the predicted label.
var LogProbPred = Objective{Name: "log p(pred)", Label: PredictedLabel}

// String returns the objective's name.
func (o Objective) String() string {
	if o.Name != "" {
		return o.Name
	}
	if o.Label == PredictedLabel {
		return "log p(pred)"
	}
	return "log p(true)"
}

func (o Objective) isLogProb() bool { return o.Grad == nil }

func (o Objective) label(trueLabel, pred, K int) (int, error) {
	if o.Label == PredictedLabel {
		return pred, nil
	}
	if trueLabel < 0 || trueLabel >= K {
		return 0, fmt.Errorf("label %d out of range [0, %d)", trueLabel, K)
	}
	return trueLabel, nil
}

func (o Objective) grad(z, pi, oneMinus []float64, y int) ([]float64, error) {
	K := len(z)
	if o.Grad == nil {
		g := make([]float64, K)
		for k := range g {
			g[k] = -pi[k]
		}
		g[y] = oneMinus[y] // 1 − π_y without cancellation
		return g, nil
	}
	g := o.Grad(z, pi, y)
	if len(g) != K {
		return nil, fmt.Errorf("objective %q: gradient has %d entries, want K = %d", o, len(g), K)
	}
	for k, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("objective %q: gradient entry %d is %v", o, k, v)
		}
	}
	return g, nil
}

func (o Objective) hess(z, pi []float64, y int) ([]float64, error) {
	K := len(z)
	if o.Grad == nil {
		H := make([]float64, K*K)
		for i := 0; i < K; i++ {
			for j := 0; j < K; j++ {
				H[i*K+j] = pi[i] * pi[j]
			}
			H[i*K+i] -= pi[i]
		}
		return H, nil
	}
	if o.Hess == nil {
		return nil, fmt.Errorf("objective %q has no Hess: Cook's curvature needs ∂²f/∂z²", o)
	}
	H := o.Hess(z, pi, y)
	if len(H) != K*K {
		return nil, fmt.Errorf("objective %q: Hessian has %d entries, want K×K = %d", o, len(H), K*K)
	}
	return H, nil
}
