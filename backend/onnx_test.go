//go:build onnx

package backend

import (
	"os"
	"testing"
)

func TestONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	if _, err := New("onnx:cpu"); err != nil {
		t.Fatal(err)
	}
}
