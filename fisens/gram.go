package fisens

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Convention selects how FI is computed from the K × K Gram matrix.
type Convention int

const (
	// Exact is ∇fᵀ G⁺ ∇f with a relative eigenvalue threshold (RelTol · λ_max) in float64.
	Exact Convention = iota
	// Authors reproduces shu-hai/SA_DNN: thin SVD of L = ∂π/∂ω · diag(1/(√π+ε)), singular values
	// below the absolute Eps dropped, ∇f = ∂π_y/∂ω / (π_y + ε). Only for log-probability objectives.
	Authors
)

func (c Convention) String() string {
	if c == Authors {
		return "authors"
	}
	return "exact"
}

// Default thresholds.
const (
	// DefaultRelTol is the relative eigenvalue threshold of the Exact convention. The Gram matrices
	// are accumulated in float64 from float32 Jacobians, so a rank-deficient Q has spurious
	// eigenvalues near 1e-16 λ_max; genuine directions of float32 models sit far above 1e-10.
	DefaultRelTol = 1e-10
	// DefaultAuthorsEps is the authors' ε (1e-3; their MNIST simulated-outlier script used 1e-8).
	DefaultAuthorsEps = 1e-3
)

// Options configure how FI is computed from a Gram matrix.
type Options struct {
	Objective  Objective  // f as a function of the logits; zero value: log π_(true label)
	Convention Convention // Exact (default) or Authors
	RelTol     float64    // Exact: eigenvalues of Q below RelTol·λ_max are dropped; 0 → DefaultRelTol
	Eps        float64    // Authors: absolute ε; 0 → DefaultAuthorsEps
}

func (o Options) relTol() float64 {
	if o.RelTol > 0 {
		return o.RelTol
	}
	return DefaultRelTol
}

func (o Options) eps() float64 {
	if o.Eps > 0 {
		return o.Eps
	}
	return DefaultAuthorsEps
}

// Result is one example's FI with what is needed to read it.
type Result struct {
	FI    float64 // ∇fᵀ G⁺ ∇f
	Rank  int     // rank r of G used (eigenvalues kept), at most min(p, K−1)
	Label int     // the y of the objective (true or predicted label)
	Pred  int     // the predicted class argmax z
	Prob  float64 // π_y
	Bound float64 // (1 − π_y)/π_y, the odds against y: FI ≤ Bound for log π_y, with equality at r = K−1
	// JacNorm is ‖∂f/∂ω‖₂ (for f = log π_y: the authors' Jacobian norm) and SoftmaxJacNorm is
	// Novak et al.'s ‖∂π/∂ω‖_F, both of the same perturbation.
	JacNorm        float64
	SoftmaxJacNorm float64
}

// Softmax returns π = softmax(z) in float64 and, for each k, 1 − π_k computed without cancellation
// (as the sum of the other probabilities). It fails on non-finite logits.
func Softmax(z []float64) (pi, oneMinus []float64, err error) {
	maxZ := math.Inf(-1)
	for k, v := range z {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("logit %d is %v: the model produced a non-finite output", k, v)
		}
		maxZ = math.Max(maxZ, v)
	}
	e := make([]float64, len(z))
	var s float64
	for k, v := range z {
		e[k] = math.Exp(v - maxZ)
		s += e[k]
	}
	pi = make([]float64, len(z))
	oneMinus = make([]float64, len(z))
	for k := range z {
		pi[k] = e[k] / s
		// 1 − π_k as the sum of the other terms: exact even when π_k rounds to 1.
		var others float64
		for j := range z {
			if j != k {
				others += e[j]
			}
		}
		oneMinus[k] = others / s
	}
	return pi, oneMinus, nil
}

// argmax returns the index of the largest value (the first on ties).
func argmax(z []float64) int {
	best := 0
	for k := range z {
		if z[k] > z[best] {
			best = k
		}
	}
	return best
}

