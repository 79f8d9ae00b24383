package condition

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/fisens/weights"
	"github.com/fisens/fisens/internal/hostargs"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"gonum.org/v1/gonum/mat"
)

// The condition-number estimator (SPEC C); the derivation is in the package documentation (doc.go).

// ChainKind is the linear map of a chain layer.
type ChainKind int

const (
	// ChainConv is a stride-1 2-D convolution with an odd square kernel [k, k, Cin, Cout] on
	// channels-last inputs [H, W, Cin].
	ChainConv ChainKind = iota
	// ChainDense is x ↦ x·W with W [in, out]; a rank-3 input is flattened row-major first.
	ChainDense
)

// String returns "conv" or "dense".
func (k ChainKind) String() string {
	if k == ChainDense {
		return "dense"
	}
	return "conv"
}

// ChainPadding is the spatial padding of a chain convolution.
type ChainPadding int

const (
	// PadSame pads (k−1)/2 on every side (TensorFlow's 'same' at stride 1 for odd k).
	PadSame ChainPadding = iota
	// PadValid uses no padding.
	PadValid
)

// ChainLayer is one layer x_l = pool(relu(A_l x_{l−1} + b_l)) of a feed-forward chain. Its
// variables are Scope+"/weights" (the kernel) and, optionally, Scope+"/biases".
type ChainLayer struct {
	Scope   string       // e.g. "/conv1"
	Kind    ChainKind    // ChainConv or ChainDense
	Padding ChainPadding // convolutions only
	ReLU    bool         // ReLU after the affine map
	MaxPool bool         // 2×2, stride-2 'valid' max pool after the ReLU (convolutions only; an odd trailing row/column is dropped)
}

// Chain describes a plain feed-forward classifier (AlexNet- or VGG-style: convolutions, dense
// layers, ReLU, non-overlapping max pools; dropout is the identity in inference) as a sequence of
// affine layers. Residual or dense connections cannot be described: the estimator does not cover
// ResNets and DenseNets (see the package documentation).
type Chain struct {
	Input      []int   // one example's input shape, [H, W, C]
	InputScale float64 // the network multiplies its input by this constant first (1/255 for raw-pixel models); 0 means 1
	Layers     []ChainLayer
}

// Weights are the kernels and biases of a chain, one entry per layer (row-major float32 values with
// the variables' shapes; Biases[l] is nil for a layer without bias).
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

