// Package testnet holds the small seeded networks and batches that the tests of fisens and its
// sub-packages share. It imports none of them: TinyNet satisfies fisens.Classifier by its methods.
package testnet

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TinyNet is a small conv net with explicit, seeded weights: conv1 (3×3, F filters, bias) →
// activation (ReLU, or tanh) → bn1 (per-channel scale and shift, as batch norm in inference) →
// dense (K).
type TinyNet struct {
	H, W, C int
	F, K    int
	Tanh    bool
	store   *model.Store
}

// Store returns the network's variables.
func (n *TinyNet) Store() *model.Store { return n.store }

// NumClasses returns K.
func (n *TinyNet) NumClasses() int { return n.K }

// RandTensor returns a tensor of the given dims with entries offset + scale·N(0, 1).
func RandTensor(rng *rand.Rand, scale float64, offset float64, dims ...int) *tensors.Tensor {
	size := 1
	for _, d := range dims {
		size *= d
	}
	v := make([]float32, size)
	for i := range v {
		v[i] = float32(offset + scale*rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// NewTinyNet returns a TinyNet on inputs [H, W, C] with weights drawn from seed.
func NewTinyNet(seed uint64, H, W, C, F, K int, tanh bool) *TinyNet {
	rng := rand.New(rand.NewPCG(seed, 99))
	n := &TinyNet{store: model.NewStore(), H: H, W: W, C: C, F: F, K: K, Tanh: tanh}
	st := n.store
	st.Scope("/conv1").VariableWithValue("weights", RandTensor(rng, 0.5, 0, 3, 3, C, F))
	st.Scope("/conv1").VariableWithValue("biases", RandTensor(rng, 0.1, 0, F))
	st.Scope("/bn1").VariableWithValue("gamma", RandTensor(rng, 0.2, 1, F))
	st.Scope("/bn1").VariableWithValue("beta", RandTensor(rng, 0.1, 0.05, F))
	st.Scope("/dense").VariableWithValue("weights", RandTensor(rng, 0.3, 0, H*W*F, K))
	st.Scope("/dense").VariableWithValue("biases", RandTensor(rng, 0.1, 0, K))
	return n
}

// Logits builds the network's graph.
func (n *TinyNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	c := scope.In("conv1")
	h := graph.Convolve(x, c.GetVariable("weights").NodeValue(g)).PadSame().Done()
	h = AddBias(h, c.GetVariable("biases").NodeValue(g))
	if n.Tanh {
		h = graph.Tanh(h)
	} else {
		h = graph.Max(h, graph.ZerosLike(h))
	}
	bn := scope.In("bn1")
	h = AddBias(MulScale(h, bn.GetVariable("gamma").NodeValue(g)), bn.GetVariable("beta").NodeValue(g))
	h = graph.Reshape(h, h.Shape().Dim(0), -1)
	d := scope.In("dense")
	return AddBias(graph.MatMul(h, d.GetVariable("weights").NodeValue(g)), d.GetVariable("biases").NodeValue(g))
}

// AddBias adds b along the last axis of h.
func AddBias(h, b *graph.Node) *graph.Node { return graph.Add(h, graph.ExpandLeftToRank(b, h.Rank())) }

// MulScale multiplies h by s along its last axis.
func MulScale(h, s *graph.Node) *graph.Node { return graph.Mul(h, graph.ExpandLeftToRank(s, h.Rank())) }

// RandomBatch returns N standard-normal inputs [N, H, W, C] and N labels in [0, K), drawn from seed.
func RandomBatch(seed uint64, N, H, W, C, K int) (x []float32, shape []int, labels []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x = make([]float32, N*H*W*C)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels = make([]int, N)
	for i := range labels {
		labels[i] = rng.IntN(K)
	}
	return x, []int{N, H, W, C}, labels
}

var (
	goBackendOnce sync.Once
	goBackend     compute.Backend
)

// Backend returns the pure-Go backend, created once per test binary.
func Backend(testing.TB) compute.Backend {
	goBackendOnce.Do(func() { goBackend = backend.Must("go") })
	return goBackend
}

// WantErrors calls every case and reports those that return no error (the errors are logged).
func WantErrors(t *testing.T, cases map[string]func() error) {
	t.Helper()
	for name, f := range cases {
		if err := f(); err == nil {
			t.Errorf("%s: want an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