// FromGram computes FI and the comparison norms of one example from M = J Jᵀ (K × K, row-major,
// J = ∂z/∂ω the logit Jacobian of the perturbation) and the logits z; label is the true label
// (used when the objective asks for it). This is the single implementation every measure uses.
func FromGram(M []float64, z []float64, label int, opt Options) (Result, error) {
	K := len(z)
	if K < 2 {
		return Result{}, fmt.Errorf("need at least 2 classes, got %d logits", K)
	}
	if len(M) != K*K {
		return Result{}, fmt.Errorf("Gram matrix has %d entries, want K×K = %d", len(M), K*K)
	}
	for i, v := range M {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, fmt.Errorf("Gram matrix entry %d is %v: the Jacobian is not finite", i, v)
		}
	}
	pi, oneMinus, err := Softmax(z)
	if err != nil {
		return Result{}, err
	}
	pred := argmax(z)
	y, err := opt.Objective.label(label, pred, K)
	if err != nil {
		return Result{}, err
	}
	if pi[y] == 0 {
		return Result{}, fmt.Errorf("π_y = 0 for label %d (logit %g vs max %g): log π_y and FI are undefined", y, z[y], z[pred])
	}
	g, err := opt.Objective.grad(z, pi, oneMinus, y)
	if err != nil {
		return Result{}, err
	}
	res := Result{Label: y, Pred: pred, Prob: pi[y], Bound: oneMinus[y] / pi[y]}

	Mm := mat.NewSymDense(K, append([]float64(nil), M...))
	// A = diag(π) − ππᵀ with the diagonal as π_k (1 − π_k) computed without cancellation.
	A := mat.NewSymDense(K, nil)
	for i := 0; i < K; i++ {
		for j := i; j < K; j++ {
			if i == j {
				A.SetSym(i, i, pi[i]*oneMinus[i])
			} else {
				A.SetSym(i, j, -pi[i]*pi[j])
			}
		}
	}
	gv := mat.NewVecDense(K, g)
	var Mg mat.VecDense
	Mg.MulVec(Mm, gv)
	res.JacNorm = math.Sqrt(math.Max(0, mat.Dot(gv, &Mg)))
	var AM, AMA mat.Dense
	AM.Mul(A, Mm)
	AMA.Mul(&AM, A)
	res.SoftmaxJacNorm = math.Sqrt(math.Max(0, mat.Trace(&AMA)))

	switch opt.Convention {
	case Exact:
		res.FI, res.Rank, err = exactFI(Mm, pi, oneMinus, g, opt.relTol())
	case Authors:
		if !opt.Objective.isLogProb() {
			return Result{}, fmt.Errorf("the authors' convention is defined for log-probability objectives only, not %q", opt.Objective.Name)
		}
		res.FI, res.Rank, err = authorsFI(Mm, &AMA, A, pi, y, opt.eps())
	default:
		return Result{}, fmt.Errorf("unknown convention %d", opt.Convention)
	}
	return res, err
}

