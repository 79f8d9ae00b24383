// Package condition bounds how much a feed-forward classifier's logits can change under input,
// weight and rounding perturbations (SPEC C). Estimator chains per-layer relative condition numbers
// κ_i = ‖A_i‖‖x_i‖/‖x_{i+1}‖ of a Chain (conv / dense / ReLU / max-pool), with operator norms by SVD
// or by power iteration with autodiff transposes; PredictBits turns the bound into a bit-width.
// Residual and dense connections (ResNet, DenseNet) are out of scope.
//
// # The estimator
//
// Maheshwari et al. (arXiv 2307.12679) describe "roughly a condition number for the whole network"
// built from inequalities and matrix norms; their code is not public and only the abstract could be
// confirmed. Estimator is built here from first principles, as follows.
//
// Scope. A feed-forward chain (Chain): layers i = 0 … L−1 map x_i to
//
//	x_{i+1} = φ_i(A_i x_i + b_i),   x_0 = s·x (s = Chain.InputScale),  z = x_L (no φ on the last layer),
//
// where A_i is a linear map (a stride-1 convolution with an odd kernel, 'same' or 'valid' padding,
// or a dense matrix after a row-major flatten), b_i a bias and φ_i a ReLU optionally followed by a
// non-overlapping 2×2 max pool. This covers the AlexNet- and VGG-style nets (dropout is the identity
// in inference). A batch norm in inference is an affine map diag(γ/√(σ²+ε)) x + β′ and would be one
// more layer with ‖A‖ = max_c |γ_c|/√(σ²_c+ε); the chains used here have none. Residual and dense
// connections (ResNet, DenseNet) are NOT covered: a skip x + F(x) only satisfies
// ‖Δ(x + F(x))‖ ≤ (1 + Lip F)‖Δx‖ (triangle inequality), which compounds into bounds that are
// loose by many orders of magnitude over dozens of blocks, and the per-layer relative condition
// numbers no longer telescope; the estimator rejects such models (the chain check below fails).
//
// Facts used. (1) ReLU and a non-overlapping max pool are 1-Lipschitz in ℓ2 and map 0 to 0:
// |max_w a − max_w b| ≤ max_w |a − b| ≤ ‖a − b‖₂ on each window, and the windows are disjoint, so
// ‖φ(u) − φ(v)‖ ≤ ‖u − v‖. (2) ‖A u‖ ≤ ‖A‖₂ ‖u‖ with ‖A‖₂ the largest singular value. (3) If
// |ΔK| ≤ u|K| entrywise then ‖ΔA‖₂ ≤ ‖|ΔA|‖₂ ≤ u ‖|A|‖₂, because every entry of a stride-1
// convolution's matrix is a single kernel entry or 0 (so |ΔA| ≤ u|A| entrywise) and the spectral
// norm is monotone on non-negative matrices; |A| is the same map with the kernel |K|.
//
// Operator norms. Dense layers: exact largest singular value (gonum SVD, float64). Convolutions:
// power iteration on AᵀA, v ← AᵀAv/‖AᵀAv‖, with AᵀA v = ∇_v ½‖Av‖² computed by GoMLX's automatic
// differentiation of the convolution (so no transposed convolution is written by hand), in float32,
// until ‖Av‖ changes by less than NormOptions.Tol relative. ‖Av‖ for a unit v increases towards
// ‖A‖₂ from below; tests compare it with gonum's SVD of the convolution written out as a matrix.
//
// The exact recursion. Perturb the input by δ, every A_i by ΔA_i with ‖ΔA_i‖ ≤ ε_i‖A_i‖, every
// b_i by Δb_i with ‖Δb_i‖ ≤ β_i, and (optionally) round the input of every linear map with
// ‖r(v) − v‖ ≤ u‖v‖. With n_i = ‖x_i‖ of the unperturbed network and e_i = ‖x̃_i − x_i‖,
//
//	e_0 ≤ ‖δ‖ + u(n_0 + ‖δ‖)
//	d_i = ‖(Ã_i x̃_i + b̃_i) − (A_i x_i + b_i)‖ ≤ (1+ε_i)‖A_i‖ e_i + ε_i ‖A_i‖ n_i + β_i
//	e_{i+1} ≤ d_i + u(n_{i+1} + d_i)   (i < L−1: rounding of the next layer's input; by (1) φ adds nothing)
//	e_L ≤ d_{L−1},    and    ‖Δz‖/‖z‖ ≤ e_L / n_L.
//
// It holds for perturbations of any size, not only to first order (Condition.Bound).
//
// Per-layer relative condition numbers and their chain. To first order the recursion gives
//
//	‖Δz‖/‖z‖ ≤ κ_in ‖δ‖/‖x‖ + Σ_i κ_W,i (ε_i + u) + Σ_i T_i β_i,
//
//	κ_i   = ‖A_i‖ n_i / n_{i+1}          (relative condition number of layer i at this input)
//	κ_W,i = Π_{m≥i} κ_m = Π_{m≥i} ‖A_m‖ · n_i / n_L
//	κ_in  = κ_W,0 = Π_i κ_i = Π_i ‖A_i‖ · ‖x_0‖/‖z‖
//	T_i   = Π_{m>i} ‖A_m‖ / n_L           (so κ_b,i = ‖b_i‖ T_i for a relative bias change)
//
// κ_i bounds the relative change of layer i's output per relative change of its input or of A_i;
// the network's condition numbers are products of the per-layer ones (the norms of the
// intermediate activations cancel). They depend on the input through n_i; Estimator.Conditions
// returns them per example and the experiments report their distribution over a data set.
// Input perturbations enter linearly and exactly: ‖Δz‖ ≤ Π‖A_i‖ ‖Δx_0‖ for any size.
//
// Bit-width. Rounding to b significant bits (round to nearest, RoundSignificand; in the graph by
// Veltkamp's splitting) has unit round-off u = 2^−b: |r(w) − w| ≤ u|w|. Rounding every kernel and
// bias gives ε_i = u ‖|A_i|‖/‖A_i‖ by (3) and β_i = u‖b_i‖; rounding the activations adds u at
// every layer input (RoundingPerturbation). PredictBits returns the smallest b for which the bound
// stays below a tolerated relative logit change τ for (a quantile of) the examples; to first order
// b ≈ log2(Σ_i κ_W,i (‖|A_i|‖/‖A_i‖ + 1) / τ). The experiments check it by actually rounding.
//
// Measured changes. Estimator.Run evaluates the chain with any weights, optionally rounding the
// activations, so measurements use exactly the network the bound describes (NewEstimator checks
// that the chain reproduces the classifier's logits). AttackInput and AttackWeights search for
// large changes: FGSM (one ℓ2-normalised step along the gradient of the cross-entropy of the
// predicted class) followed by projected gradient ascent of ‖Δz‖² on the sphere of the given
// relative radius.
package condition
