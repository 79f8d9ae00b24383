package condition_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/fisens/condition"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// convNet is a small plain conv net on 6×6 one-channel images with raw pixel values 0…255:
// conv1 (3×3 'same', 4 filters, bias) → ReLU → 2×2 max pool → fc2 (36 → 3 classes, bias).
type convNet struct{ store *model.Store }

func newConvNet() *convNet {
	rng := rand.New(rand.NewPCG(1, 2))
	values := func(scale float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	st := model.NewStore()
	st.Scope("/conv1").VariableWithValue("weights", values(0.5, 3, 3, 1, 4))
	st.Scope("/conv1").VariableWithValue("biases", values(0.1, 4))
	st.Scope("/fc2").VariableWithValue("weights", values(0.3, 3*3*4, 3))
	st.Scope("/fc2").VariableWithValue("biases", values(0.1, 3))
	return &convNet{store: st}
}

func (n *convNet) Store() *model.Store { return n.store }
func (n *convNet) NumClasses() int     { return 3 }

func (n *convNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	v := func(p string) *graph.Node { return scope.Store().GetVariable(p).NodeValue(g) }
	bias := func(h, b *graph.Node) *graph.Node { return graph.Add(h, graph.ExpandLeftToRank(b, h.Rank())) }
	h := graph.MulScalar(x, 1.0/255)
	h = bias(graph.Convolve(h, v("/conv1/weights")).PadSame().Done(), v("/conv1/biases"))
	h = graph.Max(h, graph.ZerosLike(h))
	h = graph.MaxPool(h).Window(2).NoPadding().Done()
	h = graph.Reshape(h, h.Shape().Dim(0), -1)
	return bias(graph.MatMul(h, v("/fc2/weights")), v("/fc2/biases"))
}

// The estimator describes the net as a chain of affine layers (NewEstimator checks that the chain
// reproduces the classifier's logits), gives each example's relative condition numbers, bounds the
// relative logit change ‖Δz‖/‖z‖ under a perturbation, and predicts the significant bits needed to
// keep it below a tolerance.
func ExampleEstimator() {
	chain := condition.Chain{Input: []int{6, 6, 1}, InputScale: 1.0 / 255, Layers: []condition.ChainLayer{
		{Scope: "/conv1", Kind: condition.ChainConv, Padding: condition.PadSame, ReLU: true, MaxPool: true},
		{Scope: "/fc2", Kind: condition.ChainDense},
	}}
	est, err := condition.NewEstimator(backend.Must("go"), newConvNet(), chain, condition.NormOptions{Tol: 1e-8})
	if err != nil {
		panic(err)
	}
	x := make([]float32, 6*6)
	for i := range x {
		x[i] = float32((i * 37) % 256) // one deterministic "image"
	}
	conds, err := est.Conditions(fisens.Batch{X: x, Shape: []int{1, 6, 6, 1}})
	if err != nil {
		panic(err)
	}
	c := conds[0]
	fmt.Printf("layer condition numbers κ_i: %.3g\n", c.Layer)
	fmt.Printf("input condition number κ_in: %.3g\n", c.Input)
	fmt.Printf("bound on ‖Δz‖/‖z‖ for ‖Δx‖/‖x‖ = 1%%: %.3g\n", c.Bound(condition.PerturbSizes{Input: 0.01}))
	bits, _, err := est.PredictBits(conds, 1e-3, true, true, 1, 24)
	if err != nil {
		panic(err)
	}
	fmt.Printf("significant bits for ‖Δz‖/‖z‖ ≤ 1e-3 (weights and activations rounded): %d\n", bits)

	// Check by rounding the weights and the activations to that many bits.
	batch := fisens.Batch{X: x, Shape: []int{1, 6, 6, 1}}
	exact, err := est.Run(batch, est.Weights(), 0)
	if err != nil {
		panic(err)
	}
	rw, err := condition.RoundWeights(est.Weights(), bits)
	if err != nil {
		panic(err)
	}
	rounded, err := est.Run(batch, rw, bits)
	if err != nil {
		panic(err)
	}
	change := condition.RelChange(rounded.Logits, exact.Logits, 3)[0]
	fmt.Printf("measured ‖Δz‖/‖z‖ at %d bits: below 1e-3: %v\n", bits, change <= 1e-3)
	// Output:
	// layer condition numbers κ_i: [3.45 3.81]
	// input condition number κ_in: 13.1
	// bound on ‖Δz‖/‖z‖ for ‖Δx‖/‖x‖ = 1%: 0.131
	// significant bits for ‖Δz‖/‖z‖ ≤ 1e-3 (weights and activations rounded): 16
	// measured ‖Δz‖/‖z‖ at 16 bits: below 1e-3: true
}

// resNet is a one-block residual net on 6×6 one-channel images with raw pixel values 0…255:
// y = relu(x/255 + bn(conv2(relu(conv1(x/255))))), then global average pooling and fc (3 classes).
type resNet struct{ store *model.Store }

func newResNet() *resNet {
	rng := rand.New(rand.NewPCG(3, 4))
	values := func(scale, offset float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(offset + scale*rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	st := model.NewStore()
	st.Scope("/conv1").VariableWithValue("weights", values(0.5, 0, 3, 3, 1, 2))
	st.Scope("/conv2").VariableWithValue("weights", values(0.5, 0, 3, 3, 2, 1))
	bn := st.Scope("/bn")
	bn.VariableWithValue("gamma", values(0.1, 1, 1))
	bn.VariableWithValue("beta", values(0.1, 0, 1))
	bn.VariableWithValue("mean", values(0.1, 0, 1)).SetTrainable(false)
	bn.VariableWithValue("variance", values(0, 0.8, 1)).SetTrainable(false)
	st.Scope("/fc").VariableWithValue("weights", values(1, 0, 1, 3))
	st.Scope("/fc").VariableWithValue("biases", values(0.1, 0, 3))
	return &resNet{store: st}
}

func (n *resNet) Store() *model.Store { return n.store }
func (n *resNet) NumClasses() int     { return 3 }

func (n *resNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	v := func(p string) *graph.Node { return scope.Store().GetVariable(p).NodeValue(g) }
	x = graph.MulScalar(x, 1.0/255)
	h := graph.MaxScalar(graph.Convolve(x, v("/conv1/weights")).PadSame().Done(), 0.0)
	h = graph.Convolve(h, v("/conv2/weights")).PadSame().Done()
	a := graph.Div(v("/bn/gamma"), graph.Sqrt(graph.AddScalar(v("/bn/variance"), 1e-3))) // inference batch norm
	bc := func(c *graph.Node) *graph.Node { return graph.ExpandLeftToRank(c, 4) }
	h = graph.Add(graph.Mul(graph.Sub(h, bc(v("/bn/mean"))), bc(a)), bc(v("/bn/beta")))
	h = graph.MaxScalar(graph.Add(x, h), 0.0) // residual addition
	h = graph.ReduceMean(h, 1, 2)             // global average pool
	return graph.Add(graph.MatMul(h, v("/fc/weights")), graph.ExpandLeftToRank(v("/fc/biases"), 2))
}

// A residual net is a Net: nodes that name their inputs (−1: the scaled image), the batch norm
// folded into the convolution before it, an addition, a global average pool. NewNetEstimator
// checks that the Net reproduces the classifier's logits.
func ExampleNewNetEstimator() {
	net := condition.Net{Input: []int{6, 6, 1}, InputScale: 1.0 / 255, Nodes: []condition.NetNode{
		{Op: condition.OpConv, In: []int{-1}, Scope: "/conv1"}, // 0
		{Op: condition.OpReLU},                                 // 1
		{Op: condition.OpConv, Scope: "/conv2", BN: "/bn"},     // 2: conv2, then bn folded in
		{Op: condition.OpAdd, In: []int{-1, 2}},                // 3: x + F(x)
		{Op: condition.OpReLU},                                 // 4
		{Op: condition.OpGlobalAvgPool},                        // 5
		{Op: condition.OpDense, Scope: "/fc"},                  // 6
	}}
	est, err := condition.NewNetEstimator(backend.Must("go"), newResNet(), net, condition.NormOptions{Tol: 1e-8})
	if err != nil {
		panic(err)
	}
	fmt.Printf("Lipschitz constants of the nodes: %.3g\n", est.Lipschitz())
	x := make([]float32, 6*6)
	for i := range x {
		x[i] = float32((i * 53) % 256)
	}
	conds, err := est.Conditions(fisens.Batch{X: x, Shape: []int{1, 6, 6, 1}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("input condition number κ_in: %.3g\n", conds[0].Input)
	fmt.Printf("bound on ‖Δz‖/‖z‖ for ‖Δx‖/‖x‖ = 1%%: %.3g\n", conds[0].Bound(condition.PerturbSizes{Input: 0.01}))
	// Output:
	// Lipschitz constants of the nodes: [2.92 1 3.62 1 1 0.167 2.53]
	// input condition number κ_in: 6.45
	// bound on ‖Δz‖/‖z‖ for ‖Δx‖/‖x‖ = 1%: 0.0645
}
