package models_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
)

// mnistCNN is the real model: a small CNN trained in PyTorch on MNIST by scripts/onnx-fixtures.py.
var mnistCNN = filepath.Join(onnxDir, "mnist-cnn.onnx")

type mnistSidecar struct {
	Accuracy  float64     `json:"pytorch_test_accuracy"`
	LogPFirst [][]float64 `json:"pytorch_test_logp_first"`
}

// checkMNISTCNN loads the model by reference (its sidecar gives the preprocessing), compares its
// first test log-probabilities with PyTorch's and measures the test accuracy on the first n images.
func checkMNISTCNN(t *testing.T, be string, n int) {
	data, err := os.ReadFile(mnistCNN + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var side mnistSidecar
	if err := json.Unmarshal(data, &side); err != nil {
		t.Fatal(err)
	}
	m, err := models.Load(mnistCNN)
	if err != nil {
		t.Fatal(err)
	}
	if info := m.ONNX(); info.Output != models.OutputLogProbs || info.Dataset != "mnist" || info.Preprocessing.Std[0] != 0.3081 {
		t.Fatalf("mnist-cnn read as %+v", info)
	}
	test, err := datasets.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	if n < test.Len() {
		test = test.Subset(test.Range(0, n))
	}
	b, err := backend.New(be)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := models.Predict(b, m, test, 250)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, want := range side.LogPFirst {
		z := make([]float64, 10)
		for k := range z {
			z[k] = float64(logits[i*10+k])
		}
		lp := logSoftmax(z)
		for k := range lp {
			worst = math.Max(worst, math.Abs(lp[k]-want[k]))
		}
	}
	if worst > 1e-3 {
		t.Errorf("%s: first test log-probabilities differ from PyTorch's by %.2e", be, worst)
	}
	correct := 0
	for i, p := range models.Argmax(logits, 10) {
		if p == test.Label(i) {
			correct++
		}
	}
	acc := float64(correct) / float64(test.Len())
	t.Logf("mnist-cnn on %s: test accuracy %.4f on %d images (PyTorch: %.4f on 10,000); first log-probabilities within %.1e of PyTorch's",
		be, acc, test.Len(), side.Accuracy, worst)
	if n >= 10000 && math.Abs(acc-side.Accuracy) > 2.5e-4 {
		t.Errorf("%s: accuracy %.4f, PyTorch %.4f (more than 2 of 10,000 images differ)", be, acc, side.Accuracy)
	}
	if acc < 0.97 {
		t.Errorf("%s: accuracy %.4f on %d images, want ≥ 0.97", be, acc, test.Len())
	}
}

func TestONNXMNISTCNN(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	checkMNISTCNN(t, "go", n)
}
