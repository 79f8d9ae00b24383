// Package condition bounds how much a classifier's logits can change under input, weight and
// rounding perturbations (SPEC C). It describes the network as a graph (Net: convolutions, dense
// layers, batch norms, ReLU, max / average / global average pools, residual additions and
// concatenations; a Chain of conv / dense / ReLU / 2×2 max-pool layers is the special case of a
// path), computes per-layer operator norms (SVD, or power iteration with autodiff transposes) and
// relative condition numbers κ_i, and propagates a rigorous bound through the graph
// (Condition.Bound); PredictBits turns the bound into a bit-width.
//
// # The estimator
//
// Maheshwari et al. (arXiv 2307.12679) describe "roughly a condition number for the whole network"
// built from inequalities and matrix norms; their code is not public and only the abstract could be
// confirmed. Estimator is built here from first principles, as follows.
//
// Scope. A Net is a directed acyclic graph of nodes in topological order; node v computes x_v from
// earlier nodes (or from the scaled input x_0 = s·x, s = Net.InputScale), and the last node gives
// the logits z. The layers are the nodes with weights:
//
//	conv / dense:  y = A x + b   (A: a convolution with an odd kernel, stride 1 or 2, 'same' or
//	               'valid', exactly as models/ops computes it; or a dense matrix after a row-major flatten)
//	batch norm:    y = diag(a) x + β′,  a = γ/√(σ²+ε), β′ = β − μ·a  (inference, per channel)
//
// and the other nodes are ReLU, max pools, average pools, the global average pool, additions and
// concatenations. A Chain (AlexNet- and VGG-style nets; dropout is the identity in inference) is the
// path x_{i+1} = φ_i(A_i x_i + b_i) with φ_i a ReLU optionally followed by a 2×2 max pool
// (Chain.Net); the ResNet and DenseNet families are graphs (experiments.NetOf builds them from the
// models' specs). NewNetEstimator checks on a random probe that the Net's forward pass (the one
// every measurement uses, Estimator.Run) reproduces the classifier's own logits, so a Net cannot
// silently describe a different network.
//
// Batch norm. An inference batch norm right after a conv or dense layer is folded into it
// (NetNode.BN): A′ = diag(a)·A (the kernel times a along its output-channel axis) and
// b′ = a ⊙ b + β′. Its operator norm ‖diag(a)A‖ is computed by power iteration on the folded map,
// which is sharper than the product max_c |a_c| · ‖A‖ (equality only if A's top singular vector
// lands on the channel of largest |a_c|). A batch norm that follows no layer — DenseNet's
// pre-activation norms of the concatenated features (bn1, the transitions' bn, the final bn) — is
// followed by a ReLU, so it can be folded neither backwards nor forwards: it is a diagonal layer
// with ‖A‖ = ‖|A|‖ = max_c |a_c| (exact).
//
// Facts used. (1) ReLU and a non-overlapping max pool are 1-Lipschitz in ℓ2 and map 0 to 0:
// |max_w a − max_w b| ≤ max_w |a − b| ≤ ‖a − b‖₂ on each window, and the windows are disjoint, so
// ‖φ(u) − φ(v)‖ ≤ ‖u − v‖. (2) ‖A u‖ ≤ ‖A‖₂ ‖u‖ with ‖A‖₂ the largest singular value. (3) If
// |ΔK| ≤ u|K| entrywise then ‖ΔA‖₂ ≤ ‖|ΔA|‖₂ ≤ u ‖|A|‖₂, because every entry of a convolution's
// matrix — also at stride 2, which only keeps some of its rows, and after folding, which scales
// its rows by a_c — is a single (folded) kernel entry or 0 (so |ΔA| ≤ u|A| entrywise), and the
// spectral norm is monotone on non-negative matrices; |A| is the same map with the kernel |K|.
//
// Pools and other parameter-free nodes (their ℓ2 Lipschitz constants L_v; Estimator.Lipschitz):
//
//   - Max pool, window k, stride s ('valid'): L = √c with c the largest number of windows that
//     contain one input position (c = c_H·c_W, per axis the largest count of the 1-D windows
//     [o·s, o·s+k) containing an index). Proof: on each window |max_w a − max_w b| ≤
//     max_{i∈w} |d_i| ≤ (Σ_{i∈w} d_i²)^{1/2} with d = a − b, so ‖Δ‖² ≤ Σ_w Σ_{i∈w} d_i² =
//     Σ_i c_i d_i² ≤ c ‖d‖². It is attained: a = 0, b = t at one position covered by c windows
//     changes each of those windows' maxima by t, so ‖Δ‖ = √c·t. Non-overlapping (k ≤ s): c = 1;
//     ResNet's classic 3×3 stride-2 stem pool: c = 2·2 = 4, L = 2 (the ResNets of this project
//     have no stem pool; the tests check 3×3 stride-2 pools against brute force).
//   - Average pool, window k, stride s: a linear map, the Kronecker product P_H ⊗ P_W ⊗ I_C of
//     two 1-D averaging matrices (rows with k entries 1/k), so L = ‖P_H‖₂‖P_W‖₂ exactly, each by
//     SVD of the explicit 1-D matrix (AvgPoolOpNorm). Non-overlapping windows (k = s) have disjoint
//     rows of norm 1/√k, so L = 1/k exactly (the 2×2 pools of ResNet's head and DenseNet's
//     transitions: 1/2); overlapping ones are sharper than the generic √(‖P‖₁‖P‖∞) = √c/k (3×3
//     stride 2 on a large map: ≈ 5/9 against 2/3). An odd trailing row or column that a 'valid' pool
//     drops is a coordinate projection and is part of the matrix.
//   - Global average pool [H, W, C] → [C]: each output is (1/HW)·1ᵀ on one channel, L = 1/√(HW).
//   - A stride-2 convolution (ops.Convolve2D: stride-1 convolution, then a subsample that keeps one
//     phase) is S∘C with S a coordinate subsampling (1-Lipschitz); the bound uses ‖S∘C‖ by power
//     iteration on the composite (≤ ‖C‖: no separate factor for S).
//
// Operator norms. Dense layers: exact largest singular value (gonum SVD, float64). Batch norms:
// max |a_c|. Convolutions (folded or not, any stride): power iteration on AᵀA, v ← AᵀAv/‖AᵀAv‖,
// with AᵀA v = ∇_v ½‖Av‖² computed by GoMLX's automatic differentiation of the map itself (so no
// transposed convolution is written by hand), in float32, until ‖Av‖ changes by less than
// NormOptions.Tol relative. ‖Av‖ for a unit v increases towards ‖A‖₂ from below; tests compare it
// with gonum's SVD of the convolution written out as a matrix (stride 1 and 2, folded). So the
// bound is rigorous up to the power iteration's convergence (a relative 1e-6 or so per norm at the
// experiments' tolerance; a certified upper bound such as ‖A‖₂ ≤ Σ_t ‖K_t‖₂ over the kernel taps
// would be far looser). Measured perturbation norms (‖ΔA_l‖ of an attack) are computed the same way.
//
// The exact recursion. Perturb the input by δ, every A_l by ΔA_l with ‖ΔA_l‖ ≤ ε_l‖A_l‖, every b_l
// by Δb_l with ‖Δb_l‖ ≤ β_l, and (optionally) round the input of every layer with
// ‖r(v) − v‖ ≤ u‖v‖. With n_l = ‖x_l‖ the norm of layer l's input in the unperturbed network and
// e_v a bound on ‖x̃_v − x_v‖ at node v, in topological order:
//
//	input:        e = ‖δ‖ (of the scaled input)
//	layer l:      ê = e_in + u(n_l + e_in)                               (rounding of its input)
//	              e = (1+ε_l)‖A_l‖ ê + ε_l ‖A_l‖ n_l + β_l
//	ReLU, pool:   e = L_v e_in
//	addition:     e = Σ_j e_j
//	concatenation e = (Σ_j e_j²)^{1/2}
//	and           ‖Δz‖/‖z‖ ≤ e_z / ‖z‖.
//
// The layer step is Ã r(x̃) + b̃ − (Ax + b) = Ã(r(x̃) − x) + (Ã − A)x + Δb with ‖r(x̃) − x‖ ≤
// ‖x̃ − x‖ + u‖x̃‖ ≤ e + u(n + e). An addition is the triangle inequality ‖Σ_j Δy_j‖ ≤ Σ_j ‖Δy_j‖,
// attained when the branches' changes are parallel (TestBoundAttainedOnResidualConcat constructs a
// residual + concatenation net where the bound is attained exactly). A concatenation loses nothing:
// ‖[Δa; Δb]‖² = ‖Δa‖² + ‖Δb‖² (and n = (Σ_j n_j²)^{1/2}). For a chain this is the recursion
// e_{i+1} ≤ d_i + u(n_{i+1} + d_i), d_i = (1+ε_i)‖A_i‖e_i + ε_i‖A_i‖n_i + β_i. It holds for
// perturbations of any size, not only to first order (Condition.Bound).
//
// A batch norm before a ReLU (DenseNet's pre-activation layers). For W ∘ P ∘ ReLU ∘ B with B the
// diagonal layer diag(a)·x + β′, P average pools (or none) and W a conv or dense layer, the
// recursion above multiplies ‖W‖·‖P‖·max_c |a_c|. Sharper and still rigorous: the ReLU's change is
// relu(ũ) − relu(u) = D(ũ − u) with D diagonal, entries in [0, 1] (its secant slopes), and D
// commutes with diag(a) (both diagonal; P commutes with a per-channel scaling), so
// ‖W P D diag(a)‖ = ‖W P diag(a) D‖ ≤ ‖W diag(a)‖·‖P‖ =: G — the batch norm's scale carried across
// the ReLU into the next layer's norm (LayerNorm.Pre: power iteration or SVD of W with its input
// channels scaled by a). With perturbed weights W̃ = W + ΔW, ã = a + Δa (ε_B = max|Δa|/A,
// A = max|a|), the error of B's rounded input ê_B, that of W's input d and n_B, n_W the norms of
// B's and W's inputs, W's output error is at most
//
//	(G + ‖W‖‖P‖A(ε_W(1+ε_B) + ε_B)) ê_B + (1+ε_W)‖W‖(‖P‖(ε_B A n_B + β_B) + u(n_W + d)) + ε_W‖W‖n_W + β_W
//
// (W̃ P D ã⊙Δ = W P D a⊙Δ + (ΔW P D ã + W P D Δa)⊙Δ; the weight and bias changes of B, the
// rounding of W's input and W's own changes enter as in the plain recursion). The bound takes the
// smaller of this and the plain step. When B normalises a concatenation [x_1; …; x_m] (DenseNet),
// M = W P diag(a) splits into column blocks M_j and ‖M D Δ‖ = ‖Σ_j M_j D_j Δ_j‖ ≤ Σ_j ‖M_j‖ ê_j
// (ê_j = e_j + u(n_B + e_j), the rounded part's error): since the errors of a dense block grow with
// depth, the latest part dominates and its block's norm is what counts; the first term above uses the
// smaller of G ê_B and this sum (LayerNorm.PreBranches). On a tiny random DenseNet the two rules
// lower the bound 10× (TestBoundHoldsOnResNetAndDenseNet).
//
// Residual blocks. For y = φ(F(x) + S(x)) with S the identity or a strided 1×1 conv + batch norm and
// only an input perturbation, the recursion gives e_y ≤ (Lip F + Lip S) e_x per block: over B blocks
// the product Π_b (Lip F_b + Lip S_b), i.e. the sum over all 2^B paths of the products of the
// norms along each path. A sharper rigorous alternative was considered: both branches end in a
// linear map, y = [A_F A_S][h; x], so e ≤ ‖[A_F A_S]‖ (e_h² + e_x²)^{1/2}. By Cauchy–Schwarz it is
// never better than the triangle inequality for an identity shortcut (‖[A I]‖ = (‖A‖² + 1)^{1/2})
// and better for a projection only when ‖[A_F A_S]‖ is well below (‖A_F‖² + ‖A_S‖²)^{1/2} and the
// two errors are balanced; with one projection per stage it was not implemented.
//
// Per-layer relative condition numbers. κ_l = ‖A_l‖ n_l / ‖y_l‖, with y_l the layer's output after
// the ReLU and max pool that follow it alone (for a chain y_l = x_{l+1}): it bounds the relative
// change of the layer's output per relative change of its input or of A_l. The network's
// first-order coefficients are the bound itself for a single unit source, because the recursion
// with one source is linear in its size (every step is positively homogeneous and the other terms
// vanish):
//
//	κ_in    = Bound(δ/‖x‖ = 1)            relative logit change per relative input change
//	κ_W,l   = Bound(ε_l = 1)              per relative change of A_l, and per rounding u of x_l
//	T_l     = Bound(‖Δb_l‖ = 1)           per unit of ‖Δb_l‖ (κ_b,l = ‖b_l‖ T_l)
//
// and FirstOrder(p) = κ_in δ + Σ_l (κ_W,l (ε_l + u) + T_l β_l) ≥ Bound(p) − O(size²) (equality for
// nets without concatenations, where every step is linear; (Σ e_j²)^{1/2} ≤ Σ e_j otherwise). For a
// chain κ_W,i = Π_{m≥i} κ_m = Π_{m≥i}‖A_m‖ · n_i/‖z‖ and κ_in = Π_i κ_i: the norms of the
// intermediate activations cancel. They depend on the input through the n_l; Estimator.Conditions
// returns them per example and the experiments report their distribution over a data set.
//
// Why the bound is loose on deep nets. Every layer contributes its worst-case gain ‖A_l‖ as if the
// perturbation were aligned with each layer's top singular vector in turn and no ReLU ever
// switched it off; the products of norms along paths (all 2^B paths of a residual net, all the
// overlapping paths through a dense block) therefore grow exponentially with depth, while the
// local gain ‖J(x)‖ of the trained net does not. The experiments measure this overestimate
// (median κ_in against the local ‖J(x)‖‖x‖/‖z‖).
//
// Bit-width. Rounding to b significant bits (round to nearest, RoundSignificand; in the graph by
// Veltkamp's splitting) has unit round-off u = 2^−b: |r(w) − w| ≤ u|w|. "b bits" means the
// inference network after folding: every stored parameter — the folded kernels K·diag(a) and biases
// a ⊙ b + β′, and the scale a and shift β′ of the batch norms that stay diagonal layers — and the
// input of every conv, dense and batch-norm layer are rounded to b significant bits (RoundWeights
// rounds Estimator.Weights(), the folded values). This is how a quantised deployment computes
// (fold, then quantise). Rounding the unfolded parameters K, b, γ, β, μ, σ² separately is a
// different arithmetic: the effective folded kernel then carries up to about 2.5u relative error
// (K, γ and, through the square root, σ²) and the shift more, so it needs about 1–2 more bits for
// the same tolerance; it is not what is bounded or measured here. Rounding every kernel and bias
// gives ε_l = u ‖|A_l|‖/‖A_l‖ by (3) and β_l = u‖b_l‖; rounding the activations adds u at every
// layer input (RoundingPerturbation). PredictBits returns the smallest b for which the bound stays
// below a tolerated relative logit change τ for (a quantile of) the examples; to first order
// b ≈ log2(Σ_l κ_W,l (‖|A_l|‖/‖A_l‖ + 1) / τ). The experiments check it by actually rounding.
//
// Measured changes. Estimator.Run evaluates the net with any (folded) weights, optionally rounding
// the layers' inputs, so measurements use exactly the network the bound describes. AttackInput and
// AttackWeights search for large changes: FGSM (one ℓ2-normalised step along the gradient of the
// cross-entropy of the predicted class) followed by projected gradient ascent of ‖Δz‖² on the
// sphere of the given relative radius.
package condition
