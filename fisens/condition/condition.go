package condition

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/hostargs"
	"github.com/fisens/fisens/models/ops"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"gonum.org/v1/gonum/mat"
)

// The condition-number estimator (SPEC C); the derivation is in the package documentation (doc.go).

// Weights are the kernels and biases of a net's layers (its conv, dense and batch-norm nodes, in
// node order), one entry per layer: row-major float32 values with the variables' shapes, after
// folding (a conv or dense node with a folded batch norm holds K·diag(a) and a ⊙ b + β′; a batch
// norm node holds its scale a [C] as the kernel and its shift β′ as the bias). Biases[l] is nil for
// a layer without bias.
type Weights struct {
	Kernels [][]float32
	Biases  [][]float32
}

// Clone returns a deep copy.
func (w Weights) Clone() Weights {
	c := Weights{Kernels: make([][]float32, len(w.Kernels)), Biases: make([][]float32, len(w.Biases))}
	for i, k := range w.Kernels {
		c.Kernels[i] = append([]float32(nil), k...)
	}
	for i, b := range w.Biases {
		if b != nil {
			c.Biases[i] = append([]float32(nil), b...)
		}
	}
	return c
}

// LayerNorm holds the norms of one layer (a conv, dense or batch-norm node).
type LayerNorm struct {
	Scope    string
	Kind     Op
	BN       string  // the batch norm folded into the layer ("" if none)
	Stride   int     // convolutions
	InShape  []int   // one example's input to the linear map ([H, W, Cin] or [in])
	OutShape []int   // one example's output of the linear map (before ReLU and pool)
	Params   int     // kernel entries (a batch norm: its C scales)
	Op       float64 // ‖A_l‖₂, the largest singular value of the linear map (after folding)
	AbsOp    float64 // ‖|A_l|‖₂, of the map with the entrywise absolute kernel (≥ Op)
	Bias     float64 // ‖b_l‖₂ (0 without bias)
	Iters    int     // power iterations used for Op (0: exact — SVD of a dense matrix, max |a| of a batch norm)
	// Pre is, for a conv or dense layer whose input is relu(diag(a)·x + β′) of a batch-norm layer
	// (possibly through average pools), ‖A_l·diag(a)‖₂ times the pools' Lipschitz constants: the
	// batch norm's scale carried across the ReLU (0: no such batch norm). PreLayer is that batch
	// norm's layer index (−1: none).
	Pre      float64
	PreLayer int
	// PreBranches holds, when that batch norm's input is a concatenation, ‖A_l·diag(a)‖₂ (times
	// the pools' constants) restricted to each concatenated part's channels, in the parts' order.
	PreBranches []float64
}

// NormOptions control the power iteration.
type NormOptions struct {
	Tol     float64 // stop when successive estimates differ by less than Tol relative; 0 → 1e-6
	MaxIter int     // at most this many iterations; 0 → 2000
	Seed    uint64  // seed of the start vector
}

func (o NormOptions) tol() float64 {
	if o.Tol > 0 {
		return o.Tol
	}
	return 1e-6
}

func (o NormOptions) maxIter() int {
	if o.MaxIter > 0 {
		return o.MaxIter
	}
	return 2000
}

// powerChunk is the number of power-iteration steps unrolled in one graph call.
const powerChunk = 10

// Estimator computes operator norms, per-layer condition numbers and perturbation bounds of a
// classifier described by a Net (or a Chain). It copies the classifier's weights when created:
// later changes to the classifier's variables are not seen. Safe for one goroutine at a time.
type Estimator struct {
	backend compute.Backend
	clf     fisens.Classifier
	net     Net
	scale   float64
	nodes   []nodeInfo
	layers  []int // node index of every layer
	outNode []int // per layer: the node whose norm is the layer's output (for κ_l)
	plan    *boundPlan
	weights Weights
	norms   []LayerNorm
	opt     NormOptions

	mu      sync.Mutex
	fwd     *graph.Exec
	fwdRnd  *graph.Exec
	gradIn  *graph.Exec
	gradW   *graph.Exec
	power   map[int]*graph.Exec
	checked float64
}

// NewEstimator is NewNetEstimator for a chain (chain.Net()).
func NewEstimator(b compute.Backend, clf fisens.Classifier, chain Chain, opt NormOptions) (*Estimator, error) {
	return NewNetEstimator(b, clf, chain.Net(), opt)
}

// NewNetEstimator resolves net against the classifier's variables (which must have values), folds
// the batch norms named by conv and dense nodes, checks that the net reproduces the classifier's
// logits on a seeded random probe batch, and computes every layer's operator norms: exact SVD for
// dense layers, max |a| for batch norms, power iteration with the convolution and its transpose
// (by automatic differentiation) for convolutions.
func NewNetEstimator(b compute.Backend, clf fisens.Classifier, net Net, opt NormOptions) (*Estimator, error) {
	e, err := checkedEstimator(b, clf, net, opt)
	if err != nil {
		return nil, err
	}
	if err := e.computeNorms(); err != nil {
		return nil, err
	}
	return e, nil
}

// CheckNet resolves net against the classifier's variables and checks, as NewNetEstimator does,
// that it reproduces the classifier's logits on a seeded random probe (opt.Seed), without computing
// any operator norm. It returns the largest |Δz| / max|z| found.
func CheckNet(b compute.Backend, clf fisens.Classifier, net Net, opt NormOptions) (float64, error) {
	e, err := checkedEstimator(b, clf, net, opt)
	if err != nil {
		return 0, err
	}
	return e.checked, nil
}

func checkedEstimator(b compute.Backend, clf fisens.Classifier, net Net, opt NormOptions) (*Estimator, error) {
	if b == nil {
		return nil, errors.New("condition: NewEstimator: nil backend")
	}
	if clf == nil || clf.Store() == nil {
		return nil, errors.New("condition: NewEstimator: nil classifier or classifier without a store")
	}
	e := &Estimator{backend: b, clf: clf, net: net, opt: opt, power: map[int]*graph.Exec{}}
	e.scale = net.InputScale
	if e.scale == 0 {
		e.scale = 1
	}
	if math.IsNaN(e.scale) || math.IsInf(e.scale, 0) || e.scale < 0 {
		return nil, fmt.Errorf("condition: net InputScale = %v, want a finite positive number (or 0 for 1)", net.InputScale)
	}
	if err := e.resolve(); err != nil {
		return nil, err
	}
	e.plan = e.makePlan()
	if err := e.checkAgainstClassifier(); err != nil {
		return nil, err
	}
	return e, nil
}

// NumLayers returns the number of layers L (conv, dense and batch-norm nodes).
func (e *Estimator) NumLayers() int { return len(e.layers) }

// Norms returns the layers' norms (shared; do not modify).
func (e *Estimator) Norms() []LayerNorm { return e.norms }

// Weights returns a copy of the net's (folded) weights as read from the classifier.
func (e *Estimator) Weights() Weights { return e.weights.Clone() }

// CheckedDiff returns the largest |Δz| / max|z| found when checking the net against the
// classifier on the random probe batch.
func (e *Estimator) CheckedDiff() float64 { return e.checked }

// Net returns the net the estimator describes.
func (e *Estimator) Net() Net { return e.net }

