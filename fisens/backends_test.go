package fisens

import (
	"math"
	"testing"

	"github.com/fisens/fisens/backend"
)

// agreeWithGo computes the input FI, patch maps and per-layer parameter FI (per example and
// batched) of the ops-built test net on the pure-Go backend and on the named one, with the same
// weights and inputs, and compares them. The callers (build-tagged: onnx_test.go, xla_test.go)
// skip when the backend's library is absent.
func agreeWithGo(t *testing.T, other string) {
	const H, W, C, K, N = 7, 7, 2, 5, 3
	batch := randomBatch(31, N, H, W, C, K)
	type out struct {
		fi      []Result
		maps    *PatchMaps
		params  *ParamResult
		batched []*ParamResult
	}
	var res [2]out
	for i, name := range []string{"go", other} {
		be, err := backend.New(name)
		if err != nil {
			t.Fatal(err)
		}
		a := newOpsNet(t, be, K)
		seedOpsNet(t, a, H, W, C) // same weights on both backends
		jac, err := a.InputJacobian(batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res[i].fi, err = jac.FI(nil, Additive, Options{}); err != nil {
			t.Fatal(err)
		}
		if res[i].maps, err = jac.PatchMaps(1, nil, Additive, Options{}); err != nil {
			t.Fatal(err)
		}
		one := Batch{X: batch.X[:H*W*C], Shape: []int{1, H, W, C}, Labels: batch.Labels[:1]}
		if res[i].params, err = a.ParamFI(one, ParamOptions{}); err != nil {
			t.Fatalf("%s: ParamFI: %v", name, err)
		}
		if res[i].batched, err = a.ParamFIBatch(batch, ParamOptions{}); err != nil {
			t.Fatalf("%s: ParamFIBatch: %v", name, err)
		}
		if tapped(a) != 1 {
			t.Errorf("%s: the batched graph did not use the taps", name)
		}
	}
	close := func(what string, x, y float64) {
		t.Helper()
		if math.Abs(x-y) > 1e-4*math.Max(math.Abs(x), math.Abs(y))+1e-9 {
			t.Errorf("%s: go %.8g, %s %.8g", what, x, other, y)
		}
	}
	for n := range res[0].fi {
		close("input FI", res[0].fi[n].FI, res[1].fi[n].FI)
		close("input JacNorm", res[0].fi[n].JacNorm, res[1].fi[n].JacNorm)
	}
	for s := range res[0].maps.Scales {
		for c := range res[0].maps.Maps[s] {
			for px := range res[0].maps.Maps[s][c] {
				close("patch FI", res[0].maps.Maps[s][c][px].FI, res[1].maps.Maps[s][c][px].FI)
			}
		}
	}
	for l := range res[0].params.PerGroup {
		name := res[0].params.Groups[l].Name
		close("layer FI "+name, res[0].params.PerGroup[l].FI, res[1].params.PerGroup[l].FI)
		close("layer JacNorm "+name, res[0].params.PerGroup[l].JacNorm, res[1].params.PerGroup[l].JacNorm)
		if res[0].params.PerGroup[l].Rank != res[1].params.PerGroup[l].Rank {
			t.Errorf("layer %s: rank %d vs %d", name, res[0].params.PerGroup[l].Rank, res[1].params.PerGroup[l].Rank)
		}
		// The batched path on the other backend against the per-example path on pure Go.
		close("batched layer FI "+name, res[0].params.PerGroup[l].FI, res[1].batched[0].PerGroup[l].FI)
		close("batched layer JacNorm "+name, res[0].params.PerGroup[l].JacNorm, res[1].batched[0].PerGroup[l].JacNorm)
	}
	for n := range res[0].batched {
		close("batched all-parameter JacNorm", res[0].batched[n].All.JacNorm, res[1].batched[n].All.JacNorm)
	}
}
