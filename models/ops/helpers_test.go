package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randFloats(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// layerFn builds a layer's output from x inside scope.
type layerFn func(scope *model.Scope, x *Node) *Node

// gradCheck compares the gradients of L = Σ r ⊙ f(x) with respect to x and to every trainable
// variable (set to random values first) against central finite differences, in float64 on the
// pure-Go backend. training selects the mode of the graph.
func gradCheck(t *testing.T, xDims []int, training bool, f layerFn) {
	t.Helper()
	b := goBackend(t)
	rng := rand.New(rand.NewSource(7))
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions(randFloats(rng, prod(xDims), 1), xDims...)

	// Build once to create the variables and learn the output shape.
	out, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node {
		scope.Store().SetTraining(x.Graph(), training)
		return f(scope, x)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	r := randFloats(rng, out.Shape().Size(), 1)
	outDims := out.Shape().Dimensions
	var vars []*model.Variable
	for v := range store.IterVariables() {
		if v.Trainable {
			vars = append(vars, v)
			vals := randFloats(rng, v.Shape().Size(), 0.5)
			if v.Name() == "gamma" {
				for i := range vals {
					vals[i] += 1
				}
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
		}
	}
	loss := func(scope *model.Scope, x *Node) *Node {
		g := x.Graph()
		scope.Store().SetTraining(g, training)
		y := f(scope, x)
		return ReduceAllSum(Mul(y, Reshape(Const(g, r), outDims...)))
	}
	gradExec := model.MustNewExec(b, store, func(scope *model.Scope, x *Node) []*Node {
		l := loss(scope, x)
		nodes := []*Node{x}
		for _, v := range vars {
			nodes = append(nodes, v.NodeValue(x.Graph()))
		}
		return Gradient(l, nodes...)
	})
	lossExec := model.MustNewExec(b, store, loss)
	eval := func(x *tensors.Tensor) float64 {
		return lossExec.MustCall1(x).Value().(float64)
	}
	grads := gradExec.MustCall(x)

	const h = 1e-5
	check := func(name string, base []float64, set func([]float64), grad []float64) {
		idx := rng.Perm(len(base))
		if len(idx) > 12 {
			idx = idx[:12]
		}
		for _, i := range idx {
			p := append([]float64(nil), base...)
			p[i] += h
			set(p)
			lp := eval(x)
			p[i] -= 2 * h
			set(p)
			lm := eval(x)
			set(base)
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-grad[i]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("%s[%d]: gradient %.10g, finite difference %.10g", name, i, grad[i], fd)
			}
		}
	}
	xBase := tensors.MustCopyFlatData[float64](x)
	check("x", xBase, func(p []float64) { x = tensors.FromFlatDataAndDimensions(p, xDims...) },
		tensors.MustCopyFlatData[float64](grads[0]))
	for i, v := range vars {
		base := tensors.MustCopyFlatData[float64](v.MustValue())
		check(v.Path(), base, func(p []float64) {
			v.MustSetValue(tensors.FromFlatDataAndDimensions(p, v.Shape().Dimensions...))
		}, tensors.MustCopyFlatData[float64](grads[i+1]))
	}
}

// run1 executes f once on the pure-Go backend and returns its flat float64 output and shape.
func run1(t *testing.T, b compute.Backend, store *model.Store, training bool, f layerFn, x *tensors.Tensor) ([]float64, []int) {
	t.Helper()
	out, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node {
		scope.Store().SetTraining(x.Graph(), training)
		return f(scope, x)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	if out.DType() != dtypes.Float64 {
		t.Fatalf("want float64 output, got %s", out.DType())
	}
	return tensors.MustCopyFlatData[float64](out), out.Shape().Dimensions
}
