package stats_test

import (
	"fmt"

	"github.com/fisens/fisens/stats"
)

func ExampleROC() {
	// Outlier scores (e.g. FI): two outliers (positive) and two clean images, one tie.
	scores := []float64{0.8, 0.5, 0.5, 0.2}
	positive := []bool{true, true, false, false}
	fpr, tpr, auc, err := stats.ROC(scores, positive)
	if err != nil {
		panic(err)
	}
	fmt.Println(fpr, tpr, auc)
	// Output: [0 0 0.5 1] [0 0.5 1 1] 0.875
}

func ExamplePR() {
	scores := []float64{0.8, 0.5, 0.5, 0.2}
	positive := []bool{true, true, false, false}
	recall, precision, ap, err := stats.PR(scores, positive)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%v %.3f AP=%.4f\n", recall, precision, ap)
	// Output: [0 0.5 1 1] [1.000 1.000 0.667 0.500] AP=0.8333
}

func ExampleQuantiles() {
	fi := []float64{0.2, 0.1, 3.5, 0.4, 12, 0.3, 0.9, 1.1}
	qs, err := stats.Quantiles(fi, []float64{0.75, 0.9, 1})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", qs)
	// Output: [1.700 6.050 12.000]
}
