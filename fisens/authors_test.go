package fisens

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAuthorsClosedFormMatchesTheirAlgorithm checks AuthorsFullRank against the literal authors'
// algorithm (naiveAuthors: thin SVD of the p × K matrix L) at full rank, and its first-order term.
func TestAuthorsClosedFormMatchesTheirAlgorithm(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const K = 10
	checked := 0
	for trial := 0; trial < 60; trial++ {
		P := K + rng.IntN(20)
		m := newLinear(rng, K, P, 1+float64(trial%4))
		m.J.Scale(30, m.J) // singular values of L well above ε
		y := rng.IntN(K)
		for _, eps := range []float64{1e-3, 1e-8} {
			got, r := naiveAuthors(m.J, m.z, y, eps)
			if r != K-1 {
				continue
			}
			pi, _, _ := Softmax(m.z)
			want := AuthorsFullRank(pi, y, eps)
			if math.Abs(got-want) > 1e-8*math.Max(1, want) {
				t.Errorf("trial %d eps %g: their algorithm %.12g, closed form %.12g", trial, eps, got, want)
			}
			checked++
		}
	}
	if checked < 60 {
		t.Fatalf("only %d full-rank cases checked", checked)
	}
}

func TestAuthorsBiasIsTheFirstOrderTerm(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for trial := 0; trial < 50; trial++ {
		z := make([]float64, 10)
		for k := range z {
			z[k] = 3 * rng.NormFloat64()
		}
		y := rng.IntN(10)
		pi, _, _ := Softmax(z)
		if pi[y] < 1e-3 {
			continue
		}
		odds := (1 - pi[y]) / pi[y]
		const eps = 1e-7
		diff := AuthorsFullRank(pi, y, eps) - odds
		b := AuthorsBias(pi, y, eps)
		// The remainder is O(ε²) with coefficients up to ~π_y^-3.
		if math.Abs(diff-b) > 1e-3*math.Abs(b)+100*eps*eps/(pi[y]*pi[y]*pi[y]) {
			t.Errorf("π_y=%.4g: FI_auth − odds = %.6g, first-order term %.6g", pi[y], diff, b)
		}
	}
	// A confident label: the convention sits above the bound.
	pi := []float64{1 - 1e-4}
	for i := 0; i < 9; i++ {
		pi = append(pi, 1e-4/9)
	}
	odds := (1 - pi[0]) / pi[0]
	if rel := AuthorsFullRank(pi, 0, 1e-3)/odds - 1; rel < 0.5 || rel > 0.7 {
		t.Errorf("confident label: relative excess %.3g, want ≈ 0.6", rel)
	}
	// A very unconfident label sits below it.
	pi = []float64{0.01, 0.99}
	if AuthorsFullRank(pi, 0, 1e-3) >= (1-pi[0])/pi[0] {
		t.Errorf("π_y = 0.01 should sit below the bound")
	}
}
