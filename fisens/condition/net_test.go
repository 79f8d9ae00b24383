package condition

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/testnet"
	"github.com/fisens/fisens/models/ops"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"
)

// funcNet is a test classifier whose logits are written by hand with GoMLX ops, independently of
// the estimator's Net code (batch norms unfolded, strided convolutions as GoMLX strided convolutions,
// GoMLX's own pools).
type funcNet struct {
	store  *model.Store
	k      int
	logits func(v func(string) *graph.Node, x *graph.Node) *graph.Node
}

func (n *funcNet) Store() *model.Store { return n.store }
func (n *funcNet) NumClasses() int     { return n.k }
func (n *funcNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	return n.logits(func(p string) *graph.Node { return scope.Store().GetVariable(p).NodeValue(g) }, x)
}

// netVars creates random conv / dense / batch-norm variables.
type netVars struct {
	st  *model.Store
	rng *rand.Rand
}

func (v netVars) conv(scope string, k, cin, cout int, bias bool) {
	v.st.Scope(scope).VariableWithValue("weights", testnet.RandTensor(v.rng, 1.2/math.Sqrt(float64(k*k*cin)), 0, k, k, cin, cout))
	if bias {
		v.st.Scope(scope).VariableWithValue("biases", testnet.RandTensor(v.rng, 0.1, 0, cout))
	}
}

func (v netVars) dense(scope string, in, out int) {
	v.st.Scope(scope).VariableWithValue("weights", testnet.RandTensor(v.rng, 1/math.Sqrt(float64(in)), 0, in, out))
	v.st.Scope(scope).VariableWithValue("biases", testnet.RandTensor(v.rng, 0.1, 0, out))
}

func (v netVars) bn(scope string, c int) {
	s := v.st.Scope(scope)
	s.VariableWithValue("gamma", testnet.RandTensor(v.rng, 0.3, 1, c))
	s.VariableWithValue("beta", testnet.RandTensor(v.rng, 0.2, 0, c))
	s.VariableWithValue("mean", testnet.RandTensor(v.rng, 0.2, 0, c)).SetTrainable(false)
	vv := make([]float32, c)
	for i := range vv {
		vv[i] = float32(0.5 + v.rng.Float64())
	}
	s.VariableWithValue("variance", tensors.FromFlatDataAndDimensions(vv, c)).SetTrainable(false)
}

// Hand-written layers of the test nets.
func tConv(v func(string) *graph.Node, h *graph.Node, scope string, stride int, same, bias bool) *graph.Node {
	c := graph.Convolve(h, v(scope+"/weights")).Strides(stride)
	if same {
		c = c.PadSame()
	} else {
		c = c.NoPadding()
	}
	h = c.Done()
	if bias {
		h = testnet.AddBias(h, v(scope+"/biases"))
	}
	return h
}

func tBN(v func(string) *graph.Node, h *graph.Node, scope string) *graph.Node {
	r := h.Rank()
	std := graph.Sqrt(graph.AddScalar(v(scope+"/variance"), ops.BatchNormEpsilon))
	xh := graph.Div(graph.Sub(h, graph.ExpandLeftToRank(v(scope+"/mean"), r)), graph.ExpandLeftToRank(std, r))
	return graph.Add(graph.Mul(xh, graph.ExpandLeftToRank(v(scope+"/gamma"), r)), graph.ExpandLeftToRank(v(scope+"/beta"), r))
}

func tReLU(h *graph.Node) *graph.Node { return graph.MaxScalar(h, 0.0) }

const tinyK = 5

