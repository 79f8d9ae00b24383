// Package toy holds classifiers small enough to see everything, and the helpers that evaluate the
// measures of package fisens on them for teaching (notebooks/00-sensitivity-basics.ipynb).
//
// # The models
//
// NewSoftmax2D builds a K-class linear softmax classifier of two features, z = W x + b, and
// NewTanh2D a one-hidden-layer tanh network, z = V tanh(U x + c) + b, both with explicit weights.
// They implement fisens.Classifier on inputs of shape [N, 2]. Rescaled returns the same classifier
// for the features measured in other units (x' = c ∘ x), which is how the notebook shows that the
// Jacobian norm depends on the units and FI does not.
//
// # What the helpers compute
//
// Everything that is a measure comes from fisens (Analyzer.InputJacobian, InputJacobian.FI,
// FromGram, Analyzer.Cook). What this package adds is the textbook side, for p ≤ a few perturbed
// features, so that the efficient K × K route of fisens can be compared with the definitions:
//
//	G = Jᵀ (diag(π) − ππᵀ) J          the Fisher metric of the perturbation manifold (p × p)
//	∇f = Jᵀ (e_y − π)                  the gradient of f = log π_y
//	FI = max_h (hᵀ∇f)²/(hᵀGh) = ∇fᵀ G⁺ ∇f
//
// with J = ∂z/∂τ the logit Jacobian in the coordinates τ of a Chart: a perturbation of one feature
// written as x_j = X(x0_j, τ) (additive x0 + τ, scaling x0·τ, x0·τ³, x0·e^τ, x0 + sinh 2τ, …). By
// the chain rule J = ∂z/∂x_j · X'(τ), so a change of chart multiplies the Jacobian column by X'(τ):
// the Jacobian norm changes, G and ∇f change, and FI — a ratio in which the factor cancels — does
// not (Shu & Zhu, Theorem 1), as long as X'(τ0) ≠ 0 (a diffeomorphism).
//
//   - Grid and OnGrid: FI, its rank, the bound (1 − π_y)/π_y and the Jacobian norms at every point
//     of a grid over the plane, as row-major maps ready for figures.HeatMaps.
//   - At: the geometry at one input (J, G, ∇f, the naive ∇fᵀG⁺∇f and fisens' FI); Quotient and
//     Directions give the quotient (hᵀ∇f)²/(hᵀGh) whose maximum over h is FI.
//   - Along: the perturbation manifold of one feature, a curve in the simplex, with f, f', the
//     metric G, FI = f'²/G and the arc length along it.
//   - Rescaling: FI, Jacobian norms and Cook's curvature of the same classifier with one feature
//     measured in units c.
//   - SimplexXY: the 2-D picture of a 3-class probability vector.
package toy
