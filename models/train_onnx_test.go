//go:build onnx

package models

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/fisens/fisens/backend"
)

// TestTrainOnONNX trains the test conv net with ONNX Runtime, saves, reloads and checks that both
// backends give the same predictions for the trained model.
func TestTrainOnONNX(t *testing.T) {
	ob := onnxBackend(t)
	trainSet := tSynthSet(t, "synth/train", 192, 40)
	validSet := tSynthSet(t, "synth/valid", 60, 41)
	m := tNewModel(t, tconvCfg())
	dir := filepath.Join(t.TempDir(), "run")
	res, err := Train(context.Background(), ob, m, trainSet, validSet,
		TrainConfig{Epochs: 3, BatchSize: 32, LearningRates: []float64{0.03}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.BestValidAcc < 0.9 {
		t.Errorf("best validation accuracy %.3f on the easy synthetic task, want >= 0.9", res.BestValidAcc)
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	onnxLogits, err := Predict(ob, l, validSet, 16)
	if err != nil {
		t.Fatal(err)
	}
	goLogits, err := Predict(backend.Must("go"), l, validSet, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i := range goLogits {
		if math.Abs(float64(goLogits[i]-onnxLogits[i])) > 1e-4*(1+math.Abs(float64(goLogits[i]))) {
			t.Fatalf("logit %d: %g on Go, %g on ONNX Runtime", i, goLogits[i], onnxLogits[i])
		}
	}
}

// TestZooAccuracyONNX re-checks every zoo model's recorded test accuracy with ONNX Runtime.
func TestZooAccuracyONNX(t *testing.T) {
	checkZooAccuracy(t, onnxBackend(t))
}
