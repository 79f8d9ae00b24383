package fisens

import (
	"math"
	"testing"
)

// Thresholds must be finite and positive, or 0 for the default (issue 13: --reltol -1 and NaN
// silently used the default, --eps Inf gave FI = 0 with rank 0).
func TestOptionsCheck(t *testing.T) {
	z := []float64{1, 0.5, -0.2}
	for _, bad := range []Options{{RelTol: -1}, {RelTol: math.NaN()}, {RelTol: math.Inf(1)},
		{Convention: Authors, Eps: math.Inf(1)}, {Convention: Authors, Eps: -1e-3}, {Convention: Authors, Eps: math.NaN()}} {
		if bad.Check() == nil {
			t.Errorf("%+v: Check accepted it", bad)
		}
		if _, err := FromGram([]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, z, 0, bad); err == nil {
			t.Errorf("%+v: FromGram accepted it", bad)
		}
	}
	for _, ok := range []Options{{}, {RelTol: 1e-13}, {Convention: Authors, Eps: 1e-8}, {RelTol: 2}} {
		if err := ok.Check(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
		if _, err := FromGram([]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, z, 0, ok); err != nil {
			t.Errorf("%+v: FromGram: %v", ok, err)
		}
	}
}
