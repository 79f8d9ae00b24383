package backend

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// TestDotGeneralVJPOwnPath: the reordered gradient is the one used for the DotGeneral of dense layers,
// 1×1 convolutions (Einsum) and batched contractions, and GoMLX's own where an operand has no free
// axes (the gradients' values are checked by the op cases of ops_test.go against finite differences
// and across backends).
func TestDotGeneralVJPOwnPath(t *testing.T) {
	g := NewGraph(Must("go"), "dotvjp")
	n := 0
	f32 := func(dims ...int) *Node {
		n++
		return Parameter(g, fmt.Sprintf("p%d", n), shapes.Make(dtypes.Float32, dims...))
	}
	for _, c := range []struct {
		name     string
		y        *Node
		fallback bool
	}{
		{"matmul", DotGeneral(f32(8, 5), []int{1}, nil, f32(5, 3), []int{0}, nil), false},
		{"1x1 conv", DotGeneral(f32(2, 3, 4, 5), []int{3}, nil, f32(5, 6), []int{0}, nil), false},
		{"batched, permuted", DotGeneral(f32(3, 2, 4, 5), []int{3, 1}, []int{0}, f32(5, 6, 2, 3), []int{0, 2}, []int{3}), false},
		{"vector dot", DotGeneral(f32(5), []int{0}, nil, f32(5), []int{0}, nil), true},
	} {
		called := false
		spy := func(node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
			called = true
			return []*Node{ZerosLike(node.Inputs()[0]), ZerosLike(node.Inputs()[1])}
		}
		grads := dotGeneralVJP(spy, c.y, []*Node{OnesLike(c.y)}, c.y.Shape())
		if called != c.fallback {
			t.Errorf("%s: GoMLX's gradient used = %v, want %v", c.name, called, c.fallback)
		}
		for i, gr := range grads {
			if !gr.Shape().Equal(c.y.Inputs()[i].Shape()) {
				t.Errorf("%s: gradient %d has shape %s, input %s", c.name, i, gr.Shape(), c.y.Inputs()[i].Shape())
			}
		}
	}
}