// exactFI computes ∇fᵀG⁺∇f from M, π and the logit gradient g (see the package doc).
func exactFI(M *mat.SymDense, pi, oneMinus, g []float64, relTol float64) (float64, int, error) {
	K := len(pi)
	// W = D (I − 1πᵀ): W[i][j] = √π_i (δ_ij − π_j), the diagonal from 1 − π_i without cancellation.
	W := mat.NewDense(K, K, nil)
	for i := 0; i < K; i++ {
		s := math.Sqrt(pi[i])
		for j := 0; j < K; j++ {
			d := -pi[j]
			if i == j {
				d = oneMinus[i]
			}
			W.Set(i, j, s*d)
		}
	}
	var WM, Qd mat.Dense
	WM.Mul(W, M)
	Qd.Mul(&WM, W.T())
	Q := symmetrize(&Qd)
	var eig mat.EigenSym
	if !eig.Factorize(Q, true) {
		return 0, 0, fmt.Errorf("eigen-decomposition of the %d×%d Gram matrix failed", K, K)
	}
	vals := eig.Values(nil)
	var U mat.Dense
	eig.VectorsTo(&U)
	lmax := 0.0
	for _, v := range vals {
		lmax = math.Max(lmax, v)
	}
	if lmax <= 0 {
		return 0, 0, nil // J = 0: the perturbation does not move the output distribution
	}
	thr := relTol * lmax
	sumG, normG := 0.0, 0.0
	for _, v := range g {
		sumG += v
		normG += math.Abs(v)
	}
	fi, r := 0.0, 0
	if math.Abs(sumG) <= 1e-12*normG {
		// Shift-invariant objective: ∇f = Jᵀ Wᵀ v with v = g/√π, FI = ‖P v‖².
		v := make([]float64, K)
		for k := range v {
			if g[k] != 0 {
				v[k] = g[k] / math.Sqrt(pi[k])
			}
		}
		for i, lam := range vals {
			if lam <= thr {
				continue
			}
			r++
			var c float64
			for k := 0; k < K; k++ {
				c += U.At(k, i) * v[k]
			}
			fi += c * c
		}
		return fi, r, nil
	}
	// General objective: FI = Σ_i (u_iᵀ W M g)² / λ_i².
	var WMg mat.VecDense
	WMg.MulVec(&WM, mat.NewVecDense(K, g))
	for i, lam := range vals {
		if lam <= thr {
			continue
		}
		r++
		var c float64
		for k := 0; k < K; k++ {
			c += U.At(k, i) * WMg.AtVec(k)
		}
		fi += c * c / (lam * lam)
	}
	return fi, r, nil
}

// authorsFI follows shu-hai/SA_DNN: grad = ∂π/∂ω = Jᵀ A (p × K), L = grad·E with
// E = diag(1/(√π+ε)), ∇f = grad[:, y]/(π_y + ε), thin SVD L = B D Aᵀ keeping d > ε, and
// FI = Σ (b_iᵀ∇f)²/d_i². With LᵀL = E A M A E = V diag(d²) Vᵀ and b_i = L v_i/d_i,
// b_iᵀ∇f = v_iᵀ E (A M A) e_y / ((π_y+ε) d_i).
func authorsFI(M *mat.SymDense, AMA *mat.Dense, A *mat.SymDense, pi []float64, y int, eps float64) (float64, int, error) {
	K := len(pi)
	E := make([]float64, K)
	for k := range E {
		E[k] = 1 / (math.Sqrt(pi[k]) + eps)
	}
	LtL := mat.NewSymDense(K, nil)
	for i := 0; i < K; i++ {
		for j := i; j < K; j++ {
			LtL.SetSym(i, j, E[i]*0.5*(AMA.At(i, j)+AMA.At(j, i))*E[j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(LtL, true) {
		return 0, 0, fmt.Errorf("eigen-decomposition of the authors' %d×%d matrix failed", K, K)
	}
	vals := eig.Values(nil)
	var V mat.Dense
	eig.VectorsTo(&V)
	// w = E (A M A) e_y / (π_y + ε)
	w := make([]float64, K)
	for k := 0; k < K; k++ {
		w[k] = E[k] * AMA.At(k, y) / (pi[y] + eps)
	}
	fi, r := 0.0, 0
	for i, d2 := range vals {
		if d2 <= 0 || math.Sqrt(d2) <= eps {
			continue
		}
		r++
		var c float64
		for k := 0; k < K; k++ {
			c += V.At(k, i) * w[k]
		}
		fi += c * c / (d2 * d2) // (v_iᵀ w / d_i)² / d_i²
	}
	return fi, r, nil
}

// symmetrize returns (X + Xᵀ)/2 as a SymDense (rounding makes products of symmetric factors
// slightly asymmetric).
func symmetrize(X *mat.Dense) *mat.SymDense {
	n, _ := X.Dims()
	S := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			S.SetSym(i, j, 0.5*(X.At(i, j)+X.At(j, i)))
		}
	}
	return S
}