// tinyResNet: 13×13×1 raw pixels → stem conv 3×3 stride 2 'same' + BN + ReLU (7×7×4) → 3×3
// stride-2 max pool (overlapping, 3×3×4) → projection bottleneck of stride 2 (2×2×6) → identity
// bottleneck → 2×2 average pool → dense (5 logits).
func tinyResNet(seed uint64) (*funcNet, Net) {
	st := model.NewStore()
	v := netVars{st, rand.New(rand.NewPCG(seed, 77))}
	v.conv("/stem/conv", 3, 1, 4, true)
	v.bn("/stem/bn", 4)
	block := func(p string, cin int, project bool) {
		v.conv(p+"/conv1", 1, cin, 3, true)
		v.bn(p+"/bn1", 3)
		v.conv(p+"/conv2", 3, 3, 3, true)
		v.bn(p+"/bn2", 3)
		v.conv(p+"/conv3", 1, 3, 6, true)
		v.bn(p+"/bn3", 6)
		if project {
			v.conv(p+"/conv_shortcut", 1, cin, 6, true)
			v.bn(p+"/bn_shortcut", 6)
		}
	}
	block("/b1", 4, true)
	block("/b2", 6, false)
	v.dense("/dense", 6, tinyK)
	clf := &funcNet{store: st, k: tinyK, logits: func(v func(string) *graph.Node, x *graph.Node) *graph.Node {
		h := graph.MulScalar(x, 1.0/255)
		h = tReLU(tBN(v, tConv(v, h, "/stem/conv", 2, true, true), "/stem/bn"))
		h = graph.MaxPool(h).Window(3).Strides(2).NoPadding().Done()
		blk := func(h *graph.Node, p string, stride int, project bool) *graph.Node {
			y := tReLU(tBN(v, tConv(v, h, p+"/conv1", stride, false, true), p+"/bn1"))
			y = tReLU(tBN(v, tConv(v, y, p+"/conv2", 1, true, true), p+"/bn2"))
			y = tBN(v, tConv(v, y, p+"/conv3", 1, false, true), p+"/bn3")
			s := h
			if project {
				s = tBN(v, tConv(v, h, p+"/conv_shortcut", stride, false, true), p+"/bn_shortcut")
			}
			return tReLU(graph.Add(y, s))
		}
		h = blk(h, "/b1", 2, true)
		h = blk(h, "/b2", 1, false)
		h = graph.MeanPool(h).Window(2).NoPadding().Done()
		h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
		return testnet.AddBias(graph.MatMul(h, v("/dense/weights")), v("/dense/biases"))
	}}
	var nodes []NetNode
	add := func(n NetNode) int { nodes = append(nodes, n); return len(nodes) - 1 }
	conv := func(in int, scope, bn string, stride int, pad ChainPadding) int {
		return add(NetNode{Op: OpConv, In: []int{in}, Scope: scope, BN: bn, Stride: stride, Padding: pad})
	}
	relu := func(in int) int { return add(NetNode{Op: OpReLU, In: []int{in}}) }
	x := relu(conv(-1, "/stem/conv", "/stem/bn", 2, PadSame))
	x = add(NetNode{Op: OpMaxPool, Window: 3, Stride: 2})
	blk := func(x int, p string, stride int, project bool) int {
		y := relu(conv(x, p+"/conv1", p+"/bn1", stride, PadValid))
		y = relu(conv(y, p+"/conv2", p+"/bn2", 1, PadSame))
		y = conv(y, p+"/conv3", p+"/bn3", 1, PadValid)
		s := x
		if project {
			s = conv(x, p+"/conv_shortcut", p+"/bn_shortcut", stride, PadValid)
		}
		return relu(add(NetNode{Op: OpAdd, In: []int{y, s}}))
	}
	x = blk(x, "/b1", 2, true)
	x = blk(x, "/b2", 1, false)
	add(NetNode{Op: OpAvgPool, In: []int{x}, Window: 2})
	add(NetNode{Op: OpDense, Scope: "/dense"})
	return clf, Net{Input: []int{13, 13, 1}, InputScale: 1.0 / 255, Nodes: nodes}
}

// tinyDenseNet: 9×9×1 raw pixels → stem conv 3×3 stride 2 + BN + ReLU (5×5×4) → two dense layers
// (BN, ReLU, 1×1 conv + BN, ReLU, 3×3 conv, concatenated: 4 → 7 → 10 channels) → transition (BN,
// ReLU, 1×1 conv, 2×2 average pool: 2×2×5) → one dense layer (8 channels) → BN, ReLU, global
// average pool → dense (5 logits).
func tinyDenseNet(seed uint64) (*funcNet, Net) {
	st := model.NewStore()
	v := netVars{st, rand.New(rand.NewPCG(seed, 78))}
	v.conv("/stem/conv", 3, 1, 4, true)
	v.bn("/stem/bn", 4)
	layer := func(p string, cin int) {
		v.bn(p+"/bn1", cin)
		v.conv(p+"/conv1", 1, cin, 6, true)
		v.bn(p+"/bn2", 6)
		v.conv(p+"/conv2", 3, 6, 3, true)
	}
	layer("/l1", 4)
	layer("/l2", 7)
	v.bn("/t/bn", 10)
	v.conv("/t/conv", 1, 10, 5, true)
	layer("/l3", 5)
	v.bn("/final/bn", 8)
	v.dense("/dense", 8, tinyK)
	clf := &funcNet{store: st, k: tinyK, logits: func(v func(string) *graph.Node, x *graph.Node) *graph.Node {
		h := graph.MulScalar(x, 1.0/255)
		h = tReLU(tBN(v, tConv(v, h, "/stem/conv", 2, true, true), "/stem/bn"))
		lay := func(h *graph.Node, p string) *graph.Node {
			y := tReLU(tBN(v, h, p+"/bn1"))
			y = tReLU(tBN(v, tConv(v, y, p+"/conv1", 1, false, true), p+"/bn2"))
			y = tConv(v, y, p+"/conv2", 1, true, true)
			return graph.Concatenate([]*graph.Node{h, y}, -1)
		}
		h = lay(h, "/l1")
		h = lay(h, "/l2")
		h = tConv(v, tReLU(tBN(v, h, "/t/bn")), "/t/conv", 1, false, true)
		h = graph.MeanPool(h).Window(2).NoPadding().Done()
		h = lay(h, "/l3")
		h = graph.ReduceMean(tReLU(tBN(v, h, "/final/bn")), 1, 2)
		return testnet.AddBias(graph.MatMul(h, v("/dense/weights")), v("/dense/biases"))
	}}
	var nodes []NetNode
	add := func(n NetNode) int { nodes = append(nodes, n); return len(nodes) - 1 }
	relu := func(in int) int { return add(NetNode{Op: OpReLU, In: []int{in}}) }
	bn := func(in int, scope string) int { return add(NetNode{Op: OpBatchNorm, In: []int{in}, Scope: scope}) }
	conv := func(in int, scope, bnScope string, stride int, pad ChainPadding) int {
		return add(NetNode{Op: OpConv, In: []int{in}, Scope: scope, BN: bnScope, Stride: stride, Padding: pad})
	}
	lay := func(x int, p string) int {
		y := relu(bn(x, p+"/bn1"))
		y = relu(conv(y, p+"/conv1", p+"/bn2", 1, PadValid))
		y = conv(y, p+"/conv2", "", 1, PadSame)
		return add(NetNode{Op: OpConcat, In: []int{x, y}})
	}
	x := relu(conv(-1, "/stem/conv", "/stem/bn", 2, PadSame))
	x = lay(x, "/l1")
	x = lay(x, "/l2")
	x = conv(relu(bn(x, "/t/bn")), "/t/conv", "", 1, PadValid)
	x = add(NetNode{Op: OpAvgPool, In: []int{x}, Window: 2, Stride: 2})
	x = lay(x, "/l3")
	add(NetNode{Op: OpGlobalAvgPool, In: []int{relu(bn(x, "/final/bn"))}})
	add(NetNode{Op: OpDense, Scope: "/dense"})
	return clf, Net{Input: []int{9, 9, 1}, InputScale: 1.0 / 255, Nodes: nodes}
}

