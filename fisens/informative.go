package fisens

import (
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"
)

// FisherSpectrum returns the eigenvalues of Q = W M Wᵀ (W = diag(√π)(I − 1πᵀ)), the non-zero
// spectrum of the Fisher metric G = Jᵀ(diag π − ππᵀ)J of a perturbation with Gram matrix M = J Jᵀ,
// in decreasing order (K values; the last is ≈ 0, Q's null direction √π). The rank decision of
// the exact FI keeps the eigen-directions above a relative threshold of the largest, so the ratio
// λ_{K−1}/λ_1 says how far a full-rank perturbation is from the cut.
func FisherSpectrum(M, z []float64) ([]float64, error) {
	K := len(z)
	if len(M) != K*K {
		return nil, fmt.Errorf("fisens: FisherSpectrum: Gram matrix of %d entries for K = %d", len(M), K)
	}
	pi, _, err := Softmax(z)
	if err != nil {
		return nil, err
	}
	W := mat.NewDense(K, K, nil)
	for i := 0; i < K; i++ {
		s := math.Sqrt(pi[i])
		for j := 0; j < K; j++ {
			v := -s * pi[j]
			if i == j {
				v += s
			}
			W.Set(i, j, v)
		}
	}
	var WM, Q mat.Dense
	WM.Mul(W, mat.NewDense(K, K, M))
	Q.Mul(&WM, W.T())
	var eig mat.EigenSym
	if !eig.Factorize(symmetrize(&Q), false) {
		return nil, fmt.Errorf("fisens: FisherSpectrum: eigen-decomposition failed")
	}
	vals := eig.Values(nil)
	sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
	return vals, nil
}

// CookFromJacobian is Cook's local influence (see Cook) of a perturbation under which the logits
// are piecewise linear — a ReLU network with max or average pooling and inference-mode batch norm,
// perturbed in its input or in the parameters of ONE layer: there the second term of the Hessian
// of f vanishes (almost everywhere) and H = Jᵀ (∂²f/∂z²) J, so the K × p logit Jacobian J
// (row-major) is all Cook needs. The FI of the same perturbation comes with it. Check the premise
// against Cook (double backpropagation) on a few perturbations of the model at hand.
func CookFromJacobian(J []float64, z []float64, label int, opt Options) (*CookResult, error) {
	K := len(z)
	if K == 0 || len(J)%K != 0 || len(J) == 0 {
		return nil, fmt.Errorf("fisens: CookFromJacobian: Jacobian of %d values for K = %d", len(J), K)
	}
	p := len(J) / K
	M := make([]float64, K*K)
	for i := 0; i < K; i++ {
		for j := i; j < K; j++ {
			var s float64
			for q := 0; q < p; q++ {
				s += J[i*p+q] * J[j*p+q]
			}
			M[i*K+j], M[j*K+i] = s, s
		}
	}
	solver, err := NewSolver(z, label, opt)
	if err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	fi, err := solver.Solve(M)
	if err != nil {
		return nil, err
	}
	y := solver.base.Label
	g, Hz, err := objectiveDerivatives(z, y, opt)
	if err != nil {
		return nil, err
	}
	grad := make([]float64, p)
	for q := 0; q < p; q++ {
		for k := 0; k < K; k++ {
			grad[q] += J[k*p+q] * g[k]
		}
	}
	HzJ := make([]float64, K*p)
	for k := 0; k < K; k++ {
		for l := 0; l < K; l++ {
			if Hz[k*K+l] == 0 {
				continue
			}
			for q := 0; q < p; q++ {
				HzJ[k*p+q] += Hz[k*K+l] * J[l*p+q]
			}
		}
	}
	H := mat.NewSymDense(p, nil)
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			var h float64
			for k := 0; k < K; k++ {
				h += J[k*p+i] * HzJ[k*p+j]
			}
			H.SetSym(i, j, h)
		}
	}
	c, gn := cookCurvature(H, grad)
	return &CookResult{Curvature: c, GradNorm: gn, P: p, FI: fi}, nil
}

