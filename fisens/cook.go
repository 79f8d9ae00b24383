package fisens

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"
)

// MaxCookDim bounds the dimension of perturbations Cook accepts: the Hessian costs one extra
// second-order backward pass per direction.
const MaxCookDim = 256

// Perturbation names a low-dimensional perturbation of one example for Cook: either input
// values (indices into the flattened example, e.g. from PatchColumns) or one parameter group.
type Perturbation struct {
	InputCols []int  // perturbed input values, or nil
	Layer     string // perturbed layer (a ByScope group name, e.g. "/bn1"), or ""
	Form      Form   // Additive or Scaling
}

// CookResult is Cook's local influence of one perturbation, with FI of the same perturbation.
type CookResult struct {
	Curvature float64 // C_max, the maximal normal curvature of (ω, f(ω)) at ω0
	GradNorm  float64 // ‖∂f/∂ω‖
	P         int     // dimension of ω
	FI        Result  // FI of the same perturbation
}

// Cook computes Cook's (1986) local influence of a small perturbation at one example:
//
//	C_max = max |λ(G_f^{-1/2} H G_f^{-1/2})| / √(1 + ‖∇f‖²),  G_f = I + ∇f∇fᵀ,
//
// with H = Jᵀ (∂²f/∂z²) J + ∇²_ω(gᵀz) the Hessian of f (the second term by double
// backpropagation with g = ∂f/∂z held fixed; it vanishes for piecewise-linear networks).
func (a *Analyzer) Cook(b Batch, pert Perturbation, opt Options) (*CookResult, error) {
	K := a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	if b.N() != 1 {
		return nil, fmt.Errorf("fisens: Cook takes one example, got %d", b.N())
	}
	if (pert.InputCols == nil) == (pert.Layer == "") {
		return nil, fmt.Errorf("fisens: a Cook perturbation names input values or a layer (exactly one)")
	}
	if opt.Objective.Label == TrueLabel && b.Labels == nil {
		return nil, fmt.Errorf("fisens: objective %q needs the true label (Batch.Labels is nil)", opt.Objective)
	}
	var vars []*model.Variable
	p := len(pert.InputCols)
	if pert.Layer != "" {
		if a.clf.Store().NumVariables() == 0 {
			if _, err := a.Logits(b); err != nil {
				return nil, err
			}
		}
		layers, err := a.Layers(nil)
		if err != nil {
			return nil, err
		}
		sel, err := selectGroups(layers, []string{pert.Layer})
		if err != nil {
			return nil, err
		}
		for _, path := range sel[0].Vars {
			vars = append(vars, a.clf.Store().GetVariable(path))
		}
		p = sel[0].Params
	} else {
		P := b.perExample()
		for _, q := range pert.InputCols {
			if q < 0 || q >= P {
				return nil, fmt.Errorf("fisens: input index %d out of range [0, %d)", q, P)
			}
		}
	}
	if p == 0 || p > MaxCookDim {
		return nil, fmt.Errorf("fisens: Cook needs a perturbation of dimension 1..%d, got %d", MaxCookDim, p)
	}

	// First pass: the logits, to get g = ∂f/∂z for the double-backward term.
	z32, err := a.Logits(b)
	if err != nil {
		return nil, err
	}
	z := make([]float64, K)
	for k := range z {
		z[k] = float64(z32[k])
	}
	solver, err := NewSolver(z, b.label(0), opt)
	if err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	y := solver.base.Label
	g, Hz, err := objectiveDerivatives(z, y, opt)
	if err != nil {
		return nil, err
	}

	omega0 := make([]float32, p)
	if pert.Form == Scaling {
		for i := range omega0 {
			omega0[i] = 1
		}
	}
	gc := make([]float32, K)
	for k := range gc {
		gc[k] = float32(g[k])
	}
	cols := pert.InputCols
	form := pert.Form
	fn := func(scope *model.Scope, x, omega, c *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
		gr := x.Graph()
		// place maps a p-vector onto the positions [off, off+n) of a flat vector of size n via a
		// constant one-hot matrix (no Slice: its gradient needs Pad, missing on ONNX Runtime).
		place := func(w *graph.Node, off, n int) *graph.Node {
			sel := make([]float32, n*p)
			for i := 0; i < n; i++ {
				sel[i*p+off+i] = 1
			}
			return graph.MatMul(graph.Const(gr, tensors.FromFlatDataAndDimensions(sel, n, p)), graph.Reshape(w, p, 1))
		}
		var restore []func()
		if cols != nil {
			P := 1
			for _, d := range x.Shape().Dimensions[1:] {
				P *= d
			}
			sel := make([]float32, P*p)
			for i, q := range cols {
				sel[q*p+i] = 1
			}
			S := graph.Const(gr, tensors.FromFlatDataAndDimensions(sel, P, p))
			flat := graph.Reshape(x, 1, P)
			var delta *graph.Node
			if form == Scaling {
				zeta := graph.Reshape(graph.MatMul(flat, S), p) // ζ_S
				delta = graph.MatMul(S, graph.Reshape(graph.Mul(zeta, graph.AddScalar(omega, -1)), p, 1))
			} else {
				delta = graph.MatMul(S, graph.Reshape(omega, p, 1))
			}
			x = graph.Add(x, graph.Reshape(delta, x.Shape().Dimensions...))
		} else {
			off := 0
			for _, v := range vars {
				n := v.Shape().Size()
				orig := v.NodeValue(gr)
				seg := graph.Reshape(place(omega, off, n), v.Shape().Dimensions...)
				seg = graph.ConvertDType(seg, orig.DType())
				if form == Scaling {
					v.SetNodeValue(graph.Mul(orig, seg))
				} else {
					v.SetNodeValue(graph.Add(orig, seg))
				}
				restore = append(restore, func() { v.SetNodeValue(orig) })
				off += n
			}
		}
		logits := a.clf.Logits(scope, x)
		for _, r := range restore {
			r() // the variables are not outputs: the store keeps its values
		}
		rows := make([]*graph.Node, K)
		for k := 0; k < K; k++ {
			s := graph.ReduceAllSum(graph.Mul(logits, classMask(gr, logits.DType(), K, k)))
			rows[k] = graph.Gradient(s, omega)[0]
		}
		s := graph.ReduceAllSum(graph.Mul(logits, graph.ConvertDType(graph.ExpandLeftToRank(c, 2), logits.DType())))
		gs := graph.Gradient(s, omega)[0]
		hrows := make([]*graph.Node, p)
		for i := 0; i < p; i++ {
			e := make([]float32, p)
			e[i] = 1
			hrows[i] = graph.Gradient(graph.ReduceAllSum(graph.Mul(gs, graph.Const(gr, e))), omega)[0]
		}
		return logits, graph.Stack(rows, 0), graph.Stack(hrows, 0)
	}
	e, err := model.NewExec(a.backend, a.clf.Store(), fn)
	if err != nil {
		return nil, err
	}
	defer e.Finalize() // compiled for this perturbation only
	out, err := call(e, tensors.FromFlatDataAndDimensions(b.X, b.Shape...), omega0, gc)
	if err != nil {
		return nil, err
	}
	J := flat32(out[1]) // [K, p]
	T := flat32(out[2]) // [p, p]
	M := make([]float64, K*K)
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			var s float64
			for q := 0; q < p; q++ {
				s += float64(J[i*p+q]) * float64(J[j*p+q])
			}
			M[i*K+j] = s
		}
	}
	fi, err := solver.Solve(M)
	if err != nil {
		return nil, err
	}
	// ∇f = Jᵀ g; H = Jᵀ Hz J + T (symmetrised).
	grad := make([]float64, p)
	for q := 0; q < p; q++ {
		for k := 0; k < K; k++ {
			grad[q] += float64(J[k*p+q]) * g[k]
		}
	}
	H := mat.NewSymDense(p, nil)
	HzJ := make([]float64, K*p)
	for k := 0; k < K; k++ {
		for q := 0; q < p; q++ {
			for l := 0; l < K; l++ {
				HzJ[k*p+q] += Hz[k*K+l] * float64(J[l*p+q])
			}
		}
	}
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			var h float64
			for k := 0; k < K; k++ {
				h += float64(J[k*p+i]) * HzJ[k*p+j]
			}
			h += 0.5 * (float64(T[i*p+j]) + float64(T[j*p+i]))
			H.SetSym(i, j, h)
		}
	}
	c, gn := cookCurvature(H, grad)
	return &CookResult{Curvature: c, GradNorm: gn, P: p, FI: fi}, nil
}