// Lipschitz returns the ℓ2 Lipschitz constant the bound uses for every node: ‖A_l‖₂ for a
// layer, 1 for ReLU and non-overlapping max pools, √c for overlapping max pools, the operator
// norm of average pools, 1/√(HW) for a global average pool, 1 for add and concat (per input).
func (e *Estimator) Lipschitz() []float64 {
	out := make([]float64, len(e.nodes))
	for i, ni := range e.nodes {
		out[i] = ni.lip
		if ni.layer >= 0 {
			out[i] = e.norms[ni.layer].Op
		}
	}
	return out
}

// ---- graphs ---------------------------------------------------------------------------------

// weightArgs returns the weights as tensors, in the order the graphs take them.
func (e *Estimator) weightArgs(w Weights) ([]any, error) {
	if len(w.Kernels) != len(e.layers) || len(w.Biases) != len(e.layers) {
		return nil, fmt.Errorf("condition: weights for %d kernels and %d biases, the net has %d layers", len(w.Kernels), len(w.Biases), len(e.layers))
	}
	var args []any
	for i, j := range e.layers {
		li := e.nodes[j]
		if n := numel(li.kdims); len(w.Kernels[i]) != n {
			return nil, fmt.Errorf("condition: layer %s: kernel has %d values, want %d %v", li.Scope, len(w.Kernels[i]), n, li.kdims)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(w.Kernels[i], li.kdims...))
		if li.hasBias {
			units := li.shape[len(li.shape)-1]
			if len(w.Biases[i]) != units {
				return nil, fmt.Errorf("condition: layer %s: bias has %d values, want %d", li.Scope, len(w.Biases[i]), units)
			}
			args = append(args, tensors.FromFlatDataAndDimensions(w.Biases[i], units))
		} else if w.Biases[i] != nil {
			return nil, fmt.Errorf("condition: layer %s has no bias, weights give %d bias values", li.Scope, len(w.Biases[i]))
		}
	}
	return args, nil
}

// linear applies layer li's linear map (without bias) to h [B, in...].
func linear(li nodeInfo, h, w *graph.Node) *graph.Node {
	switch li.Op {
	case OpConv:
		p := ops.Same
		if li.Padding == PadValid {
			p = ops.Valid
		}
		return ops.Convolve2D(h, w, max(li.stride, 1), p)
	case OpBatchNorm:
		return graph.Mul(h, graph.ExpandLeftToRank(w, h.Rank()))
	}
	if h.Rank() > 2 {
		h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
	}
	return graph.MatMul(h, w)
}

// pool applies a max or average pool node to h [B, H, W, C].
func pool(li nodeInfo, h *graph.Node) *graph.Node {
	if li.window == 2 && li.stride == 2 {
		if li.Op == OpMaxPool {
			return ops.MaxPool2(h)
		}
		return ops.AvgPool2(h)
	}
	if li.Op == OpMaxPool {
		return graph.MaxPool(h).Window(li.window).Strides(li.stride).NoPadding().Done()
	}
	return graph.MeanPool(h).Window(li.window).Strides(li.stride).NoPadding().Done()
}

// exampleNorm returns ‖h_b‖₂ per example: [B].
func exampleNorm(h *graph.Node) *graph.Node {
	axes := make([]int, h.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return graph.Sqrt(graph.ReduceSum(graph.Mul(h, h), axes...))
}

// roundTo rounds every entry of h to the significand precision given by sigma = 2^(24−b)+1
// (Veltkamp's splitting: c = σh, h' = c − (c − h) is h rounded to nearest with b significant bits,
// exact in IEEE float32 arithmetic).
func roundTo(h, sigma *graph.Node) *graph.Node {
	c := graph.Mul(h, sigma)
	return graph.Sub(c, graph.Sub(c, h))
}

// forward builds the net: x [B, H, W, C] → logits [B, K], per-example norms [B, L+1] of every
// layer's input x_l (l = 0 … L−1) and of z, and [B, L] of every layer's output (see outNode). With
// sigma non-nil the input of every layer is rounded (see roundTo).
func (e *Estimator) forward(x *graph.Node, w []*graph.Node, sigma *graph.Node) (z, norms, outNorms, x0Norm *graph.Node) {
	x0 := graph.MulScalar(x, e.scale)
	vals := make([]*graph.Node, len(e.nodes))
	get := func(j int) *graph.Node {
		if j < 0 {
			return x0
		}
		return vals[j]
	}
	inNorms := make([]*graph.Node, len(e.layers))
	wi := 0
	for i, ni := range e.nodes {
		h := get(ni.in[0])
		switch ni.Op {
		case OpConv, OpDense, OpBatchNorm:
			if sigma != nil {
				h = roundTo(h, sigma)
			}
			inNorms[ni.layer] = exampleNorm(h)
			h = linear(ni, h, w[wi])
			wi++
			if ni.hasBias {
				h = graph.Add(h, graph.ExpandLeftToRank(w[wi], h.Rank()))
				wi++
			}
		case OpReLU:
			h = graph.MaxScalar(h, 0.0)
		case OpMaxPool, OpAvgPool:
			h = pool(ni, h)
		case OpGlobalAvgPool:
			h = ops.GlobalAvgPool(h)
		case OpAdd:
			for _, j := range ni.in[1:] {
				h = graph.Add(h, get(j))
			}
		case OpConcat:
			parts := make([]*graph.Node, len(ni.in))
			for k, j := range ni.in {
				parts[k] = get(j)
			}
			h = graph.Concatenate(parts, -1)
		}
		vals[i] = h
	}
	z = vals[len(vals)-1]
	outs := make([]*graph.Node, len(e.layers))
	for l, j := range e.outNode {
		outs[l] = exampleNorm(vals[j])
	}
	return z, graph.Stack(append(inNorms, exampleNorm(z)), 1), graph.Stack(outs, 1), exampleNorm(x0)
}

func (e *Estimator) fwdExec(round bool) (*graph.Exec, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if round && e.fwdRnd != nil {
		return e.fwdRnd, nil
	}
	if !round && e.fwd != nil {
		return e.fwd, nil
	}
	ex, err := graph.NewExec(e.backend, func(in []*graph.Node) []*graph.Node {
		if round {
			z, n, o, n0 := e.forward(in[0], in[2:], in[1])
			return []*graph.Node{z, n, o, n0}
		}
		z, n, o, n0 := e.forward(in[0], in[1:], nil)
		return []*graph.Node{z, n, o, n0}
	})
	if err != nil {
		return nil, fmt.Errorf("condition: building the net's forward graph: %w", err)
	}
	if round {
		e.fwdRnd = ex
	} else {
		e.fwd = ex
	}
	return ex, nil
}

// callGraph runs a graph.Exec and converts panics into errors; it copies the outputs to host
// slices of float32 and frees the device buffers. The caller frees the arguments (hostargs.Free).
func callGraph(ex *graph.Exec, args ...any) (out [][]float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("condition: graph execution failed: %v", r)
		}
	}()
	wrapped, err := hostargs.Wrap(args)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	defer func() { // the tensors made here from Go values
		for i, a := range args {
			if _, ok := a.(*tensors.Tensor); !ok {
				hostargs.Free(wrapped[i])
			}
		}
	}()
	res, err := ex.Call(wrapped...)
	if err != nil {
		return nil, fmt.Errorf("condition: graph execution failed: %w", err)
	}
	for _, t := range res {
		out = append(out, tensors.MustCopyFlatData[float32](t))
		t.MustFinalizeAll()
	}
	return out, nil
}