// ChannelScaler gives, for one layer (a ByScope group), the logit Jacobian of the scaling
// perturbations of its output channels: ω_c multiplies every variable of the layer at index c of
// its last axis (a conv kernel's filter c and its bias, a dense layer's unit c, a batch norm's γ_c
// and β_c), i.e. scales channel c of the layer's output; each ω_c is a one-dimensional perturbation
// (p = 1 < K − 1), scaling form at ω0 = 1: ∂z/∂ω_c = Σ_{i ∈ channel c} θ_i ∂z/∂θ_i.
type ChannelScaler struct {
	a        *Analyzer
	Layer    Layer
	Channels int
	exec     *model.Exec
}

// NewChannelScaler prepares the channel-scaling Jacobian of the layer named layer (a ByScope group;
// build the model first, e.g. with Analyzer.Logits). All its variables must share the size of their
// last axis.
func NewChannelScaler(a *Analyzer, layer string) (*ChannelScaler, error) {
	a.mu.Lock()
	all, err := a.Layers(nil)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sel, err := selectGroups(all, []string{layer})
	if err != nil {
		return nil, err
	}
	l := sel[0]
	C := -1
	for _, path := range l.Vars {
		v := a.clf.Store().GetVariable(path)
		d := v.Shape().Dimensions
		if len(d) == 0 || (C >= 0 && d[len(d)-1] != C) {
			return nil, fmt.Errorf("fisens: layer %q: variable %s of shape %v has no channel axis shared with the others", layer, path, d)
		}
		C = d[len(d)-1]
	}
	K := a.clf.NumClasses()
	e, err := model.NewExec(a.backend, a.clf.Store(), func(scope *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
		logits := a.clf.Logits(scope, x)
		g := x.Graph()
		var nodes []*graph.Node
		for _, path := range l.Vars {
			nodes = append(nodes, scope.Store().GetVariable(path).NodeValue(g))
		}
		rows := make([]*graph.Node, K)
		for k := 0; k < K; k++ {
			s := graph.ReduceAllSum(graph.Mul(logits, classMask(g, logits.DType(), K, k)))
			grads := graph.Gradient(s, nodes...)
			var row *graph.Node
			for i, gr := range grads {
				t := graph.ReduceSum(graph.Reshape(graph.Mul(gr, nodes[i]), -1, C), 0)
				t = graph.ConvertDType(t, logits.DType())
				if row == nil {
					row = t
				} else {
					row = graph.Add(row, t)
				}
			}
			rows[k] = row
		}
		return logits, graph.Stack(rows, 0)
	})
	if err != nil {
		return nil, err
	}
	if err := a.track(e); err != nil { // freed by Analyzer.Close
		return nil, err
	}
	return &ChannelScaler{a: a, Layer: l, Channels: C, exec: e}, nil
}

// Jacobian returns the logits z and the K × C Jacobian ∂z/∂ω (row-major, float64) of one example.
func (s *ChannelScaler) Jacobian(b Batch) (z, J []float64, err error) {
	K := s.a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, nil, fmt.Errorf("fisens: %w", err)
	}
	if b.N() != 1 {
		return nil, nil, fmt.Errorf("fisens: ChannelScaler takes one example, got %d", b.N())
	}
	out, err := call(s.exec, tensors.FromFlatDataAndDimensions(b.X, b.Shape...))
	if err != nil {
		return nil, nil, err
	}
	z32, j32 := flat32(out[0]), flat32(out[1])
	if len(z32) != K || len(j32) != K*s.Channels {
		return nil, nil, fmt.Errorf("fisens: channel Jacobian of %d values, want %d", len(j32), K*s.Channels)
	}
	z, J = make([]float64, K), make([]float64, K*s.Channels)
	for k := range z {
		z[k] = float64(z32[k])
	}
	for i, v := range j32 {
		J[i] = float64(v)
	}
	return z, J, nil
}
