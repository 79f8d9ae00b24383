package ops

import (
	"math"
	"math/rand"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestBatchNormGradients(t *testing.T) {
	for _, training := range []bool{true, false} {
		name := "inference"
		if training {
			name = "training"
		}
		t.Run(name, func(t *testing.T) {
			gradCheck(t, []int{3, 2, 2, 3}, training, func(scope *model.Scope, x *Node) *Node {
				return BatchNorm(scope.In("bn"), x)
			})
		})
	}
}

// TestBatchNormModes checks the training output, the moving-average update and the inference output
// against values computed by hand in Go.
func TestBatchNormModes(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewSource(5))
	const n, c = 6, 2 // x [3, 2, 1, 2]: 6 values per channel
	xv := randFloats(rng, n*c, 2)
	for i := range xv {
		xv[i] += 3
	}
	x := tensors.FromFlatDataAndDimensions(xv, 3, 2, 1, c)
	store := model.NewStore()
	bn := func(scope *model.Scope, x *Node) *Node { return BatchNorm(scope.In("bn1"), x) }

	// Batch statistics per channel.
	mean, vr := make([]float64, c), make([]float64, c)
	for i, v := range xv {
		mean[i%c] += v / n
	}
	for i, v := range xv {
		vr[i%c] += (v - mean[i%c]) * (v - mean[i%c]) / n
	}

	y, _ := run1(t, b, store, true, bn, x) // gamma 1, beta 0
	for i, v := range xv {
		want := (v - mean[i%c]) / math.Sqrt(vr[i%c]+BatchNormEpsilon)
		if math.Abs(y[i]-want) > 1e-12 {
			t.Fatalf("training y[%d] = %g, want %g", i, y[i], want)
		}
	}
	mv := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/mean").MustValue())
	vv := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/variance").MustValue())
	for k := range c {
		wantM := 0.99*0 + 0.01*mean[k]
		wantV := 0.99*1 + 0.01*vr[k]*n/(n-1)
		if math.Abs(mv[k]-wantM) > 1e-12 || math.Abs(vv[k]-wantV) > 1e-12 {
			t.Fatalf("moving mean/variance[%d] = %g/%g, want %g/%g", k, mv[k], vv[k], wantM, wantV)
		}
	}
	if store.GetVariable("/bn1/mean").Trainable || store.GetVariable("/bn1/variance").Trainable {
		t.Error("moving mean/variance must be non-trainable")
	}
	if !store.GetVariable("/bn1/gamma").Trainable || !store.GetVariable("/bn1/beta").Trainable {
		t.Error("gamma/beta must be trainable")
	}

	// Inference uses the moving statistics and leaves them unchanged.
	y, _ = run1(t, b, store, false, bn, x)
	for i, v := range xv {
		want := (v - mv[i%c]) / math.Sqrt(vv[i%c]+BatchNormEpsilon)
		if math.Abs(y[i]-want) > 1e-12 {
			t.Fatalf("inference y[%d] = %g, want %g", i, y[i], want)
		}
	}
	mv2 := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/mean").MustValue())
	if mv2[0] != mv[0] {
		t.Errorf("inference changed the moving mean: %g → %g", mv[0], mv2[0])
	}
}