// LayerNorm holds the norms of one chain layer.
type LayerNorm struct {
	Scope    string
	Kind     ChainKind
	InShape  []int   // one example's input to the linear map ([H, W, Cin] or [in])
	OutShape []int   // one example's output of the linear map (before ReLU and pool)
	Params   int     // kernel entries
	Op       float64 // ‖A_l‖₂, the largest singular value of the linear map
	AbsOp    float64 // ‖|A_l|‖₂, of the map with the entrywise absolute kernel (≥ Op)
	Bias     float64 // ‖b_l‖₂ (0 without bias)
	Iters    int     // power iterations used for Op (0: exact SVD of a dense matrix)
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

// layerInfo is a resolved chain layer.
type layerInfo struct {
	ChainLayer
	kdims    []int // kernel dimensions
	k        int   // conv kernel size
	in, out  []int // linear map input and output shape of one example
	post     []int // shape after ReLU and pool
	hasBias  bool
	flattens bool // a dense layer whose input has rank 3
}

// Estimator computes operator norms, per-layer condition numbers and perturbation bounds of a
// feed-forward classifier described by a Chain. It copies the classifier's weights when created:
// later changes to the classifier's variables are not seen. Safe for one goroutine at a time.
type Estimator struct {
	backend compute.Backend
	clf     fisens.Classifier
	chain   Chain
	scale   float64
	layers  []layerInfo
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

// NewEstimator resolves chain against the classifier's variables (which must have values),
// checks that the chain reproduces the classifier's logits on a seeded random probe batch, and
// computes every layer's operator norms: exact SVD for dense layers, power iteration with the
// convolution and its transpose (by automatic differentiation) for convolutions.
func NewEstimator(b compute.Backend, clf fisens.Classifier, chain Chain, opt NormOptions) (*Estimator, error) {
	if b == nil {
		return nil, errors.New("condition: NewEstimator: nil backend")
	}
	if clf == nil || clf.Store() == nil {
		return nil, errors.New("condition: NewEstimator: nil classifier or classifier without a store")
	}
	e := &Estimator{backend: b, clf: clf, chain: chain, opt: opt, power: map[int]*graph.Exec{}}
	e.scale = chain.InputScale
	if e.scale == 0 {
		e.scale = 1
	}
	if math.IsNaN(e.scale) || math.IsInf(e.scale, 0) || e.scale < 0 {
		return nil, fmt.Errorf("condition: chain InputScale = %v, want a finite positive number (or 0 for 1)", chain.InputScale)
	}
	if err := e.resolve(); err != nil {
		return nil, err
	}
	if err := e.checkAgainstClassifier(); err != nil {
		return nil, err
	}
	if err := e.computeNorms(); err != nil {
		return nil, err
	}
	return e, nil
}

// resolve checks the chain against the store and propagates shapes.
func (e *Estimator) resolve() error {
	ch := e.chain
	if len(ch.Input) != 3 {
		return fmt.Errorf("condition: chain Input = %v, want one example's shape [H, W, C]", ch.Input)
	}
	for _, d := range ch.Input {
		if d <= 0 {
			return fmt.Errorf("condition: chain Input = %v has a non-positive dimension", ch.Input)
		}
	}
	if len(ch.Layers) == 0 {
		return errors.New("condition: chain has no layers")
	}
	store := e.clf.Store()
	shape := append([]int(nil), ch.Input...)
	e.weights = Weights{Kernels: make([][]float32, len(ch.Layers)), Biases: make([][]float32, len(ch.Layers))}
	for i, cl := range ch.Layers {
		li := layerInfo{ChainLayer: cl}
		kv := store.GetVariable(cl.Scope + "/weights")
		if kv == nil {
			return fmt.Errorf("condition: chain layer %d: no variable %s/weights in the classifier (layers: %v)", i, cl.Scope, weights.Layers(store))
		}
		kvals, err := weights.Values(kv)
		if err != nil {
			return err
		}
		li.kdims = append([]int(nil), kv.Shape().Dimensions...)
		switch cl.Kind {
		case ChainConv:
			if len(shape) != 3 {
				return fmt.Errorf("condition: chain layer %s: a convolution needs a [H, W, C] input, got %v", cl.Scope, shape)
			}
			if len(li.kdims) != 4 || li.kdims[0] != li.kdims[1] || li.kdims[0]%2 == 0 || li.kdims[2] != shape[2] {
				return fmt.Errorf("condition: chain layer %s: kernel %v, want [k, k, %d, Cout] with odd k", cl.Scope, li.kdims, shape[2])
			}
			li.k = li.kdims[0]
			li.in = shape
			switch cl.Padding {
			case PadSame:
				li.out = []int{shape[0], shape[1], li.kdims[3]}
			case PadValid:
				if shape[0] < li.k || shape[1] < li.k {
					return fmt.Errorf("condition: chain layer %s: input %v smaller than the %d×%d kernel", cl.Scope, shape, li.k, li.k)
				}
				li.out = []int{shape[0] - li.k + 1, shape[1] - li.k + 1, li.kdims[3]}
			default:
				return fmt.Errorf("condition: chain layer %s: unknown padding %d", cl.Scope, cl.Padding)
			}
			li.post = li.out
			if cl.MaxPool {
				if li.out[0] < 2 || li.out[1] < 2 {
					return fmt.Errorf("condition: chain layer %s: 2×2 max pool of a %v output", cl.Scope, li.out)
				}
				li.post = []int{li.out[0] / 2, li.out[1] / 2, li.out[2]}
			}
		case ChainDense:
			n := 1
			for _, d := range shape {
				n *= d
			}
			li.flattens = len(shape) > 1
			if len(li.kdims) != 2 || li.kdims[0] != n {
				return fmt.Errorf("condition: chain layer %s: kernel %v, want [%d, out] (input %v)", cl.Scope, li.kdims, n, shape)
			}
			if cl.MaxPool {
				return fmt.Errorf("condition: chain layer %s: max pool after a dense layer is not supported", cl.Scope)
			}
			li.in = []int{n}
			li.out = []int{li.kdims[1]}
			li.post = li.out
		default:
			return fmt.Errorf("condition: chain layer %s: unknown kind %d", cl.Scope, cl.Kind)
		}
		e.weights.Kernels[i] = kvals
		if bv := store.GetVariable(cl.Scope + "/biases"); bv != nil {
			bvals, err := weights.Values(bv)
			if err != nil {
				return err
			}
			if len(bvals) != li.out[len(li.out)-1] {
				return fmt.Errorf("condition: chain layer %s: %d biases for %d outputs", cl.Scope, len(bvals), li.out[len(li.out)-1])
			}
			li.hasBias = true
			e.weights.Biases[i] = bvals
		}
		shape = li.post
		e.layers = append(e.layers, li)
	}
	last := e.layers[len(e.layers)-1]
	if last.Kind != ChainDense || last.ReLU || last.out[0] != e.clf.NumClasses() {
		return fmt.Errorf("condition: the last chain layer must be a dense layer without ReLU giving the %d logits (got %s, ReLU %v, %v outputs)",
			e.clf.NumClasses(), last.Kind, last.ReLU, last.out)
	}
	return nil
}

// NumLayers returns the number of chain layers L.
func (e *Estimator) NumLayers() int { return len(e.layers) }

// Norms returns the layers' norms (shared; do not modify).
func (e *Estimator) Norms() []LayerNorm { return e.norms }

// Weights returns a copy of the chain's weights as read from the classifier.
func (e *Estimator) Weights() Weights { return e.weights.Clone() }

// CheckedDiff returns the largest |Δz| / max|z| found when checking the chain against the
// classifier on the random probe batch.
func (e *Estimator) CheckedDiff() float64 { return e.checked }

// ---- graphs ---------------------------------------------------------------------------------

// weightArgs returns the weights as tensors, in the order the graphs take them.
func (e *Estimator) weightArgs(w Weights) ([]any, error) {
	if len(w.Kernels) != len(e.layers) || len(w.Biases) != len(e.layers) {
		return nil, fmt.Errorf("condition: weights for %d kernels and %d biases, the chain has %d layers", len(w.Kernels), len(w.Biases), len(e.layers))
	}
	var args []any
	for i, li := range e.layers {
		n := 1
		for _, d := range li.kdims {
			n *= d
		}
		if len(w.Kernels[i]) != n {
			return nil, fmt.Errorf("condition: layer %s: kernel has %d values, want %d %v", li.Scope, len(w.Kernels[i]), n, li.kdims)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(w.Kernels[i], li.kdims...))
		if li.hasBias {
			units := li.out[len(li.out)-1]
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

// numWeightArgs is the number of weight tensors the graphs take.
func (e *Estimator) numWeightArgs() int {
	n := 0
	for _, li := range e.layers {
		n++
		if li.hasBias {
			n++
		}
	}
	return n
}

// linear applies layer li's linear map (without bias) to h [B, in...].
func linear(li layerInfo, h, w *graph.Node) *graph.Node {
	if li.Kind == ChainConv {
		c := graph.Convolve(h, w)
		if li.Padding == PadSame {
			c = c.PadSame()
		} else {
			c = c.NoPadding()
		}
		return c.Done()
	}
	if h.Rank() > 2 {
		h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
	}
	return graph.MatMul(h, w)
}

// maxPool2 is a 2×2, stride-2 'valid' max pool of h [B, H, W, C] from ops whose gradients work on
// every backend (crop by a constant selection matrix, Reshape, ReduceMax).
func maxPool2(h *graph.Node) *graph.Node {
	d := h.Shape().Dimensions
	if d[1]%2 == 1 {
		h = graph.Einsum("bhwc,hk->bkwc", h, cropMatrix(h, d[1]))
	}
	if d[2]%2 == 1 {
		h = graph.Einsum("bhwc,wk->bhkc", h, cropMatrix(h, d[2]))
	}
	d = h.Shape().Dimensions
	return graph.ReduceMax(graph.Reshape(h, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
}

// cropMatrix is the constant [n, n−1] matrix keeping the first n−1 of n entries.
func cropMatrix(h *graph.Node, n int) *graph.Node {
	s := make([]float32, n*(n-1))
	for i := 0; i < n-1; i++ {
		s[i*(n-1)+i] = 1
	}
	return graph.ConvertDType(graph.Reshape(graph.Const(h.Graph(), s), n, n-1), h.DType())
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

// forward builds the chain: x [B, H, W, C] → logits [B, K] and per-example norms [B, L+1] of
// x_0 (the scaled input), x_1 … x_{L−1} and z. With sigma non-nil the inputs of every linear map
// (x_0 … x_{L−1}) are rounded (see roundTo).
func (e *Estimator) forward(x *graph.Node, w []*graph.Node, sigma *graph.Node) (*graph.Node, *graph.Node) {
	h := graph.MulScalar(x, e.scale)
	var norms []*graph.Node
	wi := 0
	for _, li := range e.layers {
		if sigma != nil {
			h = roundTo(h, sigma)
		}
		norms = append(norms, exampleNorm(h))
		h = linear(li, h, w[wi])
		wi++
		if li.hasBias {
			b := w[wi]
			wi++
			h = graph.Add(h, graph.ExpandLeftToRank(b, h.Rank()))
		}
		if li.ReLU {
			h = graph.MaxScalar(h, 0.0)
		}
		if li.MaxPool {
			h = maxPool2(h)
		}
	}
	norms = append(norms, exampleNorm(h))
	return h, graph.Stack(norms, 1)
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
			z, n := e.forward(in[0], in[2:], in[1])
			return []*graph.Node{z, n}
		}
		z, n := e.forward(in[0], in[1:], nil)
		return []*graph.Node{z, n}
	})
	if err != nil {
		return nil, fmt.Errorf("condition: building the chain forward graph: %w", err)
	}
	if round {
		e.fwdRnd = ex
	} else {
		e.fwd = ex
	}
	return ex, nil
}

// callGraph runs a graph.Exec and converts panics into errors; it copies the outputs to host
// slices of float32 and frees the device buffers.
func callGraph(ex *graph.Exec, args ...any) (out [][]float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("condition: graph execution failed: %v", r)
		}
	}()
	if args, err = hostargs.Wrap(args); err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	res, err := ex.Call(args...)
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

// Forward is the chain's output for a batch.
type Forward struct {
	N, K   int
	Logits []float32 // [N, K]
	// Norms holds, per example, ‖x_0‖ … ‖x_{L−1}‖ and ‖z‖ ([N, L+1]); x_0 is the scaled input, x_l
	// the output of layer l after ReLU and pool, z the logits.
	Norms []float64
}

// Norm returns ‖x_l‖ of example n (l = L: the logits).
func (f *Forward) Norm(n, l int) float64 {
	L1 := len(f.Norms) / f.N
	return f.Norms[n*L1+l]
}

// Run evaluates the chain on a batch with weights w (use Weights() for the classifier's own, or a
// perturbed copy). bits > 0 rounds the input of every linear map (the scaled input and every hidden
// activation, not the logits) to a significand of bits bits (unit round-off 2^−bits); bits ≤ 0 or
// ≥ 24 computes in plain float32.
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
	if round {
		args = append(args, float32(math.Ldexp(1, 24-bits)+1))
	}
	out, err := callGraph(ex, append(args, wargs...)...)
	if err != nil {
		return nil, err
	}
	f := &Forward{N: b.N(), K: K, Logits: out[0], Norms: make([]float64, len(out[1]))}
	for i, v := range out[1] {
		f.Norms[i] = float64(v)
	}
	return f, nil
}

func (e *Estimator) checkBatchShape(b fisens.Batch) error {
	if len(b.Shape) != 4 || b.Shape[1] != e.chain.Input[0] || b.Shape[2] != e.chain.Input[1] || b.Shape[3] != e.chain.Input[2] {
		return fmt.Errorf("condition: batch shape %v, the chain takes [N, %d, %d, %d]", b.Shape, e.chain.Input[0], e.chain.Input[1], e.chain.Input[2])
	}
	return nil
}

// checkAgainstClassifier compares the chain's logits with the classifier's on a random probe.
func (e *Estimator) checkAgainstClassifier() error {
	const n = 4
	rng := rand.New(rand.NewPCG(e.opt.Seed, 0x5eed))
	in := e.chain.Input
	x := make([]float32, n*in[0]*in[1]*in[2])
	for i := range x {
		x[i] = float32(rng.Float64() / e.scale) // inputs in [0, 1/scale), e.g. pixel values 0..255
	}
	b := fisens.Batch{X: x, Shape: []int{n, in[0], in[1], in[2]}}
	an, err := fisens.NewAnalyzer(e.backend, e.clf)
	if err != nil {
		return err
	}
	want, err := an.Logits(b)
	if err != nil {
		return fmt.Errorf("condition: checking the chain: classifier logits: %w", err)
	}
	got, err := e.Run(b, e.weights, 0)
	if err != nil {
		return fmt.Errorf("condition: checking the chain: %w", err)
	}
	var maxAbs, maxDiff float64
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(want[i]-got.Logits[i])))
	}
	e.checked = maxDiff / math.Max(maxAbs, 1e-30)
	if math.IsNaN(maxDiff) || maxDiff > 1e-3*maxAbs+1e-5 {
		return fmt.Errorf("condition: the chain does not describe the classifier: its logits differ by up to %.3g (largest |z| %.3g) on a random probe; check the layers, paddings, ReLUs, pools and InputScale",
			maxDiff, maxAbs)
	}
	return nil
}

