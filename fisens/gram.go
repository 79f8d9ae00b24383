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
	// DefaultRelTol is the relative threshold of the Exact convention: pivots of the K × K matrix
	// Q below DefaultRelTol · max diag(Q) are dropped. Gram matrices are accumulated in float64
	// from the Jacobian's columns, so a rank-deficient Q carries rounding noise near 1e-16 of its
	// scale; 1e-13 leaves a thousandfold margin above that while keeping genuine but
	// ill-conditioned directions (a smooth network can have eigenvalue ratios near 1e-12, and
	// dropping such a direction can remove most of FI — the reason the rank is always reported).
	DefaultRelTol = 1e-13
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

// Check reports thresholds that are not finite and positive (0 means the default): a negative or
// NaN threshold used to fall back to the default silently, and +Inf dropped every direction
// (FI = 0, rank 0).
func (o Options) Check() error {
	if !(o.RelTol >= 0) || math.IsInf(o.RelTol, 1) {
		return fmt.Errorf("fisens: RelTol %g: want a finite value > 0 (0: DefaultRelTol = %g)", o.RelTol, DefaultRelTol)
	}
	if !(o.Eps >= 0) || math.IsInf(o.Eps, 1) {
		return fmt.Errorf("fisens: Eps %g: want a finite value > 0 (0: DefaultAuthorsEps = %g)", o.Eps, DefaultAuthorsEps)
	}
	return nil
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
			return nil, nil, fmt.Errorf("logit %d is %v: the model produced a non-finite output (NaN or infinite weights, or "+
				"activations that overflow float32: check the input scale and the batch-norm statistics)", k, v)
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
// (used when the objective asks for it). This is the single implementation every measure uses;
// NewSolver + Solve do the same for many Gram matrices of one example.
func FromGram(M []float64, z []float64, label int, opt Options) (Result, error) {
	s, err := NewSolver(z, label, opt)
	if err != nil {
		return Result{}, err
	}
	return s.Solve(M)
}

// Solver computes FI for many Gram matrices of one example (the patches of a map) without
// allocating: it holds everything that depends only on the logits and the objective.
type Solver struct {
	K          int
	opt        Options
	pi, g, v   []float64 // probabilities, ∂f/∂z, v = g/√π
	W          []float64 // W = D(I − 1πᵀ), K × K
	A          []float64 // A = diag(π) − ππᵀ
	A2         []float64 // A², for tr(A M A) = Σ (A²)_ij M_ij
	shiftInv   bool      // Σ g = 0: the projector form applies
	base       Result    // Label, Pred, Prob, Bound
	wm, q, l   []float64 // workspace K × K
	d, b, t, u []float64 // workspace K
	used       []bool
}

// NewSolver prepares FI computations for one example with logits z and true label label.
func NewSolver(z []float64, label int, opt Options) (*Solver, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	K := len(z)
	if K < 2 {
		return nil, fmt.Errorf("need at least 2 classes, got %d logits", K)
	}
	pi, oneMinus, err := Softmax(z)
	if err != nil {
		return nil, err
	}
	pred := argmax(z)
	y, err := opt.Objective.label(label, pred, K)
	if err != nil {
		return nil, err
	}
	if pi[y] == 0 {
		return nil, fmt.Errorf("π_y = 0 for label %d (logit %g vs max %g: exp(%.4g) underflows even in float64): log π_y and FI are undefined. "+
			"Logits this far apart mean a saturated model: a barely trained network whose batch-norm statistics still describe its "+
			"initialisation (train longer, or re-estimate them: models.RecomputeBNStats, --set train.BNStatsImages=N), or inputs on "+
			"another scale than the model was trained on (raw 0–255 pixels vs 0–1)", y, z[y], z[pred], z[y]-z[pred])
	}
	g, err := opt.Objective.grad(z, pi, oneMinus, y)
	if err != nil {
		return nil, err
	}
	if opt.Convention == Authors && !opt.Objective.isLogProb() {
		return nil, fmt.Errorf("the authors' convention is defined for log-probability objectives only, not %q", opt.Objective)
	}
	if opt.Convention != Exact && opt.Convention != Authors {
		return nil, fmt.Errorf("unknown convention %d", opt.Convention)
	}
	s := &Solver{K: K, opt: opt, pi: pi, g: g,
		base: Result{Label: y, Pred: pred, Prob: pi[y], Bound: oneMinus[y] / pi[y]},
		W:    make([]float64, K*K), A: make([]float64, K*K), A2: make([]float64, K*K),
		v: make([]float64, K), wm: make([]float64, K*K), q: make([]float64, K*K), l: make([]float64, K*K),
		d: make([]float64, K), b: make([]float64, K), t: make([]float64, K), u: make([]float64, K), used: make([]bool, K)}
	for i := 0; i < K; i++ {
		sq := math.Sqrt(pi[i])
		for j := 0; j < K; j++ {
			if i == j {
				// Diagonals from 1 − π_i computed without cancellation (π_y can round to 1).
				s.W[i*K+j] = sq * oneMinus[i]
				s.A[i*K+j] = pi[i] * oneMinus[i]
			} else {
				s.W[i*K+j] = -sq * pi[j]
				s.A[i*K+j] = -pi[i] * pi[j]
			}
		}
	}
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			var a float64
			for k := 0; k < K; k++ {
				a += s.A[i*K+k] * s.A[k*K+j]
			}
			s.A2[i*K+j] = a
		}
	}
	sumG, normG := 0.0, 0.0
	for k, v := range g {
		sumG += v
		normG += math.Abs(v)
		if v != 0 {
			s.v[k] = v / math.Sqrt(pi[k])
		}
	}
	s.shiftInv = math.Abs(sumG) <= 1e-12*normG
	return s, nil
}

