package backend

import (
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// TestDecoratorControlFlow runs While, If and Sort (closures passed to the inner backend through the
// decorator) on the decorated pure-Go backend, with a decorator-supplied op (Pad with a negative edge,
// which pure Go's own Pad cannot run) inside the loop body.
func TestDecoratorControlFlow(t *testing.T) {
	b := Must("go")
	if _, ok := b.(*Decorated); !ok {
		t.Fatalf("New(\"go\") returned %T, want the decorator", b)
	}
	res, err := ExecOnceN(b, func(x *Node) []*Node {
		g := x.Graph()
		cond := NewClosure(g, func(g *Graph) []*Node {
			i := Parameter(g, "i", shapes.Make(dtypes.Int32))
			_ = Parameter(g, "v", shapes.Make(dtypes.Float32, 3))
			return []*Node{LessThan(i, Const(g, int32(3)))}
		})
		body := NewClosure(g, func(g *Graph) []*Node {
			i := Parameter(g, "i", shapes.Make(dtypes.Int32))
			v := Parameter(g, "v", shapes.Make(dtypes.Float32, 3))
			// Shift left by one, append 1: Pad(-1 at the start, +1 at the end).
			shifted := Pad(v, Const(g, float32(1)), compute.PadAxis{Start: -1, End: 1})
			return []*Node{Add(i, Const(g, int32(1))), Add(shifted, v)}
		})
		loop := While(cond, body, Const(g, int32(0)), x)
		yes := NewClosure(g, func(g *Graph) []*Node { return []*Node{Const(g, float32(1))} })
		no := NewClosure(g, func(g *Graph) []*Node { return []*Node{Const(g, float32(-1))} })
		branch := If(GreaterThan(ReduceAllSum(x), Const(g, float32(0))), yes, no)
		return []*Node{loop[1], branch[0], Sort(Neg(x), 0, true)}
	}, []float32{3, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	// v0 = [3 1 2]; v1 = [1 2 1]+[3 1 2] = [4 3 3]; v2 = [3 3 1]+[4 3 3] = [7 6 4]; v3 = [6 4 1]+[7 6 4] = [13 10 5].
	if got := tensors.MustCopyFlatData[float32](res[0]); !slices.Equal(got, []float32{13, 10, 5}) {
		t.Errorf("While: got %v, want [13 10 5]", got)
	}
	if got := tensors.MustCopyFlatData[float32](res[1]); got[0] != 1 {
		t.Errorf("If: got %v, want 1", got)
	}
	if got := tensors.MustCopyFlatData[float32](res[2]); !slices.Equal(got, []float32{-3, -2, -1}) {
		t.Errorf("Sort: got %v, want [-3 -2 -1]", got)
	}
	// Tensors made by the decorated backend report it as their backend and are reusable as inputs.
	if _, err := ExecOnce(b, func(x *Node) *Node { return Neg(x) }, res[2]); err != nil {
		t.Errorf("reusing an output tensor as an input: %v", err)
	}
}
