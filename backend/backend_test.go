package backend

import (
	"os"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
)

func TestDefaultIsPureGo(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	if got := Name(""); got != "go" {
		t.Fatalf("Name(\"\") = %q, want go", got)
	}
	if got := Name("onnx:cpu"); got != "onnx:cpu" {
		t.Fatalf("flag must win: got %q", got)
	}
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	out := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 2) }, []float32{1, 2})
	if v := out.Value().([]float32); v[1] != 4 {
		t.Fatalf("2*2 = %v", v[1])
	}
}

func TestUnknownBackend(t *testing.T) {
	_, err := New("nosuch")
	if err == nil {
		t.Fatal("want an error for an unknown backend")
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "onnx:cpu")
	if got := Name(""); got != "onnx:cpu" {
		t.Fatalf("env ignored: %q", got)
	}
	_ = os.Getenv
}