// ---- operator norms ---------------------------------------------------------------------------

func (e *Estimator) computeNorms() error {
	e.norms = make([]LayerNorm, len(e.layers))
	for i, li := range e.layers {
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
		var bn float64
		for _, v := range e.weights.Biases[i] {
			bn += float64(v) * float64(v)
		}
		e.norms[i] = LayerNorm{Scope: li.Scope, Kind: li.Kind, InShape: li.in, OutShape: li.out, Params: len(k),
			Op: op, AbsOp: math.Max(absOp, op), Bias: math.Sqrt(bn), Iters: it}
	}
	return nil
}

// OpNorm returns the operator norm ‖A‖₂ of layer l's linear map with the given kernel values (e.g.
// a kernel perturbation ΔK, to measure ‖ΔA_l‖₂): exact SVD for dense layers, power iteration for
// convolutions.
func (e *Estimator) OpNorm(l int, kernel []float32) (float64, error) {
	if l < 0 || l >= len(e.layers) {
		return 0, fmt.Errorf("condition: OpNorm: layer %d out of range [0, %d)", l, len(e.layers))
	}
	if len(kernel) != len(e.weights.Kernels[l]) {
		return 0, fmt.Errorf("condition: OpNorm: layer %s: kernel has %d values, want %d", e.layers[l].Scope, len(kernel), len(e.weights.Kernels[l]))
	}
	op, _, err := e.opNorm(l, kernel)
	return op, err
}