// ---- forward passes ---------------------------------------------------------------------------

// Forward is the net's output for a batch.
type Forward struct {
	N, K   int
	Logits []float32 // [N, K]
	// Norms holds, per example, ‖x_0‖ … ‖x_{L−1}‖ and ‖z‖ ([N, L+1]); x_l is the input of layer l
	// (x_0 of a chain: the scaled image), z the logits.
	Norms []float64
	// OutNorms holds, per example, the norm of every layer's output ([N, L]): after the ReLU and
	// max pool that follow the layer alone (for a chain: x_{l+1}, or z).
	OutNorms []float64
	// InputNorms holds ‖x_0‖ = ‖s·x‖ per example ([N]; for a chain, Norms' first column).
	InputNorms []float64
}

// Norm returns ‖x_l‖ of example n (l = L: the logits).
func (f *Forward) Norm(n, l int) float64 {
	L1 := len(f.Norms) / f.N
	return f.Norms[n*L1+l]
}

// Row returns example n's norms: of the net's input x_0, of the layers' inputs and z, and of
// the layers' outputs (the arguments of ConditionFromNorms).
func (f *Forward) Row(n int) (x0 float64, in, out []float64) {
	L1 := len(f.Norms) / f.N
	L := len(f.OutNorms) / f.N
	return f.InputNorms[n], f.Norms[n*L1 : (n+1)*L1], f.OutNorms[n*L : (n+1)*L]
}

// Run evaluates the net on a batch with weights w (use Weights() for the classifier's own, or a
// perturbed copy). bits > 0 rounds the input of every layer (the scaled input and every hidden
// activation that enters a conv, dense or batch-norm layer, not the logits) to a significand of
// bits bits (unit round-off 2^−bits); bits ≤ 0 or ≥ 24 computes in plain float32.
func (e *Estimator) Run(b fisens.Batch, w Weights, bits int) (*Forward, error) {
	K := e.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	if err := e.checkBatchShape(b); err != nil {
		return nil, err
	}
	wargs, err := e.weightArgs(w)
	if err != nil {
		return nil, err
	}
	round := bits > 0 && bits < 24
	ex, err := e.fwdExec(round)
	if err != nil {
		return nil, err
	}
	args := []any{tensors.FromFlatDataAndDimensions(b.X, b.Shape...)}
	defer hostargs.Free(args[0])
	defer hostargs.Free(wargs...)
	if round {
		args = append(args, float32(math.Ldexp(1, 24-bits)+1))
	}
	out, err := callGraph(ex, append(args, wargs...)...)
	if err != nil {
		return nil, err
	}
	f := &Forward{N: b.N(), K: K, Logits: out[0], Norms: make([]float64, len(out[1])), OutNorms: make([]float64, len(out[2])), InputNorms: make([]float64, len(out[3]))}
	for i, v := range out[1] {
		f.Norms[i] = float64(v)
	}
	for i, v := range out[2] {
		f.OutNorms[i] = float64(v)
	}
	for i, v := range out[3] {
		f.InputNorms[i] = float64(v)
	}
	return f, nil
}

func (e *Estimator) checkBatchShape(b fisens.Batch) error {
	in := e.net.Input
	if len(b.Shape) != 4 || b.Shape[1] != in[0] || b.Shape[2] != in[1] || b.Shape[3] != in[2] {
		return fmt.Errorf("condition: batch shape %v, the net takes [N, %d, %d, %d]", b.Shape, in[0], in[1], in[2])
	}
	return nil
}

// checkAgainstClassifier compares the net's logits with the classifier's on a random probe.
func (e *Estimator) checkAgainstClassifier() error {
	const n = 4
	rng := rand.New(rand.NewPCG(e.opt.Seed, 0x5eed))
	in := e.net.Input
	hi := e.net.ProbeMax
	if hi <= 0 {
		hi = 1 / e.scale
	}
	x := make([]float32, n*in[0]*in[1]*in[2])
	for i := range x {
		x[i] = float32(rng.Float64() * hi) // inputs in [0, ProbeMax), e.g. pixel values 0..255
	}
	b := fisens.Batch{X: x, Shape: []int{n, in[0], in[1], in[2]}}
	d, err := e.Check(b)
	if err != nil {
		return err
	}
	e.checked = d
	return nil
}

// Check compares the net's logits with the classifier's on a batch and returns the largest
// |Δz| / max|z|; it fails if they differ by more than 1e-3 relative (plus 1e-5), i.e. if the Net
// does not describe the classifier.
func (e *Estimator) Check(b fisens.Batch) (float64, error) {
	an, err := fisens.NewAnalyzer(e.backend, e.clf)
	if err != nil {
		return 0, err
	}
	want, err := an.Logits(b)
	if err != nil {
		return 0, fmt.Errorf("condition: checking the net: classifier logits: %w", err)
	}
	got, err := e.Run(b, e.weights, 0)
	if err != nil {
		return 0, fmt.Errorf("condition: checking the net: %w", err)
	}
	var maxAbs, maxDiff float64
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(want[i]-got.Logits[i])))
	}
	if math.IsNaN(maxDiff) || maxDiff > 1e-3*maxAbs+1e-5 {
		return 0, fmt.Errorf("condition: the net does not describe the classifier: its logits differ by up to %.3g (largest |z| %.3g) on a random probe; check the nodes, paddings, strides, ReLUs, pools, batch norms and InputScale",
			maxDiff, maxAbs)
	}
	return maxDiff / math.Max(maxAbs, 1e-30), nil
}

// ---- operator norms ---------------------------------------------------------------------------

func (e *Estimator) computeNorms() error {
	e.norms = make([]LayerNorm, len(e.layers))
	for i, j := range e.layers {
		li := e.nodes[j]
		k := e.weights.Kernels[i]
		abs := make([]float32, len(k))
		for j, v := range k {
			abs[j] = float32(math.Abs(float64(v)))
		}
		op, it, err := e.opNorm(i, k)
		if err != nil {
			return err
		}
		absOp, _, err := e.opNorm(i, abs)
		if err != nil {
			return err
		}
		e.norms[i] = LayerNorm{Scope: li.Scope, Kind: li.Op, BN: li.BN, Stride: li.stride, InShape: li.inShape, OutShape: li.shape, Params: len(k),
			Op: op, AbsOp: math.Max(absOp, op), Bias: Norm(e.weights.Biases[i]), Iters: it, PreLayer: -1}
		if li.pre >= 0 {
			pre, _, err := e.opNorm(i, e.preScaledKernel(j, k, 0, 0))
			if err != nil {
				return err
			}
			e.norms[i].Pre, e.norms[i].PreLayer = pre*li.preLip, e.nodes[li.pre].layer
			for _, br := range li.preBranches {
				nb, _, err := e.opNorm(i, e.preScaledKernel(j, k, br.off, br.off+br.cnt))
				if err != nil {
					return err
				}
				e.norms[i].PreBranches = append(e.norms[i].PreBranches, nb*li.preLip)
			}
		}
	}
	return nil
}

