package stats

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func wantSlice(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", name, got, want)
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
}

// Six examples, no ties. Sorted by score: 0.9 P, 0.8 N, 0.7 P, 0.6 P, 0.5 N, 0.4 N (P = N = 3).
var (
	sixScores = []float64{0.5, 0.9, 0.6, 0.8, 0.4, 0.7} // deliberately unsorted
	sixPos    = []bool{false, true, true, false, false, true}
)

func TestROCNoTies(t *testing.T) {
	fpr, tpr, auc, err := ROC(sixScores, sixPos)
	if err != nil {
		t.Fatal(err)
	}
	// Walk down the sorted list: P raises tpr by 1/3, N raises fpr by 1/3.
	wantSlice(t, "fpr", fpr, []float64{0, 0, 1. / 3, 1. / 3, 1. / 3, 2. / 3, 1})
	wantSlice(t, "tpr", tpr, []float64{0, 1. / 3, 1. / 3, 2. / 3, 1, 1, 1})
	// Mann–Whitney: positive 0.9 beats 3 negatives, 0.7 beats 2 (0.5, 0.4), 0.6 beats 2 → 7/9.
	// Trapezoids: width 1/3 at height 1/3 (1/9) + width 2/3 at height 1 (6/9) = 7/9.
	if !near(auc, 7./9) {
		t.Errorf("AUC = %v, want 7/9", auc)
	}
}

func TestPRNoTies(t *testing.T) {
	rec, prec, ap, err := PR(sixScores, sixPos)
	if err != nil {
		t.Fatal(err)
	}
	// Thresholds in decreasing order: (TP, FP) = (1,0) (1,1) (2,1) (3,1) (3,2) (3,3).
	wantSlice(t, "recall", rec, []float64{0, 1. / 3, 1. / 3, 2. / 3, 1, 1, 1})
	wantSlice(t, "precision", prec, []float64{1, 1, 1. / 2, 2. / 3, 3. / 4, 3. / 5, 1. / 2})
	// AP = 1/3·1 + 0·1/2 + 1/3·2/3 + 1/3·3/4 + 0 + 0 = 12/36 + 8/36 + 9/36 = 29/36.
	if !near(ap, 29./36) {
		t.Errorf("AP = %v, want 29/36", ap)
	}
}

func TestTies(t *testing.T) {
	// 0.8 P, 0.5 P, 0.5 N, 0.2 N. The tied pair is one segment, whatever the input order.
	for _, order := range [][]int{{0, 1, 2, 3}, {0, 2, 1, 3}, {3, 2, 1, 0}} {
		base := []float64{0.8, 0.5, 0.5, 0.2}
		basePos := []bool{true, true, false, false}
		s := make([]float64, 4)
		p := make([]bool, 4)
		for i, j := range order {
			s[i], p[i] = base[j], basePos[j]
		}
		fpr, tpr, auc, err := ROC(s, p)
		if err != nil {
			t.Fatal(err)
		}
		wantSlice(t, "fpr", fpr, []float64{0, 0, 0.5, 1})
		wantSlice(t, "tpr", tpr, []float64{0, 0.5, 1, 1})
		// Pairs: 0.8 beats both negatives (2); tied 0.5/0.5 counts ½, 0.5 beats 0.2 (1.5) → 3.5/4.
		if !near(auc, 0.875) {
			t.Errorf("order %v: AUC = %v, want 0.875", order, auc)
		}
		rec, prec, ap, err := PR(s, p)
		if err != nil {
			t.Fatal(err)
		}
		wantSlice(t, "recall", rec, []float64{0, 0.5, 1, 1})
		wantSlice(t, "precision", prec, []float64{1, 1, 2. / 3, 0.5})
		// AP = 0.5·1 + 0.5·2/3 = 5/6.
		if !near(ap, 5./6) {
			t.Errorf("order %v: AP = %v, want 5/6", order, ap)
		}
	}
}