func (e *Estimator) opNorm(l int, kernel []float32) (float64, int, error) {
	li := e.layers[l]
	if li.Kind == ChainDense {
		s, err := DenseOpNorm(kernel, li.kdims[0], li.kdims[1])
		return s, 0, err
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
	if b == nil {
		return 0, 0, errors.New("condition: ConvOpNorm: nil backend")
	}
	if len(kdims) != 4 || kdims[0] != kdims[1] || kdims[0]%2 == 0 || len(in) != 3 || in[2] != kdims[2] {
		return 0, 0, fmt.Errorf("condition: ConvOpNorm: kernel %v and input %v: want [k, k, Cin, Cout] with odd k and [H, W, Cin]", kdims, in)
	}
	if len(kernel) != kdims[0]*kdims[1]*kdims[2]*kdims[3] {
		return 0, 0, fmt.Errorf("condition: ConvOpNorm: kernel has %d values, shape %v", len(kernel), kdims)
	}
	li := layerInfo{ChainLayer: ChainLayer{Kind: ChainConv, Padding: padding}, kdims: kdims, k: kdims[0], in: in}
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
	li := layerInfo{ChainLayer: ChainLayer{Kind: ChainDense}, kdims: []int{rows, cols}, in: []int{rows}}
	ex, err := powerExec(b, li)
	if err != nil {
		return 0, 0, err
	}
	return powerIterate(ex, w, li, opt)
}

// powerExec builds powerChunk steps of the power iteration v ← AᵀAv/‖AᵀAv‖ for the linear map of
// li, with Aᵀ obtained by automatic differentiation (AᵀA v = ∇_v ½‖Av‖²). Inputs: v [1, in...] and
// the kernel; outputs: the new unit v and ‖Av‖ for it (a lower bound of ‖A‖ that increases to it).
func powerExec(b compute.Backend, li layerInfo) (*graph.Exec, error) {
	return graph.NewExec(b, func(v, w *graph.Node) (*graph.Node, *graph.Node) {
		for range powerChunk {
			u := linear(li, v, w)
			g := graph.Gradient(graph.MulScalar(graph.ReduceAllSum(graph.Mul(u, u)), 0.5), v)[0]
			n := graph.Sqrt(graph.ReduceAllSum(graph.Mul(g, g)))
			v = graph.Div(g, graph.MaxScalar(n, 1e-30))
		}
		u := linear(li, v, w)
		return v, graph.Sqrt(graph.ReduceAllSum(graph.Mul(u, u)))
	})
}

func powerIterate(ex *graph.Exec, kernel []float32, li layerInfo, opt NormOptions) (sigma float64, iters int, err error) {
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
	n := 1
	for _, d := range li.in {
		n *= d
	}
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
	vdims := append([]int{1}, li.in...)
	kt := tensors.FromFlatDataAndDimensions(kernel, li.kdims...)
	prev := 0.0
	for iters < opt.maxIter() {
		out, err := callGraph(ex, tensors.FromFlatDataAndDimensions(v, vdims...), kt)
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

// Condition holds one example's per-layer quantities and relative condition numbers. Layers are
// indexed from 0: layer i maps x_i to x_{i+1} = pool(relu(A_i x_i + b_i)), x_0 is the (scaled)
// input and x_L = z the logits.
type Condition struct {
	Op    []float64 // ‖A_i‖₂
	AbsOp []float64 // ‖|A_i|‖₂
	BiasN []float64 // ‖b_i‖₂
	Norms []float64 // ‖x_0‖ … ‖x_{L−1}‖, ‖z‖ (L+1 values)
	// Layer[i] = κ_i = ‖A_i‖‖x_i‖/‖x_{i+1}‖: the relative condition number of layer i (it bounds the
	// relative change of the layer's output per relative change of its input, or of A_i).
	Layer []float64
	// Input = κ_in = Π_i κ_i = Π_i ‖A_i‖ · ‖x_0‖/‖z‖: relative logit change per relative input change.
	Input float64
	// Weight[i] = κ_W,i = Π_{m≥i} κ_m = Π_{m≥i}‖A_m‖ · ‖x_i‖/‖z‖: relative logit change per relative
	// (operator-norm) change of A_i, and also per relative change of the layer input x_i
	// (Weight[0] = Input).
	Weight []float64
	// Tail[i] = Π_{m>i}‖A_m‖ / ‖z‖: relative logit change per unit of ‖Δb_i‖ (absolute).
	Tail []float64
}

// BiasCond returns κ_b,i = ‖b_i‖·Tail[i], the relative logit change per relative change of b_i.
func (c Condition) BiasCond(i int) float64 { return c.BiasN[i] * c.Tail[i] }

// Conditions computes every example's Condition with the classifier's weights.
func (e *Estimator) Conditions(b fisens.Batch) ([]Condition, error) {
	f, err := e.Run(b, e.weights, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Condition, f.N)
	for n := range out {
		norms := make([]float64, len(e.layers)+1)
		for l := range norms {
			norms[l] = f.Norm(n, l)
		}
		out[n] = e.ConditionFromNorms(norms)
	}
	return out, nil
}

// ConditionFromNorms builds a Condition from the activation norms ‖x_0‖ … ‖x_{L−1}‖, ‖z‖.
func (e *Estimator) ConditionFromNorms(norms []float64) Condition {
	L := len(e.layers)
	c := Condition{Op: make([]float64, L), AbsOp: make([]float64, L), BiasN: make([]float64, L),
		Norms: append([]float64(nil), norms...), Layer: make([]float64, L), Weight: make([]float64, L),
		Tail: make([]float64, L)}
	for i, ln := range e.norms {
		c.Op[i], c.AbsOp[i], c.BiasN[i] = ln.Op, ln.AbsOp, ln.Bias
	}
	for i := 0; i < L; i++ {
		c.Layer[i] = c.Op[i] * norms[i] / norms[i+1]
	}
	tail := 1 / norms[L] // Π_{m>i} ‖A_m‖ / ‖z‖
	for i := L - 1; i >= 0; i-- {
		c.Tail[i] = tail
		tail *= c.Op[i]
		c.Weight[i] = norms[i] * tail
	}
	c.Input = c.Weight[0]
	return c
}

// PerturbSizes gives the sizes of a simultaneous perturbation of a chain.
type PerturbSizes struct {
	Input  float64   // ‖Δx‖/‖x‖ (relative; the same for the raw and the scaled input)
	Weight []float64 // per layer ε_l = ‖ΔA_l‖₂/‖A_l‖₂ (nil: none)
	Bias   []float64 // per layer ‖Δb_l‖₂ (absolute; nil: none)
	// Round is the relative error u of rounding the input of every linear map (x_0 … x_{L−1}):
	// ‖r(v) − v‖ ≤ u‖v‖ (rounding to b significant bits: u = 2^−b).
	Round float64
}

// Bound returns an upper bound of ‖Δz‖/‖z‖ for a perturbation of the given sizes, from the exact
// (not first-order) recursion of the package documentation. It holds for perturbations of any size.
func (c Condition) Bound(p PerturbSizes) float64 {
	L := len(c.Op)
	u := p.Round
	n0 := c.Norms[0]
	e := p.Input*n0 + u*(1+p.Input)*n0 // ‖x̃_0 − x_0‖
	for l := 0; l < L; l++ {
		eps, beta := 0.0, 0.0
		if p.Weight != nil {
			eps = p.Weight[l]
		}
		if p.Bias != nil {
			beta = p.Bias[l]
		}
		d := (1+eps)*c.Op[l]*e + eps*c.Op[l]*c.Norms[l] + beta
		if l < L-1 {
			d += u * (c.Norms[l+1] + d) // rounding of x_{l+1}, the next layer's input
		}
		e = d
	}
	return e / c.Norms[L]
}

// FirstOrder returns the first-order part of Bound: Bound(p) = FirstOrder(p) + O(size²), with
// FirstOrder(p) = κ_in·δ + Σ_i (κ_W,i·ε_i + Tail_i·‖Δb_i‖ + κ_W,i·u).
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
// (u = 2^−b): the kernels entrywise (|ΔK| ≤ u|K| ⇒ ‖ΔA_l‖ ≤ u‖|A_l|‖, so ε_l = u‖|A_l|‖/‖A_l‖),
// the biases (‖Δb_l‖ ≤ u‖b_l‖) if weights, and every linear map's input if activations. It models
// an ideal b-bit arithmetic for any b ≥ 1 (b > 24 is finer than the float32 reference: useful for
// predictions, not measurable with float32).
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
		z, _ := e.forward(x, in[3:], nil)
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
		z, _ := e.forward(x, w, nil)
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
	for i, li := range e.layers {
		out = append(out, w.Kernels[i])
		if li.hasBias {
			out = append(out, w.Biases[i])
		}
	}
	return out
}

// unflatten is the inverse of flatWeights (shares memory).
func (e *Estimator) unflatten(flat [][]float32) Weights {
	w := Weights{Kernels: make([][]float32, len(e.layers)), Biases: make([][]float32, len(e.layers))}
	j := 0
	for i, li := range e.layers {
		w.Kernels[i] = flat[j]
		j++
		if li.hasBias {
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

// Layers returns the chain layers as resolved (scope, kind, input and output shapes).
func (e *Estimator) Layers() []ChainLayer {
	out := make([]ChainLayer, len(e.layers))
	for i, li := range e.layers {
		out[i] = li.ChainLayer
	}
	return out
}