// OpNorm returns the operator norm ‖A‖₂ of layer l's linear map with the given kernel values (e.g.
// a kernel perturbation ΔK, to measure ‖ΔA_l‖₂): exact SVD for dense layers, max |a| for a batch
// norm, power iteration for convolutions.
func (e *Estimator) OpNorm(l int, kernel []float32) (float64, error) {
	if l < 0 || l >= len(e.layers) {
		return 0, fmt.Errorf("condition: OpNorm: layer %d out of range [0, %d)", l, len(e.layers))
	}
	if len(kernel) != len(e.weights.Kernels[l]) {
		return 0, fmt.Errorf("condition: OpNorm: layer %s: kernel has %d values, want %d", e.nodes[e.layers[l]].Scope, len(kernel), len(e.weights.Kernels[l]))
	}
	op, _, err := e.opNorm(l, kernel)
	return op, err
}

func (e *Estimator) opNorm(l int, kernel []float32) (float64, int, error) {
	li := e.nodes[e.layers[l]]
	switch li.Op {
	case OpDense:
		s, err := DenseOpNorm(kernel, li.kdims[0], li.kdims[1])
		return s, 0, err
	case OpBatchNorm:
		m := 0.0
		for _, v := range kernel {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return 0, 0, fmt.Errorf("condition: layer %s: scale %v", li.Scope, v)
			}
			m = math.Max(m, math.Abs(float64(v)))
		}
		return m, 0, nil
	}
	e.mu.Lock()
	ex, ok := e.power[l]
	if !ok {
		var err error
		ex, err = powerExec(e.backend, li)
		if err != nil {
			e.mu.Unlock()
			return 0, 0, err
		}
		e.power[l] = ex
	}
	e.mu.Unlock()
	s, it, err := powerIterate(ex, kernel, li, e.opt)
	if err != nil {
		return 0, 0, fmt.Errorf("condition: layer %s: %w", li.Scope, err)
	}
	return s, it, nil
}

// DenseOpNorm returns the largest singular value of the rows × cols matrix w (row-major), by
// gonum's SVD in float64.
func DenseOpNorm(w []float32, rows, cols int) (float64, error) {
	if rows <= 0 || cols <= 0 || len(w) != rows*cols {
		return 0, fmt.Errorf("condition: DenseOpNorm: %d values for a %d × %d matrix", len(w), rows, cols)
	}
	d := make([]float64, len(w))
	allZero := true
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("condition: DenseOpNorm: entry %d is %v", i, v)
		}
		d[i] = float64(v)
		allZero = allZero && v == 0
	}
	if allZero {
		return 0, nil
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, d), mat.SVDNone) {
		return 0, fmt.Errorf("condition: DenseOpNorm: the SVD of the %d × %d matrix did not converge", rows, cols)
	}
	return svd.Values(nil)[0], nil
}

// ConvOpNorm returns, by power iteration, the operator norm of the stride-1 convolution with kernel
// [k, k, Cin, Cout] (row-major values) on inputs of shape in = [H, W, Cin] with the given padding.
func ConvOpNorm(b compute.Backend, kernel []float32, kdims []int, in []int, padding ChainPadding, opt NormOptions) (float64, int, error) {
	return StridedConvOpNorm(b, kernel, kdims, in, 1, padding, opt)
}

// StridedConvOpNorm is ConvOpNorm for a convolution of stride 1 or 2 as models/ops computes it
// (ops.Convolve2D: TensorFlow's output size and phase).
func StridedConvOpNorm(b compute.Backend, kernel []float32, kdims []int, in []int, stride int, padding ChainPadding, opt NormOptions) (float64, int, error) {
	if b == nil {
		return 0, 0, errors.New("condition: ConvOpNorm: nil backend")
	}
	if len(kdims) != 4 || kdims[0] != kdims[1] || kdims[0]%2 == 0 || len(in) != 3 || in[2] != kdims[2] || stride < 1 || stride > 2 {
		return 0, 0, fmt.Errorf("condition: ConvOpNorm: kernel %v, input %v, stride %d: want [k, k, Cin, Cout] with odd k, [H, W, Cin] and stride 1 or 2", kdims, in, stride)
	}
	if len(kernel) != numel(kdims) {
		return 0, 0, fmt.Errorf("condition: ConvOpNorm: kernel has %d values, shape %v", len(kernel), kdims)
	}
	li := nodeInfo{NetNode: NetNode{Op: OpConv, Padding: padding}, kdims: kdims, stride: stride, inShape: in}
	ex, err := powerExec(b, li)
	if err != nil {
		return 0, 0, err
	}
	return powerIterate(ex, kernel, li, opt)
}

// DenseOpNormPower is DenseOpNorm by power iteration on backend b (for tests and comparison).
func DenseOpNormPower(b compute.Backend, w []float32, rows, cols int, opt NormOptions) (float64, int, error) {
	if b == nil {
		return 0, 0, errors.New("condition: DenseOpNormPower: nil backend")
	}
	if rows <= 0 || cols <= 0 || len(w) != rows*cols {
		return 0, 0, fmt.Errorf("condition: DenseOpNormPower: %d values for a %d × %d matrix", len(w), rows, cols)
	}
	li := nodeInfo{NetNode: NetNode{Op: OpDense}, kdims: []int{rows, cols}, inShape: []int{rows}}
	ex, err := powerExec(b, li)
	if err != nil {
		return 0, 0, err
	}
	return powerIterate(ex, w, li, opt)
}

// PoolOpNormPower returns, by power iteration on backend b, the operator norm of a window × window
// average pool with the given stride ('valid') on [h, w, c] inputs, computed by the same graph ops
// as the estimator's forward pass (for tests of AvgPoolOpNorm).
func PoolOpNormPower(b compute.Backend, h, w, c, window, stride int, opt NormOptions) (float64, int, error) {
	if b == nil {
		return 0, 0, errors.New("condition: PoolOpNormPower: nil backend")
	}
	li := nodeInfo{NetNode: NetNode{Op: OpAvgPool}, window: window, stride: stride, inShape: []int{h, w, c}, kdims: []int{1}}
	ex, err := powerExec(b, li)
	if err != nil {
		return 0, 0, err
	}
	return powerIterate(ex, []float32{1}, li, opt)
}

// powerExec builds powerChunk steps of the power iteration v ← AᵀAv/‖AᵀAv‖ for the linear map of
// li, with Aᵀ obtained by automatic differentiation (AᵀA v = ∇_v ½‖Av‖²). Inputs: v [1, in...] and
// the kernel; outputs: the new unit v and ‖Av‖ for it (a lower bound of ‖A‖ that increases to it).
func powerExec(b compute.Backend, li nodeInfo) (*graph.Exec, error) {
	apply := func(v, w *graph.Node) *graph.Node {
		if li.Op == OpAvgPool {
			return graph.Mul(pool(li, v), graph.ReduceAllSum(w)) // w = [1]: the pool itself
		}
		return linear(li, v, w)
	}
	return graph.NewExec(b, func(v, w *graph.Node) (*graph.Node, *graph.Node) {
		for range powerChunk {
			u := apply(v, w)
			g := graph.Gradient(graph.MulScalar(graph.ReduceAllSum(graph.Mul(u, u)), 0.5), v)[0]
			n := graph.Sqrt(graph.ReduceAllSum(graph.Mul(g, g)))
			v = graph.Div(g, graph.MaxScalar(n, 1e-30))
		}
		u := apply(v, w)
		return v, graph.Sqrt(graph.ReduceAllSum(graph.Mul(u, u)))
	})
}

