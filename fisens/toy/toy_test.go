package toy

import (
	"math"
	"strings"
	"testing"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/testnet"
	"github.com/gomlx/compute"
)

func testBackend(t testing.TB) compute.Backend { return testnet.Backend(t) }

// Weights of a 3-class and a 4-class teaching model (float32-exact, so the autodiff Jacobian of the
// linear model is W exactly).
var (
	w3 = [][]float64{{1.5, 0.25}, {-1, 1.25}, {-0.5, -1.5}}
	b3 = []float64{0.25, 0, -0.5}
	w4 = [][]float64{{1.5, 0.25}, {-1, 1.25}, {-0.5, -1.5}, {0.75, -0.75}}
	b4 = []float64{0.25, 0, -0.5, 0.125}
)

func mustAnalyzer(t *testing.T, m *Model) *fisens.Analyzer {
	t.Helper()
	an, err := fisens.NewAnalyzer(testBackend(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return an
}

func mustSoftmax(t *testing.T, W [][]float64, b []float64) *Model {
	t.Helper()
	m, err := NewSoftmax2D(W, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// probs is π = softmax(W x + b) in float64, computed here independently of GoMLX and fisens.
func probs(W [][]float64, b []float64, x [2]float64) []float64 {
	z := make([]float64, len(W))
	zmax := math.Inf(-1)
	for k := range W {
		z[k] = W[k][0]*x[0] + W[k][1]*x[1] + b[k]
		zmax = math.Max(zmax, z[k])
	}
	var s float64
	for k := range z {
		z[k] = math.Exp(z[k] - zmax)
		s += z[k]
	}
	for k := range z {
		z[k] /= s
	}
	return z
}

// oneFeatureFI is the closed form for p = 1: with j the logit Jacobian column (K), g = e_y − π and
// A = diag(π) − ππᵀ, FI = (jᵀg)²/(jᵀAj).
func oneFeatureFI(j, pi []float64, y int) float64 {
	var jg, jpi, jAj float64
	for k := range j {
		g := -pi[k]
		if k == y {
			g++
		}
		jg += j[k] * g
		jpi += j[k] * pi[k]
		jAj += pi[k] * j[k] * j[k]
	}
	jAj -= jpi * jpi
	return jg * jg / jAj
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b)) }

var grid3 = Grid{X1: [2]float64{-3, 3}, X2: [2]float64{-2.5, 3.5}, N1: 7, N2: 6}

func TestGridOrientation(t *testing.T) {
	g := Grid{X1: [2]float64{-1, 2}, X2: [2]float64{10, 20}, N1: 4, N2: 3}
	for i, want := range map[int][2]float64{0: {-1, 20}, 3: {2, 20}, 4: {-1, 15}, 11: {2, 10}} {
		if got := g.Point(i); got != want {
			t.Errorf("Point(%d) = %v, want %v", i, got, want)
		}
	}
	b, err := g.Batch(2)
	if err != nil || b.N() != 12 || len(b.Labels) != 12 || b.Labels[5] != 2 || b.X[2*4] != -1 || b.X[2*4+1] != 15 {
		t.Errorf("Batch: %+v, %v", b, err)
	}
	if b, _ := g.Batch(-1); b.Labels != nil {
		t.Errorf("Batch(-1) has labels %v", b.Labels)
	}
	line := Grid{X1: [2]float64{0, 1}, X2: [2]float64{0.5, 0.5}, N1: 3, N2: 1}
	if p := line.Point(2); p != [2]float64{1, 0.5} {
		t.Errorf("one-row grid point %v", p)
	}
	if !strings.Contains(g.Describe(), "bottom to top") {
		t.Errorf("Describe: %q", g.Describe())
	}
}

func TestSoftmax2DJacobianIsW(t *testing.T) {
	m := mustSoftmax(t, w3, b3)
	an := mustAnalyzer(t, m)
	b, _ := grid3.Batch(0)
	jac, err := an.InputJacobian(b)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < b.N(); n++ {
		pi := probs(w3, b3, grid3.Point(n))
		got, _, _ := fisens.Softmax(jac.LogitsOf(n))
		for k := 0; k < 3; k++ {
			row := jac.Row(n, k)
			if float64(row[0]) != w3[k][0] || float64(row[1]) != w3[k][1] {
				t.Fatalf("point %d class %d: Jacobian %v, want W row %v", n, k, row, w3[k])
			}
			if math.Abs(got[k]-pi[k]) > 1e-6 {
				t.Fatalf("point %d: π %v, want %v", n, got, pi)
			}
		}
	}
}

func TestTanh2DJacobianClosedForm(t *testing.T) {
	U := [][]float64{{1, -0.5}, {0.25, 1.5}, {-1.25, 0.75}}
	c := []float64{0.1, -0.2, 0.3}
	V := [][]float64{{1, -1, 0.5}, {-0.5, 1, 1}, {0.25, 0.5, -1.5}}
	b := []float64{0, 0.1, -0.1}
	m, err := NewTanh2D(U, c, V, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Hidden() != 3 || m.NumClasses() != 3 {
		t.Fatalf("hidden %d classes %d", m.Hidden(), m.NumClasses())
	}
	an := mustAnalyzer(t, m)
	bt, _ := grid3.Batch(1)
	jac, err := an.InputJacobian(bt)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < bt.N(); n++ {
		x := grid3.Point(n)
		// J = V diag(1 − tanh²(Ux + c)) U; z = V tanh(Ux + c) + b.
		d := make([]float64, 3)
		h := make([]float64, 3)
		for i := range d {
			h[i] = math.Tanh(U[i][0]*x[0] + U[i][1]*x[1] + c[i])
			d[i] = 1 - h[i]*h[i]
		}
		for k := 0; k < 3; k++ {
			z := b[k]
			for i := range h {
				z += V[k][i] * h[i]
			}
			if math.Abs(float64(jac.Logits[n*3+k])-z) > 1e-5 {
				t.Fatalf("point %v class %d: logit %g, want %g", x, k, jac.Logits[n*3+k], z)
			}
			for j := 0; j < 2; j++ {
				var want float64
				for i := range d {
					want += V[k][i] * d[i] * U[i][j]
				}
				if got := float64(jac.Row(n, k)[j]); math.Abs(got-want) > 1e-5 {
					t.Fatalf("point %v: J[%d][%d] = %g, want %g", x, k, j, got, want)
				}
			}
		}
	}
	// The identity of SPEC A.3 does not depend on the network: p = 2 = K − 1 gives FI = odds.
	f, err := OnGrid(an, grid3, -1, nil, fisens.Additive, fisens.Options{Objective: fisens.LogProbPred})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := MaxRelDiff(f.FI, f.Bound); d > 1e-6 {
		t.Errorf("tanh net, both features: max |FI/odds − 1| = %g", d)
	}
}

// TestTwoFeaturesThreeClassesFIIsOdds: rank G = 2 = K − 1, so FI = (1 − π_y)/π_y at every point,
// by fisens, by the naive pseudo-inverse, and as the maximum of the quotient over directions.
func TestTwoFeaturesThreeClassesFIIsOdds(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w3, b3))
	for _, y := range []int{-1, 0, 2} {
		opt := fisens.Options{}
		if y < 0 {
			opt.Objective = fisens.LogProbPred
		}
		f, err := OnGrid(an, grid3, y, nil, fisens.Additive, opt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.FI {
			pi := probs(w3, b3, grid3.Point(i))
			yy := int(f.Label[i])
			odds := (1 - pi[yy]) / pi[yy]
			if f.Rank[i] != 2 || !relClose(f.FI[i], odds, 1e-6) || !relClose(f.Bound[i], odds, 1e-6) {
				t.Fatalf("y=%d point %v: FI %g rank %g bound %g, want the odds %g at rank 2", y, grid3.Point(i), f.FI[i], f.Rank[i], f.Bound[i], odds)
			}
		}
		if r := f.RatioToBound(); math.Abs(r[3]-1) > 1e-9 {
			t.Errorf("ratio %g", r[3])
		}
		if gap, n := f.GapAtRank(2); n != grid3.Len() || gap > 1e-9 {
			t.Errorf("GapAtRank(2) = %g over %d points", gap, n)
		}
		if _, n := f.GapAtRank(1); n != 0 {
			t.Errorf("%d points of rank 1", n)
		}
	}
	x := [2]float64{0.5, -0.75}
	l, err := At(an, x, 1, nil, Additive, fisens.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pi := probs(w3, b3, x)
	odds := (1 - pi[1]) / pi[1]
	if l.NaiveRank != 2 || !relClose(l.NaiveFI, odds, 1e-9) || !relClose(l.Result.FI, odds, 1e-9) {
		t.Errorf("naive FI %g (rank %d), fisens %g, odds %g", l.NaiveFI, l.NaiveRank, l.Result.FI, odds)
	}
	_, q, err := l.Directions(4000)
	if err != nil {
		t.Fatal(err)
	}
	best := 0.0
	for _, v := range q {
		if v > l.Result.FI*(1+1e-9) {
			t.Fatalf("a direction reaches %g above FI %g", v, l.Result.FI)
		}
		best = math.Max(best, v)
	}
	if !relClose(best, l.Result.FI, 1e-5) {
		t.Errorf("max over directions %g, FI %g", best, l.Result.FI)
	}
}

// TestOneFeatureClosedForm: p = 1 < K − 1, FI = (jᵀg)²/(jᵀAj) < odds with rank 1.
func TestOneFeatureClosedForm(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w3, b3))
	for _, feature := range []int{0, 1} {
		f, err := OnGrid(an, grid3, 2, []int{feature}, fisens.Additive, fisens.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.FI {
			x := grid3.Point(i)
			pi := probs(w3, b3, x)
			j := []float64{w3[0][feature], w3[1][feature], w3[2][feature]}
			want := oneFeatureFI(j, pi, 2)
			if f.Rank[i] != 1 || !relClose(f.FI[i], want, 1e-6) || !(f.FI[i] <= f.Bound[i]) {
				t.Fatalf("feature %d point %v: FI %g rank %g, want %g ≤ bound %g", feature, x, f.FI[i], f.Rank[i], want, f.Bound[i])
			}
			if p := f.Probs[2][i]; math.Abs(p-pi[2]) > 1e-6 {
				t.Fatalf("π_2 %g, want %g", p, pi[2])
			}
		}
		l, err := At(an, [2]float64{1, 1}, 2, []int{feature}, Additive, fisens.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !relClose(l.NaiveFI, l.Result.FI, 1e-9) || l.NaiveRank != 1 {
			t.Errorf("feature %d: naive %g (rank %d) vs fisens %g", feature, l.NaiveFI, l.NaiveRank, l.Result.FI)
		}
		if q, _ := l.Quotient([]float64{-2.5}); !relClose(q, l.Result.FI, 1e-9) {
			t.Errorf("p = 1 quotient %g, FI %g", q, l.Result.FI)
		}
	}
}

// TestFourClassesTwoFeaturesBelowOdds: p = 2 < K − 1 = 3: rank 2 and FI strictly below the odds.
func TestFourClassesTwoFeaturesBelowOdds(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w4, b4))
	f, err := OnGrid(an, grid3, -1, nil, fisens.Additive, fisens.Options{Objective: fisens.LogProbPred})
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.FI {
		if f.Rank[i] != 2 || !(f.FI[i] < f.Bound[i]*(1-1e-6)) {
			t.Fatalf("point %v: FI %g rank %g bound %g", grid3.Point(i), f.FI[i], f.Rank[i], f.Bound[i])
		}
	}
	l, err := At(an, [2]float64{0.25, 0.5}, -1, nil, Additive, fisens.Options{Objective: fisens.LogProbPred})
	if err != nil {
		t.Fatal(err)
	}
	_, q, _ := l.Directions(4000)
	best := 0.0
	for _, v := range q {
		best = math.Max(best, v)
	}
	if !relClose(l.NaiveFI, l.Result.FI, 1e-8) || !relClose(best, l.Result.FI, 1e-5) {
		t.Errorf("naive %g, max over directions %g, fisens %g", l.NaiveFI, best, l.Result.FI)
	}
	if gap, n := f.GapAtRank(2); n != grid3.Len() || gap < 1e-3 {
		t.Errorf("GapAtRank(2) = %g over %d points: FI should fall short of the odds", gap, n)
	}
	// The spectrum of the 2 × 2 metric: trace and determinant.
	ev, err := l.MetricEigenvalues()
	if err != nil {
		t.Fatal(err)
	}
	tr, det := l.G[0][0]+l.G[1][1], l.G[0][0]*l.G[1][1]-l.G[0][1]*l.G[1][0]
	if len(ev) != 2 || !(ev[0] <= ev[1]) || !relClose(ev[0]+ev[1], tr, 1e-12) || !relClose(ev[0]*ev[1], det, 1e-9) {
		t.Errorf("eigenvalues %v, trace %g, determinant %g", ev, tr, det)
	}
}

// TestChartsInvariance: FI is the same in every chart; the Jacobian norm is multiplied by |X'(τ0)|.
func TestChartsInvariance(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w3, b3))
	x := [2]float64{-1.25, 0.75}
	for _, feature := range []int{0, 1} {
		add, err := At(an, x, 0, []int{feature}, Additive, fisens.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// The chain rule reproduces fisens' own additive and scaling forms.
		b := pointsBatch([][2]float64{x}, 0)
		jac, _ := an.InputJacobian(b)
		for _, form := range []fisens.Form{fisens.Additive, fisens.Scaling} {
			r, _ := jac.FI([]int{feature}, form, fisens.Options{})
			ch := Additive
			if form == fisens.Scaling {
				ch = Scaling
			}
			l, _ := At(an, x, 0, []int{feature}, ch, fisens.Options{})
			if !relClose(r[0].FI, l.Result.FI, 1e-12) || !relClose(r[0].JacNorm, l.Result.JacNorm, 1e-12) {
				t.Errorf("feature %d %v: fisens %+v, chart %+v", feature, form, r[0], l.Result)
			}
		}
		for _, ch := range []Chart{Scaling, CubicScaling, ExpScaling, SinhAdditive, Units(1000), Units(0.01)} {
			l, err := At(an, x, 0, []int{feature}, ch, fisens.Options{})
			if err != nil {
				t.Fatal(err)
			}
			factor := math.Abs(ch.DX(x[feature], ch.Tau0))
			if !relClose(l.Result.FI, add.Result.FI, 1e-9) || !relClose(l.NaiveFI, add.Result.FI, 1e-9) {
				t.Errorf("feature %d chart %s: FI %g (naive %g), additive %g", feature, ch.Name, l.Result.FI, l.NaiveFI, add.Result.FI)
			}
			if !relClose(l.Result.JacNorm, factor*add.Result.JacNorm, 1e-9) || relClose(l.Result.JacNorm, add.Result.JacNorm, 1e-3) {
				t.Errorf("feature %d chart %s: Jacobian norm %g, want %g × %g (and not invariant)", feature, ch.Name, l.Result.JacNorm, factor, add.Result.JacNorm)
			}
			if !relClose(l.G[0][0], factor*factor*add.G[0][0], 1e-9) {
				t.Errorf("chart %s: G %g, want %g² × %g", ch.Name, l.G[0][0], factor, add.G[0][0])
			}
		}
		// Not a diffeomorphism at τ0: nothing moves to first order.
		l, err := At(an, x, 0, []int{feature}, CubicAdditive, fisens.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Result.FI != 0 || l.Result.Rank != 0 || l.NaiveRank != 0 || l.Result.JacNorm != 0 {
			t.Errorf("x+τ³ at τ0 = 0: %+v naive rank %d", l.Result, l.NaiveRank)
		}
	}
	// A scaling chart needs a non-zero feature.
	if _, err := At(an, [2]float64{0, 1}, 0, []int{0}, Scaling, fisens.Options{}); err == nil {
		t.Error("scaling chart at x0 = 0: want an error")
	}
}

func TestRescaledModel(t *testing.T) {
	b := testBackend(t)
	m := mustSoftmax(t, w3, b3)
	x := [2]float64{0.75, -0.5}
	cs := []float64{0.001, 0.1, 1, 10, 1000}
	r, err := Rescaling(b, m, x, 1, 0, cs, fisens.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := At(mustAnalyzer(t, m), x, 1, []int{0}, Additive, fisens.Options{})
	for i, c := range cs {
		if !relClose(r.FI[i], l.Result.FI, 1e-5) || r.Rank[i] != 1 {
			t.Errorf("units %g: FI %g rank %d, want %g", c, r.FI[i], r.Rank[i], l.Result.FI)
		}
		if !relClose(r.JacNorm[i]*c, l.Result.JacNorm, 1e-5) || !relClose(r.SoftmaxJacNorm[i]*c, l.Result.SoftmaxJacNorm, 1e-5) {
			t.Errorf("units %g: Jacobian norm × c = %g, want %g", c, r.JacNorm[i]*c, l.Result.JacNorm)
		}
	}
	if relClose(r.Cook[0], r.Cook[2], 0.1) || relClose(r.Cook[4], r.Cook[2], 0.1) {
		t.Errorf("Cook's curvature %v unexpectedly invariant", r.Cook)
	}
	// The rescaled model at c ∘ x is the model at x.
	mc, _ := m.Rescaled([2]float64{1000, -2})
	if mc.Units() != [2]float64{1000, -2} || m.Units() != [2]float64{1, 1} {
		t.Errorf("units %v / %v", mc.Units(), m.Units())
	}
	z, _ := mustAnalyzer(t, m).Logits(pointsBatch([][2]float64{x}, -1))
	zc, _ := mustAnalyzer(t, mc).Logits(pointsBatch([][2]float64{{1000 * x[0], -2 * x[1]}}, -1))
	for k := range z {
		if math.Abs(float64(z[k]-zc[k])) > 1e-5 {
			t.Errorf("logits %v, rescaled %v", z, zc)
		}
	}
	// Cook at c = 1 is CookAt's.
	ck, err := CookAt(mustAnalyzer(t, m), [][2]float64{x}, 1, []int{0}, fisens.Additive, fisens.Options{})
	if err != nil || !relClose(ck[0].Curvature, r.Cook[2], 1e-6) {
		t.Errorf("CookAt %+v (%v), Rescaling %g", ck, err, r.Cook[2])
	}
}

// TestAlongCurve checks the manifold of one feature against finite differences along it, and that
// the arc length does not depend on the chart.
func TestAlongCurve(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w3, b3))
	x0 := [2]float64{0.5, 0.25}
	values := Linspace(-2.5, 3.5, 601)
	opt := fisens.Options{Objective: fisens.LogProbPred}
	add, err := Along(an, x0, -1, 0, Additive, values, opt)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Along(an, x0, -1, 0, Scaling, values, opt)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := Along(an, x0, -1, 0, SinhAdditive, values, opt)
	if err != nil {
		t.Fatal(err)
	}
	if add.Label != 0 || sc.Label != 0 {
		t.Fatalf("labels %d %d, want the prediction 0 at x0", add.Label, sc.Label)
	}
	for i := 1; i+1 < len(values); i++ {
		for _, c := range []*Curve{add, sc} {
			if !relClose(c.FI[i], c.DF[i]*c.DF[i]/c.G[i], 1e-8) || c.FI[i] > c.Bound[i] || c.Rank[i] != 1 {
				t.Fatalf("%s at %g: FI %g, f'²/G %g, bound %g", c.Chart.Name, values[i], c.FI[i], c.DF[i]*c.DF[i]/c.G[i], c.Bound[i])
			}
			// f' and G against central differences in τ.
			dt := c.Tau[i+1] - c.Tau[i-1]
			fd := (c.F[i+1] - c.F[i-1]) / dt
			var gfd float64
			for k := 0; k < 3; k++ {
				d := (math.Log(c.Pi[i+1][k]) - math.Log(c.Pi[i-1][k])) / dt
				gfd += c.Pi[i][k] * d * d
			}
			if math.Abs(fd-c.DF[i]) > 1e-3*math.Max(1, math.Abs(c.DF[i])) || math.Abs(gfd-c.G[i]) > 1e-3*math.Max(1, c.G[i]) {
				t.Fatalf("%s at %g: f' %g (differences %g), G %g (differences %g)", c.Chart.Name, values[i], c.DF[i], fd, c.G[i], gfd)
			}
		}
		if math.Abs(add.S[i]-sc.S[i]) > 1e-4*math.Max(1, math.Abs(add.S[i])) || math.Abs(add.S[i]-sh.S[i]) > 1e-3*math.Max(1, math.Abs(add.S[i])) {
			t.Fatalf("arc length at %g: additive %g, scaling %g, sinh %g", values[i], add.S[i], sc.S[i], sh.S[i])
		}
	}
	// S = 0 at x0, increasing, and the origin's FI is the chart-invariant FI of At.
	l, _ := At(an, x0, -1, []int{0}, Additive, opt)
	if !relClose(add.Origin.Result.FI, l.Result.FI, 1e-12) || !relClose(sc.Origin.Result.FI, l.Result.FI, 1e-9) {
		t.Errorf("origin FI %g / %g, At %g", add.Origin.Result.FI, sc.Origin.Result.FI, l.Result.FI)
	}
	i0 := 300 // values[300] = 0.5 = x0[0]
	if math.Abs(add.S[i0]) > 1e-12 || add.Values[i0] != 0.5 {
		t.Errorf("S at x0 = %g (value %g)", add.S[i0], add.Values[i0])
	}
	for i := 1; i < len(add.S); i++ {
		if !(add.S[i] > add.S[i-1]) {
			t.Fatalf("arc length not increasing at %d", i)
		}
	}
}

