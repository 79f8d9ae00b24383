package models

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
)

// TestPredictSeesCurrentValues: Predict must use the variables' values at call time (weight
// perturbation experiments change them between calls), and batching/padding must not change results.
func TestPredictSeesCurrentValues(t *testing.T) {
	cfg := tconvCfg()
	cfg.Arch = "trainer-test-linear"
	s := tSynthSet(t, "synth", 21, 3) // 21 = 2 batches of 8 + a padded batch of 5
	m := tInitialized(t, cfg, s)
	b := backend.Must("go")
	whole, err := Predict(b, m, s, 32)
	if err != nil {
		t.Fatal(err)
	}
	batched, err := Predict(b, m, s, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i := range whole {
		if math.Abs(float64(whole[i]-batched[i])) > 1e-5 {
			t.Fatalf("logit %d: batch 32 gives %g, batch 8 (padded) gives %g", i, whole[i], batched[i])
		}
	}

	// Oracle: the linear model's logits are x·W/255 + b. Set W = 0 and b = (1, 2, 3).
	w := m.Store().GetVariable("/dense/weights")
	if err := w.SetValue(tensors.FromFlatDataAndDimensions(make([]float32, w.Shape().Size()), w.Shape().Dimensions...)); err != nil {
		t.Fatal(err)
	}
	if err := m.Store().GetVariable("/dense/biases").SetValue(tensors.FromValue([]float32{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	got, err := Predict(b, m, s, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if want := float32(i%3 + 1); v != want {
			t.Fatalf("after setting W=0, b=(1,2,3): logit %d = %g, want %g", i, v, want)
		}
	}
	// All predictions are now class 2: accuracy = fraction of label 2.
	acc, err := Accuracy(b, m, s, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for i := range s.Len() {
		if s.Label(i) == 2 {
			want++
		}
	}
	if want /= float64(s.Len()); acc != want {
		t.Errorf("accuracy %g, want %g", acc, want)
	}
}

func TestPredictChecksData(t *testing.T) {
	m := tNewModel(t, tconvCfg())
	other, err := datasets.NewSet("rgb", 8, 8, 3, 3, make([]uint8, 2*8*8*3), []uint8{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Predict(backend.Must("go"), m, other, 4); err == nil || !strings.Contains(err.Error(), "8x8x1") {
		t.Errorf("Predict on 8x8x3 images with an 8x8x1 model: got %v, want a shape error", err)
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	got := Argmax([]float32{0, 2, 1, 5, 5, 1, nan, nan, nan}, 3)
	if want := []int{1, 0, -1}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Argmax: got %v, want %v", got, want)
	}
}