func powerIterate(ex *graph.Exec, kernel []float32, li nodeInfo, opt NormOptions) (sigma float64, iters int, err error) {
	allZero := true
	for _, v := range kernel {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, 0, fmt.Errorf("power iteration: kernel has a non-finite entry %v", v)
		}
		allZero = allZero && v == 0
	}
	if allZero {
		return 0, 0, nil
	}
	n := numel(li.inShape)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9077e1))
	v := make([]float32, n)
	var s float64
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(x)
		s += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	vdims := append([]int{1}, li.inShape...)
	kt := tensors.FromFlatDataAndDimensions(kernel, li.kdims...)
	defer hostargs.Free(kt)
	prev := 0.0
	for iters < opt.maxIter() {
		vt := tensors.FromFlatDataAndDimensions(v, vdims...)
		out, err := callGraph(ex, vt, kt)
		hostargs.Free(vt)
		if err != nil {
			return 0, iters, err
		}
		iters += powerChunk
		v = out[0]
		sigma = float64(out[1][0])
		if math.IsNaN(sigma) {
			return 0, iters, errors.New("power iteration produced NaN")
		}
		if math.Abs(sigma-prev) <= opt.tol()*sigma {
			break
		}
		prev = sigma
	}
	return sigma, iters, nil
}

// ---- condition numbers and bounds ---------------------------------------------------------------

// boundPlan is the net as the bound's recursion sees it: per node its kind, inputs, layer and
// Lipschitz constant.
type boundPlan struct {
	steps []planStep
}

type planStep struct {
	kind  int // stepLayer, stepLip, stepAdd, stepConcat
	in    []int
	layer int
	lip   float64
	// pre, preLip: the batch-norm node before the ReLU before this layer (−1: none) and the
	// Lipschitz constant of the pools between that ReLU and the layer.
	pre    int
	preLip float64
	// branches: the nodes of the concatenated parts that batch norm normalises (nil: no concatenation).
	branches []int
}

const (
	stepLayer = iota
	stepLip
	stepAdd
	stepConcat
)

func (e *Estimator) makePlan() *boundPlan {
	p := &boundPlan{steps: make([]planStep, len(e.nodes))}
	for i, ni := range e.nodes {
		s := planStep{in: ni.in, layer: ni.layer, lip: ni.lip, pre: -1, preLip: 1}
		if ni.layer >= 0 && ni.pre >= 0 {
			s.pre, s.preLip = ni.pre, ni.preLip
			for _, br := range ni.preBranches {
				s.branches = append(s.branches, br.node)
			}
		}
		switch {
		case ni.layer >= 0:
			s.kind = stepLayer
		case ni.Op == OpAdd:
			s.kind = stepAdd
		case ni.Op == OpConcat:
			s.kind = stepConcat
		default:
			s.kind = stepLip
		}
		p.steps[i] = s
	}
	return p
}

// Condition holds one example's per-layer quantities and relative condition numbers. Layers are
// the net's conv, dense and batch-norm nodes in node order (for a chain: layer i maps x_i to
// x_{i+1} = pool(relu(A_i x_i + b_i)), x_0 is the scaled input and x_L = z the logits).
type Condition struct {
	X0    float64   // ‖x_0‖ = ‖s·x‖, the net's (scaled) input
	Op    []float64 // ‖A_i‖₂
	AbsOp []float64 // ‖|A_i|‖₂
	BiasN []float64 // ‖b_i‖₂
	Pre   []float64 // LayerNorm.Pre: ‖A_i·diag(a)‖₂ for a layer after ReLU ← batch norm (0: none)
	// PreBranches: LayerNorm.PreBranches, per concatenated part (nil: none)
	PreBranches [][]float64
	Norms       []float64 // ‖x_0‖ … ‖x_{L−1}‖ (the layers' inputs), ‖z‖ (L+1 values)
	Out         []float64 // ‖y_i‖, the layers' outputs after the ReLU and max pool that follow them alone (chain: ‖x_{i+1}‖)
	// Layer[i] = κ_i = ‖A_i‖‖x_i‖/‖y_i‖: the relative condition number of layer i (it bounds the
	// relative change of the layer's output per relative change of its input, or of A_i).
	Layer []float64
	// Input = κ_in: the bound's relative logit change per relative input change (the exact
	// recursion with only an input perturbation is linear in its size). Chain: Π_i κ_i = Π_i ‖A_i‖ · ‖x_0‖/‖z‖.
	Input float64
	// Weight[i] = κ_W,i: relative logit change per relative (operator-norm) change of A_i, and also
	// per relative rounding of the layer input x_i. Chain: Π_{m≥i} κ_m = Π_{m≥i}‖A_m‖ · ‖x_i‖/‖z‖.
	Weight []float64
	// Tail[i]: relative logit change per unit of ‖Δb_i‖ (absolute). Chain: Π_{m>i}‖A_m‖ / ‖z‖.
	Tail []float64

	plan *boundPlan
}

// BiasCond returns κ_b,i = ‖b_i‖·Tail[i], the relative logit change per relative change of b_i.
func (c Condition) BiasCond(i int) float64 { return c.BiasN[i] * c.Tail[i] }

// Conditions computes every example's Condition with the classifier's weights.
func (e *Estimator) Conditions(b fisens.Batch) ([]Condition, error) {
	f, err := e.Run(b, e.weights, 0)
	if err != nil {
		return nil, err
	}
	return e.ConditionsOf(f), nil
}

// ConditionsOf returns the Condition of every example of a forward pass with the classifier's
// weights.
func (e *Estimator) ConditionsOf(f *Forward) []Condition {
	out := make([]Condition, f.N)
	for n := range out {
		out[n] = e.ConditionFromNorms(f.Row(n))
	}
	return out
}

// ConditionFromNorms builds a Condition from the norm of the net's input x_0 and the norms of the
// layers' inputs ‖x_0‖ … ‖x_{L−1}‖, ‖z‖ and outputs (Forward.Row of one example).
func (e *Estimator) ConditionFromNorms(x0 float64, norms, out []float64) Condition {
	L := len(e.layers)
	c := Condition{X0: x0, Op: make([]float64, L), AbsOp: make([]float64, L), BiasN: make([]float64, L), Pre: make([]float64, L),
		Norms: append([]float64(nil), norms...), Out: append([]float64(nil), out...), Layer: make([]float64, L),
		Weight: make([]float64, L), Tail: make([]float64, L), plan: e.plan}
	for i, ln := range e.norms {
		c.Op[i], c.AbsOp[i], c.BiasN[i], c.Pre[i] = ln.Op, ln.AbsOp, ln.Bias, ln.Pre
		if ln.PreBranches != nil {
			if c.PreBranches == nil {
				c.PreBranches = make([][]float64, L)
			}
			c.PreBranches[i] = ln.PreBranches
		}
		c.Layer[i] = ln.Op * norms[i] / out[i]
	}
	c.Input = c.Bound(PerturbSizes{Input: 1})
	unit := make([]float64, L)
	for i := 0; i < L; i++ {
		unit[i] = 1
		c.Weight[i] = c.Bound(PerturbSizes{Weight: unit})
		c.Tail[i] = c.Bound(PerturbSizes{Bias: unit})
		unit[i] = 0
	}
	return c
}

