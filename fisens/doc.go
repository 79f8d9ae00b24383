// Package fisens computes the sensitivity measures of three papers for any GoMLX classifier:
// the information-geometric first-order influence FI of Shu & Zhu (AAAI 2019), the Jacobian norms
// it is compared with, and Cook's local influence.
//
// # The perturbation manifold and FI
//
// A perturbation ω ∈ R^p acts on part of the input x or of the parameters θ (additively, ζ + ω with
// ω0 = 0, or by scaling, ζ ∘ ω with ω0 = 1). With logits z(ω) and π = softmax(z), the output
// distributions {P(y | x, θ, ω)} form a manifold whose metric is the Fisher information
//
//	G = Jᵀ (diag(π) − π πᵀ) J,   J = ∂z/∂ω  (K × p),
//
// and the first-order influence of a perturbation on an objective f(ω) (by default log π_y) is
// the largest squared change of f per unit of arc length on that manifold:
//
//	FI = max_h (hᵀ∇f)² / (hᵀ G h) = ∇fᵀ G⁺ ∇f.
//
// FI is invariant under re-parameterisations of ω (Shu & Zhu, Theorem 1): the additive and
// scaling forms give the same FI wherever ζ has no zero entry. The Jacobian norm and Cook's
// curvature are not invariant.
//
// # The K × K route
//
// fisens never forms a p × p matrix. Everything is computed from the K × K Gram matrix
// M = J Jᵀ of the logit Jacobian and the logits z, in float64 (see FromGram):
// with W = D (I − 1πᵀ), D = diag(√π), the K × K matrix Q = W M Wᵀ has the non-zero spectrum of G,
// and for an objective whose logit gradient g sums to zero (every log-probability does),
// ∇f = Jᵀ Wᵀ v with v = g/√π, so
//
//	FI = ‖P v‖²,  P = projector onto the numerical range of Q,
//
// found by a complete-pivoting Cholesky factorisation of Q stopped when the largest remaining pivot
// falls below RelTol · max diag(Q) (DefaultRelTol = 1e-13; the Gram matrices are accumulated in
// float64), whose columns are orthonormalised; the number of pivots kept is the rank r.
//
// For f = log π_y this is FI = [Q⁺Q]_yy / π_y, and since rank(G) ≤ K − 1,
//
//	0 ≤ FI ≤ (1 − π_y)/π_y,  with equality when rank(G) = K − 1.
//
// So for any perturbation with p ≥ K − 1 generic directions (a whole image, a layer, all parameters)
// FI equals the odds against the label whatever the network: FI carries information beyond the
// confidence only for low-dimensional perturbations (a pixel, a small patch at a border, a
// filter's scale). Every result therefore reports the rank r next to FI and the bound.
//
// The authors' code (shu-hai/SA_DNN) instead takes a thin SVD of L = ∂π/∂ω · diag(1/(√π+ε)) and
// drops singular values below an absolute ε = 1e-3; Options.Convention = Authors reproduces that
// (from the same K × K Gram matrix) so their figures can be matched. The two agree when no
// singular value of L lies near ε; the absolute threshold depends on the input scale (raw 0–255
// pixels in the paper) and truncates directions that the exact route keeps.
// At full rank their FI has a closed form, c_y²(1 − u_y²/‖u‖²) with u_k = √π_k + ε and
// c_y = (√π_y + ε)/(π_y + ε) (AuthorsFullRank, derived there): a systematic ε-term, above the bound
// (1 − π_y)/π_y by ≈ 2ε Σ_{k≠y} √π_k for confident labels and below it for small π_y — not an extra
// noise direction.
//
// # Costs
//
// Input perturbations: K backward passes per BATCH (the gradient of Σ_b z[b,k] gives every
// example's row k of the Jacobian in inference mode). Patch maps of every scale come from that one
// Jacobian (a patch is a column subset; box sums of per-pixel K × K outer products), with no further
// backward passes. Parameter perturbations: K backward passes per example, yielding the K × K
// Gram matrix of every layer at once.
//
// # Comparison measures
//
// JacNorm is the authors' ‖∂ log π_y/∂ω‖₂ = √(gᵀ M g); SoftmaxJacNorm is Novak et al.'s
// ‖∂π/∂ω‖_F = √tr(A M A), A = diag(π) − ππᵀ. Cook's local influence (Cook 1986) is the maximal normal
// curvature of the graph (ω, f(ω)): C_max = max |λ(G_f^{-1/2} H G_f^{-1/2})| / √(1 + ‖∇f‖²),
// G_f = I + ∇f∇fᵀ, H the Hessian of f; computed for small p (see Cook).
//
// # Related packages
//
// Cheney et al.'s weight perturbations (synapse / node knockout, Gaussian weight noise; seeded and
// restorable) are in fisens/weights; the condition-number estimator, which bounds ‖Δz‖/‖z‖ of a
// feed-forward chain under input, weight and rounding perturbations, is in fisens/condition;
// fisens/toy holds classifiers small enough to see everything, for teaching.
package fisens
