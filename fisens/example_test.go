package fisens_test

import (
	"fmt"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// linearNet is a Classifier written out in full: logits z = x·W + b on 2×2 one-channel images,
// K = 3 classes. Any GoMLX model satisfies the interface the same way.
type linearNet struct{ store *model.Store }

func newLinearNet() *linearNet {
	st := model.NewStore()
	st.Scope("/dense").VariableWithValue("weights", tensors.FromValue([][]float32{
		{1.0, -0.5, 0.2},
		{0.3, 0.8, -1.0},
		{-0.7, 0.1, 0.6},
		{0.4, -0.2, -0.3},
	}))
	st.Scope("/dense").VariableWithValue("biases", tensors.FromValue([]float32{0.1, 0, -0.1}))
	return &linearNet{store: st}
}

func (n *linearNet) Store() *model.Store { return n.store }
func (n *linearNet) NumClasses() int     { return 3 }

func (n *linearNet) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	d := scope.In("dense")
	h := graph.Reshape(x, x.Shape().Dim(0), -1) // [B, 2, 2, 1] → [B, 4]
	b := graph.ExpandLeftToRank(d.GetVariable("biases").NodeValue(g), 2)
	return graph.Add(graph.MatMul(h, d.GetVariable("weights").NodeValue(g)), b)
}

// The FI of perturbing each whole input image. With p = 4 ≥ K − 1 input values the Fisher metric
// has the full rank K − 1 = 2, so FI equals the odds against the label, (1 − π_y)/π_y, whatever the
// network: the bound printed next to it. The scaling form ζ ∘ ω gives the same FI (Theorem 1).
func ExampleAnalyzer_InputFI() {
	an, err := fisens.NewAnalyzer(backend.Must("go"), newLinearNet())
	if err != nil {
		panic(err)
	}
	batch := fisens.Batch{
		X: []float32{
			0.9, 0.1, 0.4, 0.7, // image 0
			0.2, 0.8, 0.5, 0.1, // image 1
		},
		Shape:  []int{2, 2, 2, 1},
		Labels: []int{0, 2},
	}
	for _, form := range []fisens.Form{fisens.Additive, fisens.Scaling} {
		res, err := an.InputFI(batch, form, fisens.Options{}) // objective: log π of the true label
		if err != nil {
			panic(err)
		}
		for i, r := range res {
			fmt.Printf("%s image %d: label %d, π_y %.3f, FI %.4f (rank %d, bound %.4f), Jacobian norm %.3f\n",
				form, i, r.Label, r.Prob, r.FI, r.Rank, r.Bound, r.JacNorm)
		}
	}
	// Output:
	// additive image 0: label 0, π_y 0.631, FI 0.5837 (rank 2, bound 0.5837), Jacobian norm 0.657
	// additive image 1: label 2, π_y 0.155, FI 5.4604 (rank 2, bound 5.4604), Jacobian norm 1.548
	// scaling image 0: label 0, π_y 0.631, FI 0.5837 (rank 2, bound 0.5837), Jacobian norm 0.426
	// scaling image 1: label 2, π_y 0.155, FI 5.4604 (rank 2, bound 5.4604), Jacobian norm 1.133
}

// Low-dimensional perturbations are where FI says more than the confidence: one Jacobian per batch
// (K backward passes) gives the FI of any subset of input values, here each single pixel.
func ExampleInputJacobian_FI() {
	an, err := fisens.NewAnalyzer(backend.Must("go"), newLinearNet())
	if err != nil {
		panic(err)
	}
	batch := fisens.Batch{X: []float32{0.9, 0.1, 0.4, 0.7}, Shape: []int{1, 2, 2, 1}, Labels: []int{0}}
	jac, err := an.InputJacobian(batch)
	if err != nil {
		panic(err)
	}
	for q := range jac.P {
		res, err := jac.FI([]int{q}, fisens.Additive, fisens.Options{})
		if err != nil {
			panic(err)
		}
		fmt.Printf("pixel %d: FI %.4f (rank %d, bound %.4f)\n", q, res[0].FI, res[0].Rank, res[0].Bound)
	}
	// Output:
	// pixel 0: FI 0.5029 (rank 1, bound 0.5837)
	// pixel 1: FI 0.1378 (rank 1, bound 0.5837)
	// pixel 2: FI 0.5425 (rank 1, bound 0.5837)
	// pixel 3: FI 0.5788 (rank 1, bound 0.5837)
}

// FromGram is the computation behind every measure: FI from the K × K Gram matrix M = J Jᵀ of the
// logit Jacobian J = ∂z/∂ω and the logits z. A one-dimensional perturbation (p = 1, J a single
// column) has rank 1 < K − 1 and FI below the odds; two generic directions (p = 2 = K − 1) reach
// them.
func ExampleFromGram() {
	z := []float64{2, 0.5, -1}                  // logits, K = 3
	gram := func(cols ...[]float64) []float64 { // M = J Jᵀ, row-major
		M := make([]float64, 9)
		for _, c := range cols {
			for i := range 3 {
				for j := range 3 {
					M[i*3+j] += c[i] * c[j]
				}
			}
		}
		return M
	}
	one := gram([]float64{1, -0.5, 0.25})
	two := gram([]float64{1, -0.5, 0.25}, []float64{0, 1, -1})
	for _, M := range [][]float64{one, two} {
		r, err := fisens.FromGram(M, z, 0, fisens.Options{})
		if err != nil {
			panic(err)
		}
		fmt.Printf("rank %d: FI %.4f, odds against label 0 %.4f\n", r.Rank, r.FI, r.Bound)
	}
	// Output:
	// rank 1: FI 0.2581, odds against label 0 0.2729
	// rank 2: FI 0.2729, odds against label 0 0.2729
}