func pixels(seed uint64, n int, in []int) fisens.Batch {
	rng := rand.New(rand.NewPCG(seed, 12))
	x := make([]float32, n*numel(in))
	for i := range x {
		x[i] = float32(255 * rng.Float64())
	}
	return fisens.Batch{X: x, Shape: append([]int{n}, in...)}
}

func TestNetEstimatorChecksTheNet(t *testing.T) {
	b := testnet.Backend(t)
	for name, mk := range map[string]func(uint64) (*funcNet, Net){"resnet": tinyResNet, "densenet": tinyDenseNet} {
		clf, net := mk(1)
		e, err := NewNetEstimator(b, clf, net, NormOptions{Tol: 1e-8})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.CheckedDiff() > 1e-5 {
			t.Errorf("%s: net and classifier differ by %g", name, e.CheckedDiff())
		}
		// Every way of describing a different net is caught by the logits check.
		for what, change := range map[string]func(n *Net){
			"no folded batch norm": func(n *Net) {
				for i := range n.Nodes {
					if n.Nodes[i].BN != "" {
						n.Nodes[i].BN = ""
						return
					}
				}
			},
			"stride 1": func(n *Net) {
				for i := range n.Nodes {
					if n.Nodes[i].Stride == 2 && n.Nodes[i].Op == OpConv {
						n.Nodes[i].Stride = 1
						return
					}
				}
			},
			"a missing ReLU": func(n *Net) {
				for i := range n.Nodes {
					if n.Nodes[i].Op == OpReLU && i > 3 {
						n.Nodes[i] = NetNode{Op: OpAdd, In: n.Nodes[i].In}
						return
					}
				}
			},
			"concat/add input swapped": func(n *Net) {
				for i := range n.Nodes {
					if op := n.Nodes[i].Op; op == OpAdd || op == OpConcat {
						n.Nodes[i].In = []int{n.Nodes[i].In[0], n.Nodes[i].In[0]}
						return
					}
				}
			},
		} {
			_, bad := mk(1)
			bad.Nodes = append([]NetNode(nil), bad.Nodes...)
			change(&bad)
			if _, err := NewNetEstimator(b, clf, bad, NormOptions{}); err == nil {
				t.Errorf("%s: a net with %s was accepted", name, what)
			} else {
				t.Logf("%s, %s: %v", name, what, err)
			}
		}
		// The batch norms are folded: the folded norm is the operator norm of diag(a)·A.
		for _, ln := range e.Norms() {
			if ln.Op <= 0 || ln.AbsOp < ln.Op*(1-1e-6) {
				t.Errorf("%s: layer %s: Op %v, AbsOp %v", name, ln.Scope, ln.Op, ln.AbsOp)
			}
		}
	}
	_, net := tinyResNet(1)
	net.Nodes[0].BN = "/nope"
	clf, _ := tinyResNet(1)
	if _, err := NewNetEstimator(b, clf, net, NormOptions{}); err == nil || !strings.Contains(err.Error(), "/nope/gamma") {
		t.Errorf("missing batch norm: got %v", err)
	}
}

