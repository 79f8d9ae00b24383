//go:build onnx

package backend

// ONNX Runtime backend ("onnx:cpu"); needs cgo and libonnxruntime: see scripts/install-onnxruntime.sh.
import _ "github.com/gomlx/compute-onnx"