func TestAllEqualScores(t *testing.T) {
	s := []float64{0.3, 0.3, 0.3, 0.3}
	p := []bool{true, false, false, true}
	fpr, tpr, auc, err := ROC(s, p)
	if err != nil {
		t.Fatal(err)
	}
	wantSlice(t, "fpr", fpr, []float64{0, 1})
	wantSlice(t, "tpr", tpr, []float64{0, 1})
	if !near(auc, 0.5) { // every pair is a tie: ½
		t.Errorf("AUC = %v, want 0.5", auc)
	}
	_, _, ap, err := PR(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if !near(ap, 0.5) { // one threshold: recall 1, precision 2/4
		t.Errorf("AP = %v, want 0.5", ap)
	}
}

func TestSinglePositive(t *testing.T) {
	// Sorted: 0.8 N, 0.4 N, 0.35 P, 0.1 N. The positive beats one negative of three.
	s := []float64{0.1, 0.4, 0.35, 0.8}
	p := []bool{false, false, true, false}
	_, _, auc, err := ROC(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if !near(auc, 1./3) {
		t.Errorf("AUC = %v, want 1/3", auc)
	}
	_, _, ap, err := PR(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if !near(ap, 1./3) { // recall jumps 0 → 1 at TP=1, FP=2: precision 1/3
		t.Errorf("AP = %v, want 1/3", ap)
	}
}

func TestPerfectInvertedAndInf(t *testing.T) {
	_, _, auc, _ := ROC([]float64{3, 2, 1, 0}, []bool{true, true, false, false})
	if auc != 1 {
		t.Errorf("perfect AUC = %v, want 1", auc)
	}
	_, _, ap, _ := PR([]float64{3, 2, 1, 0}, []bool{true, true, false, false})
	if ap != 1 {
		t.Errorf("perfect AP = %v, want 1", ap)
	}
	_, _, auc, _ = ROC([]float64{3, 2, 1, 0}, []bool{false, false, true, true})
	if auc != 0 {
		t.Errorf("inverted AUC = %v, want 0", auc)
	}
	_, _, auc, err := ROC([]float64{math.Inf(1), 1, math.Inf(-1)}, []bool{true, false, false})
	if err != nil || auc != 1 {
		t.Errorf("±Inf scores: AUC = %v, %v; want 1, nil", auc, err)
	}
}

// The trapezoid AUC equals the pairwise Mann–Whitney count on random data with many ties.
func TestAUCEqualsMannWhitney(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 20; trial++ {
		n := 5 + rng.Intn(40)
		s := make([]float64, n)
		p := make([]bool, n)
		for i := range s {
			s[i] = float64(rng.Intn(6)) // few distinct values → many ties
			p[i] = rng.Intn(3) == 0
		}
		p[0], p[1] = true, false
		var wins, pairs float64
		for i := range s {
			for j := range s {
				if p[i] && !p[j] {
					pairs++
					switch {
					case s[i] > s[j]:
						wins++
					case s[i] == s[j]:
						wins += 0.5
					}
				}
			}
		}
		_, _, auc, err := ROC(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if !near(auc, wins/pairs) {
			t.Fatalf("trial %d: AUC = %v, Mann–Whitney = %v", trial, auc, wins/pairs)
		}
	}
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not mention %q", err, substr)
	}
}

func TestROCPRErrors(t *testing.T) {
	for _, f := range []func([]float64, []bool) error{
		func(s []float64, p []bool) error { _, _, _, err := ROC(s, p); return err },
		func(s []float64, p []bool) error { _, _, _, err := PR(s, p); return err },
	} {
		wantErr(t, f(nil, nil), "empty")
		wantErr(t, f([]float64{1, 2}, []bool{true}), "len(positive)")
		wantErr(t, f([]float64{1, 2}, []bool{false, false}), "no true entry")
		wantErr(t, f([]float64{1, 2}, []bool{true, true}), "no false entry")
		wantErr(t, f([]float64{1, math.NaN()}, []bool{true, false}), "scores[1] is NaN")
	}
	if _, err := PositiveRate(nil); err == nil {
		t.Error("PositiveRate(nil): no error")
	}
	if r, _ := PositiveRate([]bool{true, false, false, false}); r != 0.25 {
		t.Errorf("PositiveRate = %v, want 0.25", r)
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{10, 1, 4, 2, 3} // sorted: 1 2 3 4 10, n−1 = 4
	cases := []struct{ q, want float64 }{
		{0, 1},
		{0.1, 1.4},   // h = 0.4: 1 + 0.4·(2−1)
		{0.5, 3},     // h = 2
		{0.75, 4},    // h = 3
		{0.9, 7.6},   // h = 3.6: 4 + 0.6·(10−4)
		{0.99, 9.76}, // h = 3.96: 4 + 0.96·6
		{1, 10},
	}
	for _, c := range cases {
		got, err := Quantile(v, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, c.want) {
			t.Errorf("Quantile(q=%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if v[0] != 10 || v[4] != 3 {
		t.Errorf("Quantile modified its input: %v", v)
	}
	qs, err := Quantiles([]float64{4, 3, 2, 1}, []float64{0.25, 0.5, 0.75})
	if err != nil {
		t.Fatal(err)
	}
	// n−1 = 3: h = 0.75 → 1.75, h = 1.5 → 2.5, h = 2.25 → 3.25 (numpy gives the same).
	wantSlice(t, "Quantiles", qs, []float64{1.75, 2.5, 3.25})
	if got, _ := Quantile([]float64{5}, 0.3); got != 5 {
		t.Errorf("Quantile of one value = %v, want 5", got)
	}
	if got, _ := Median([]float64{7, 1, 3, 5}); got != 4 {
		t.Errorf("Median = %v, want (3+5)/2 = 4", got)
	}
	if got, _ := Quantile([]float64{1, math.Inf(1)}, 1); !math.IsInf(got, 1) {
		t.Errorf("Quantile with +Inf at q=1 = %v, want +Inf", got)
	}

	_, err = Quantile(nil, 0.5)
	wantErr(t, err, "empty")
	_, err = Quantile([]float64{1}, -0.1)
	wantErr(t, err, "want a number in [0, 1]")
	_, err = Quantile([]float64{1}, 1.5)
	wantErr(t, err, "want a number in [0, 1]")
	_, err = Quantiles([]float64{1}, []float64{0.5, math.NaN()})
	wantErr(t, err, "level 1")
	_, err = Median([]float64{1, math.NaN()})
	wantErr(t, err, "values[1] is NaN")
}

func TestCorrelation(t *testing.T) {
	// x ranks 1..5; y = 5 6 7 8 7 → ranks 1 2 3.5 5 3.5 (the two 7s share (3+4)/2).
	// Deviations from the mean rank 3: dx = −2 −1 0 1 2, dy = −2 −1 .5 2 .5.
	// Σdxdy = 4+1+0+2+1 = 8, Σdx² = 10, Σdy² = 4+1+.25+4+.25 = 9.5 → ρ = 8/√95.
	rho, err := Spearman([]float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7})
	if err != nil {
		t.Fatal(err)
	}
	if !near(rho, 8/math.Sqrt(95)) {
		t.Errorf("Spearman = %v, want 8/√95 = %v", rho, 8/math.Sqrt(95))
	}
	// x = 1 2 3, y = 2 4 7: dx = −1 0 1, dy = −7/3 −1/3 8/3; Σdxdy = 5, Σdx² = 2, Σdy² = 114/9.
	r, err := Pearson([]float64{1, 2, 3}, []float64{2, 4, 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := 5 / math.Sqrt(2*114./9); !near(r, want) {
		t.Errorf("Pearson = %v, want %v", r, want)
	}
	// Monotone but non-linear: Spearman exactly 1 (and −1 reversed).
	x := []float64{0.1, 1, 2, 5, 9}
	y := []float64{0.001, 1, 8, 125, 729}
	if rho, _ := Spearman(x, y); rho != 1 {
		t.Errorf("Spearman of monotone = %v, want 1", rho)
	}
	if rho, _ := Spearman(x, []float64{5, 4, 3, 2, 1}); !near(rho, -1) {
		t.Errorf("Spearman of reversed = %v, want −1", rho)
	}
	wantSlice(t, "Ranks", Ranks([]float64{10, 20, 20, 30}), []float64{1, 2.5, 2.5, 4})
	wantSlice(t, "Ranks", Ranks([]float64{3, 3, 3}), []float64{2, 2, 2})

	_, err = Pearson([]float64{1, 2}, []float64{1})
	wantErr(t, err, "want equal lengths")
	_, err = Spearman([]float64{1}, []float64{1})
	wantErr(t, err, "at least 2")
	_, err = Pearson([]float64{1, 1, 1}, []float64{1, 2, 3})
	wantErr(t, err, "x is constant")
	_, err = Spearman([]float64{1, 2, 3}, []float64{4, 4, 4})
	wantErr(t, err, "y is constant")
	_, err = Spearman([]float64{1, math.NaN()}, []float64{1, 2})
	wantErr(t, err, "x[1] is NaN")
	_, err = Pearson([]float64{1, 2}, []float64{math.Inf(1), 2})
	wantErr(t, err, "want a finite number")
}

func TestMeanStd(t *testing.T) {
	// Mean 40/8 = 5; squared deviations 9 1 1 1 0 0 4 16 sum to 32; sample std √(32/7).
	m, s, err := MeanStd([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if err != nil {
		t.Fatal(err)
	}
	if !near(m, 5) || !near(s, math.Sqrt(32./7)) {
		t.Errorf("MeanStd = %v, %v; want 5, √(32/7)", m, s)
	}
	if m, s, _ := MeanStd([]float64{3}); m != 3 || s != 0 {
		t.Errorf("MeanStd of one value = %v, %v; want 3, 0", m, s)
	}
	_, _, err = MeanStd(nil)
	wantErr(t, err, "empty")
	_, _, err = MeanStd([]float64{1, math.NaN()})
	wantErr(t, err, "NaN")
}