// checkBoundHolds compares the bound with measured changes for random input, weight and rounding
// perturbations and for FGSM/PGD attacks on inputs and weights.
func checkBoundHolds(t *testing.T, e *Estimator, batch fisens.Batch) {
	t.Helper()
	K := e.clf.NumClasses()
	conds, err := e.Conditions(batch)
	if err != nil {
		t.Fatal(err)
	}
	w0 := e.Weights()
	f0, err := e.Run(batch, w0, 0)
	if err != nil {
		t.Fatal(err)
	}
	L := e.NumLayers()
	P := len(batch.X) / batch.N()
	rng := rand.New(rand.NewPCG(9, 10))
	worst := map[string]float64{}
	check := func(what string, z, z0 []float32, conds []Condition, p func(n int) PerturbSizes) {
		t.Helper()
		rc := RelChange(z, z0, K)
		for n, c := range conds {
			bound := c.Bound(p(n))
			if !(rc[n] <= bound*(1+1e-4)+1e-6) {
				t.Errorf("%s: example %d: measured %v > bound %v", what, n, rc[n], bound)
			}
			if bound > 0 {
				worst[what] = math.Max(worst[what], rc[n]/bound)
			}
		}
	}
	weightSizes := func(d Weights) PerturbSizes {
		sz := PerturbSizes{Weight: make([]float64, L), Bias: make([]float64, L)}
		for l := range d.Kernels {
			op, err := e.OpNorm(l, d.Kernels[l])
			if err != nil {
				t.Fatal(err)
			}
			sz.Weight[l] = op / e.Norms()[l].Op
			sz.Bias[l] = Norm(d.Biases[l])
		}
		return sz
	}
	for _, rel := range []float64{1e-4, 1e-2, 0.3, 3} {
		for draw := 0; draw < 2; draw++ {
			x := append([]float32(nil), batch.X...)
			for n := 0; n < batch.N(); n++ {
				d := randSlice(rng, P, 1)
				setOnSphere(d, d, rel*Norm(batch.X[n*P:(n+1)*P]), rng)
				for i := range d {
					x[n*P+i] += d[i]
				}
			}
			f, err := e.Run(fisens.Batch{X: x, Shape: batch.Shape}, w0, 0)
			if err != nil {
				t.Fatal(err)
			}
			check("input", f.Logits, f0.Logits, conds, func(int) PerturbSizes { return PerturbSizes{Input: rel} })
			d := Weights{Kernels: make([][]float32, L), Biases: make([][]float32, L)}
			for l := range d.Kernels {
				d.Kernels[l] = randSlice(rng, len(w0.Kernels[l]), 1)
				setOnSphere(d.Kernels[l], d.Kernels[l], rel*Norm(w0.Kernels[l]), rng)
				if w0.Biases[l] != nil {
					d.Biases[l] = randSlice(rng, len(w0.Biases[l]), 1)
					setOnSphere(d.Biases[l], d.Biases[l], rel*Norm(w0.Biases[l]), rng)
				}
			}
			sz := weightSizes(d)
			f, err = e.Run(batch, AddWeights(w0, d), 0)
			if err != nil {
				t.Fatal(err)
			}
			check("weights", f.Logits, f0.Logits, conds, func(int) PerturbSizes { return sz })
		}
	}
	for _, bits := range []int{3, 5, 8, 12, 16} {
		wr, err := RoundWeights(w0, bits)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.Run(batch, wr, bits)
		if err != nil {
			t.Fatal(err)
		}
		check("rounding", f.Logits, f0.Logits, conds, func(int) PerturbSizes { return e.RoundingPerturbation(bits, true, true) })
	}
	for _, rel := range []float64{1e-3, 0.1} {
		fg, pg, err := e.AttackInput(batch, rel, 3)
		if err != nil {
			t.Fatal(err)
		}
		for what, d := range map[string][]float32{"FGSM": fg, "PGD": pg} {
			x := append([]float32(nil), batch.X...)
			for i := range x {
				x[i] += d[i]
			}
			f, err := e.Run(fisens.Batch{X: x, Shape: batch.Shape}, w0, 0)
			if err != nil {
				t.Fatal(err)
			}
			check("input "+what, f.Logits, f0.Logits, conds, func(int) PerturbSizes { return PerturbSizes{Input: rel} })
		}
		one := fisens.Batch{X: batch.X[:P], Shape: append([]int{1}, batch.Shape[1:]...)}
		fw, pw, err := e.AttackWeights(one, rel, 2)
		if err != nil {
			t.Fatal(err)
		}
		for what, d := range map[string]Weights{"FGSM": fw, "PGD": pw} {
			f, err := e.Run(one, AddWeights(w0, d), 0)
			if err != nil {
				t.Fatal(err)
			}
			sz := weightSizes(d)
			check("weights "+what, f.Logits, f0.Logits[:K], conds[:1], func(int) PerturbSizes { return sz })
		}
	}
	t.Logf("largest measured/bound ratios: %v", worst)
}

