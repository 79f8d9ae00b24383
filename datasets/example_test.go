package datasets_test

import (
	"fmt"

	"github.com/fisens/fisens/datasets"
)

// Load the paper's MNIST split and turn a batch into model inputs on the raw 0–255 scale.
func ExampleLoad() {
	train, err := datasets.Load("mnist", "train") // 54,000 images; "valid": 6,000 (600 per class)
	if err != nil {
		fmt.Println(err) // says how to get MNIST if it is missing
		return
	}
	idx := []int{0, 1, 2}
	x := train.Batch(idx, datasets.Raw255) // [3, 28, 28, 1] as float32 in 0..255
	y := train.Labels(idx)
	fmt.Println(train.Name(), train.Len(), len(x), y, train.SourceIndex(0))
}

// Build the simulated outliers of Setup 0 from images two models classify correctly.
func ExampleMakeOutliers() {
	train, err := datasets.Load("mnist", "train")
	if err != nil {
		fmt.Println(err)
		return
	}
	correct := func(i int) bool { return true } // e.g. both models predict train.Label(i)
	cfg := datasets.DefaultOutlierConfig()      // 300 per class: 270 train + 30 validation, shifts in [−4, 4]
	cfg.Seed, cfg.Keep = 1, correct
	outTrain, outValid, prov, err := datasets.MakeOutliers(train, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(outTrain.Len(), outValid.Len(), prov[0].Base, prov[0].Partner, prov[0].BaseShift)
}
