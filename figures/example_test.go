package figures_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fisens/fisens/figures"
)

// Setup 1: one dot per training image, FI on a log axis, the three largest annotated.
func ExampleManhattan() {
	dir, _ := os.MkdirTemp("", "figures")
	defer os.RemoveAll(dir)
	points := []figures.ManhattanPoint{
		{Class: 0, Value: 0.02, Label: "img 17"}, {Class: 0, Value: 3.5, Label: "img 4"},
		{Class: 1, Value: 0.4, Label: "img 9"}, {Class: 1, Value: 0.001, Label: "img 2"},
		{Class: 2, Value: 12, Label: "img 31"}, {Class: 2, Value: 0, Label: "img 5"}, // 0: not on a log axis
	}
	fig, err := figures.Manhattan("FI of training images", "FI", points, figures.ManhattanOptions{
		LogY: true, TopN: 3, ClassNames: []string{"zero", "one", "two"},
		RefLines: []figures.RefLine{{Value: 9, Label: "odds bound at π = 0.1"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := fig.Save(filepath.Join(dir, "manhattan")); err != nil { // manhattan.svg and manhattan.png
		fmt.Println(err)
		return
	}
	w, h := fig.PixelSize()
	fmt.Printf("%d × %d pixels\n", w, h)
	// Output: 624 × 432 pixels
}

// Setup 0: FI and the Jacobian norm as outlier detectors; AUC and AP are in the legends.
func ExampleROCPR() {
	positive := []bool{true, true, false, false, false, true}
	fig, err := figures.ROCPR("Simulated outliers", []figures.Curve{
		{Name: "FI", Scores: []float64{9, 7, 1, 2, 0.5, 4}, Positive: positive},
		{Name: "Jacobian norm", Scores: []float64{3, 1, 2, 2, 0.5, 4}, Positive: positive},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	png, err := fig.PNG()
	fmt.Println(len(png) > 0, err)
	// Output: true <nil>
}

// Accuracy versus q with mean ± std error bars, one curve per layer, one panel per
// perturbation type.
func ExamplePanels() {
	q := []float64{0, 0.25, 0.5, 0.75}
	var panels []*figures.Figure
	for _, kind := range []string{"synapse knockout", "node knockout"} {
		fig, err := figures.Curves(kind, "fraction q", "top-5 accuracy", []figures.Series{
			{Name: "conv1", X: q, Y: []float64{0.8, 0.5, 0.2, 0.1}, YErr: []float64{0, 0.04, 0.03, 0.01}},
			{Name: "fc7", X: q, Y: []float64{0.8, 0.79, 0.75, 0.6}, YErr: []float64{0, 0.01, 0.02, 0.03}},
		}, figures.XYOptions{YLim: [2]float64{0, 1}, Width: 4 * 72, Height: 3 * 72})
		if err != nil {
			fmt.Println(err)
			return
		}
		panels = append(panels, fig)
	}
	fig, err := figures.Panels("", 2, panels...)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fig.Width, fig.Height) // two 4 × 3 inch panels side by side, in points
	// Output: 576 216
}

// The one-pixel attack figure: original | perturbed | FI map | overlay, with captions.
func ExampleImageGrid() {
	orig := figures.Image{Pix: make([]uint8, 28*28), H: 28, W: 28, C: 1, Caption: "original\npred 3"}
	pert := orig
	pert.Pix = append([]uint8(nil), orig.Pix...)
	pert.Pix[10*28+16] = 255
	pert.Caption = "pixel (10, 16)\npred 5"
	fi := make([]float64, 28*28)
	fi[10*28+16] = 1
	heat, err := figures.HeatImage(fi, 28, 28, 0, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	heat.Caption = "FI map"
	over, err := figures.Overlay(orig, fi, 0.5)
	if err != nil {
		fmt.Println(err)
		return
	}
	over.Caption = "overlay"
	fig, err := figures.ImageGrid("One-pixel attack", []figures.Image{orig, pert, heat, over}, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = fig.SVG()
	fmt.Println(err)
	// Output: <nil>
}

// Setup 3: a quantile table of FI, train versus test, as a figure and as CSV.
func ExampleQuantileTable() {
	train := []float64{0.01, 0.02, 0.05, 0.1, 2}
	test := []float64{0.02, 0.03, 0.2, 0.5, 9}
	header, rows, err := figures.QuantileRows([]float64{0.75, 1}, []string{"train", "test"}, [][]float64{train, test}, "%.3g")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(header, rows)
	if _, err := figures.QuantileTable("FI quantiles", header, rows); err != nil {
		fmt.Println(err)
	}
	// Output: [quantile train test] [[75 % 0.1 0.5] [100 % 2 9]]
}

// Setup 4: FI maps at several patch sizes on one colour scale.
func ExampleHeatMaps() {
	a := []float64{0, 1, 2, 3}
	b := []float64{0, 2, 4, 6}
	fig, err := figures.HeatMaps("FI maps", []figures.HeatMap{
		{Values: a, H: 2, W: 2, Title: "1 × 1"}, {Values: b, H: 2, W: 2, Title: "3 × 3"},
	}, figures.HeatMapOptions{SharedScale: true, Label: "FI"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(figures.Show(fig)) // nothing to show outside a GoNB notebook
	// Output: <nil>
}
