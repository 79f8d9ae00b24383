package ops

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestPoolingValues(t *testing.T) {
	b := goBackend(t)
	// One 5×3 single-channel image holding 0..14 row-major; 'valid' 2×2 pooling drops row 4 and
	// column 2: windows {0,1,3,4} and {6,7,9,10}.
	v := make([]float64, 15)
	for i := range v {
		v[i] = float64(i)
	}
	x := tensors.FromFlatDataAndDimensions(v, 1, 5, 3, 1)
	mx, dims := run1(t, b, model.NewStore(), false, func(_ *model.Scope, x *Node) *Node { return MaxPool2(x) }, x)
	if fmt.Sprint(dims) != "[1 2 1 1]" || fmt.Sprint(mx) != "[4 10]" {
		t.Errorf("MaxPool2 = %v %v, want [1 2 1 1] [4 10]", dims, mx)
	}
	av, _ := run1(t, b, model.NewStore(), false, func(_ *model.Scope, x *Node) *Node { return AvgPool2(x) }, x)
	if fmt.Sprint(av) != "[2 8]" {
		t.Errorf("AvgPool2 = %v, want [2 8]", av)
	}
	gp, _ := run1(t, b, model.NewStore(), false, func(_ *model.Scope, x *Node) *Node { return GlobalAvgPool(x) }, x)
	if fmt.Sprint(gp) != "[7]" {
		t.Errorf("GlobalAvgPool = %v, want [7]", gp)
	}
	sub, dims := run1(t, b, model.NewStore(), false, func(_ *model.Scope, x *Node) *Node { return Subsample2(x, 0, 0) }, x)
	// rows 0, 2, 4 and columns 0, 2.
	if fmt.Sprint(dims) != "[1 3 2 1]" || fmt.Sprint(sub) != "[0 2 6 8 12 14]" {
		t.Errorf("Subsample2 = %v %v", dims, sub)
	}
}

func TestPoolingGradients(t *testing.T) {
	for _, n := range []int{4, 5} {
		t.Run(fmt.Sprint("max", n), func(t *testing.T) {
			gradCheck(t, []int{2, n, n + 1, 3}, false, func(_ *model.Scope, x *Node) *Node { return MaxPool2(x) })
		})
		t.Run(fmt.Sprint("avg", n), func(t *testing.T) {
			gradCheck(t, []int{2, n, n + 1, 3}, false, func(_ *model.Scope, x *Node) *Node { return AvgPool2(x) })
		})
	}
	t.Run("global", func(t *testing.T) {
		gradCheck(t, []int{2, 3, 3, 2}, false, func(_ *model.Scope, x *Node) *Node { return GlobalAvgPool(x) })
	})
	t.Run("subsample_phase1", func(t *testing.T) {
		gradCheck(t, []int{2, 4, 4, 2}, false, func(_ *model.Scope, x *Node) *Node { return Subsample2(x, 1, 1) })
	})
}
