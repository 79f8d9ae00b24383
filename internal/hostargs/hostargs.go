// Package hostargs prepares host values as arguments of a GoMLX executor.
package hostargs

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
)

// Wrap wraps every argument that is not already a tensor (Go slices, scalars) in a tensor.
// Why: GoMLX hands a Go value to the backend as a donated temporary buffer, and ONNX Runtime
// (compute-onnx) then reads the Go slice in place without keeping it alive, so a garbage
// collection before the graph runs can feed it freed memory (seen as labels {48, 0} instead of
// {1, 2} in models' TestPaperModelsOnONNX). A tensor's data is copied into memory the backend owns.
func Wrap(args []any) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(*tensors.Tensor); ok {
			out[i] = t
			continue
		}
		t, err := tensors.FromAnyValue(a)
		if err != nil {
			return nil, fmt.Errorf("graph argument %d (%T): %w", i, a, err)
		}
		out[i] = t
	}
	return out, nil
}

// Free finalizes the tensors among args (their backend buffers too). GoMLX frees a tensor's buffer
// only when it is finalized (no garbage-collector cleanup), and on ONNX Runtime an argument is
// moved into a buffer ONNX Runtime owns: an argument dropped without Free leaks that buffer.
// Values that are not tensors are ignored.
func Free(args ...any) {
	for _, a := range args {
		if t, ok := a.(*tensors.Tensor); ok {
			_ = t.FinalizeAll()
		}
	}
}
