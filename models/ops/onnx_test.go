//go:build onnx

package ops

import (
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// onnxBackend returns ONNX Runtime or skips the test with a message.
func onnxBackend(t *testing.T) compute.Backend {
	t.Helper()
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	b, err := backend.New("onnx:cpu")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randFloat32(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// crossRun returns [y, dL/dx, dL/dvar...] (L = Σ r⊙y) for f on backend b, with the variables copied
// from values (by path) after they are created.
func crossRun(t *testing.T, b compute.Backend, values map[string][]float32, training bool, f layerFn, x *tensors.Tensor, r []float32) (out [][]float32, store *model.Store) {
	t.Helper()
	store = model.NewStore()
	if err := store.SetRNGStateFromSeed(11); err != nil {
		t.Fatal(err)
	}
	x = clone(x) // a tensor cannot be shared between backends
	if _, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node { return f(scope, x) }, x); err != nil {
		t.Fatal(err)
	}
	var vars []*model.Variable
	for v := range store.IterVariables() {
		if v.Name()[0] == '#' {
			continue
		}
		if vals, ok := values[v.Path()]; ok {
			v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
		}
		if v.Trainable {
			vars = append(vars, v)
		}
	}
	res, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, training)
		y := f(scope, x)
		l := ReduceAllSum(Mul(y, Reshape(Const(g, r), y.Shape().Dimensions...)))
		nodes := []*Node{x}
		for _, v := range vars {
			nodes = append(nodes, v.NodeValue(g))
		}
		return append([]*Node{y}, Gradient(l, nodes...)...)
	}, clone(x))
	if err != nil {
		t.Fatal(err)
	}
	for _, t := range res {
		out = append(out, tensors.MustCopyFlatData[float32](t))
	}
	return out, store
}

func TestOpsAgreeAcrossBackends(t *testing.T) {
	ob := onnxBackend(t)
	gb := goBackend(t)
	cases := []struct {
		name     string
		xDims    []int
		training bool
		f        layerFn
	}{
		{"conv3_s1_same", []int{2, 6, 6, 2}, false, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 3, 3, 1, Same, true) }},
		{"conv3_s1_valid", []int{2, 6, 6, 2}, false, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 3, 3, 1, Valid, true) }},
		{"conv3_s2_same_even", []int{2, 8, 8, 2}, false, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 3, 3, 2, Same, true) }},
		{"conv3_s2_same_odd", []int{2, 7, 7, 2}, false, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 3, 3, 2, Same, false) }},
		{"conv1_s2_odd", []int{2, 7, 7, 2}, false, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 3, 1, 2, Same, true) }},
		{"bn_train", []int{4, 3, 3, 3}, true, func(s *model.Scope, x *Node) *Node { return BatchNorm(s.In("bn"), x) }},
		{"bn_infer", []int{4, 3, 3, 3}, false, func(s *model.Scope, x *Node) *Node { return BatchNorm(s.In("bn"), x) }},
		{"maxpool_odd", []int{2, 5, 7, 2}, false, func(s *model.Scope, x *Node) *Node { return MaxPool2(x) }},
		{"avgpool_odd", []int{2, 7, 5, 2}, false, func(s *model.Scope, x *Node) *Node { return AvgPool2(x) }},
		{"gap_dense_relu", []int{2, 4, 4, 3}, false, func(s *model.Scope, x *Node) *Node {
			return Dense(s.In("dense"), ReLU(GlobalAvgPool(x)), 5, true)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(3))
			x := tensors.FromFlatDataAndDimensions(randFloat32(rng, prod(c.xDims), 1), c.xDims...)
			// Variable values: create them on the Go backend, then randomise.
			store := model.NewStore()
			y0, err := model.CallOnce(gb, store, func(scope *model.Scope, x *Node) *Node { return c.f(scope, x) }, clone(x))
			if err != nil {
				t.Fatal(err)
			}
			values := map[string][]float32{}
			for v := range store.IterVariables() {
				if v.Name()[0] != '#' {
					vals := randFloat32(rng, v.Shape().Size(), 0.5)
					if v.Name() == "variance" {
						for i := range vals {
							vals[i] = vals[i]*vals[i] + 0.5
						}
					}
					values[v.Path()] = vals
				}
			}
			r := randFloat32(rng, y0.Shape().Size(), 1)
			outG, storeG := crossRun(t, gb, values, c.training, c.f, x, r)
			outO, storeO := crossRun(t, ob, values, c.training, c.f, x, r)
			for i := range outG {
				if d := maxRelDiff(outG[i], outO[i]); d > 1e-4 {
					t.Errorf("output %d (0 = y, 1 = dx, then variables): backends differ by %.3g (relative)", i, d)
				}
			}
			for v := range storeG.IterVariables() {
				if v.Name()[0] == '#' || v.Trainable {
					continue
				}
				a := tensors.MustCopyFlatData[float32](v.MustValue())
				b := tensors.MustCopyFlatData[float32](storeO.GetVariable(v.Path()).MustValue())
				if d := maxRelDiff(a, b); d > 1e-5 {
					t.Errorf("%s after the step: backends differ by %.3g", v.Path(), d)
				}
			}
		})
	}
}

// maxRelDiff is max |a−b| / (1 + max|a|).
func maxRelDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(a[i])))
	}
	return d / (1 + m)
}

func TestDropoutOnONNX(t *testing.T) {
	ob := onnxBackend(t)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	x := tensors.FromFlatDataAndDimensions(make([]float32, n), 1, n)
	res, err := model.CallOnceN(ob, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		y := Dropout(scope, OnesLike(x), 0.5)
		dx := Gradient(ReduceAllSum(Dropout(scope, Add(x, OnesLike(x)), 0.5)), x)[0]
		return []*Node{ReduceAllSum(y), ReduceAllSum(dx)}
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		s := float64(tensors.MustCopyFlatData[float32](r)[0])
		if math.Abs(s-n) > 6*math.Sqrt(n) { // Σ = 2·Binomial(n, 1/2): mean n, sd √n
			t.Errorf("dropout sum %d = %g, want about %d", i, s, n)
		}
	}
}

// clone returns a local copy of t: a tensor cannot be shared between backends.
func clone(t *tensors.Tensor) *tensors.Tensor {
	c, err := t.LocalClone()
	if err != nil {
		panic(err)
	}
	return c
}
