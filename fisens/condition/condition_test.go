package condition

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/testnet"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"
)

// convMatrix writes out the stride-1 convolution (cross-correlation, channels last) with kernel
// [k, k, cin, cout] on inputs [h, w, cin] as a dense (outH·outW·cout) × (h·w·cin) matrix.
func convMatrix(kernel []float32, k, cin, cout, h, w int, same bool) (*mat.Dense, int, int) {
	p := 0
	oh, ow := h-k+1, w-k+1
	if same {
		p = (k - 1) / 2
		oh, ow = h, w
	}
	A := mat.NewDense(oh*ow*cout, h*w*cin, nil)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			for o := 0; o < cout; o++ {
				row := (y*ow+x)*cout + o
				for i := 0; i < k; i++ {
					for j := 0; j < k; j++ {
						yy, xx := y+i-p, x+j-p
						if yy < 0 || yy >= h || xx < 0 || xx >= w {
							continue
						}
						for c := 0; c < cin; c++ {
							col := (yy*w+xx)*cin + c
							A.Set(row, col, A.At(row, col)+float64(kernel[((i*k+j)*cin+c)*cout+o]))
						}
					}
				}
			}
		}
	}
	return A, oh, ow
}

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * rng.NormFloat64())
	}
	return v
}

func largestSV(A *mat.Dense) float64 {
	var svd mat.SVD
	if !svd.Factorize(A, mat.SVDNone) {
		panic("svd failed")
	}
	return svd.Values(nil)[0]
}

func TestConvOpNormMatchesSVD(t *testing.T) {
	b := testnet.Backend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		k, cin, cout, h, w int
		same               bool
	}{
		{3, 2, 3, 5, 6, true},
		{3, 2, 3, 5, 6, false},
		{5, 1, 4, 7, 7, true},
		{1, 3, 2, 4, 4, true},
	} {
		kernel := randSlice(rng, tc.k*tc.k*tc.cin*tc.cout, 0.5)
		A, oh, ow := convMatrix(kernel, tc.k, tc.cin, tc.cout, tc.h, tc.w, tc.same)
		// The written-out matrix is the operator GoMLX computes.
		x := randSlice(rng, tc.h*tc.w*tc.cin, 1)
		got := graph.MustExecOnce(b, func(x, w *graph.Node) *graph.Node {
			c := graph.Convolve(x, w)
			if tc.same {
				c = c.PadSame()
			} else {
				c = c.NoPadding()
			}
			return c.Done()
		}, tensors.FromFlatDataAndDimensions(x, 1, tc.h, tc.w, tc.cin), tensors.FromFlatDataAndDimensions(kernel, tc.k, tc.k, tc.cin, tc.cout))
		y := tensors.MustCopyFlatData[float32](got)
		xv := make([]float64, len(x))
		for i, v := range x {
			xv[i] = float64(v)
		}
		var want mat.VecDense
		want.MulVec(A, mat.NewVecDense(len(xv), xv))
		if len(y) != oh*ow*tc.cout {
			t.Fatalf("conv output has %d values, want %d", len(y), oh*ow*tc.cout)
		}
		for i := range y {
			if math.Abs(float64(y[i])-want.AtVec(i)) > 1e-4 {
				t.Fatalf("%+v: conv matrix differs from GoMLX's convolution at %d: %v vs %v", tc, i, want.AtVec(i), y[i])
			}
		}
		pad := PadValid
		if tc.same {
			pad = PadSame
		}
		s, it, err := ConvOpNorm(b, kernel, []int{tc.k, tc.k, tc.cin, tc.cout}, []int{tc.h, tc.w, tc.cin}, pad, NormOptions{Tol: 1e-8, MaxIter: 5000})
		if err != nil {
			t.Fatal(err)
		}
		ref := largestSV(A)
		if rel := math.Abs(s-ref) / ref; rel > 1e-4 {
			t.Errorf("%+v: power iteration %v after %d iterations, SVD %v (rel. error %.2g)", tc, s, it, ref, rel)
		}
		if s > ref*(1+1e-5) {
			t.Errorf("%+v: power iteration %v exceeds the largest singular value %v", tc, s, ref)
		}
	}
}

