package backend

import (
	"fmt"
	"reflect"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// GoMLX v0.28.1 defines no gradient for three operations of the common CNN operator set: Pad (ONNX
// Pad, and every model that pads explicitly), Clamp (graph.Clip with tensor bounds, ONNX Clip with
// min/max inputs) and Rsqrt (batch normalization written as (x-μ)·rsqrt(σ²+ε)). GoMLX looks gradients
// up in the exported table graph.VJPRegistration, so this package, which every backend path imports,
// registers them there: a process-wide, graph-level addition that serves every backend.
func init() {
	for t, vjp := range map[NodeType]VJP{
		NodeTypePad:   padVJP,
		NodeTypeClamp: clampVJP,
		NodeTypeRsqrt: rsqrtVJP,
	} {
		if _, ok := VJPRegistration[t]; !ok {
			VJPRegistration[t] = vjp
		}
	}
}

// nodeField reads the unexported parameter field of a node's inputs (GoMLX keeps the static
// parameters of an op, e.g. Pad's axes configuration, in an unexported struct).
func nodeField(node *Node, field string) (reflect.Value, error) {
	v := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !v.IsValid() || v.IsNil() {
		return reflect.Value{}, fmt.Errorf("node %s: no inputs field", node)
	}
	v = v.Elem()
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	f := v.FieldByName(field)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("node %s: no parameter %q", node, field)
	}
	return f, nil
}

// padAxesOf returns the axes configuration of a Pad node.
func padAxesOf(node *Node) []compute.PadAxis {
	f, err := nodeField(node, "axesConfig")
	if err != nil {
		panic(err)
	}
	axes := make([]compute.PadAxis, f.Len())
	for i := range axes {
		e := f.Index(i)
		axes[i] = compute.PadAxis{Start: int(e.FieldByName("Start").Int()), End: int(e.FieldByName("End").Int()),
			Interior: int(e.FieldByName("Interior").Int())}
	}
	return axes
}

// padVJP: the gradient of x is v with the edges removed (a Pad with the negated edges, which also
// restores cropped ones as zeros) and the interior dropped (a strided Slice); the fill value gets the
// rest of v's sum.
func padVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	v := vjpOutputs[0]
	x, fill := node.Inputs()[0], node.Inputs()[1]
	axes := padAxesOf(node)
	g := node.Graph()
	unpad := make([]compute.PadAxis, len(axes))
	var specs []SliceAxisSpec
	needUnpad, needSlice := false, false
	for a, cfg := range axes {
		unpad[a] = compute.PadAxis{Start: -cfg.Start, End: -cfg.End}
		needUnpad = needUnpad || cfg.Start != 0 || cfg.End != 0
		spec := AxisRange()
		if cfg.Interior > 0 {
			spec = spec.Stride(cfg.Interior + 1)
			needSlice = true
		}
		specs = append(specs, spec)
	}
	gx := v
	if needUnpad {
		gx = Pad(gx, ScalarZero(g, v.DType()), unpad...)
	}
	if needSlice {
		gx = Slice(gx, specs...)
	}
	if !gx.Shape().Equal(x.Shape()) {
		panic(fmt.Errorf("Pad gradient: got shape %s for an operand of shape %s", gx.Shape(), x.Shape()))
	}
	gFill := Sub(ReduceAllSum(v), ReduceAllSum(gx))
	return []*Node{gx, ConvertDType(Reshape(gFill, fill.Shape().Dimensions...), fill.DType())}
}

// clampVJP: Clamp(min, x, max) passes v to x where min ≤ x ≤ max, to min where x < min, to max where
// x > max (bounds of rank 0 are broadcast: their gradient is summed).
func clampVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	v := vjpOutputs[0]
	lo, x, hi := node.Inputs()[0], node.Inputs()[1], node.Inputs()[2]
	zeros := ZerosLike(v)
	bcast := func(b *Node) *Node {
		if b.Rank() == x.Rank() {
			return b
		}
		return BroadcastToShape(b, x.Shape())
	}
	below := LessThan(x, bcast(lo))
	above := GreaterThan(x, bcast(hi))
	inside := LogicalNot(LogicalOr(below, above))
	reduce := func(gv, b *Node) *Node {
		if b.Rank() == x.Rank() {
			return gv
		}
		return Reshape(ReduceAllSum(gv), b.Shape().Dimensions...)
	}
	return []*Node{
		reduce(Where(below, v, zeros), lo),
		Where(inside, v, zeros),
		reduce(Where(above, v, zeros), hi),
	}
}

// rsqrtVJP: d rsqrt(x)/dx = -rsqrt(x)³/2.
func rsqrtVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	y := node
	return []*Node{Mul(vjpOutputs[0], MulScalar(Mul(y, Square(y)), -0.5))}
}
