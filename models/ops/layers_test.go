package ops

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestDenseGradients(t *testing.T) {
	gradCheck(t, []int{3, 2, 2, 2}, true, func(scope *model.Scope, x *Node) *Node {
		return ReLU(Dense(scope.In("dense"), x, 4, true))
	})
}

func TestDropout(t *testing.T) {
	b := goBackend(t)
	const n, rate = 20000, 0.25
	x := tensors.FromFlatDataAndDimensions(onesF(n), 1, n)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		t.Fatal(err)
	}
	drop := func(scope *model.Scope, x *Node) *Node { return Dropout(scope, x, rate) }
	y, _ := run1(t, b, store, true, drop, x)
	zeros := 0
	for _, v := range y {
		switch {
		case v == 0:
			zeros++
		case math.Abs(v-1/(1-rate)) > 1e-12:
			t.Fatalf("kept value %g, want %g", v, 1/(1-rate))
		}
	}
	// Binomial(20000, 0.25): sd ≈ 61; allow 6 sd.
	if math.Abs(float64(zeros)-rate*n) > 370 {
		t.Errorf("dropped %d of %d, want about %g", zeros, n, rate*n)
	}
	y, _ = run1(t, b, store, false, drop, x)
	for _, v := range y {
		if v != 1 {
			t.Fatalf("inference must be the identity, got %g", v)
		}
	}
}

func onesF(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func TestL2(t *testing.T) {
	b := goBackend(t)
	store := model.NewStore()
	x := tensors.FromFlatDataAndDimensions(onesF(2*4*4*1), 2, 4, 4, 1)
	f := func(scope *model.Scope, x *Node) *Node {
		y := Conv2D(scope.In("conv1"), x, 2, 3, 1, Same, true)
		y = BatchNorm(scope.In("bn1"), y)
		return Dense(scope.In("fc2"), y, 3, true)
	}
	run1(t, b, store, false, f, x)
	// Set every variable to a constant so that Σw² is easy: kernels 0.5 (conv: 3·3·1·2 = 18
	// entries; dense: 32·3 = 96 entries) → 0.25·114 = 28.5; biases and BN parameters 2 (ignored).
	for v := range store.IterVariables() {
		val := 2.0
		if v.Name() == "weights" {
			val = 0.5
		}
		vals := make([]float64, v.Shape().Size())
		for i := range vals {
			vals[i] = val
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
	}
	l2, _ := run1(t, b, store, false, func(scope *model.Scope, x *Node) *Node {
		f(scope, x)
		return L2(scope, x.Graph())
	}, x)
	if math.Abs(l2[0]-28.5) > 1e-12 {
		t.Errorf("L2 = %g, want 28.5", l2[0])
	}
}