func TestDenseOpNormPowerMatchesSVD(t *testing.T) {
	b := testnet.Backend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][2]int{{7, 5}, {20, 3}, {4, 30}} {
		w := randSlice(rng, sz[0]*sz[1], 1)
		ref, err := DenseOpNorm(w, sz[0], sz[1])
		if err != nil {
			t.Fatal(err)
		}
		d := make([]float64, len(w))
		for i, v := range w {
			d[i] = float64(v)
		}
		if got := largestSV(mat.NewDense(sz[0], sz[1], d)); math.Abs(got-ref) > 1e-12*got {
			t.Fatalf("DenseOpNorm %v, gonum SVD %v", ref, got)
		}
		s, _, err := DenseOpNormPower(b, w, sz[0], sz[1], NormOptions{Tol: 1e-9, MaxIter: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(s-ref)/ref > 1e-4 {
			t.Errorf("%v: power iteration %v, SVD %v", sz, s, ref)
		}
	}
	if _, err := DenseOpNorm(make([]float32, 5), 2, 3); err == nil || !strings.Contains(err.Error(), "2 × 3") {
		t.Errorf("bad size: got %v", err)
	}
}

// chainNet is a small feed-forward classifier written independently of the estimator's chain code:
// conv1 (3×3 same, bias) → ReLU → 2×2 max pool (GoMLX's MaxPool) → conv2 (3×3 valid, bias) → ReLU →
// fc3 (bias) → ReLU → fc4 (no bias).
type chainNet struct {
	store *model.Store
	scale float64
}

const chainH, chainW, chainK = 9, 9, 5

func (n *chainNet) Store() *model.Store { return n.store }
func (n *chainNet) NumClasses() int     { return chainK }

func newChainNet(seed uint64) *chainNet {
	rng := rand.New(rand.NewPCG(seed, 5))
	n := &chainNet{store: model.NewStore(), scale: 1.0 / 255}
	st := n.store
	st.Scope("/conv1").VariableWithValue("weights", testnet.RandTensor(rng, 0.4, 0, 3, 3, 1, 4))
	st.Scope("/conv1").VariableWithValue("biases", testnet.RandTensor(rng, 0.1, 0, 4))
	st.Scope("/conv2").VariableWithValue("weights", testnet.RandTensor(rng, 0.3, 0, 3, 3, 4, 6))
	st.Scope("/conv2").VariableWithValue("biases", testnet.RandTensor(rng, 0.1, 0, 6))
	st.Scope("/fc3").VariableWithValue("weights", testnet.RandTensor(rng, 0.3, 0, 2*2*6, 8))
	st.Scope("/fc3").VariableWithValue("biases", testnet.RandTensor(rng, 0.1, 0, 8))
	st.Scope("/fc4").VariableWithValue("weights", testnet.RandTensor(rng, 0.4, 0, 8, chainK))
	return n
}

func (n *chainNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	v := func(p string) *graph.Node { return scope.Store().GetVariable(p).NodeValue(g) }
	h := graph.MulScalar(x, n.scale)
	h = graph.Convolve(h, v("/conv1/weights")).PadSame().Done()
	h = graph.Max(testnet.AddBias(h, v("/conv1/biases")), graph.ZerosLike(h))
	h = graph.MaxPool(h).Window(2).NoPadding().Done()
	h = graph.Convolve(h, v("/conv2/weights")).NoPadding().Done()
	h = graph.Max(testnet.AddBias(h, v("/conv2/biases")), graph.ZerosLike(h))
	h = graph.Reshape(h, h.Shape().Dim(0), -1)
	h = testnet.AddBias(graph.MatMul(h, v("/fc3/weights")), v("/fc3/biases"))
	h = graph.Max(h, graph.ZerosLike(h))
	return graph.MatMul(h, v("/fc4/weights"))
}

func chainNetChain() Chain {
	return Chain{Input: []int{chainH, chainW, 1}, InputScale: 1.0 / 255, Layers: []ChainLayer{
		{Scope: "/conv1", Kind: ChainConv, Padding: PadSame, ReLU: true, MaxPool: true},
		{Scope: "/conv2", Kind: ChainConv, Padding: PadValid, ReLU: true},
		{Scope: "/fc3", Kind: ChainDense, ReLU: true},
		{Scope: "/fc4", Kind: ChainDense},
	}}
}

func pixelBatch(seed uint64, n int) fisens.Batch {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, n*chainH*chainW)
	for i := range x {
		x[i] = float32(255 * rng.Float64())
	}
	return fisens.Batch{X: x, Shape: []int{n, chainH, chainW, 1}}
}