// Solve returns FI, its rank and the Jacobian norms for the Gram matrix M (K × K, row-major).
func (s *Solver) Solve(M []float64) (Result, error) {
	K := s.K
	if len(M) != K*K {
		return Result{}, fmt.Errorf("Gram matrix has %d entries, want K×K = %d", len(M), K*K)
	}
	res := s.base
	var gMg, trAMA float64
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			m := M[i*K+j]
			if math.IsNaN(m) || math.IsInf(m, 0) {
				return Result{}, fmt.Errorf("Gram matrix entry (%d, %d) is %v: the Jacobian is not finite", i, j, m)
			}
			gMg += s.g[i] * m * s.g[j]
			trAMA += s.A2[i*K+j] * m
		}
	}
	res.JacNorm = math.Sqrt(math.Max(0, gMg))
	res.SoftmaxJacNorm = math.Sqrt(math.Max(0, trAMA))
	var err error
	if s.opt.Convention == Authors {
		res.FI, res.Rank, err = s.authorsFI(M)
	} else {
		res.FI, res.Rank = s.exactFI(M)
	}
	return res, err
}

// exactFI computes ∇fᵀG⁺∇f from M (see the package doc). Q = W M Wᵀ spans range(G) in K-space;
// its numerical range comes from a complete-pivoting Cholesky factorisation stopped when the
// largest remaining pivot falls below RelTol · max diag(Q), orthonormalised by modified
// Gram–Schmidt applied twice. FI = ‖Uᵀv‖² (shift-invariant objectives) or ‖Q⁺ W M g‖² (others).
func (s *Solver) exactFI(M []float64) (float64, int) {
	K := s.K
	W, wm, q, L := s.W, s.wm, s.q, s.l
	// wm = W M; q = wm Wᵀ.
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			var a float64
			for k := 0; k < K; k++ {
				a += W[i*K+k] * M[k*K+j]
			}
			wm[i*K+j] = a
		}
	}
	maxDiag := 0.0
	for i := 0; i < K; i++ {
		for j := i; j < K; j++ {
			var a float64
			for k := 0; k < K; k++ {
				a += wm[i*K+k] * W[j*K+k]
			}
			q[i*K+j], q[j*K+i] = a, a
		}
		s.d[i] = q[i*K+i]
		s.used[i] = false
		maxDiag = math.Max(maxDiag, s.d[i])
	}
	if maxDiag <= 0 {
		return 0, 0 // J = 0 (or only along 1): the output distribution does not move
	}
	thr := s.opt.relTol() * maxDiag
	r := pivotedCholesky(q, L, s.d, s.used, nil, K, thr)
	if r == 0 {
		return 0, 0
	}
	// Orthonormalise the r columns of L in place (MGS twice); R (upper, r × r) goes to q.
	R := q
	for j := 0; j < r; j++ {
		for c := 0; c < r; c++ {
			R[c*K+j] = 0
		}
	}
	for j := 0; j < r; j++ {
		for pass := 0; pass < 2; pass++ {
			for c := 0; c < j; c++ {
				var dot float64
				for i := 0; i < K; i++ {
					dot += L[i*K+c] * L[i*K+j]
				}
				R[c*K+j] += dot
				for i := 0; i < K; i++ {
					L[i*K+j] -= dot * L[i*K+c]
				}
			}
		}
		var nrm float64
		for i := 0; i < K; i++ {
			nrm += L[i*K+j] * L[i*K+j]
		}
		nrm = math.Sqrt(nrm)
		R[j*K+j] = nrm
		for i := 0; i < K; i++ {
			L[i*K+j] /= nrm
		}
	}
	if s.shiftInv {
		var fi float64
		for c := 0; c < r; c++ {
			var dot float64
			for i := 0; i < K; i++ {
				dot += L[i*K+c] * s.v[i]
			}
			fi += dot * dot
		}
		return fi, r
	}
	// General objective: Q = U R Rᵀ Uᵀ, so ‖Q⁺ b‖ = ‖R⁻ᵀ R⁻¹ Uᵀ b‖ with b = W M g.
	b, t := s.b, s.t
	for i := 0; i < K; i++ {
		var a float64
		for k := 0; k < K; k++ {
			a += wm[i*K+k] * s.g[k]
		}
		b[i] = a
	}
	for c := 0; c < r; c++ {
		var dot float64
		for i := 0; i < K; i++ {
			dot += L[i*K+c] * b[i]
		}
		t[c] = dot
	}
	// Solve R w = t (back substitution), then Rᵀ u = w (forward substitution).
	for i := r - 1; i >= 0; i-- {
		a := t[i]
		for j := i + 1; j < r; j++ {
			a -= R[i*K+j] * t[j]
		}
		t[i] = a / R[i*K+i]
	}
	u := s.u
	for i := 0; i < r; i++ {
		a := t[i]
		for j := 0; j < i; j++ {
			a -= R[j*K+i] * u[j]
		}
		u[i] = a / R[i*K+i]
	}
	var fi float64
	for i := 0; i < r; i++ {
		fi += u[i] * u[i]
	}
	return fi, r
}

