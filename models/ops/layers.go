package ops

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Dense is a fully connected layer on x [B, in] (higher ranks are flattened first): it creates
// "weights" [in, units] and, if bias, "biases" [units] in scope, and returns [B, units].
func Dense(scope *model.Scope, x *Node, units int, bias bool) *Node {
	if x.Rank() < 2 {
		exceptions.Panicf("ops.Dense(%s): want x [B, ...], got %s", scope.Scope(), x.Shape())
	}
	if x.Rank() > 2 {
		x = Flatten(x)
	}
	in := x.Shape().Dimensions[1]
	g := x.Graph()
	wv := scope.VariableWithShape("weights", shapes.Make(x.DType(), in, units))
	y := MatMul(x, wv.NodeValue(g))
	var tap *Tap
	if recording(g) {
		tap = &Tap{Kind: "dense", Vars: map[string]string{"kernel": wv.Path()}, Input: x, KernelOut: y}
	}
	if bias {
		bv := scope.VariableWithShape("biases", shapes.Make(x.DType(), units))
		y = Add(y, Reshape(bv.NodeValue(g), 1, units))
		if tap != nil {
			tap.Vars["bias"] = bv.Path()
		}
	}
	if tap != nil {
		tap.Out = y
		addTap(g, *tap)
	}
	return y
}

// ReLU is max(x, 0).
func ReLU(x *Node) *Node {
	return MaxScalar(x, 0.0)
}

// Dropout zeroes each entry of x with probability rate and scales the kept ones by 1/(1−rate) in
// training mode (scope.IsTraining(g)); it is the identity in inference mode or when rate <= 0.
// It draws from the store's random-number state (seeded by the model's Config.Seed).
func Dropout(scope *model.Scope, x *Node, rate float64) *Node {
	g := x.Graph()
	if rate <= 0 || !scope.IsTraining(g) {
		return x
	}
	if rate >= 1 {
		exceptions.Panicf("ops.Dropout: rate %g must be < 1", rate)
	}
	u := scope.RandomUniform(g, x.Shape())
	keep := ConvertDType(GreaterOrEqual(u, Scalar(g, x.DType(), rate)), x.DType())
	return Mul(x, MulScalar(keep, 1/(1-rate)))
}

// L2 returns Σ w² (a scalar of the variables' dtype, float32 if there are none) over every trainable
// variable named "weights" under scope (conv and dense kernels; not biases nor batch-norm
// parameters) that graph g uses. Use store.RootScope() for the whole model. A trainer adds
// Config.L2 · L2(...) to the loss (Keras' kernel_regularizer=l2(Config.L2)).
func L2(scope *model.Scope, g *Graph) *Node {
	var sum *Node
	for v := range scope.IterVariables() {
		if !v.Trainable || v.Name() != "weights" || !v.InUseByGraph(g) {
			continue
		}
		s := ReduceAllSum(Square(v.NodeValue(g)))
		if sum == nil {
			sum = s
		} else {
			sum = Add(sum, ConvertDType(s, sum.DType()))
		}
	}
	if sum == nil {
		return ScalarZero(g, dtypes.Float32)
	}
	return sum
}
