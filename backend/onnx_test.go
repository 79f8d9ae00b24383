//go:build onnx

package backend

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	if _, err := New("onnx:cpu"); err != nil {
		t.Fatal(err)
	}
}

// TestONNXBugsBypassed runs, on the decorated ONNX Runtime backend, the three cases where compute-onnx's
// own ops give wrong results or fail (shown next to them, for the record): ReduceWindow(Sum) with
// padding (AveragePool without count_include_pad), SelectAndScatterMax with overlapping windows
// (ScatterElements without reduction), ReduceWindow(Sum) with window dilations (AveragePool ignores them).
func TestONNXBugsBypassed(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	dec := Must("onnx:cpu")
	raw := dec.(*Decorated).Inner()
	x := []float32{1, 2, 3, 4, 5, 16, 7, 8, 9, 10, 11, 12, 13, 14, 15, 6} // 4×4, maximum at (1, 1)
	cases := []struct {
		name string
		fn   func(x *graph.Node) *graph.Node
		want []float32
	}{
		{"sum_3x3_pad1", func(x *graph.Node) *graph.Node {
			return graph.BackendReduceWindow(x, compute.ReduceOpSum, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, nil, nil,
				[][2]int{{0, 0}, {1, 1}, {1, 1}, {0, 0}})
		}, []float32{24, 34, 40, 22, 43, 64, 73, 45, 67, 100, 99, 59, 46, 72, 68, 44}},
		{"maxpool_3x3_s1_grad", func(x *graph.Node) *graph.Node {
			return graph.Gradient(graph.ReduceAllSum(graph.MaxPool(x).Window(3).Strides(1).Done()), x)[0]
		}, []float32{0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"sum_2x2_windil2", func(x *graph.Node) *graph.Node {
			return graph.BackendReduceWindow(x, compute.ReduceOpSum, []int{1, 2, 2, 1}, []int{1, 1, 1, 1}, nil, []int{1, 2, 2, 1}, nil)
		}, []float32{24, 28, 40, 44}},
	}
	for _, c := range cases {
		for _, b := range []compute.Backend{raw, dec} {
			r, err := graph.ExecOnce(b, c.fn, tensors.FromFlatDataAndDimensions(append([]float32(nil), x...), 1, 4, 4, 1))
			if b == raw {
				if err != nil {
					t.Logf("%s, compute-onnx alone: %v", c.name, err)
				} else {
					t.Logf("%s, compute-onnx alone: %v (want %v)", c.name, tensors.MustCopyFlatData[float32](r), c.want)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := tensors.MustCopyFlatData[float32](r); !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

// TestONNXUnsupportedOpError: an operation outside what ONNX Runtime and the decorator provide is an
// error naming the operation and the backends that run it, not a panic.
func TestONNXUnsupportedOpError(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH")
	}
	_, err := graph.ExecOnce(Must("onnx:cpu"), func(x *graph.Node) *graph.Node { return graph.Atan2(x, x) },
		[]float32{1, 2})
	if err == nil {
		t.Fatal("want an error for Atan2 on ONNX Runtime")
	}
	for _, s := range []string{"Atan2", "onnx:cpu", "xla:cpu"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q: %v", s, err)
		}
	}
}
