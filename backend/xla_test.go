//go:build xla

package backend

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// xlaBackend returns XLA's CPU backend or skips the test with a message.
func xlaBackend(t testing.TB) compute.Backend {
	t.Helper()
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		t.Skip("XLA CPU plugin absent: run scripts/install-xla.sh and export what it prints (this test was skipped, not passed)")
	}
	b, err := New("xla:cpu")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestXLA loads the plugin, checks the PJRT C API version it reports against the one go-xla v0.4.0 is
// built with (0.104: the plugin must be that or newer), and runs a convolution and its gradients.
func TestXLA(t *testing.T) {
	b := xlaBackend(t)
	desc := b.Description()
	t.Logf("%s", desc)
	m := regexp.MustCompile(`v(\d+)\.(\d+)`).FindStringSubmatch(desc)
	if m == nil {
		t.Fatalf("no PJRT API version in %q", desc)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major != 0 || minor < 104 {
		t.Fatalf("PJRT C API v%d.%d: go-xla v0.4.0 needs 0.104 or newer", major, minor)
	}
	f := func(x *graph.Node) []*graph.Node {
		g := x.Graph()
		w := graph.Sin(graph.IotaFull(g, shapes.Make(dtypes.Float32, 3, 3, 2, 2)))
		y := graph.Convolve(x, w).StridePerAxis(2, 1).PadSame().Done()
		l := graph.ReduceAllSum(graph.Mul(y, y))
		return append([]*graph.Node{y}, graph.Gradient(l, x)...)
	}
	x := make([]float32, 5*4*2)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	var got [2][]*tensors.Tensor
	for i, be := range []compute.Backend{b, Must("go")} {
		got[i] = graph.MustExecOnceN(be, f, tensors.FromFlatDataAndDimensions(x, 1, 5, 4, 2))
	}
	for j := range got[0] {
		af := tensors.MustCopyFlatData[float32](got[0][j])
		cf := tensors.MustCopyFlatData[float32](got[1][j])
		for i := range af {
			if d := af[i] - cf[i]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("output %d: xla %v, go %v", j, af, cf)
			}
		}
	}
}
