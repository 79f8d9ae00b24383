package fisens

import "math"

// AuthorsFullRank is the closed form of the authors' ε convention (Options.Convention = Authors)
// wherever their L has rank K − 1 and every non-zero singular value of L exceeds ε (a whole image,
// a layer, all parameters):
//
//	FI_auth = c_y² (1 − u_y²/‖u‖²),   u_k = √π_k + ε,   c_y = (√π_y + ε)/(π_y + ε).
//
// Derivation. Their code forms grad = ∂π/∂ω = Jᵀ A (A = diag(π) − ππᵀ), L = grad·E with
// E = diag(1/(√π_k + ε)), ∇f = grad e_y/(π_y + ε), and FI = Σ_{d_i>ε} (b_iᵀ∇f)²/d_i² where
// L = B D Vᵀ. Since grad e_y = L E⁻¹ e_y = (√π_y + ε) L e_y, ∇f = c_y L e_y; with every non-zero
// singular value kept, Σ_i (b_iᵀ∇f)²/d_i² = ∇fᵀ(LLᵀ)⁺∇f = c_y² e_yᵀ P e_y, P the orthogonal projector
// onto the row space of L in R^K. L u = Jᵀ A E u = Jᵀ A 1 = 0 for u = E⁻¹1 (A1 = 0), so when
// rank(L) = K − 1 the null space of L is exactly span(u) and P = I − uuᵀ/‖u‖². At ε = 0, c_y = 1/√π_y,
// u = √π, ‖u‖ = 1 and FI_auth is the exact bound (1 − π_y)/π_y.
//
// The ε-term is systematic, not noise (see AuthorsBias): to first order, with t = 1/√π_y,
//
//	FI_auth − (1 − π_y)/π_y ≈ 2ε [ Σ_{k≠y} √π_k − (t − 1)(t⁴ − t² + t + 1)/t ].
//
// For a confident label (π_y → 1, t − 1 ≈ (1 − π_y)/2) the bracket is ≈ Σ_{k≠y} √π_k − (1 − π_y) > 0:
// the authors' FI sits ABOVE the bound by ≈ 2ε Σ_{k≠y} √π_k, which relative to the odds is at least
// 2ε/√(1 − π_y) and grows without limit as the confidence grows (ε = 1e-3, odds 1e-4 over nine equal
// classes: +60 %). For small π_y the −t⁴ = −1/π_y² term wins and FI_auth falls BELOW the bound
// (and when π_y ≲ ε the expansion fails: c_y² ≈ 1/ε² instead of 1/π_y). Both are properties of
// the convention, identical for every network, not of the perturbation.
func AuthorsFullRank(pi []float64, y int, eps float64) float64 {
	var u2 float64
	for _, p := range pi {
		u := math.Sqrt(p) + eps
		u2 += u * u
	}
	uy := math.Sqrt(pi[y]) + eps
	c := uy / (pi[y] + eps)
	return c * c * (1 - uy*uy/u2)
}

// AuthorsBias is the first-order term of AuthorsFullRank − (1 − π_y)/π_y in ε (the formula in
// AuthorsFullRank's doc): 2ε [Σ_{k≠y} √π_k − (t − 1)(t⁴ − t² + t + 1)/t], t = 1/√π_y.
func AuthorsBias(pi []float64, y int, eps float64) float64 {
	var s float64
	for k, p := range pi {
		if k != y {
			s += math.Sqrt(p)
		}
	}
	t := 1 / math.Sqrt(pi[y])
	return 2 * eps * (s - (t-1)*(t*t*t*t-t*t+t+1)/t)
}
