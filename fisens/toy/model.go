package toy

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Model is a classifier of two features with explicit weights: the linear softmax z = W x + b
// (NewSoftmax2D) or the tanh network z = V tanh(U x + c) + b (NewTanh2D). It implements
// fisens.Classifier on float32 inputs of shape [N, 2].
type Model struct {
	store  *model.Store
	k      int
	hidden int        // hidden units (0: linear)
	units  [2]float64 // the inputs are c ∘ x: Logits divides by c first
}

// Store returns the model's variables.
func (m *Model) Store() *model.Store { return m.store }

// NumClasses returns K.
func (m *Model) NumClasses() int { return m.k }

// Hidden returns the number of hidden tanh units (0 for the linear model).
func (m *Model) Hidden() int { return m.hidden }

// Units returns the units c of the inputs: the model reads x' = c ∘ x (1, 1 unless Rescaled).
func (m *Model) Units() [2]float64 { return m.units }

// checkMatrix validates a rows × cols matrix of finite values and returns it flattened row-major
// after transposition (cols × rows), the layout of a dense layer's weights (x·W).
func checkMatrix(name string, a [][]float64, rows, cols int) ([]float32, error) {
	if len(a) != rows {
		return nil, fmt.Errorf("toy: %s has %d rows, want %d", name, len(a), rows)
	}
	out := make([]float32, rows*cols)
	for i, row := range a {
		if len(row) != cols {
			return nil, fmt.Errorf("toy: %s row %d has %d entries, want %d", name, i, len(row), cols)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("toy: %s[%d][%d] is %v, want a finite number", name, i, j, v)
			}
			out[j*rows+i] = float32(v)
		}
	}
	return out, nil
}

func checkVector(name string, v []float64, n int) ([]float32, error) {
	if len(v) != n {
		return nil, fmt.Errorf("toy: %s has %d entries, want %d", name, len(v), n)
	}
	out := make([]float32, n)
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("toy: %s[%d] is %v, want a finite number", name, i, x)
		}
		out[i] = float32(x)
	}
	return out, nil
}

// NewSoftmax2D returns the K-class linear softmax classifier z = W x + b of two features:
// W is K × 2 (row k is class k's weight vector), b has K entries, K ≥ 2.
func NewSoftmax2D(W [][]float64, b []float64) (*Model, error) {
	K := len(W)
	if K < 2 {
		return nil, fmt.Errorf("toy: W has %d rows (classes), want at least 2", K)
	}
	w, err := checkMatrix("W", W, K, 2)
	if err != nil {
		return nil, err
	}
	bb, err := checkVector("b", b, K)
	if err != nil {
		return nil, err
	}
	m := &Model{store: model.NewStore(), k: K, units: [2]float64{1, 1}}
	m.store.Scope("/dense").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(w, 2, K))
	m.store.Scope("/dense").VariableWithValue("biases", tensors.FromFlatDataAndDimensions(bb, K))
	return m, nil
}

// NewTanh2D returns the network z = V tanh(U x + c) + b of two features with H hidden units:
// U is H × 2, c has H entries, V is K × H, b has K entries, K ≥ 2, H ≥ 1.
func NewTanh2D(U [][]float64, c []float64, V [][]float64, b []float64) (*Model, error) {
	H, K := len(U), len(V)
	if H < 1 {
		return nil, fmt.Errorf("toy: U has no rows, want one per hidden unit")
	}
	if K < 2 {
		return nil, fmt.Errorf("toy: V has %d rows (classes), want at least 2", K)
	}
	u, err := checkMatrix("U", U, H, 2)
	if err != nil {
		return nil, err
	}
	cc, err := checkVector("c", c, H)
	if err != nil {
		return nil, err
	}
	v, err := checkMatrix("V", V, K, H)
	if err != nil {
		return nil, err
	}
	bb, err := checkVector("b", b, K)
	if err != nil {
		return nil, err
	}
	m := &Model{store: model.NewStore(), k: K, hidden: H, units: [2]float64{1, 1}}
	m.store.Scope("/hidden").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(u, 2, H))
	m.store.Scope("/hidden").VariableWithValue("biases", tensors.FromFlatDataAndDimensions(cc, H))
	m.store.Scope("/dense").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(v, H, K))
	m.store.Scope("/dense").VariableWithValue("biases", tensors.FromFlatDataAndDimensions(bb, K))
	return m, nil
}

// Rescaled returns the same classifier reading its features in other units, x' = c ∘ x (for
// example c = (1000, 1): feature 1 in millimetres instead of metres). It shares m's variables:
// its logits at c ∘ x equal m's logits at x. Every c_j must be finite and non-zero.
func (m *Model) Rescaled(c [2]float64) (*Model, error) {
	for j, v := range c {
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("toy: Rescaled: c[%d] = %v, want a finite non-zero unit", j, v)
		}
	}
	r := *m
	r.units = [2]float64{m.units[0] * c[0], m.units[1] * c[1]}
	return &r, nil
}

// Logits builds z for a batch x of shape [N, 2].
func (m *Model) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	h := x
	if m.units != [2]float64{1, 1} {
		inv := graph.Const(g, [][]float32{{float32(1 / m.units[0]), float32(1 / m.units[1])}})
		h = graph.Mul(h, graph.ConvertDType(inv, x.DType()))
	}
	if m.hidden > 0 {
		hs := scope.In("hidden")
		h = graph.Tanh(dense(g, hs, h))
	}
	return dense(g, scope.In("dense"), h)
}

// dense is h·W + b with the scope's variables "weights" and "biases".
func dense(g *graph.Graph, s *model.Scope, h *graph.Node) *graph.Node {
	out := graph.MatMul(h, s.GetVariable("weights").NodeValue(g))
	b := s.GetVariable("biases").NodeValue(g)
	return graph.Add(out, graph.ExpandLeftToRank(b, out.Rank()))
}
