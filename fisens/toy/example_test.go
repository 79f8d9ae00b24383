package toy_test

import (
	"fmt"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/fisens/toy"
)

// A 3-class softmax on two features: perturbing both features (p = 2 = K − 1) gives FI equal to
// the odds against the label; perturbing one (p = 1) gives less, and the same in every chart.
func ExampleNewSoftmax2D() {
	m, err := toy.NewSoftmax2D([][]float64{{1.5, 0.25}, {-1, 1.25}, {-0.5, -1.5}}, []float64{0.25, 0, -0.5})
	if err != nil {
		panic(err)
	}
	an, err := fisens.NewAnalyzer(backend.Must("go"), m)
	if err != nil {
		panic(err)
	}
	x := [2]float64{0.5, -0.75}
	both, _ := toy.At(an, x, 1, nil, toy.Additive, fisens.Options{})
	fmt.Printf("p=2: FI %.4f rank %d, odds %.4f\n", both.Result.FI, both.Result.Rank, both.Result.Bound)
	for _, ch := range []toy.Chart{toy.Additive, toy.Scaling, toy.CubicScaling} {
		one, _ := toy.At(an, x, 1, []int{0}, ch, fisens.Options{})
		fmt.Printf("p=1, %-13s FI %.4f, Jacobian norm %.4f\n", ch.Name+":", one.Result.FI, one.Result.JacNorm)
	}
	// Output:
	// p=2: FI 15.6135 rank 2, odds 15.6135
	// p=1, additive x+ω: FI 2.4455, Jacobian norm 1.6121
	// p=1, scaling x·ω:  FI 2.4455, Jacobian norm 0.8060
	// p=1, scaling x·τ³: FI 2.4455, Jacobian norm 2.4181
}
