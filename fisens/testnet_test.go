package fisens

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

// tinyNet is a small conv net with explicit, seeded weights: conv1 (3×3, F filters, bias) →
// activation → bn1 (per-channel scale and shift, as batch norm in inference) → dense (K).
type tinyNet struct {
	store   *model.Store
	H, W, C int
	F, K    int
	tanh    bool
}

func (n *tinyNet) Store() *model.Store { return n.store }
func (n *tinyNet) NumClasses() int     { return n.K }

func randTensor(rng *rand.Rand, scale float64, offset float64, dims ...int) *tensors.Tensor {
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

func newTinyNet(seed uint64, H, W, C, F, K int, tanh bool) *tinyNet {
	rng := rand.New(rand.NewPCG(seed, 99))
	n := &tinyNet{store: model.NewStore(), H: H, W: W, C: C, F: F, K: K, tanh: tanh}
	st := n.store
	st.Scope("/conv1").VariableWithValue("weights", randTensor(rng, 0.5, 0, 3, 3, C, F))
	st.Scope("/conv1").VariableWithValue("biases", randTensor(rng, 0.1, 0, F))
	st.Scope("/bn1").VariableWithValue("gamma", randTensor(rng, 0.2, 1, F))
	st.Scope("/bn1").VariableWithValue("beta", randTensor(rng, 0.1, 0.05, F))
	st.Scope("/dense").VariableWithValue("weights", randTensor(rng, 0.3, 0, H*W*F, K))
	st.Scope("/dense").VariableWithValue("biases", randTensor(rng, 0.1, 0, K))
	return n
}

func (n *tinyNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	c := scope.In("conv1")
	h := graph.Convolve(x, c.GetVariable("weights").NodeValue(g)).PadSame().Done()
	h = addBias(h, c.GetVariable("biases").NodeValue(g))
	if n.tanh {
		h = graph.Tanh(h)
	} else {
		h = graph.Max(h, graph.ZerosLike(h))
	}
	bn := scope.In("bn1")
	h = addBias(mulScale(h, bn.GetVariable("gamma").NodeValue(g)), bn.GetVariable("beta").NodeValue(g))
	h = graph.Reshape(h, h.Shape().Dim(0), -1)
	d := scope.In("dense")
	return addBias(graph.MatMul(h, d.GetVariable("weights").NodeValue(g)), d.GetVariable("biases").NodeValue(g))
}

func addBias(h, b *graph.Node) *graph.Node  { return graph.Add(h, graph.ExpandLeftToRank(b, h.Rank())) }
func mulScale(h, s *graph.Node) *graph.Node { return graph.Mul(h, graph.ExpandLeftToRank(s, h.Rank())) }

func randomBatch(seed uint64, N, H, W, C, K int) Batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, N*H*W*C)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, N)
	for i := range labels {
		labels[i] = rng.IntN(K)
	}
	return Batch{X: x, Shape: []int{N, H, W, C}, Labels: labels}
}

var (
	goBackendOnce sync.Once
	goBackend     compute.Backend
)

func testBackend(t testing.TB) compute.Backend {
	goBackendOnce.Do(func() { goBackend = backend.Must("go") })
	return goBackend
}
