package fisens

import (
	"math"
	"strings"
	"testing"

	"github.com/fisens/fisens/internal/testnet"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// linearNet is z = x·W + b on flattened inputs: its input Jacobian is Wᵀ exactly.
type linearNet struct {
	store *model.Store
	K     int
}

func (n *linearNet) Store() *model.Store { return n.store }
func (n *linearNet) NumClasses() int     { return n.K }
func (n *linearNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	d := scope.In("dense")
	h := graph.Reshape(x, x.Shape().Dim(0), -1)
	return addBias(graph.MatMul(h, d.GetVariable("weights").NodeValue(g)), d.GetVariable("biases").NodeValue(g))
}

func TestInputJacobianOfLinearModel(t *testing.T) {
	b := testBackend(t)
	const P, K = 6, 4
	net := &linearNet{store: model.NewStore(), K: K}
	W := []float32{}
	for i := 0; i < P*K; i++ {
		W = append(W, float32(i%7)-3+0.25*float32(i))
	}
	net.Store().Scope("/dense").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(W, P, K))
	net.Store().Scope("/dense").VariableWithValue("biases", tensors.FromFlatDataAndDimensions([]float32{0.1, -0.2, 0.3, 0}, K))
	a, err := NewAnalyzer(b, net)
	if err != nil {
		t.Fatal(err)
	}
	batch := Batch{X: make([]float32, 3*P), Shape: []int{3, 2, 3, 1}, Labels: []int{0, 1, 3}}
	for i := range batch.X {
		batch.X[i] = 0.01 * float32(i)
	}
	jac, err := a.InputJacobian(batch)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 3; n++ {
		for k := 0; k < K; k++ {
			row := jac.Row(n, k)
			for q := 0; q < P; q++ {
				if row[q] != W[q*K+k] {
					t.Fatalf("J[%d][%d][%d] = %g, want W[%d][%d] = %g", n, k, q, row[q], q, k, W[q*K+k])
				}
			}
		}
	}
	// Whole-input FI with p = 6 ≥ K−1 = 3: rank K−1 and FI = (1−π_y)/π_y.
	res, err := jac.FI(nil, Additive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n, r := range res {
		if r.Rank != K-1 || math.Abs(r.FI-r.Bound) > 1e-9*r.Bound {
			t.Errorf("example %d: FI %g rank %d, want the bound %g at rank %d", n, r.FI, r.Rank, r.Bound, K-1)
		}
	}
}

// TestInputJacobianFiniteDifferences checks the autodiff Jacobian used by every input measure
// against central finite differences of the logits (smooth tanh net).
func TestInputJacobianFiniteDifferences(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 5, 4, 2, 3, 6
	net := newTinyNet(1, H, W, C, F, K, true)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(2, 2, H, W, C, K)
	jac, err := a.InputJacobian(batch)
	if err != nil {
		t.Fatal(err)
	}
	P := H * W * C
	const h = 1e-2
	for n := 0; n < 2; n++ {
		for _, q := range []int{0, 7, 19, P - 1} {
			plus := Batch{X: append([]float32(nil), batch.X...), Shape: batch.Shape}
			minus := Batch{X: append([]float32(nil), batch.X...), Shape: batch.Shape}
			plus.X[n*P+q] += h
			minus.X[n*P+q] -= h
			zp, err1 := a.Logits(plus)
			zm, err2 := a.Logits(minus)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			for k := 0; k < K; k++ {
				fd := (float64(zp[n*K+k]) - float64(zm[n*K+k])) / (2 * h)
				ad := float64(jac.Row(n, k)[q])
				if math.Abs(fd-ad) > 2e-3*math.Max(1, math.Abs(ad)) {
					t.Errorf("example %d input %d class %d: autodiff %g, finite differences %g", n, q, k, ad, fd)
				}
			}
			// The other example's logits must not move: examples do not interact in inference mode.
			other := 1 - n
			for k := 0; k < K; k++ {
				if zp[other*K+k] != jac.Logits[other*K+k] {
					t.Fatalf("perturbing example %d changed example %d's logits", n, other)
				}
			}
		}
	}
}

func TestBatchedJacobianEqualsPerExample(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 5
	net := newTinyNet(3, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(4, 3, H, W, C, K)
	jac, err := a.InputJacobian(batch)
	if err != nil {
		t.Fatal(err)
	}
	P := H * W * C
	for n := 0; n < 3; n++ {
		one := Batch{X: batch.X[n*P : (n+1)*P], Shape: []int{1, H, W, C}, Labels: batch.Labels[n : n+1]}
		j1, err := a.InputJacobian(one)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < K; k++ {
			r, r1 := jac.Row(n, k), j1.Row(0, k)
			for q := range r {
				if math.Abs(float64(r[q]-r1[q])) > 1e-5*math.Max(1, math.Abs(float64(r1[q]))) {
					t.Fatalf("example %d class %d input %d: batched %g, alone %g", n, k, q, r[q], r1[q])
				}
			}
		}
	}
}

func TestInputFIIdentityAndLowDimensional(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 6, 6, 1, 3, 10
	net := newTinyNet(5, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(6, 4, H, W, C, K)
	res, err := a.InputFI(batch, Additive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n, r := range res {
		// p = 36 ≥ K−1: FI is the odds against the label.
		if r.Rank != K-1 || math.Abs(r.FI-r.Bound) > 1e-6*r.Bound {
			t.Errorf("example %d: whole input FI %g rank %d, want bound %g rank %d", n, r.FI, r.Rank, r.Bound, K-1)
		}
	}
	jac, _ := a.InputJacobian(batch)
	// Single pixels and pairs: rank ≤ p < K−1 and FI strictly below the bound.
	for _, cols := range [][]int{{0}, {14}, {14, 15}, {3, 9, 21}} {
		rs, err := jac.FI(cols, Additive, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for n, r := range rs {
			if r.Rank > len(cols) || r.FI > r.Bound {
				t.Errorf("cols %v example %d: FI %g rank %d bound %g", cols, n, r.FI, r.Rank, r.Bound)
			}
		}
	}
}

func TestInputScalingEqualsAdditiveWhereNonZero(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 5, 5, 1, 2, 10
	net := newTinyNet(8, H, W, C, F, K, true)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(9, 2, H, W, C, K) // Gaussian inputs: no zero entries
	jac, _ := a.InputJacobian(batch)
	for _, cols := range [][]int{{4}, {4, 5, 6}, {0, 1, 2, 3, 10, 11}} {
		add, _ := jac.FI(cols, Additive, Options{})
		sc, _ := jac.FI(cols, Scaling, Options{})
		for n := range add {
			if math.Abs(add[n].FI-sc[n].FI) > 1e-7*math.Max(add[n].FI, 1e-12) {
				t.Errorf("cols %v example %d: additive FI %.12g, scaling %.12g", cols, n, add[n].FI, sc[n].FI)
			}
			// The Jacobian norm is not invariant.
			if math.Abs(add[n].JacNorm-sc[n].JacNorm) < 1e-6*add[n].JacNorm {
				t.Errorf("cols %v: Jacobian norm unexpectedly invariant (%g vs %g)", cols, add[n].JacNorm, sc[n].JacNorm)
			}
		}
	}
}

func TestParamFIPerLayer(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 10
	net := newTinyNet(10, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(11, 1, H, W, C, K)
	layers, err := a.Layers(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 3 || layers[0].Name != "/conv1" || layers[1].Kind != "bn" || layers[2].Kind != "dense" {
		t.Fatalf("layers %+v", layers)
	}
	if layers[0].Params != 3*3*1*F+F || layers[1].Params != 2*F || layers[2].Params != H*W*F*K+K {
		t.Fatalf("param counts %+v", layers)
	}
	add, err := a.ParamFI(batch, ParamOptions{WithInput: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := a.ParamFI(batch, ParamOptions{Form: Scaling})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range add.Groups {
		ra, rs := add.PerGroup[i], sc.PerGroup[i]
		t.Logf("%-8s p=%4d rank=%d FI=%.6g bound=%.6g scaling FI=%.6g", l.Name, l.Params, ra.Rank, ra.FI, ra.Bound, rs.FI)
		if ra.Rank > min(l.Params, K-1) || ra.FI > ra.Bound*(1+1e-9) {
			t.Errorf("%s: rank %d FI %g bound %g", l.Name, ra.Rank, ra.FI, ra.Bound)
		}
		// Additive vs scaling invariance (no parameter is zero).
		if math.Abs(ra.FI-rs.FI) > 1e-6*math.Max(ra.FI, 1e-12) {
			t.Errorf("%s: additive FI %.10g, scaling FI %.10g", l.Name, ra.FI, rs.FI)
		}
	}
	// bn1 has p = 2F = 4 < K−1: informative, below the bound. dense has p ≫ K: FI = bound.
	if add.PerGroup[1].Rank != 2*F || !(add.PerGroup[1].FI < add.PerGroup[1].Bound) {
		t.Errorf("bn1: rank %d FI %g bound %g", add.PerGroup[1].Rank, add.PerGroup[1].FI, add.PerGroup[1].Bound)
	}
	if add.PerGroup[2].Rank != K-1 || math.Abs(add.All.FI-add.All.Bound) > 1e-6*add.All.Bound {
		t.Errorf("dense / all: %+v %+v", add.PerGroup[2], add.All)
	}
	if add.Joint == nil || add.Input == nil || add.Joint.Rank != K-1 {
		t.Errorf("joint input+parameters: %+v", add.Joint)
	}
	// The per-layer Gram of the input part equals InputJacobian's.
	in, _ := a.InputFI(batch, Additive, Options{})
	if math.Abs(in[0].FI-add.Input.FI) > 1e-6*in[0].FI || math.Abs(in[0].JacNorm-add.Input.JacNorm) > 1e-5*in[0].JacNorm {
		t.Errorf("input FI via the parameter graph %+v, via InputJacobian %+v", *add.Input, in[0])
	}
}

// TestParamGradientsFiniteDifferences checks the parameter Jacobian Gram of a layer against
// finite differences of the logits with respect to that layer's variables.
func TestParamGradientsFiniteDifferences(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 3, 3, 1, 2, 4
	net := newTinyNet(12, H, W, C, F, K, true)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(13, 1, H, W, C, K)
	res, err := a.ParamFI(batch, ParamOptions{Only: []string{"/bn1"}})
	if err != nil {
		t.Fatal(err)
	}
	// J (K × 4) by finite differences on gamma and beta.
	store := net.Store()
	z0, _ := a.Logits(batch)
	J := make([][]float64, K)
	for k := range J {
		J[k] = make([]float64, 0, 2*F)
	}
	const h = 1e-2
	for _, name := range []string{"/bn1/gamma", "/bn1/beta"} {
		v := store.GetVariable(name)
		orig := tensors.MustCopyFlatData[float32](v.MustValue())
		for i := range orig {
			col := make([]float64, K)
			for _, sgn := range []float32{1, -1} {
				pert := append([]float32(nil), orig...)
				pert[i] += sgn * h
				v.MustSetValue(tensors.FromFlatDataAndDimensions(pert, len(pert)))
				z, err := a.Logits(batch)
				if err != nil {
					t.Fatal(err)
				}
				for k := 0; k < K; k++ {
					col[k] += float64(sgn) * float64(z[k]) / (2 * h)
				}
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(orig, len(orig)))
			for k := 0; k < K; k++ {
				J[k] = append(J[k], col[k])
			}
		}
	}
	M := make([]float64, K*K)
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			for q := range J[i] {
				M[i*K+j] += J[i][q] * J[j][q]
			}
		}
	}
	z := make([]float64, K)
	for k := range z {
		z[k] = float64(z0[k])
	}
	want, err := FromGram(M, z, batch.Labels[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := res.PerGroup[0]
	if math.Abs(got.FI-want.FI) > 1e-3*want.FI || got.Rank != want.Rank || math.Abs(got.JacNorm-want.JacNorm) > 1e-3*want.JacNorm {
		t.Errorf("bn1: autodiff FI %g rank %d jacnorm %g; finite differences FI %g rank %d jacnorm %g",
			got.FI, got.Rank, got.JacNorm, want.FI, want.Rank, want.JacNorm)
	}
}

func TestBadInputErrors(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 10
	net := newTinyNet(14, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	good := randomBatch(15, 2, H, W, C, K)
	cases := map[string]func() error{
		"empty batch": func() error {
			_, err := a.InputFI(Batch{X: nil, Shape: []int{0, H, W, C}, Labels: []int{}}, Additive, Options{})
			return err
		},
		"shape mismatch": func() error {
			_, err := a.InputFI(Batch{X: good.X[:10], Shape: good.Shape, Labels: good.Labels}, Additive, Options{})
			return err
		},
		"label out of range": func() error {
			_, err := a.InputFI(Batch{X: good.X, Shape: good.Shape, Labels: []int{0, K}}, Additive, Options{})
			return err
		},
		"missing labels": func() error {
			_, err := a.InputFI(Batch{X: good.X, Shape: good.Shape}, Additive, Options{})
			return err
		},
		"unknown layer": func() error {
			one := Batch{X: good.X[:H*W*C], Shape: []int{1, H, W, C}, Labels: good.Labels[:1]}
			_, err := a.ParamFI(one, ParamOptions{Only: []string{"/conv9"}})
			if err != nil && !strings.Contains(err.Error(), "/conv1") {
				t.Errorf("unknown-layer error should list the known layers: %v", err)
			}
			return err
		},
		"two examples for ParamFI": func() error {
			_, err := a.ParamFI(good, ParamOptions{})
			return err
		},
		"NaN input": func() error {
			x := append([]float32(nil), good.X...)
			x[3] = float32(math.NaN())
			_, err := a.InputFI(Batch{X: x, Shape: good.Shape, Labels: good.Labels}, Additive, Options{})
			return err
		},
	}
	testnet.WantErrors(t, cases)
}