func newTestEstimator(t *testing.T, b compute.Backend) *Estimator {
	t.Helper()
	e, err := NewEstimator(b, newChainNet(7), chainNetChain(), NormOptions{Tol: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEstimatorChecksTheChain(t *testing.T) {
	b := testnet.Backend(t)
	e := newTestEstimator(t, b)
	if e.CheckedDiff() > 1e-5 {
		t.Errorf("chain and classifier differ by %g", e.CheckedDiff())
	}
	bad := chainNetChain()
	bad.Layers[0].MaxPool = false
	bad.Layers[1].Padding = PadSame
	if _, err := NewEstimator(b, newChainNet(7), bad, NormOptions{}); err == nil {
		t.Error("a chain without the pool was accepted")
	}
	bad = chainNetChain()
	bad.Layers[2].ReLU = false
	if _, err := NewEstimator(b, newChainNet(7), bad, NormOptions{}); err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Errorf("a chain without a ReLU: got %v", err)
	}
	bad = chainNetChain()
	bad.Layers[1].Scope = "/conv9"
	if _, err := NewEstimator(b, newChainNet(7), bad, NormOptions{}); err == nil || !strings.Contains(err.Error(), "/conv9/weights") {
		t.Errorf("a missing layer: got %v", err)
	}
	// Norms: dense layers exactly, AbsOp ≥ Op.
	for i, ln := range e.Norms() {
		if ln.Op <= 0 || ln.AbsOp < ln.Op {
			t.Errorf("layer %d: Op %v, AbsOp %v", i, ln.Op, ln.AbsOp)
		}
	}
	w := e.Weights()
	ref, _ := DenseOpNorm(w.Kernels[2], 24, 8)
	if got := e.Norms()[2].Op; got != ref {
		t.Errorf("fc3 norm %v, want %v", got, ref)
	}
}

func TestConditionChain(t *testing.T) {
	e := newTestEstimator(t, testnet.Backend(t))
	conds, err := e.Conditions(pixelBatch(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conds {
		prod := 1.0
		for i := len(c.Layer) - 1; i >= 0; i-- {
			prod *= c.Layer[i]
			if math.Abs(prod-c.Weight[i]) > 1e-9*prod {
				t.Errorf("κ_W,%d = %v, Π_{m≥%d} κ_m = %v", i, c.Weight[i], i, prod)
			}
		}
		if math.Abs(prod-c.Input) > 1e-9*prod {
			t.Errorf("κ_in = %v, Π κ = %v", c.Input, prod)
		}
		// Small perturbations: the exact bound tends to its first-order part.
		p := PerturbSizes{Input: 1e-7, Weight: []float64{1e-7, 2e-7, 1e-7, 3e-7}, Bias: []float64{1e-7, 0, 1e-7, 0}, Round: 1e-7}
		if b, f := c.Bound(p), c.FirstOrder(p); math.Abs(b-f) > 1e-5*f {
			t.Errorf("bound %v, first order %v", b, f)
		}
	}
}

// The bound is never violated by measured random perturbations of inputs, weights, and by rounding.
func TestBoundHoldsForRandomPerturbations(t *testing.T) {
	b := testnet.Backend(t)
	e := newTestEstimator(t, b)
	batch := pixelBatch(2, 6)
	conds, err := e.Conditions(batch)
	if err != nil {
		t.Fatal(err)
	}
	w0 := e.Weights()
	f0, err := e.Run(batch, w0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	P := chainH * chainW
	worst := 0.0
	check := func(what string, z []float32, p func(n int) PerturbSizes) {
		t.Helper()
		rc := RelChange(z, f0.Logits, chainK)
		for n, c := range conds {
			bound := c.Bound(p(n))
			if rc[n] > bound*(1+1e-4)+1e-6 {
				t.Errorf("%s: example %d: measured %v > bound %v", what, n, rc[n], bound)
			}
			if bound > 0 {
				worst = math.Max(worst, rc[n]/bound)
			}
		}
	}
	for _, rel := range []float64{1e-4, 1e-2, 0.3, 3} {
		for draw := 0; draw < 3; draw++ {
			// inputs
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
			check("input", f.Logits, func(int) PerturbSizes { return PerturbSizes{Input: rel} })
			// weights: every kernel and bias, ε_l measured as an operator norm
			d := Weights{Kernels: make([][]float32, 4), Biases: make([][]float32, 4)}
			sz := PerturbSizes{Weight: make([]float64, 4), Bias: make([]float64, 4)}
			for l := range d.Kernels {
				d.Kernels[l] = randSlice(rng, len(w0.Kernels[l]), 1)
				setOnSphere(d.Kernels[l], d.Kernels[l], rel*Norm(w0.Kernels[l]), rng)
				op, err := e.OpNorm(l, d.Kernels[l])
				if err != nil {
					t.Fatal(err)
				}
				sz.Weight[l] = op / e.Norms()[l].Op
				if w0.Biases[l] != nil {
					d.Biases[l] = randSlice(rng, len(w0.Biases[l]), 1)
					setOnSphere(d.Biases[l], d.Biases[l], rel*Norm(w0.Biases[l]), rng)
					sz.Bias[l] = Norm(d.Biases[l])
				}
			}
			f, err = e.Run(batch, AddWeights(w0, d), 0)
			if err != nil {
				t.Fatal(err)
			}
			check("weights", f.Logits, func(int) PerturbSizes { return sz })
		}
	}
	for bits := 3; bits <= 16; bits++ {
		wr, err := RoundWeights(w0, bits)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.Run(batch, wr, bits)
		if err != nil {
			t.Fatal(err)
		}
		check("rounding", f.Logits, func(int) PerturbSizes { return e.RoundingPerturbation(bits, true, true) })
	}
	t.Logf("largest measured/bound ratio: %.3g", worst)
}

func TestAttacksRespectTheBound(t *testing.T) {
	b := testnet.Backend(t)
	e := newTestEstimator(t, b)
	batch := pixelBatch(3, 4)
	conds, err := e.Conditions(batch)
	if err != nil {
		t.Fatal(err)
	}
	w0 := e.Weights()
	f0, _ := e.Run(batch, w0, 0)
	const rel = 0.05
	fg, pg, err := e.AttackInput(batch, rel, 4)
	if err != nil {
		t.Fatal(err)
	}
	P := chainH * chainW
	measure := func(d []float32) []float64 {
		x := append([]float32(nil), batch.X...)
		for i := range x {
			x[i] += d[i]
		}
		f, err := e.Run(fisens.Batch{X: x, Shape: batch.Shape}, w0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return RelChange(f.Logits, f0.Logits, chainK)
	}
	rf, rp := measure(fg), measure(pg)
	for n, c := range conds {
		if r := Norm(pg[n*P:(n+1)*P]) / Norm(batch.X[n*P:(n+1)*P]); math.Abs(r-rel) > 1e-4 {
			t.Errorf("example %d: PGD perturbation of relative size %v, want %v", n, r, rel)
		}
		bound := c.Bound(PerturbSizes{Input: rel})
		if rp[n] < rf[n]*(1-1e-5) {
			t.Errorf("example %d: PGD %v below its FGSM start %v", n, rp[n], rf[n])
		}
		if rp[n] > bound {
			t.Errorf("example %d: attack %v beats the bound %v", n, rp[n], bound)
		}
	}
	one := fisens.Batch{X: batch.X[:P], Shape: []int{1, chainH, chainW, 1}}
	_, wp, err := e.AttackWeights(one, rel, 3)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Run(one, AddWeights(w0, wp), 0)
	if err != nil {
		t.Fatal(err)
	}
	sz := PerturbSizes{Weight: make([]float64, 4), Bias: make([]float64, 4)}
	for l := range wp.Kernels {
		if r := Norm(wp.Kernels[l]) / Norm(w0.Kernels[l]); math.Abs(r-rel) > 1e-4 {
			t.Errorf("layer %d: kernel perturbation of relative size %v, want %v", l, r, rel)
		}
		op, _ := e.OpNorm(l, wp.Kernels[l])
		sz.Weight[l] = op / e.Norms()[l].Op
		sz.Bias[l] = Norm(wp.Biases[l])
	}
	if got, bound := RelChange(f.Logits, f0.Logits[:chainK], chainK)[0], conds[0].Bound(sz); got > bound || got <= 0 {
		t.Errorf("weight attack: measured %v, bound %v", got, bound)
	}
}

func TestRoundSignificand(t *testing.T) {
	v := []float32{1, 1.5, 1.25, 1.125, -3.3, 0, 1e-3, 255, 0.1}
	got := append([]float32(nil), v...)
	if err := RoundSignificand(got, 2); err != nil {
		t.Fatal(err)
	}
	// 2 significant bits: 1, 1.5, 1.25→1 (tie to even), 1.125→1, −3.3→−3, 0, …, 255→256, 0.1→0.09375
	want := []float32{1, 1.5, 1, 1, -3, 0, 0.0009765625, 256, 0.09375}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("RoundSignificand(%v, 2) = %v, want %v", v[i], got[i], want[i])
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	x := randSlice(rng, 2000, 10)
	for bits := 1; bits <= 23; bits++ {
		r := append([]float32(nil), x...)
		_ = RoundSignificand(r, bits)
		for i := range r {
			if d := math.Abs(float64(r[i]) - float64(x[i])); d > math.Ldexp(1, -bits)*math.Abs(float64(x[i])) {
				t.Fatalf("bits %d: |r(x) − x| = %v > 2^−b|x| for x = %v", bits, d, x[i])
			}
		}
	}
	if err := RoundSignificand(x, 0); err == nil {
		t.Error("bits = 0 accepted")
	}
}

// The in-graph rounding (Veltkamp's splitting) equals the host rounding.
func TestGraphRoundingMatchesHost(t *testing.T) {
	b := testnet.Backend(t)
	rng := rand.New(rand.NewPCG(6, 6))
	x := randSlice(rng, 5000, 3)
	for _, bits := range []int{2, 4, 8, 11, 16, 23} {
		out := graph.MustExecOnce(b, func(x, s *graph.Node) *graph.Node { return roundTo(x, s) },
			tensors.FromFlatDataAndDimensions(x, len(x)), float32(math.Ldexp(1, 24-bits)+1))
		got := tensors.MustCopyFlatData[float32](out)
		want := append([]float32(nil), x...)
		_ = RoundSignificand(want, bits)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("bits %d: graph rounding of %v = %v, host %v", bits, x[i], got[i], want[i])
			}
		}
	}
}

func TestPredictBits(t *testing.T) {
	e := newTestEstimator(t, testnet.Backend(t))
	conds, err := e.Conditions(pixelBatch(4, 5))
	if err != nil {
		t.Fatal(err)
	}
	bits, curve, err := e.PredictBits(conds, 1e-2, true, true, 1, 24)
	if err != nil {
		t.Fatal(err)
	}
	if bits < 1 || bits > 24 {
		t.Fatalf("predicted %d bits", bits)
	}
	for i := 1; i < len(curve)-1; i++ {
		if curve[i] > curve[i-1] {
			t.Errorf("bound increases with bits at %d: %v > %v", i+1, curve[i], curve[i-1])
		}
	}
	if curve[bits-1] > 1e-2 || (bits > 1 && curve[bits-2] <= 1e-2) {
		t.Errorf("predicted %d bits, curve %v", bits, curve)
	}
	if _, _, err := e.PredictBits(conds, 0, true, true, 1, 24); err == nil {
		t.Error("tol = 0 accepted")
	}
}
