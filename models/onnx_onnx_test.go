//go:build onnx

package models_test

import (
	"os"
	"testing"

	"github.com/fisens/fisens/internal/protoconflict"
)

// With the build tag onnx this test binary links compute-onnx (the ONNX Runtime backend) and
// onnx-gomlx (the importer), which both register "onnx-ml.proto": that it starts at all shows the
// registration conflict is handled (see internal/protoconflict).
func init() {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") != "" {
		onnxTestBackends = append(onnxTestBackends, "onnx:cpu")
	}
}

func TestProtoConflictPolicyONNX(t *testing.T) {
	got := os.Getenv(protoconflict.EnvVar)
	if got == "" {
		t.Fatalf("%s is unset: the protobuf registration conflict between compute-onnx and onnx-gomlx was not handled", protoconflict.EnvVar)
	}
	t.Logf("%s=%s (set by fisens: %v); compute-onnx and onnx-gomlx are both linked into this test binary", protoconflict.EnvVar, got, protoconflict.SetByUs)
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Log("ONNX Runtime absent: the imported-model tests ran on the pure-Go backend only (run scripts/install-onnxruntime.sh and export its variables)")
	}
}

// TestONNXMNISTCNNAccuracyONNX measures the trained model's accuracy on all 10,000 test images with
// ONNX Runtime and compares it with PyTorch's.
func TestONNXMNISTCNNAccuracyONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh (this test was skipped, not passed)")
	}
	checkMNISTCNN(t, "onnx:cpu", 10000)
}
