//go:build xla

package ops

import (
	"math/rand"
	"os"
	"testing"

	"github.com/fisens/fisens/backend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestBatchNormTrainOnXLA compares training-mode batch norm (output, gradients of x, γ, β, the
// moving variance after the step) on XLA with the fused gradient against the pure-Go backend with
// GoMLX's autodiff (FISENS_BN_VJP=autodiff), in float32, on a stage-1-like shape.
func TestBatchNormTrainOnXLA(t *testing.T) {
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		t.Skip("XLA CPU plugin absent: run scripts/install-xla.sh and export PJRT_PLUGIN_LIBRARY_PATH")
	}
	xb, err := backend.New("xla:cpu")
	if err != nil {
		t.Fatal(err)
	}
	gb := goBackend(t)
	rng := rand.New(rand.NewSource(4))
	dims := []int{16, 7, 7, 8}
	xv := toF32(randFloats(rng, prod(dims), 2))
	rv := toF32(randFloats(rng, prod(dims), 1))
	run := func(b, mode string) [][]float64 {
		t.Setenv("FISENS_BN_VJP", mode)
		be := xb
		if b == "go" {
			be = gb
		}
		store := model.NewStore()
		x := tensors.FromFlatDataAndDimensions(append([]float32(nil), xv...), dims...)
		outs, err := model.CallOnceN(be, store, func(scope *model.Scope, x *Node) []*Node {
			g := x.Graph()
			scope.Store().SetTraining(g, true)
			y := BatchNorm(scope.In("bn"), MulScalar(x, 1.5))
			l := ReduceAllSum(Mul(ReLU(y), Reshape(Const(g, rv), dims...)))
			var nodes = []*Node{x}
			for v := range store.IterVariables() {
				if v.Trainable {
					nodes = append(nodes, v.NodeValue(g))
				}
			}
			return append([]*Node{y}, Gradient(l, nodes...)...)
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		var res [][]float64
		for _, o := range outs {
			res = append(res, toF64(o))
		}
		return append(res, toF64(store.GetVariable("/bn/variance").MustValue()))
	}
	want := run("go", "autodiff")
	got := run("xla", "fused")
	for i := range want {
		if d := relDiff(got[i], want[i]); d > 2e-5 {
			t.Errorf("output %d (y, dx, dγ, dβ, moving variance): XLA fused vs Go autodiff differ by %.3g", i, d)
		}
	}
}