// PerturbSizes gives the sizes of a simultaneous perturbation of a net.
type PerturbSizes struct {
	Input  float64   // ‖Δx‖/‖x‖ (relative; the same for the raw and the scaled input)
	Weight []float64 // per layer ε_l = ‖ΔA_l‖₂/‖A_l‖₂ (nil: none)
	Bias   []float64 // per layer ‖Δb_l‖₂ (absolute; nil: none)
	// Round is the relative error u of rounding the input of every layer: ‖r(v) − v‖ ≤ u‖v‖
	// (rounding to b significant bits: u = 2^−b).
	Round float64
}

// Bound returns an upper bound of ‖Δz‖/‖z‖ for a perturbation of the given sizes, from the exact
// (not first-order) recursion of the package documentation over the net's nodes. It holds for
// perturbations of any size.
func (c Condition) Bound(p PerturbSizes) float64 {
	u := p.Round
	eIn := p.Input * c.X0 // ‖x̃_0 − x_0‖ (‖s·δ‖/‖s·x‖ = ‖δ‖/‖x‖)
	if c.plan == nil {
		return math.NaN()
	}
	e := make([]float64, len(c.plan.steps))
	ehat := make([]float64, len(c.plan.steps)) // layers: the error of the (rounded) input
	get := func(j int) float64 {
		if j < 0 {
			return eIn
		}
		return e[j]
	}
	for i, s := range c.plan.steps {
		switch s.kind {
		case stepLayer:
			l := s.layer
			eps, beta := 0.0, 0.0
			if p.Weight != nil {
				eps = p.Weight[l]
			}
			if p.Bias != nil {
				beta = p.Bias[l]
			}
			din := get(s.in[0])
			ein := din
			if u > 0 {
				ein += u * (c.Norms[l] + ein) // rounding of the layer's input
			}
			ehat[i] = ein
			e[i] = (1+eps)*c.Op[l]*ein + eps*c.Op[l]*c.Norms[l] + beta
			if s.pre >= 0 && c.Pre[l] > 0 {
				// The batch norm B (scale a, max|a| = A) before the ReLU carried across it:
				// W̃ P D ã⊙Δ with D the ReLU's secant (diagonal, entries in [0, 1]) and P the pools.
				lb := c.plan.steps[s.pre].layer
				epsB, betaB := 0.0, 0.0
				if p.Weight != nil {
					epsB = p.Weight[lb]
				}
				if p.Bias != nil {
					betaB = p.Bias[lb]
				}
				A, q := c.Op[lb], s.preLip
				prop := c.Pre[l] * ehat[s.pre]
				if len(s.branches) > 0 && c.PreBranches != nil && len(c.PreBranches[l]) == len(s.branches) {
					// per concatenated part j: ‖Σ_j M_j Δ_j‖ ≤ Σ_j ‖M_j‖ ‖Δ_j‖, with the rounding of
					// B's input ‖r(x̃_j) − x_j‖ ≤ e_j + u(‖x_B‖ + e_j)
					alt := 0.0
					for k, j := range s.branches {
						ej := get(j)
						alt += c.PreBranches[l][k] * (ej + u*(c.Norms[lb]+ej))
					}
					prop = math.Min(prop, alt)
				}
				sharp := prop + c.Op[l]*q*A*(eps*(1+epsB)+epsB)*ehat[s.pre] +
					(1+eps)*c.Op[l]*(q*(epsB*A*c.Norms[lb]+betaB)+u*(c.Norms[l]+din)) + eps*c.Op[l]*c.Norms[l] + beta
				e[i] = math.Min(e[i], sharp)
			}
		case stepAdd:
			for _, j := range s.in {
				e[i] += get(j)
			}
		case stepConcat:
			for _, j := range s.in {
				e[i] += get(j) * get(j)
			}
			e[i] = math.Sqrt(e[i])
		default:
			e[i] = s.lip * get(s.in[0])
		}
	}
	return e[len(e)-1] / c.Norms[len(c.Norms)-1]
}

// FirstOrder returns the first-order part of Bound, or (nets with concatenations) an upper bound
// of it: FirstOrder(p) = κ_in·δ + Σ_i (κ_W,i·ε_i + Tail_i·‖Δb_i‖ + κ_W,i·u) ≥ Bound(p) − O(size²).
// For a chain, Bound(p) = FirstOrder(p) + O(size²).
func (c Condition) FirstOrder(p PerturbSizes) float64 {
	s := p.Input * c.Input
	for i := range c.Op {
		if p.Weight != nil {
			s += p.Weight[i] * c.Weight[i]
		}
		if p.Bias != nil {
			s += p.Bias[i] * c.Tail[i]
		}
		s += p.Round * c.Weight[i]
	}
	return s
}

// RoundingPerturbation returns the perturbation sizes of rounding to b significant bits
// (u = 2^−b): the (folded) kernels entrywise (|ΔK| ≤ u|K| ⇒ ‖ΔA_l‖ ≤ u‖|A_l|‖, so
// ε_l = u‖|A_l|‖/‖A_l‖), the biases (‖Δb_l‖ ≤ u‖b_l‖) if weights, and every layer's input if
// activations. It models an ideal b-bit arithmetic for any b ≥ 1 (b > 24 is finer than the float32
// reference: useful for predictions, not measurable with float32).
func (e *Estimator) RoundingPerturbation(bits int, weights, activations bool) PerturbSizes {
	u := math.Ldexp(1, -bits)
	var p PerturbSizes
	if weights {
		L := len(e.layers)
		p.Weight = make([]float64, L)
		p.Bias = make([]float64, L)
		for l, ln := range e.norms {
			if ln.Op > 0 {
				p.Weight[l] = u * ln.AbsOp / ln.Op
			}
			p.Bias[l] = u * ln.Bias
		}
	}
	if activations {
		p.Round = u
	}
	return p
}

// PredictBits returns the smallest b in [1, maxBits] whose rounding bound (RoundingPerturbation)
// stays at or below tol for the given quantile q ∈ (0, 1] of the examples' bounds (q = 1: every
// example), or maxBits+1 if none does; and, for b = 1 … maxBits, that quantile of the bound.
func (e *Estimator) PredictBits(conds []Condition, tol float64, weights, activations bool, q float64, maxBits int) (int, []float64, error) {
	if len(conds) == 0 {
		return 0, nil, errors.New("condition: PredictBits: no conditions")
	}
	if !(tol > 0) || !(q > 0 && q <= 1) || maxBits < 1 {
		return 0, nil, fmt.Errorf("condition: PredictBits: tol = %v, q = %v, maxBits = %d: want tol > 0, 0 < q ≤ 1, maxBits ≥ 1", tol, q, maxBits)
	}
	best := maxBits + 1
	curve := make([]float64, maxBits)
	vals := make([]float64, len(conds))
	for bits := maxBits; bits >= 1; bits-- {
		p := e.RoundingPerturbation(bits, weights, activations)
		for i, c := range conds {
			vals[i] = c.Bound(p)
		}
		curve[bits-1] = quantileOf(vals, q)
	}
	for bits := 1; bits <= maxBits; bits++ {
		if curve[bits-1] <= tol {
			best = bits
			break
		}
	}
	return best, curve, nil
}