func TestSimplexXY(t *testing.T) {
	for _, c := range []struct {
		pi   []float64
		x, y float64
	}{{[]float64{1, 0, 0}, 0, 0}, {[]float64{0, 1, 0}, 1, 0}, {[]float64{0, 0, 1}, 0.5, math.Sqrt(3) / 2}, {[]float64{1. / 3, 1. / 3, 1. / 3}, 0.5, math.Sqrt(3) / 6}} {
		x, y, err := SimplexXY(c.pi)
		if err != nil || math.Abs(x-c.x) > 1e-15 || math.Abs(y-c.y) > 1e-15 {
			t.Errorf("SimplexXY(%v) = %g, %g, %v", c.pi, x, y, err)
		}
	}
	if _, _, err := SimplexXY([]float64{1, 0}); err == nil {
		t.Error("2 classes: want an error")
	}
	if x, y := Triangle(); len(x) != 4 || x[0] != x[3] || y[0] != y[3] {
		t.Errorf("triangle %v %v", x, y)
	}
}

func TestErrors(t *testing.T) {
	an := mustAnalyzer(t, mustSoftmax(t, w3, b3))
	good := [2]float64{1, 1}
	cases := map[string]func() error{
		"one class": func() error { _, err := NewSoftmax2D([][]float64{{1, 2}}, []float64{0}); return err },
		"ragged W":  func() error { _, err := NewSoftmax2D([][]float64{{1, 2}, {1}}, []float64{0, 0}); return err },
		"NaN weight": func() error {
			_, err := NewSoftmax2D([][]float64{{1, math.NaN()}, {1, 0}}, []float64{0, 0})
			return err
		},
		"short bias":     func() error { _, err := NewSoftmax2D(w3, []float64{0}); return err },
		"tanh no hidden": func() error { _, err := NewTanh2D(nil, nil, [][]float64{{}, {}}, []float64{0, 0}); return err },
		"tanh V shape": func() error {
			_, err := NewTanh2D([][]float64{{1, 1}}, []float64{0}, [][]float64{{1, 1}, {1, 1}}, []float64{0, 0})
			return err
		},
		"zero unit":        func() error { _, err := mustSoftmax(t, w3, b3).Rescaled([2]float64{0, 1}); return err },
		"empty grid":       func() error { _, err := Grid{N1: 0, N2: 3}.Batch(0); return err },
		"reversed range":   func() error { _, err := Grid{X1: [2]float64{1, 0}, N1: 2, N2: 2}.Batch(0); return err },
		"no label":         func() error { _, err := OnGrid(an, grid3, -1, nil, fisens.Additive, fisens.Options{}); return err },
		"bad feature":      func() error { _, err := OnGrid(an, grid3, 0, []int{2}, fisens.Additive, fisens.Options{}); return err },
		"repeated feature": func() error { _, err := At(an, good, 0, []int{1, 1}, Additive, fisens.Options{}); return err },
		"empty features":   func() error { _, err := At(an, good, 0, []int{}, Additive, fisens.Options{}); return err },
		"At no label":      func() error { _, err := At(an, good, -1, nil, Additive, fisens.Options{}); return err },
		"custom objective": func() error {
			o := fisens.Options{Objective: fisens.Objective{Name: "z0", Grad: func(z, pi []float64, y int) []float64 { return []float64{1, 0, 0} }}}
			_, err := At(an, good, 0, nil, Additive, o)
			return err
		},
		"not increasing": func() error {
			_, err := Along(an, good, 0, 0, Additive, []float64{0, 2, 1.5}, fisens.Options{})
			return err
		},
		"x0 outside": func() error { _, err := Along(an, good, 0, 0, Additive, []float64{2, 3}, fisens.Options{}); return err },
		"chart cannot reach": func() error {
			_, err := Along(an, good, 0, 0, ExpScaling, []float64{-1, 1, 2}, fisens.Options{})
			return err
		},
		"bad chart": func() error { _, err := At(an, good, 0, nil, Chart{Name: "broken"}, fisens.Options{}); return err },
		"rescaling feature": func() error {
			_, err := Rescaling(testBackend(t), mustSoftmax(t, w3, b3), good, 0, 3, []float64{1}, fisens.Options{})
			return err
		},
		"rescaling no c": func() error {
			_, err := Rescaling(testBackend(t), mustSoftmax(t, w3, b3), good, 0, 0, nil, fisens.Options{})
			return err
		},
	}
	testnet.WantErrors(t, cases)
	l, _ := At(an, good, 0, []int{0}, Additive, fisens.Options{})
	if _, _, err := l.Directions(10); err == nil {
		t.Error("Directions with p = 1: want an error")
	}
	if _, err := l.Quotient([]float64{1, 0}); err == nil {
		t.Error("Quotient with a direction of the wrong length: want an error")
	}
}

// TestChartDerivatives checks every chart's DX against central differences of X, and Tau against X.
func TestChartDerivatives(t *testing.T) {
	for _, ch := range []Chart{Additive, Scaling, CubicScaling, ExpScaling, SinhAdditive, CubicAdditive, Units(250)} {
		for _, x0 := range []float64{-1.5, 0.75, 2} {
			if err := ch.check(x0); err != nil {
				t.Fatal(err)
			}
			for _, d := range []float64{-0.3, 0.1, 0.45} {
				tau := ch.Tau0 + d
				const h = 1e-6
				fd := (ch.X(x0, tau+h) - ch.X(x0, tau-h)) / (2 * h)
				if math.Abs(fd-ch.DX(x0, tau)) > 1e-6*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s x0=%g τ=%g: DX %g, differences %g", ch.Name, x0, tau, ch.DX(x0, tau), fd)
				}
				if back := ch.Tau(x0, ch.X(x0, tau)); math.Abs(back-tau) > 1e-12*math.Max(1, math.Abs(tau)) {
					t.Errorf("%s x0=%g: Tau(X(%g)) = %g", ch.Name, x0, tau, back)
				}
			}
		}
	}
}