// cookCurvature returns max |λ(G_f^{-1/2} H G_f^{-1/2})| / √(1 + ‖∇f‖²) and ‖∇f‖.
func cookCurvature(H *mat.SymDense, grad []float64) (float64, float64) {
	p := len(grad)
	var n2 float64
	for _, v := range grad {
		n2 += v * v
	}
	// G_f^{-1/2} = I + (1/√(1+‖∇f‖²) − 1) ∇f∇fᵀ/‖∇f‖².
	R := mat.NewDense(p, p, nil)
	for i := 0; i < p; i++ {
		R.Set(i, i, 1)
	}
	if n2 > 0 {
		coef := (1/math.Sqrt(1+n2) - 1) / n2
		for i := 0; i < p; i++ {
			for j := 0; j < p; j++ {
				R.Set(i, j, R.At(i, j)+coef*grad[i]*grad[j])
			}
		}
	}
	var RH, RHR mat.Dense
	RH.Mul(R, H)
	RHR.Mul(&RH, R)
	var eig mat.EigenSym
	eig.Factorize(symmetrize(&RHR), false)
	var lmax float64
	for _, v := range eig.Values(nil) {
		lmax = math.Max(lmax, math.Abs(v))
	}
	return lmax / math.Sqrt(1+n2), math.Sqrt(n2)
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

// objectiveDerivatives returns the gradient g = ∂f/∂z (K) and the Hessian ∂²f/∂z² (K × K,
// row-major) of the objective at the logits z for label y: with the logit Jacobian J of a
// perturbation, ∇_ω f = Jᵀg and ∇²_ω f = Jᵀ Hz J + Σ_k g_k ∇²_ω z_k (the sum vanishes where z is
// piecewise linear in ω).
func objectiveDerivatives(z []float64, y int, opt Options) (g, Hz []float64, err error) {
	pi, oneMinus, _ := Softmax(z)
	if g, err = opt.Objective.grad(z, pi, oneMinus, y); err != nil {
		return nil, nil, err
	}
	if Hz, err = opt.Objective.hess(z, pi, y); err != nil {
		return nil, nil, fmt.Errorf("fisens: %w", err)
	}
	return g, Hz, nil
}
