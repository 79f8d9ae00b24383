package fisens

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fAlong evaluates f = log π_y at x + t·h on input columns cols (finite-difference oracle).
func fAlong(t *testing.T, a *Analyzer, b Batch, cols []int, h []float64, step float64) float64 {
	x := append([]float32(nil), b.X...)
	for i, q := range cols {
		x[q] += float32(step * h[i])
	}
	z32, err := a.Logits(Batch{X: x, Shape: b.Shape})
	if err != nil {
		t.Fatal(err)
	}
	z := make([]float64, len(z32))
	for k := range z {
		z[k] = float64(z32[k])
	}
	pi, _, _ := Softmax(z)
	return math.Log(pi[b.Labels[0]])
}

func TestCookOnePixelIsPlaneCurveCurvature(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 5
	net := newTinyNet(31, H, W, C, F, K, true) // tanh: the double-backward term is non-zero
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(32, 1, H, W, C, K)
	for _, q := range []int{0, 5, 10} {
		res, err := a.Cook(batch, Perturbation{InputCols: []int{q}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		const h = 0.05
		f0 := fAlong(t, a, batch, []int{q}, []float64{1}, 0)
		fp := fAlong(t, a, batch, []int{q}, []float64{1}, h)
		fm := fAlong(t, a, batch, []int{q}, []float64{1}, -h)
		d1 := (fp - fm) / (2 * h)
		d2 := (fp - 2*f0 + fm) / (h * h)
		want := math.Abs(d2) / math.Pow(1+d1*d1, 1.5)
		t.Logf("pixel %d: Cook %.6g, |f''|/(1+f'²)^1.5 = %.6g (f'=%.4g f''=%.4g)", q, res.Curvature, want, d1, d2)
		if math.Abs(res.Curvature-want) > 2e-2*want+1e-5 || math.Abs(res.GradNorm-math.Abs(d1)) > 1e-2*math.Abs(d1)+1e-5 {
			t.Errorf("pixel %d: Cook %g (|f'| %g), plane-curve curvature %g (|f'| %g)", q, res.Curvature, res.GradNorm, want, math.Abs(d1))
		}
		if res.P != 1 || res.FI.Rank != 1 {
			t.Errorf("p=%d rank %d", res.P, res.FI.Rank)
		}
	}
}

func TestCookIsTheMaximumOverDirections(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 5
	net := newTinyNet(33, H, W, C, F, K, true)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(34, 1, H, W, C, K)
	cols := []int{5, 6, 9}
	res, err := a.Cook(batch, Perturbation{InputCols: cols}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const h = 0.05
	f0 := fAlong(t, a, batch, cols, []float64{0, 0, 0}, 0)
	grad := make([]float64, 3)
	for i := range grad {
		e := make([]float64, 3)
		e[i] = 1
		grad[i] = (fAlong(t, a, batch, cols, e, h) - fAlong(t, a, batch, cols, e, -h)) / (2 * h)
	}
	var n2 float64
	for _, v := range grad {
		n2 += v * v
	}
	rng := rand.New(rand.NewPCG(1, 1))
	best := 0.0
	for trial := 0; trial < 60; trial++ {
		d := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		d2 := (fAlong(t, a, batch, cols, d, h) - 2*f0 + fAlong(t, a, batch, cols, d, -h)) / (h * h)
		var dd, dg float64
		for i := range d {
			dd += d[i] * d[i]
			dg += d[i] * grad[i]
		}
		c := math.Abs(d2) / (math.Sqrt(1+n2) * (dd + dg*dg))
		if c > res.Curvature*1.03+1e-5 {
			t.Errorf("direction %v has curvature %g above C_max %g", d, c, res.Curvature)
		}
		best = math.Max(best, c)
	}
	if best < 0.8*res.Curvature {
		t.Errorf("best sampled curvature %g far below C_max %g", best, res.Curvature)
	}
}

func TestCookLayerScalingAndErrors(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 10
	net := newTinyNet(35, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(36, 1, H, W, C, K)
	add, err := a.Cook(batch, Perturbation{Layer: "/bn1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := a.Cook(batch, Perturbation{Layer: "/bn1", Form: Scaling}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := a.ParamFI(batch, ParamOptions{Only: []string{"/bn1"}})
	// FI is invariant and agrees with ParamFI; Cook's curvature is not invariant.
	if math.Abs(add.FI.FI-sc.FI.FI) > 1e-5*add.FI.FI || math.Abs(add.FI.FI-pr.PerGroup[0].FI) > 1e-5*add.FI.FI {
		t.Errorf("FI additive %g scaling %g ParamFI %g", add.FI.FI, sc.FI.FI, pr.PerGroup[0].FI)
	}
	t.Logf("bn1: Cook additive %g, scaling %g; FI %g", add.Curvature, sc.Curvature, add.FI.FI)
	if math.Abs(add.Curvature-sc.Curvature) < 1e-6*add.Curvature {
		t.Errorf("Cook's curvature unexpectedly invariant")
	}
	// The model's variables are untouched.
	z1, _ := a.Logits(batch)
	pr2, _ := a.ParamFI(batch, ParamOptions{Only: []string{"/bn1"}})
	if pr2.PerGroup[0].FI != pr.PerGroup[0].FI || len(z1) != K {
		t.Error("Cook changed the model")
	}
	for name, p := range map[string]Perturbation{
		"both":          {InputCols: []int{1}, Layer: "/bn1"},
		"neither":       {},
		"unknown layer": {Layer: "/nope"},
		"bad index":     {InputCols: []int{H * W * C}},
		"too large":     {Layer: "/dense"},
	} {
		if _, err := a.Cook(batch, p, Options{}); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
