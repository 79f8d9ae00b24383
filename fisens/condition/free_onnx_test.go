//go:build onnx

package condition

import (
	"os"
	"testing"

	"github.com/fisens/fisens/backend"
	onnxruntime "github.com/gomlx/compute-onnx"
)

// TestEstimatorFreesBuffersONNX: the estimator's forward passes and attacks free the tensors they
// pass to their graphs. GoMLX frees a tensor's buffer only when it is finalized, and on ONNX Runtime
// every Run (the input and a copy of all the weights) and every attack step left its arguments
// behind — with a paper-size network, its weights at every perturbed forward pass.
func TestEstimatorFreesBuffersONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	b, err := backend.New("onnx:cpu")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEstimator(t, b)
	batch := pixelBatch(5, 2)
	w0 := e.Weights()
	run := func() {
		if _, err := e.Run(batch, w0, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Run(batch, w0, 8); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.AttackInput(batch, 0.01, 2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.AttackWeights(pixelBatch(6, 1), 0.01, 2); err != nil {
			t.Fatal(err)
		}
	}
	run() // compiles every graph
	n0 := onnxruntime.LiveBuffers()
	run()
	run()
	if n := onnxruntime.LiveBuffers() - n0; n != 0 {
		t.Errorf("%d buffers left on ONNX Runtime by two rounds of Run, AttackInput and AttackWeights, want 0", n)
	}
}
