package condition

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/fisens/fisens/fisens/weights"
	"github.com/fisens/fisens/models/ops"
	"gonum.org/v1/gonum/mat"
)

// Op is the operation of a Net node.
type Op int

const (
	// OpConv is a 2-D convolution as models/ops computes it (ops.Convolve2D): kernel Scope/weights
	// [k, k, Cin, Cout] with odd k, stride 1 or 2, 'same' (TensorFlow's) or 'valid' padding, an
	// optional bias Scope/biases [Cout], and an optional batch norm BN folded in.
	OpConv Op = iota
	// OpDense is x ↦ x·W + b with W = Scope/weights [in, out] (a rank-3 input is flattened
	// row-major first), an optional bias Scope/biases and an optional batch norm BN folded in.
	OpDense
	// OpBatchNorm is an inference batch norm that follows no conv or dense node (so it cannot be
	// folded): the diagonal affine map y = a ⊙ x + β′ per channel (the last axis), with
	// a = γ/√(σ² + ε), β′ = β − μ·a from Scope/{gamma, beta, mean, variance}.
	OpBatchNorm
	// OpReLU is max(x, 0).
	OpReLU
	// OpMaxPool is a Window × Window max pool with stride Stride and 'valid' padding (2 × 2,
	// stride 2 is ops.MaxPool2).
	OpMaxPool
	// OpAvgPool is a Window × Window average pool with stride Stride and 'valid' padding (2 × 2,
	// stride 2 is ops.AvgPool2).
	OpAvgPool
	// OpGlobalAvgPool averages [H, W, C] over H and W: [C].
	OpGlobalAvgPool
	// OpAdd is the sum of its inputs (equal shapes): a residual addition.
	OpAdd
	// OpConcat concatenates its inputs along the last (channel) axis: a dense connection.
	OpConcat
)

var opNames = []string{"conv", "dense", "bn", "relu", "maxpool", "avgpool", "gap", "add", "concat"}

// String returns the op's short name ("conv", "dense", "bn", "relu", "maxpool", "avgpool", "gap",
// "add", "concat").
func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", int(o))
}

// parametrised reports whether the op is a layer with weights (conv, dense, batch norm): the
// linear maps whose weights are perturbed and rounded, and whose inputs are rounded.
func (o Op) parametrised() bool { return o == OpConv || o == OpDense || o == OpBatchNorm }

// NetNode is one node of a Net.
type NetNode struct {
	Op Op
	// In lists the node's inputs: indices of earlier nodes, −1 for the network's (scaled) input.
	// nil means the previous node (the input for node 0). OpAdd and OpConcat take two or more.
	In      []int
	Scope   string       // OpConv, OpDense, OpBatchNorm: the scope of the variables
	BN      string       // OpConv, OpDense: scope of an inference batch norm applied right after, folded in ("": none)
	Stride  int          // OpConv: 1 or 2 (0 means 1); pools: the stride (0 means Window)
	Padding ChainPadding // OpConv
	Window  int          // pools: the window size (0 means 2)
}

// Net is a classifier as a directed acyclic graph of NetNodes in topological order (every node
// takes earlier nodes); the last node gives the logits [K]. A Chain is the special case of a
// path (Chain.Net).
type Net struct {
	Input      []int   // one example's input shape, [H, W, C]
	InputScale float64 // the network multiplies its input by this constant first; 0 means 1
	// ProbeMax is the largest raw input value of the random probe that checks the Net against the
	// classifier (NewNetEstimator); 0 means 1/InputScale (e.g. 255 for raw pixels scaled by 1/255).
	ProbeMax float64
	Nodes    []NetNode
}

// nodeInfo is a resolved Net node.
type nodeInfo struct {
	NetNode
	in      []int // inputs (−1: the network input)
	inShape []int // shape of the first input (one example)
	shape   []int // output shape (one example)
	layer   int   // index among the parametrised layers, −1 otherwise
	kdims   []int // kernel dimensions (layers; [C] for a batch norm)
	stride  int
	window  int
	hasBias bool
	lip     float64 // ℓ2 Lipschitz constant of a parameter-free node (pools, ReLU: 1)
	// pre is, for a conv or dense layer whose input is relu(diag(a)·x + β′) of a batch-norm layer
	// (possibly through average pools), that batch norm's node (−1: none); preLip is the product
	// of the Lipschitz constants of the pools in between (1 if none).
	pre    int
	preLip float64
	// preBranches: when that batch norm's input is a concatenation (nested ones flattened), its
	// parts: the node giving each and its channels.
	preBranches []preBranch
}