func TestBoundHoldsOnResNetAndDenseNet(t *testing.T) {
	b := testnet.Backend(t)
	for name, mk := range map[string]func(uint64) (*funcNet, Net){"resnet": tinyResNet, "densenet": tinyDenseNet} {
		t.Run(name, func(t *testing.T) {
			clf, net := mk(2)
			e, err := NewNetEstimator(b, clf, net, NormOptions{Tol: 1e-8, MaxIter: 5000})
			if err != nil {
				t.Fatal(err)
			}
			checkBoundHolds(t, e, pixels(3, 5, net.Input))
			if name == "densenet" {
				checkPreBatchNorm(t, e, pixels(6, 3, net.Input))
			}
			// First-order coefficients: FirstOrder bounds the bound's first-order part from above.
			conds, _ := e.Conditions(pixels(4, 2, net.Input))
			L := e.NumLayers()
			p := PerturbSizes{Input: 1e-7, Weight: make([]float64, L), Bias: make([]float64, L), Round: 1e-7}
			for l := range p.Weight {
				p.Weight[l], p.Bias[l] = 1e-7, 1e-7
			}
			for _, c := range conds {
				if bd, f := c.Bound(p), c.FirstOrder(p); bd > f*(1+1e-5) || bd < f*0.5 {
					t.Errorf("bound %v, first order %v", bd, f)
				}
			}
		})
	}
	t.Run("chain", func(t *testing.T) {
		checkBoundHolds(t, newTestEstimator(t, b), pixelBatch(5, 4))
	})
}

// stridedConvMatrix writes out ops.Convolve2D at stride 2: the stride-1 convolution's rows of the
// kept phase (TensorFlow's for 'same', 0 for 'valid').
func stridedConvMatrix(kernel []float32, k, cin, cout, h, w int, same bool) *mat.Dense {
	A, oh, ow := convMatrix(kernel, k, cin, cout, h, w, same)
	ph, pw := 0, 0
	if same {
		ph, pw = ops.SamePhase(h, k), ops.SamePhase(w, k)
	}
	var rows []int
	for y := ph; y < oh; y += 2 {
		for x := pw; x < ow; x += 2 {
			for o := 0; o < cout; o++ {
				rows = append(rows, (y*ow+x)*cout+o)
			}
		}
	}
	_, cols := A.Dims()
	S := mat.NewDense(len(rows), cols, nil)
	for i, r := range rows {
		S.SetRow(i, mat.Row(nil, r, A))
	}
	return S
}

func TestStridedConvOpNormMatchesSVD(t *testing.T) {
	b := testnet.Backend(t)
	rng := rand.New(rand.NewPCG(21, 2))
	for _, tc := range []struct {
		k, cin, cout, h, w int
		same               bool
	}{
		{3, 2, 3, 7, 6, true},
		{3, 2, 2, 8, 8, true},
		{3, 1, 3, 7, 7, false},
		{1, 3, 2, 5, 4, false},
	} {
		kernel := randSlice(rng, tc.k*tc.k*tc.cin*tc.cout, 0.5)
		S := stridedConvMatrix(kernel, tc.k, tc.cin, tc.cout, tc.h, tc.w, tc.same)
		// the written-out matrix is what ops.Convolve2D computes
		x := randSlice(rng, tc.h*tc.w*tc.cin, 1)
		pad := ops.Valid
		if tc.same {
			pad = ops.Same
		}
		got := tensors.MustCopyFlatData[float32](graph.MustExecOnce(b, func(x, w *graph.Node) *graph.Node {
			return ops.Convolve2D(x, w, 2, pad)
		}, tensors.FromFlatDataAndDimensions(x, 1, tc.h, tc.w, tc.cin), tensors.FromFlatDataAndDimensions(kernel, tc.k, tc.k, tc.cin, tc.cout)))
		xv := make([]float64, len(x))
		for i, v := range x {
			xv[i] = float64(v)
		}
		var want mat.VecDense
		want.MulVec(S, mat.NewVecDense(len(xv), xv))
		if len(got) != want.Len() {
			t.Fatalf("%+v: %d outputs, the matrix has %d rows", tc, len(got), want.Len())
		}
		for i := range got {
			if math.Abs(float64(got[i])-want.AtVec(i)) > 1e-4 {
				t.Fatalf("%+v: matrix differs from ops.Convolve2D at %d: %v vs %v", tc, i, want.AtVec(i), got[i])
			}
		}
		p := PadValid
		if tc.same {
			p = PadSame
		}
		s, _, err := StridedConvOpNorm(b, kernel, []int{tc.k, tc.k, tc.cin, tc.cout}, []int{tc.h, tc.w, tc.cin}, 2, p, NormOptions{Tol: 1e-9, MaxIter: 5000})
		if err != nil {
			t.Fatal(err)
		}
		ref := largestSV(S)
		if rel := math.Abs(s-ref) / ref; rel > 1e-4 {
			t.Errorf("%+v: power iteration %v, SVD %v", tc, s, ref)
		}
		// the subsampling is 1-Lipschitz: the strided norm is at most the stride-1 one
		s1, _, _ := ConvOpNorm(b, kernel, []int{tc.k, tc.k, tc.cin, tc.cout}, []int{tc.h, tc.w, tc.cin}, p, NormOptions{Tol: 1e-9, MaxIter: 5000})
		if s > s1*(1+1e-5) {
			t.Errorf("%+v: strided %v > stride-1 %v", tc, s, s1)
		}
	}
}

