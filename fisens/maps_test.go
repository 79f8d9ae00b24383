package fisens

import (
	"math"
	"testing"
)

func TestPatchMapsMatchColumnSubsets(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 7, 6, 2, 3, 10
	net := newTinyNet(21, H, W, C, F, K, true)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(22, 2, H, W, C, K)
	jac, err := a.InputJacobian(batch)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 2; n++ {
		maps, err := jac.PatchMaps(n, nil, Additive, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pi, _, _ := Softmax(jac.LogitsOf(n))
		y := batch.Labels[n]
		for s, k := range maps.Scales {
			for c := 0; c < C; c++ {
				for _, px := range [][2]int{{0, 0}, {3, 2}, {6, 5}, {1, 4}} {
					cols := PatchColumns(H, W, C, px[0], px[1], c, k)
					want, err := jac.FI(cols, Additive, Options{})
					if err != nil {
						t.Fatal(err)
					}
					got := maps.Maps[s][c][px[0]*W+px[1]]
					if math.Abs(got.FI-want[n].FI) > 1e-12*math.Max(want[n].FI, 1e-300) || got.Rank != want[n].Rank {
						t.Errorf("n=%d k=%d c=%d px=%v: map FI %g r=%d, column subset FI %g r=%d", n, k, c, px, got.FI, got.Rank, want[n].FI, want[n].Rank)
					}
					if got.Rank > min(len(cols), K-1) {
						t.Errorf("rank %d exceeds min(p=%d, K−1)", got.Rank, len(cols))
					}
					if k == 1 {
						// One pixel: FI = (jᵀg)² / (jᵀ A j) in closed form.
						col := make([]float64, K)
						jac.column(n, cols[0], Additive, col)
						var jg, jAj, mean float64
						for kk := 0; kk < K; kk++ {
							mean += pi[kk] * col[kk]
						}
						jg = col[y] - mean
						for kk := 0; kk < K; kk++ {
							jAj += pi[kk] * (col[kk] - mean) * (col[kk] - mean)
						}
						if cf := jg * jg / jAj; math.Abs(got.FI-cf) > 1e-9*cf {
							t.Errorf("one pixel: FI %g, closed form %g", got.FI, cf)
						}
					}
				}
			}
		}
		if len(maps.ChannelMean(0)) != H*W || len(maps.FI(3, 1)) != H*W {
			t.Error("map sizes")
		}
	}
	if _, err := jac.PatchMaps(0, []int{2}, Additive, Options{}); err == nil {
		t.Error("even patch size must be rejected")
	}
	if _, err := jac.PatchMaps(5, nil, Additive, Options{}); err == nil {
		t.Error("example out of range must be rejected")
	}
}