// preBranch is one part of a concatenation: node's output is channels [off, off+cnt).
type preBranch struct{ node, off, cnt int }

func (ni nodeInfo) name(i int) string {
	if ni.Scope != "" {
		return fmt.Sprintf("node %d (%s %s)", i, ni.Op, ni.Scope)
	}
	return fmt.Sprintf("node %d (%s)", i, ni.Op)
}

func numel(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

// readVar returns the values of a variable of the classifier, or nil if it does not exist.
func (e *Estimator) readVar(path string) ([]float32, []int, error) {
	v := e.clf.Store().GetVariable(path)
	if v == nil {
		return nil, nil, nil
	}
	vals, err := weights.Values(v)
	if err != nil {
		return nil, nil, err
	}
	return vals, append([]int(nil), v.Shape().Dimensions...), nil
}

// batchNormAffine returns the inference batch norm of scope as y = a ⊙ x + shift per channel:
// a = γ/√(σ² + ε), shift = β − μ·a (ε = ops.BatchNormEpsilon), computed in float64.
func (e *Estimator) batchNormAffine(scope string, c int) (a, shift []float64, err error) {
	var vals [4][]float32
	for i, name := range []string{"gamma", "beta", "mean", "variance"} {
		v, _, err := e.readVar(scope + "/" + name)
		if err != nil {
			return nil, nil, err
		}
		if v == nil {
			return nil, nil, fmt.Errorf("condition: no variable %s/%s in the classifier", scope, name)
		}
		if len(v) != c {
			return nil, nil, fmt.Errorf("condition: batch norm %s: %s has %d values for %d channels", scope, name, len(v), c)
		}
		vals[i] = v
	}
	a, shift = make([]float64, c), make([]float64, c)
	for j := 0; j < c; j++ {
		a[j] = float64(vals[0][j]) / math.Sqrt(float64(vals[3][j])+ops.BatchNormEpsilon)
		shift[j] = float64(vals[1][j]) - float64(vals[2][j])*a[j]
	}
	return a, shift, nil
}

// resolve checks the Net against the store, propagates shapes, reads (and folds) the weights and
// computes the Lipschitz constants of the parameter-free nodes.
func (e *Estimator) resolve() error {
	n := e.net
	if len(n.Input) != 3 {
		return fmt.Errorf("condition: net Input = %v, want one example's shape [H, W, C]", n.Input)
	}
	for _, d := range n.Input {
		if d <= 0 {
			return fmt.Errorf("condition: net Input = %v has a non-positive dimension", n.Input)
		}
	}
	if len(n.Nodes) == 0 {
		return errors.New("condition: the net has no nodes")
	}
	shapeOf := func(j int) []int {
		if j < 0 {
			return n.Input
		}
		return e.nodes[j].shape
	}
	for i, nd := range n.Nodes {
		ni := nodeInfo{NetNode: nd, layer: -1, lip: 1, in: nd.In}
		if ni.in == nil {
			ni.in = []int{i - 1}
		}
		name := ni.name(i)
		if len(ni.in) == 0 {
			return fmt.Errorf("condition: %s has no inputs", name)
		}
		for _, j := range ni.in {
			if j < -1 || j >= i {
				return fmt.Errorf("condition: %s: input %d is not an earlier node (or −1, the network input)", name, j)
			}
		}
		if nd.Op != OpAdd && nd.Op != OpConcat && len(ni.in) != 1 {
			return fmt.Errorf("condition: %s takes one input, got %d", name, len(ni.in))
		}
		in := shapeOf(ni.in[0])
		ni.inShape = in
		var kernel, bias []float32
		switch nd.Op {
		case OpConv, OpDense:
			kv, kd, err := e.readVar(nd.Scope + "/weights")
			if err != nil {
				return err
			}
			if kv == nil {
				return fmt.Errorf("condition: %s: no variable %s/weights in the classifier (layers: %v)", name, nd.Scope, weights.Layers(e.clf.Store()))
			}
			ni.kdims, kernel = kd, kv
			if nd.Op == OpConv {
				if len(in) != 3 {
					return fmt.Errorf("condition: %s: a convolution needs a [H, W, C] input, got %v", name, in)
				}
				if len(kd) != 4 || kd[0] != kd[1] || kd[0]%2 == 0 || kd[2] != in[2] {
					return fmt.Errorf("condition: %s: kernel %v, want [k, k, %d, Cout] with odd k", name, kd, in[2])
				}
				k := kd[0]
				ni.stride = max(nd.Stride, 1)
				if ni.stride > 2 {
					return fmt.Errorf("condition: %s: stride %d, want 1 or 2", name, nd.Stride)
				}
				var h, w int
				switch nd.Padding {
				case PadSame:
					h, w = (in[0]+ni.stride-1)/ni.stride, (in[1]+ni.stride-1)/ni.stride
				case PadValid:
					if in[0] < k || in[1] < k {
						return fmt.Errorf("condition: %s: input %v smaller than the %d×%d kernel", name, in, k, k)
					}
					h, w = (in[0]-k)/ni.stride+1, (in[1]-k)/ni.stride+1
				default:
					return fmt.Errorf("condition: %s: unknown padding %d", name, nd.Padding)
				}
				ni.shape = []int{h, w, kd[3]}
			} else {
				if len(kd) != 2 || kd[0] != numel(in) {
					return fmt.Errorf("condition: %s: kernel %v, want [%d, out] (input %v)", name, kd, numel(in), in)
				}
				ni.shape = []int{kd[1]}
			}
			units := ni.shape[len(ni.shape)-1]
			bv, _, err := e.readVar(nd.Scope + "/biases")
			if err != nil {
				return err
			}
			if bv != nil {
				if len(bv) != units {
					return fmt.Errorf("condition: %s: %d biases for %d outputs", name, len(bv), units)
				}
				bias = bv
			}
			if nd.BN != "" {
				a, shift, err := e.batchNormAffine(nd.BN, units)
				if err != nil {
					return err
				}
				kernel, bias = foldBatchNorm(kernel, bias, a, shift)
			}
		case OpBatchNorm:
			if nd.BN != "" {
				return fmt.Errorf("condition: %s: a batch norm node folds no other batch norm (BN = %q)", name, nd.BN)
			}
			c := in[len(in)-1]
			a, shift, err := e.batchNormAffine(nd.Scope, c)
			if err != nil {
				return err
			}
			kernel, bias = make([]float32, c), make([]float32, c)
			for j := range a {
				kernel[j], bias[j] = float32(a[j]), float32(shift[j])
			}
			ni.kdims = []int{c}
			ni.shape = in
		case OpReLU:
			ni.shape = in
		case OpMaxPool, OpAvgPool:
			ni.window = nd.Window
			if ni.window == 0 {
				ni.window = 2
			}
			ni.stride = nd.Stride
			if ni.stride == 0 {
				ni.stride = ni.window
			}
			if len(in) != 3 || in[0] < ni.window || in[1] < ni.window || ni.window < 1 || ni.stride < 1 {
				return fmt.Errorf("condition: %s: %d×%d pool (stride %d) of a %v input", name, ni.window, ni.window, ni.stride, in)
			}
			ni.shape = []int{(in[0]-ni.window)/ni.stride + 1, (in[1]-ni.window)/ni.stride + 1, in[2]}
			if nd.Op == OpMaxPool {
				ni.lip = MaxPoolLipschitz(in[0], in[1], ni.window, ni.stride)
			} else {
				ni.lip = AvgPoolOpNorm(in[0], in[1], ni.window, ni.stride)
			}
		case OpGlobalAvgPool:
			if len(in) != 3 {
				return fmt.Errorf("condition: %s: global average pool of a %v input", name, in)
			}
			ni.shape = []int{in[2]}
			ni.lip = 1 / math.Sqrt(float64(in[0]*in[1]))
		case OpAdd:
			for _, j := range ni.in[1:] {
				if !slices.Equal(shapeOf(j), in) {
					return fmt.Errorf("condition: %s: adds shapes %v and %v", name, in, shapeOf(j))
				}
			}
			ni.shape = in
		case OpConcat:
			last := 0
			for _, j := range ni.in {
				s := shapeOf(j)
				if len(s) != len(in) || !slices.Equal(s[:len(s)-1], in[:len(in)-1]) {
					return fmt.Errorf("condition: %s: concatenates shapes %v and %v (only the last axis may differ)", name, in, s)
				}
				last += s[len(s)-1]
			}
			ni.shape = append(append([]int(nil), in[:len(in)-1]...), last)
		default:
			return fmt.Errorf("condition: %s: unknown op %d", name, nd.Op)
		}
		if nd.BN != "" && nd.Op != OpConv && nd.Op != OpDense {
			return fmt.Errorf("condition: %s: only conv and dense nodes fold a batch norm", name)
		}
		if nd.Op.parametrised() {
			ni.layer = len(e.layers)
			ni.hasBias = bias != nil
			e.layers = append(e.layers, i)
			e.weights.Kernels = append(e.weights.Kernels, kernel)
			e.weights.Biases = append(e.weights.Biases, bias)
		}
		e.nodes = append(e.nodes, ni)
	}
	if len(e.layers) == 0 {
		return errors.New("condition: the net has no conv, dense or batch-norm layer")
	}
	last := e.nodes[len(e.nodes)-1]
	if len(last.shape) != 1 || last.shape[0] != e.clf.NumClasses() {
		return fmt.Errorf("condition: the last node must give the %d logits, it gives %v", e.clf.NumClasses(), last.shape)
	}
	// The output of each layer, for its relative condition number: the layer's node, or the ReLU /
	// max pool that follow it when each is the only consumer of the one before.
	consumers := make([][]int, len(e.nodes))
	for i, ni := range e.nodes {
		for _, j := range ni.in {
			if j >= 0 {
				consumers[j] = append(consumers[j], i)
			}
		}
	}
	// A conv or dense layer W after ReLU ← batch-norm layer B (possibly with average pools between
	// the ReLU and W): the bound may use ‖W·diag(a_B)‖ (see the package documentation).
	for _, j := range e.layers {
		ni := &e.nodes[j]
		ni.pre, ni.preLip = -1, 1
		if ni.Op != OpConv && ni.Op != OpDense {
			continue
		}
		k, q := ni.in[0], 1.0
		for k >= 0 && (e.nodes[k].Op == OpAvgPool || e.nodes[k].Op == OpGlobalAvgPool) {
			q *= e.nodes[k].lip
			k = e.nodes[k].in[0]
		}
		if k < 0 || e.nodes[k].Op != OpReLU || e.nodes[k].in[0] < 0 || e.nodes[e.nodes[k].in[0]].Op != OpBatchNorm {
			continue
		}
		ni.pre, ni.preLip = e.nodes[k].in[0], q
		if c := e.nodes[ni.pre].in[0]; c >= 0 && e.nodes[c].Op == OpConcat {
			ni.preBranches = e.concatLeaves(c, 0, nil)
		}
	}
	e.outNode = make([]int, len(e.layers))
	for l, j := range e.layers {
		for len(consumers[j]) == 1 && (e.nodes[consumers[j][0]].Op == OpReLU || (e.nodes[consumers[j][0]].Op == OpMaxPool && e.nodes[consumers[j][0]].lip == 1)) {
			j = consumers[j][0]
		}
		e.outNode[l] = j
	}
	return nil
}

// foldBatchNorm returns the kernel and bias of the affine map (x·K + b)·a + shift (a, shift per
// output channel, the kernel's last axis): K′ = K·diag(a), b′ = a ⊙ b + shift.
func foldBatchNorm(kernel, bias []float32, a, shift []float64) ([]float32, []float32) {
	c := len(a)
	k := make([]float32, len(kernel))
	for i, v := range kernel {
		k[i] = float32(float64(v) * a[i%c])
	}
	b := make([]float32, c)
	for j := range b {
		bj := 0.0
		if bias != nil {
			bj = float64(bias[j])
		}
		b[j] = float32(a[j]*bj + shift[j])
	}
	return k, b
}

// poolCover returns, for a 1-D 'valid' pool of window k and stride s on n positions, the largest
// number of windows that contain one position.
func poolCover(n, k, s int) int {
	out := (n-k)/s + 1
	cnt := make([]int, n)
	best := 0
	for o := 0; o < out; o++ {
		for i := o * s; i < o*s+k; i++ {
			cnt[i]++
			best = max(best, cnt[i])
		}
	}
	return best
}

// MaxPoolLipschitz returns the ℓ2 Lipschitz constant of a window × window max pool with the given
// stride ('valid' padding) on an h × w map (per channel; channels are independent): √c, c the
// largest number of windows that contain one input position (1 for non-overlapping windows, 4 for
// 3 × 3 windows at stride 2). It is attained (see the package documentation).
func MaxPoolLipschitz(h, w, window, stride int) float64 {
	return math.Sqrt(float64(poolCover(h, window, stride) * poolCover(w, window, stride)))
}

// AvgPoolOpNorm returns the operator norm of a window × window average pool with the given stride
// ('valid' padding) on an h × w map: the pool is the Kronecker product of two 1-D averaging
// matrices (per channel), so its norm is the product of theirs, each the largest singular value of
// an explicit matrix (gonum SVD). Non-overlapping windows give exactly 1/window.
func AvgPoolOpNorm(h, w, window, stride int) float64 {
	return avgPool1DNorm(h, window, stride) * avgPool1DNorm(w, window, stride)
}

func avgPool1DNorm(n, k, s int) float64 {
	out := (n-k)/s + 1
	if k <= s {
		return 1 / math.Sqrt(float64(k)) // disjoint rows of k entries 1/k
	}
	A := mat.NewDense(out, n, nil)
	for o := 0; o < out; o++ {
		for i := o * s; i < o*s+k; i++ {
			A.Set(o, i, 1/float64(k))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(A, mat.SVDNone) {
		// ‖A‖₂ ≤ √(‖A‖₁‖A‖∞) = √(c/k · 1): a valid upper bound if the SVD fails
		return math.Sqrt(float64(poolCover(n, k, s)) / float64(k))
	}
	return svd.Values(nil)[0]
}

// concatLeaves appends the parts of concatenation node c (nested concatenations flattened) with
// their channel offsets, starting at off.
func (e *Estimator) concatLeaves(c, off int, out []preBranch) []preBranch {
	for _, j := range e.nodes[c].in {
		var cnt int
		if j < 0 {
			cnt = e.net.Input[len(e.net.Input)-1]
		} else {
			cnt = e.nodes[j].shape[len(e.nodes[j].shape)-1]
		}
		if j >= 0 && e.nodes[j].Op == OpConcat {
			out = e.concatLeaves(j, off, out)
		} else {
			out = append(out, preBranch{node: j, off: off, cnt: cnt})
		}
		off += cnt
	}
	return out
}

// preScaledKernel returns layer node j's kernel with its input channels scaled by the scale a of
// the batch norm before its ReLU (node pre): K[…, c, o]·a_c for a convolution, W[r, o]·a_{r mod C}
// for a dense layer (its input flattened row-major, channels last); channels outside [lo, hi) are
// zeroed (hi ≤ 0: none).
func (e *Estimator) preScaledKernel(j int, kernel []float32, lo, hi int) []float32 {
	ni := e.nodes[j]
	a := e.weights.Kernels[e.nodes[ni.pre].layer]
	C := len(a)
	if hi <= 0 {
		lo, hi = 0, C
	}
	out := make([]float32, len(kernel))
	cols := ni.kdims[len(ni.kdims)-1] // output channels (the kernel's last axis)
	for i, v := range kernel {
		c := (i / cols) % C // conv: row (kh·k + kw)·Cin + c; dense: the flattened input index
		if c >= lo && c < hi {
			out[i] = float32(float64(v) * float64(a[c]))
		}
	}
	return out
}