// A folded batch norm: the estimator's norm of the folded conv is ‖diag(a)·A‖ (SVD of the written-out
// matrix), at most max|a|·‖A‖.
func TestFoldedBatchNormNorm(t *testing.T) {
	b := testnet.Backend(t)
	clf, net := tinyResNet(5)
	e, err := NewNetEstimator(b, clf, net, NormOptions{Tol: 1e-10, MaxIter: 8000})
	if err != nil {
		t.Fatal(err)
	}
	// layer 0: the stem, conv 3×3 stride 2 'same' on 13×13×1 with /stem/bn folded
	kv, _, _ := e.readVar("/stem/conv/weights")
	a, _, err := e.batchNormAffine("/stem/bn", 4)
	if err != nil {
		t.Fatal(err)
	}
	S := stridedConvMatrix(kv, 3, 1, 4, 13, 13, true)
	plain := largestSV(S)
	r, c := S.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			S.Set(i, j, S.At(i, j)*a[i%4])
		}
	}
	folded := largestSV(S)
	amax := 0.0
	for _, v := range a {
		amax = math.Max(amax, math.Abs(v))
	}
	got := e.Norms()[0].Op
	if math.Abs(got-folded) > 1e-4*folded {
		t.Errorf("folded stem norm %v, SVD of diag(a)·A %v", got, folded)
	}
	if folded > amax*plain*(1+1e-12) {
		t.Errorf("‖diag(a)A‖ = %v > max|a|·‖A‖ = %v", folded, amax*plain)
	}
	t.Logf("stem: ‖diag(a)A‖ = %.4g, max|a|·‖A‖ = %.4g", folded, amax*plain)
}

// poolMatrix writes out a window × window 'valid' average pool of stride s on an h × w map.
func poolMatrix(h, w, k, s int) *mat.Dense {
	oh, ow := (h-k)/s+1, (w-k)/s+1
	A := mat.NewDense(oh*ow, h*w, nil)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			for i := 0; i < k; i++ {
				for j := 0; j < k; j++ {
					A.Set(y*ow+x, (y*s+i)*w+x*s+j, 1/float64(k*k))
				}
			}
		}
	}
	return A
}

func hostMaxPool(x []float64, h, w, k, s int) []float64 {
	oh, ow := (h-k)/s+1, (w-k)/s+1
	out := make([]float64, oh*ow)
	for y := 0; y < oh; y++ {
		for xx := 0; xx < ow; xx++ {
			m := math.Inf(-1)
			for i := 0; i < k; i++ {
				for j := 0; j < k; j++ {
					m = math.Max(m, x[(y*s+i)*w+xx*s+j])
				}
			}
			out[y*ow+xx] = m
		}
	}
	return out
}

func dist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

