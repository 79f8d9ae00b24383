//go:build onnx

package fisens

import (
	"math"
	"os"
	"testing"

	"github.com/fisens/fisens/backend"
)

// TestFIAgreesAcrossBackendsONNX computes the same measures on the pure-Go and ONNX Runtime
// backends with the same weights and inputs.
func TestFIAgreesAcrossBackendsONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH (this test was skipped, not passed)")
	}
	onnx, err := backend.New("onnx:cpu")
	if err != nil {
		t.Fatal(err)
	}
	const H, W, C, F, K = 6, 6, 1, 3, 10
	batch := randomBatch(41, 4, H, W, C, K)
	var results [2][]Result
	var maps [2]*PatchMaps
	var params [2]*ParamResult
	_ = onnx
	for i, be := range []string{"go", "onnx:cpu"} {
		bk, _ := backend.New(be)
		net := newTinyNet(42, H, W, C, F, K, true) // same seed: same weights
		a, err := NewAnalyzer(bk, net)
		if err != nil {
			t.Fatal(err)
		}
		jac, err := a.InputJacobian(batch)
		if err != nil {
			t.Fatalf("%s: %v", be, err)
		}
		if results[i], err = jac.FI(nil, Additive, Options{}); err != nil {
			t.Fatal(err)
		}
		if maps[i], err = jac.PatchMaps(1, nil, Additive, Options{}); err != nil {
			t.Fatal(err)
		}
		one := Batch{X: batch.X[:H*W*C], Shape: []int{1, H, W, C}, Labels: batch.Labels[:1]}
		if params[i], err = a.ParamFI(one, ParamOptions{}); err != nil {
			t.Fatalf("%s: ParamFI: %v", be, err)
		}
	}
	close := func(what string, x, y float64) {
		if math.Abs(x-y) > 1e-4*math.Max(math.Abs(x), math.Abs(y))+1e-9 {
			t.Errorf("%s: go %.8g, onnx %.8g", what, x, y)
		}
	}
	for n := range results[0] {
		close("input FI", results[0][n].FI, results[1][n].FI)
		close("input JacNorm", results[0][n].JacNorm, results[1][n].JacNorm)
	}
	for s := range maps[0].Scales {
		for px := range maps[0].Maps[s][0] {
			close("patch FI", maps[0].Maps[s][0][px].FI, maps[1].Maps[s][0][px].FI)
		}
	}
	for l := range params[0].PerGroup {
		close("layer FI "+params[0].Groups[l].Name, params[0].PerGroup[l].FI, params[1].PerGroup[l].FI)
		if params[0].PerGroup[l].Rank != params[1].PerGroup[l].Rank {
			t.Errorf("layer %s: rank %d vs %d", params[0].Groups[l].Name, params[0].PerGroup[l].Rank, params[1].PerGroup[l].Rank)
		}
	}
}

// TestOpsNetAgreesAcrossBackendsONNX: the ops-built net (taps, batched parameter FI) on ONNX
// Runtime against pure Go.
func TestOpsNetAgreesAcrossBackendsONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH (this test was skipped, not passed)")
	}
	agreeWithGo(t, "onnx:cpu")
}

// TestParamFIBatchGhostGramsONNX: TestParamFIBatchGhostGrams on ONNX Runtime.
func TestParamFIBatchGhostGramsONNX(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime absent: run scripts/install-onnxruntime.sh and export ONNXRUNTIME_SHARED_LIBRARY_PATH (this test was skipped, not passed)")
	}
	checkGhostGrams(t, backend.Must("onnx:cpu"))
}