// quantileOf returns the q-quantile (nearest rank, q = 1: the maximum) of v (v is reordered).
func quantileOf(v []float64, q float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// RoundSignificand rounds every entry of v in place to the nearest float with a bits-bit significand
// (ties to even), so that |r(x) − x| ≤ 2^−bits |x|; bits ≥ 24 leaves float32 values unchanged.
func RoundSignificand(v []float32, bits int) error {
	if bits < 1 {
		return fmt.Errorf("condition: RoundSignificand: bits = %d, want ≥ 1", bits)
	}
	if bits >= 24 {
		return nil
	}
	scale := math.Ldexp(1, bits)
	for i, x := range v {
		f := float64(x)
		if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		m, ex := math.Frexp(f) // |m| ∈ [0.5, 1)
		v[i] = float32(math.Ldexp(math.RoundToEven(m*scale)/scale, ex))
	}
	return nil
}

// RoundWeights returns a copy of w with every kernel and bias entry rounded to bits significant bits.
func RoundWeights(w Weights, bits int) (Weights, error) {
	c := w.Clone()
	for _, k := range c.Kernels {
		if err := RoundSignificand(k, bits); err != nil {
			return Weights{}, err
		}
	}
	for _, b := range c.Biases {
		if err := RoundSignificand(b, bits); err != nil {
			return Weights{}, err
		}
	}
	return c, nil
}

// ---- gradient attacks -------------------------------------------------------------------------

// attackObjectives adds to the graph, for logits z [B, K], the two attack objectives summed over
// the batch: the cross-entropy of the one-hot target (FGSM) and ‖z − z0‖² (PGD).
func attackObjectives(z, z0, onehot *graph.Node) (ce, dist *graph.Node) {
	ce = graph.Neg(graph.ReduceAllSum(graph.Mul(graph.LogSoftmax(z), onehot)))
	d := graph.Sub(z, z0)
	dist = graph.ReduceAllSum(graph.Mul(d, d))
	return ce, dist
}

func (e *Estimator) inputGradExec() (*graph.Exec, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gradIn != nil {
		return e.gradIn, nil
	}
	ex, err := graph.NewExec(e.backend, func(in []*graph.Node) []*graph.Node {
		x, z0, onehot := in[0], in[1], in[2]
		z, _, _, _ := e.forward(x, in[3:], nil)
		ce, dist := attackObjectives(z, z0, onehot)
		return []*graph.Node{z, graph.Gradient(ce, x)[0], graph.Gradient(dist, x)[0]}
	})
	if err != nil {
		return nil, err
	}
	e.gradIn = ex
	return ex, nil
}

func (e *Estimator) weightGradExec() (*graph.Exec, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gradW != nil {
		return e.gradW, nil
	}
	ex, err := graph.NewExec(e.backend, func(in []*graph.Node) []*graph.Node {
		x, z0, onehot := in[0], in[1], in[2]
		w := in[3:]
		z, _, _, _ := e.forward(x, w, nil)
		ce, dist := attackObjectives(z, z0, onehot)
		out := []*graph.Node{z}
		out = append(out, graph.Gradient(ce, w...)...)
		return append(out, graph.Gradient(dist, w...)...)
	})
	if err != nil {
		return nil, err
	}
	e.gradW = ex
	return ex, nil
}

// onehotPred returns the one-hot rows of the predicted classes of logits [N, K].
func onehotPred(z []float32, K int) []float32 {
	oh := make([]float32, len(z))
	for n := 0; n < len(z)/K; n++ {
		best := 0
		for k := 1; k < K; k++ {
			if z[n*K+k] > z[n*K+best] {
				best = k
			}
		}
		oh[n*K+best] = 1
	}
	return oh
}

// RelChange returns ‖z_n − z0_n‖/‖z0_n‖ for every example of logits [N, K].
func RelChange(z, z0 []float32, K int) []float64 {
	out := make([]float64, len(z0)/K)
	for n := range out {
		var d, s float64
		for k := 0; k < K; k++ {
			a, b := float64(z[n*K+k]), float64(z0[n*K+k])
			d += (a - b) * (a - b)
			s += b * b
		}
		out[n] = math.Sqrt(d / s)
	}
	return out
}

// AttackInput searches, for every example of the batch, an input perturbation δ of relative size
// ‖δ‖ = rel·‖x‖ that changes the logits as much as possible: FGSM (one step along the ℓ2-normalised
// gradient of the cross-entropy of the predicted class), then steps of projected gradient ascent of
// ‖z(x+δ) − z(x)‖² on that sphere, keeping the best iterate. It returns both perturbations (row-major
// like b.X). Inputs are not clipped to a valid pixel range.
func (e *Estimator) AttackInput(b fisens.Batch, rel float64, steps int) (fgsm, pgd []float32, err error) {
	if !(rel > 0) || steps < 0 {
		return nil, nil, fmt.Errorf("condition: AttackInput: rel = %v, steps = %d: want rel > 0, steps ≥ 0", rel, steps)
	}
	K := e.clf.NumClasses()
	f0, err := e.Run(b, e.weights, 0)
	if err != nil {
		return nil, nil, err
	}
	ex, err := e.inputGradExec()
	if err != nil {
		return nil, nil, err
	}
	wargs, err := e.weightArgs(e.weights)
	if err != nil {
		return nil, nil, err
	}
	N := b.N()
	P := len(b.X) / N // Run validated the batch
	z0t := tensors.FromFlatDataAndDimensions(f0.Logits, N, K)
	oh := tensors.FromFlatDataAndDimensions(onehotPred(f0.Logits, K), N, K)
	defer hostargs.Free(append([]any{z0t, oh}, wargs...)...)
	radius := make([]float64, N)
	for n := range radius {
		radius[n] = rel * Norm(b.X[n*P:(n+1)*P])
	}
	grads := func(delta []float32) (z, gce, gdist []float32, err error) {
		xp := make([]float32, len(b.X))
		for i := range xp {
			xp[i] = b.X[i] + delta[i]
		}
		args := append([]any{tensors.FromFlatDataAndDimensions(xp, b.Shape...), z0t, oh}, wargs...)
		out, err := callGraph(ex, args...)
		hostargs.Free(args[0])
		if err != nil {
			return nil, nil, nil, err
		}
		return out[0], out[1], out[2], nil
	}
	zero := make([]float32, len(b.X))
	_, gce, _, err := grads(zero)
	if err != nil {
		return nil, nil, err
	}
	fgsm = make([]float32, len(b.X))
	rng := rand.New(rand.NewPCG(e.opt.Seed, 0xf95a))
	for n := 0; n < N; n++ {
		setOnSphere(fgsm[n*P:(n+1)*P], gce[n*P:(n+1)*P], radius[n], rng)
	}
	pgd = append([]float32(nil), fgsm...)
	if steps == 0 {
		return fgsm, pgd, nil
	}
	cur := append([]float32(nil), fgsm...)
	bestVal := make([]float64, N)
	for n := range bestVal {
		bestVal[n] = -1
	}
	for s := 0; s <= steps; s++ {
		z, _, gd, err := grads(cur)
		if err != nil {
			return nil, nil, err
		}
		rc := RelChange(z, f0.Logits, K)
		for n := 0; n < N; n++ {
			if rc[n] > bestVal[n] {
				bestVal[n] = rc[n]
				copy(pgd[n*P:(n+1)*P], cur[n*P:(n+1)*P])
			}
		}
		if s == steps {
			break
		}
		for n := 0; n < N; n++ {
			c, g := cur[n*P:(n+1)*P], gd[n*P:(n+1)*P]
			gn := Norm(g)
			if gn == 0 {
				continue
			}
			step := 0.5 * radius[n] / gn
			for i := range c {
				c[i] += float32(step * float64(g[i]))
			}
			setOnSphere(c, c, radius[n], rng)
		}
	}
	return fgsm, pgd, nil
}

// AttackWeights is AttackInput for the weights: for one example (b.N() == 1) it searches a
// perturbation of every kernel and bias with ‖ΔK_l‖_F = rel·‖K_l‖_F and ‖Δb_l‖ = rel·‖b_l‖ that
// changes the logits as much as possible (FGSM on the cross-entropy of the predicted class, then
// projected gradient ascent of ‖Δz‖²). It returns the perturbations ΔW (not W + ΔW).
func (e *Estimator) AttackWeights(b fisens.Batch, rel float64, steps int) (fgsm, pgd Weights, err error) {
	if !(rel > 0) || steps < 0 {
		return Weights{}, Weights{}, fmt.Errorf("condition: AttackWeights: rel = %v, steps = %d: want rel > 0, steps ≥ 0", rel, steps)
	}
	if b.N() != 1 {
		return Weights{}, Weights{}, fmt.Errorf("condition: AttackWeights takes one example at a time, got %d", b.N())
	}
	K := e.clf.NumClasses()
	f0, err := e.Run(b, e.weights, 0)
	if err != nil {
		return Weights{}, Weights{}, err
	}
	ex, err := e.weightGradExec()
	if err != nil {
		return Weights{}, Weights{}, err
	}
	z0t := tensors.FromFlatDataAndDimensions(f0.Logits, 1, K)
	oh := tensors.FromFlatDataAndDimensions(onehotPred(f0.Logits, K), 1, K)
	xt := tensors.FromFlatDataAndDimensions(b.X, b.Shape...)
	defer hostargs.Free(z0t, oh, xt)
	// flat lists of the weight slices, in graph order, with their radii
	base := e.flatWeights(e.weights)
	radius := make([]float64, len(base))
	for i, w := range base {
		radius[i] = rel * Norm(w)
	}
	nw := len(base)
	grads := func(delta [][]float32) (z []float32, gce, gdist [][]float32, err error) {
		wargs, err := e.weightArgs(e.unflatten(addSlices(base, delta)))
		if err != nil {
			return nil, nil, nil, err
		}
		out, err := callGraph(ex, append([]any{xt, z0t, oh}, wargs...)...)
		hostargs.Free(wargs...)
		if err != nil {
			return nil, nil, nil, err
		}
		return out[0], out[1 : 1+nw], out[1+nw:], nil
	}
	zero := make([][]float32, nw)
	for i := range zero {
		zero[i] = make([]float32, len(base[i]))
	}
	_, gce, _, err := grads(zero)
	if err != nil {
		return Weights{}, Weights{}, err
	}
	rng := rand.New(rand.NewPCG(e.opt.Seed, 0xa77ac))
	fg := make([][]float32, nw)
	for i := range fg {
		fg[i] = make([]float32, len(base[i]))
		setOnSphere(fg[i], gce[i], radius[i], rng)
	}
	best := cloneSlices(fg)
	if steps > 0 {
		cur := cloneSlices(fg)
		bestVal := -1.0
		for s := 0; s <= steps; s++ {
			z, _, gd, err := grads(cur)
			if err != nil {
				return Weights{}, Weights{}, err
			}
			if rc := RelChange(z, f0.Logits, K)[0]; rc > bestVal {
				bestVal = rc
				best = cloneSlices(cur)
			}
			if s == steps {
				break
			}
			for i := range cur {
				gn := Norm(gd[i])
				if gn == 0 || radius[i] == 0 {
					continue
				}
				step := 0.5 * radius[i] / gn
				for j := range cur[i] {
					cur[i][j] += float32(step * float64(gd[i][j]))
				}
				setOnSphere(cur[i], cur[i], radius[i], rng)
			}
		}
	}
	return e.unflatten(fg), e.unflatten(best), nil
}

// flatWeights lists the kernels and biases in graph order (shares memory).
func (e *Estimator) flatWeights(w Weights) [][]float32 {
	var out [][]float32
	for i, j := range e.layers {
		out = append(out, w.Kernels[i])
		if e.nodes[j].hasBias {
			out = append(out, w.Biases[i])
		}
	}
	return out
}

// unflatten is the inverse of flatWeights (shares memory).
func (e *Estimator) unflatten(flat [][]float32) Weights {
	w := Weights{Kernels: make([][]float32, len(e.layers)), Biases: make([][]float32, len(e.layers))}
	j := 0
	for i, n := range e.layers {
		w.Kernels[i] = flat[j]
		j++
		if e.nodes[n].hasBias {
			w.Biases[i] = flat[j]
			j++
		}
	}
	return w
}

// AddWeights returns w + d (d may have nil biases where w has none).
func AddWeights(w, d Weights) Weights {
	out := w.Clone()
	for i := range out.Kernels {
		for j := range out.Kernels[i] {
			out.Kernels[i][j] += d.Kernels[i][j]
		}
		if out.Biases[i] != nil && d.Biases[i] != nil {
			for j := range out.Biases[i] {
				out.Biases[i][j] += d.Biases[i][j]
			}
		}
	}
	return out
}

func addSlices(a, b [][]float32) [][]float32 {
	out := cloneSlices(a)
	for i := range out {
		for j := range out[i] {
			out[i][j] += b[i][j]
		}
	}
	return out
}

func cloneSlices(a [][]float32) [][]float32 {
	out := make([][]float32, len(a))
	for i := range a {
		out[i] = append([]float32(nil), a[i]...)
	}
	return out
}

// Norm returns the Euclidean norm of v, accumulated in float64 (the ‖·‖ of PerturbSizes).
func Norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// setOnSphere writes into dst the direction of src scaled to norm r (a random direction if src is
// zero). dst and src may be the same slice.
func setOnSphere(dst, src []float32, r float64, rng *rand.Rand) {
	n := Norm(src)
	if n == 0 {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
		src = dst
		n = Norm(dst)
	}
	if n == 0 {
		return
	}
	f := r / n
	for i := range dst {
		dst[i] = float32(f * float64(src[i]))
	}
}

// Layers returns the net's layers (its conv, dense and batch-norm nodes) in order.
func (e *Estimator) Layers() []NetNode {
	out := make([]NetNode, len(e.layers))
	for i, j := range e.layers {
		out[i] = e.nodes[j].NetNode
	}
	return out
}