func TestPoolLipschitzConstants(t *testing.T) {
	b := testnet.Backend(t)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, tc := range []struct{ h, w, k, s int }{{7, 7, 3, 2}, {8, 6, 3, 2}, {6, 6, 2, 2}, {7, 5, 2, 2}, {9, 9, 3, 1}, {7, 7, 3, 3}} {
		// Average pool: exact norm vs the SVD of the written-out matrix and the power iteration on
		// the graph ops of the forward pass.
		ref := largestSV(poolMatrix(tc.h, tc.w, tc.k, tc.s))
		got := AvgPoolOpNorm(tc.h, tc.w, tc.k, tc.s)
		if math.Abs(got-ref) > 1e-12*ref {
			t.Errorf("%+v: AvgPoolOpNorm %v, SVD %v", tc, got, ref)
		}
		if tc.k == tc.s && math.Abs(got-1/float64(tc.k)) > 1e-12 {
			t.Errorf("%+v: non-overlapping average pool norm %v, want 1/k", tc, got)
		}
		pw, _, err := PoolOpNormPower(b, tc.h, tc.w, 2, tc.k, tc.s, NormOptions{Tol: 1e-9, MaxIter: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(pw-ref) > 1e-4*ref {
			t.Errorf("%+v: power iteration on the pool %v, SVD %v", tc, pw, ref)
		}
		// Max pool: √c is never exceeded by random pairs and is attained by a spike on a
		// position covered by c windows.
		L := MaxPoolLipschitz(tc.h, tc.w, tc.k, tc.s)
		n := tc.h * tc.w
		for trial := 0; trial < 300; trial++ {
			x, y := make([]float64, n), make([]float64, n)
			for i := range x {
				x[i] = rng.NormFloat64()
				y[i] = x[i]
				if trial%2 == 0 || rng.Float64() < 0.2 {
					y[i] += rng.NormFloat64() * math.Pow(10, -float64(trial%4))
				}
			}
			if r := dist(hostMaxPool(x, tc.h, tc.w, tc.k, tc.s), hostMaxPool(y, tc.h, tc.w, tc.k, tc.s)) / dist(x, y); r > L*(1+1e-12) {
				t.Fatalf("%+v: max pool ratio %v > Lipschitz constant %v", tc, r, L)
			}
		}
		best := 0.0
		for p := 0; p < n; p++ {
			x, y := make([]float64, n), make([]float64, n)
			y[p] = 1
			best = math.Max(best, dist(hostMaxPool(x, tc.h, tc.w, tc.k, tc.s), hostMaxPool(y, tc.h, tc.w, tc.k, tc.s)))
		}
		if math.Abs(best-L) > 1e-12 {
			t.Errorf("%+v: the best spike reaches %v, Lipschitz constant %v", tc, best, L)
		}
		// GoMLX's max pool is the host one.
		x := randSlice(rng, n, 1)
		g := tensors.MustCopyFlatData[float32](graph.MustExecOnce(b, func(x *graph.Node) *graph.Node {
			return pool(nodeInfo{NetNode: NetNode{Op: OpMaxPool}, window: tc.k, stride: tc.s}, x)
		}, tensors.FromFlatDataAndDimensions(x, 1, tc.h, tc.w, 1)))
		xv := make([]float64, n)
		for i, v := range x {
			xv[i] = float64(v)
		}
		for i, v := range hostMaxPool(xv, tc.h, tc.w, tc.k, tc.s) {
			if float32(v) != g[i] {
				t.Fatalf("%+v: pool output %d: %v vs host %v", tc, i, g[i], v)
			}
		}
	}
	if got, want := MaxPoolLipschitz(7, 7, 3, 2), 2.0; got != want {
		t.Errorf("3×3 stride-2 max pool on 7×7: %v, want %v", got, want)
	}
	// Global average pool: 1/√(HW).
	A := mat.NewDense(1, 20, nil)
	for j := 0; j < 20; j++ {
		A.Set(0, j, 1.0/20)
	}
	if got := largestSV(A); math.Abs(got-1/math.Sqrt(20)) > 1e-12 {
		t.Errorf("global average pool of 4×5: SVD %v, want 1/√20", got)
	}
}

// attainedNet: x [1, 1, 2] (positive) → u = 2x (1×1 conv) → r = relu(u) + x (residual) → concat(r, 3x)
// → global average pool (1×1: identity) → dense I₄. For an input perturbation along x every
// inequality of the bound is an equality: ‖Δr‖ = 3‖δ‖ = 2‖δ‖ + ‖δ‖ (parallel vectors), the
// concatenation is exact, ‖Δz‖ = √(9 + 9)‖δ‖ = 3√2‖δ‖, and ‖z‖ = 3√2‖x‖.
func attainedNet() (*funcNet, Net) {
	st := model.NewStore()
	st.Scope("/c1").VariableWithValue("weights", tensors.FromFlatDataAndDimensions([]float32{2, 0, 0, 2}, 1, 1, 2, 2))
	st.Scope("/c2").VariableWithValue("weights", tensors.FromFlatDataAndDimensions([]float32{3, 0, 0, 3}, 1, 1, 2, 2))
	eye := make([]float32, 16)
	for i := 0; i < 4; i++ {
		eye[i*5] = 1
	}
	st.Scope("/fc").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(eye, 4, 4))
	clf := &funcNet{store: st, k: 4, logits: func(v func(string) *graph.Node, x *graph.Node) *graph.Node {
		u := tReLU(graph.Convolve(x, v("/c1/weights")).NoPadding().Done())
		r := graph.Add(u, x)
		c := graph.Concatenate([]*graph.Node{r, graph.Convolve(x, v("/c2/weights")).NoPadding().Done()}, -1)
		return graph.MatMul(graph.ReduceMean(c, 1, 2), v("/fc/weights"))
	}}
	return clf, Net{Input: []int{1, 1, 2}, Nodes: []NetNode{
		{Op: OpConv, In: []int{-1}, Scope: "/c1", Padding: PadValid}, // 0
		{Op: OpReLU},                  // 1
		{Op: OpAdd, In: []int{1, -1}}, // 2
		{Op: OpConv, In: []int{-1}, Scope: "/c2", Padding: PadValid}, // 3
		{Op: OpConcat, In: []int{2, 3}},                              // 4
		{Op: OpGlobalAvgPool},                                        // 5
		{Op: OpDense, Scope: "/fc"},                                  // 6
	}}
}

func TestBoundAttainedOnResidualConcat(t *testing.T) {
	b := testnet.Backend(t)
	clf, net := attainedNet()
	e, err := NewNetEstimator(b, clf, net, NormOptions{Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0.6, 0.8}
	batch := fisens.Batch{X: x, Shape: []int{1, 1, 1, 2}}
	conds, err := e.Conditions(batch)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(conds[0].Input-1) > 1e-5 {
		t.Errorf("κ_in = %v, want 1 (‖Δz‖/‖z‖ = ‖δ‖/‖x‖ along x)", conds[0].Input)
	}
	for _, rel := range []float64{1e-3, 0.1, 0.5} {
		xp := []float32{float32(0.6 * (1 + rel)), float32(0.8 * (1 + rel))}
		f0, _ := e.Run(batch, e.Weights(), 0)
		f, _ := e.Run(fisens.Batch{X: xp, Shape: batch.Shape}, e.Weights(), 0)
		d := []float32{xp[0] - x[0], xp[1] - x[1]}
		actual := Norm(d) / Norm(x) // the float32 perturbation's relative size
		got, bound := RelChange(f.Logits, f0.Logits, 4)[0], conds[0].Bound(PerturbSizes{Input: actual})
		// float32 logits: their difference carries a rounding error of about 1e-7·‖z‖
		if math.Abs(got-bound) > (1e-5+2e-7/rel)*bound {
			t.Errorf("ε = %v: measured %v, bound %v: not attained", rel, got, bound)
		}
	}
}

// checkPreBatchNorm: the layers after ReLU ← batch norm carry ‖A·diag(a)‖ (the final dense layer's
// checked against gonum's SVD), at most max|a|·‖A‖, and the bound with it is at most the bound
// without it (and smaller somewhere).
func checkPreBatchNorm(t *testing.T, e *Estimator, batch fisens.Batch) {
	t.Helper()
	n := 0
	for l, ln := range e.Norms() {
		if ln.PreLayer < 0 {
			continue
		}
		n++
		A := e.Norms()[ln.PreLayer].Op
		if ln.Pre <= 0 || ln.Pre > ln.Op*A*(1+1e-5) {
			t.Errorf("layer %s: ‖A·diag(a)‖ = %v, ‖A‖·max|a| = %v", ln.Scope, ln.Pre, ln.Op*A)
		}
		t.Logf("layer %s: ‖A·diag(a)‖ = %.3g, ‖A‖·max|a| = %.3g, per concatenated part %.3g", ln.Scope, ln.Pre, ln.Op*A, ln.PreBranches)
		// the parts' column blocks M_j of M = [M_1 … M_m]: ‖M_j‖ ≤ ‖M‖ ≤ (Σ_j ‖M_j‖²)^{1/2}
		if len(ln.PreBranches) > 0 {
			sq := 0.0
			for _, v := range ln.PreBranches {
				sq += v * v
				if v > ln.Pre*(1+1e-4) {
					t.Errorf("layer %s: a part's norm %v > the whole %v", ln.Scope, v, ln.Pre)
				}
			}
			if ln.Pre > math.Sqrt(sq)*(1+1e-4) {
				t.Errorf("layer %s: ‖M‖ = %v > (Σ‖M_j‖²)^½ = %v", ln.Scope, ln.Pre, math.Sqrt(sq))
			}
		}
		if ln.Kind == OpDense { // final: bn → ReLU → global average pool (2×2) → dense
			w := e.Weights()
			a := w.Kernels[ln.PreLayer]
			k := append([]float32(nil), w.Kernels[l]...)
			cols := ln.OutShape[0]
			for i := range k {
				k[i] *= a[i/cols]
			}
			ref, _ := DenseOpNorm(k, len(a), cols)
			if got := ln.Pre; math.Abs(got-ref/2) > 1e-9*ref {
				t.Errorf("final dense: Pre %v, ‖W·diag(a)‖/√(HW) %v", got, ref/2)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d layers follow ReLU ← batch norm, want 5 (3 bottlenecks, the transition, the dense head)", n)
	}
	conds, err := e.Conditions(batch)
	if err != nil {
		t.Fatal(err)
	}
	p := e.RoundingPerturbation(8, true, true)
	p.Input = 0.01
	for _, c := range conds {
		plain := c
		plain.Pre = make([]float64, len(c.Pre))
		if b, b0 := c.Bound(p), plain.Bound(p); !(b < b0) {
			t.Errorf("bound %v with the batch norms carried across the ReLUs, %v without: not sharper", b, b0)
		} else {
			t.Logf("bound %.3g with the batch norms carried across the ReLUs, %.3g without", b, b0)
		}
	}
}