// authorsFI follows shu-hai/SA_DNN: grad = ∂π/∂ω = Jᵀ A (p × K), L = grad·E with
// E = diag(1/(√π+ε)), ∇f = grad[:, y]/(π_y + ε), thin SVD L = B D Aᵀ keeping d > ε, and
// FI = Σ (b_iᵀ∇f)²/d_i². With LᵀL = E A M A E = V diag(d²) Vᵀ and b_i = L v_i/d_i,
// b_iᵀ∇f = v_iᵀ E (A M A) e_y / ((π_y+ε) d_i).
func (s *Solver) authorsFI(M []float64) (float64, int, error) {
	K, eps, y := s.K, s.opt.eps(), s.base.Label
	Am := mat.NewDense(K, K, s.A)
	var AM, AMA mat.Dense
	AM.Mul(Am, mat.NewDense(K, K, M))
	AMA.Mul(&AM, Am)
	E := make([]float64, K)
	for k := range E {
		E[k] = 1 / (math.Sqrt(s.pi[k]) + eps)
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
	w := make([]float64, K) // E (A M A) e_y / (π_y + ε)
	for k := 0; k < K; k++ {
		w[k] = E[k] * AMA.At(k, y) / (s.pi[y] + eps)
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

// pivotedCholesky factors the K × K matrix q (row-major, symmetric PSD) with complete pivoting,
// stopping when the largest remaining pivot is ≤ thr, and returns the rank r. Column t < r of L
// (rows in original order) belongs to the t-th pivot, recorded in piv[t] when piv is not nil.
// d must hold q's diagonal and used must be all false on entry; both are overwritten. It is the one
// factorisation behind every exact FI (Solver and the patch maps), so both report the same ranks.
func pivotedCholesky(q, L, d []float64, used []bool, piv []int, K int, thr float64) int {
	q, L, d, used = q[:K*K], L[:K*K], d[:K], used[:K] // lets the compiler drop bounds checks
	r := 0
	for ; r < K; r++ {
		p := -1
		for i := 0; i < K; i++ {
			if !used[i] && (p < 0 || d[i] > d[p]) {
				p = i
			}
		}
		if p < 0 || d[p] <= thr {
			break
		}
		used[p] = true
		if piv != nil {
			piv[r] = p
		}
		lpp := math.Sqrt(d[p])
		for i := 0; i < K; i++ {
			if used[i] && i != p {
				L[i*K+r] = 0
				continue
			}
			if i == p {
				L[i*K+r] = lpp
				continue
			}
			a := q[i*K+p]
			for t := 0; t < r; t++ {
				a -= L[i*K+t] * L[p*K+t]
			}
			L[i*K+r] = a / lpp
			d[i] -= L[i*K+r] * L[i*K+r]
		}
	}
	return r
}
