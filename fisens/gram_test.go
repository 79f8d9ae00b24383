package fisens

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// linearSoftmax is the oracle model z = J ω + z0: its Jacobian is J exactly.
type linearSoftmax struct {
	K, P int
	J    *mat.Dense // K × P
	z    []float64
}

func newLinear(rng *rand.Rand, K, P int, logitScale float64) *linearSoftmax {
	J := mat.NewDense(K, P, nil)
	for i := 0; i < K; i++ {
		for j := 0; j < P; j++ {
			J.Set(i, j, rng.NormFloat64())
		}
	}
	z := make([]float64, K)
	for k := range z {
		z[k] = logitScale * rng.NormFloat64()
	}
	return &linearSoftmax{K: K, P: P, J: J, z: z}
}

func gramOf(J *mat.Dense) []float64 {
	K, _ := J.Dims()
	var M mat.Dense
	M.Mul(J, J.T())
	out := make([]float64, K*K)
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			out[i*K+j] = M.At(i, j)
		}
	}
	return out
}

// softmaxJacobian returns A = diag(π) − ππᵀ = ∂π/∂z (K × K) and π = softmax(z).
func softmaxJacobian(z []float64) (*mat.Dense, []float64) {
	pi, _, _ := Softmax(z)
	K := len(z)
	A := mat.NewDense(K, K, nil)
	for i := 0; i < K; i++ {
		for j := 0; j < K; j++ {
			A.Set(i, j, -pi[i]*pi[j])
		}
		A.Set(i, i, A.At(i, i)+pi[i])
	}
	return A, pi
}

// naiveFI forms the p × p metric G = Jᵀ A J and its pseudo-inverse by SVD (relative threshold),
// and returns ∇fᵀ G⁺ ∇f with ∇f = Jᵀ g.
func naiveFI(J *mat.Dense, z []float64, g []float64) (float64, int) {
	K, P := J.Dims()
	A, _ := softmaxJacobian(z)
	var AJ, G mat.Dense
	AJ.Mul(A, J)
	G.Mul(J.T(), &AJ)
	var svd mat.SVD
	if !svd.Factorize(&G, mat.SVDFull) {
		panic("svd")
	}
	s := svd.Values(nil)
	var U, V mat.Dense
	svd.UTo(&U)
	svd.VTo(&V)
	var grad mat.VecDense
	grad.MulVec(J.T(), mat.NewVecDense(K, g))
	fi, r := 0.0, 0
	for i := 0; i < P; i++ {
		if s[i] <= 1e-10*s[0] {
			continue
		}
		r++
		ui := mat.Col(nil, i, &U)
		vi := mat.Col(nil, i, &V)
		fi += floats(ui, grad.RawVector().Data) * floats(vi, grad.RawVector().Data) / s[i]
	}
	return fi, r
}

func floats(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestFromGramMatchesNaivePseudoInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const K = 10
	for P := 1; P <= 14; P++ {
		for trial := 0; trial < 5; trial++ {
			m := newLinear(rng, K, P, 2)
			y := rng.IntN(K)
			res, err := FromGram(gramOf(m.J), m.z, y, Options{})
			if err != nil {
				t.Fatal(err)
			}
			pi, _, _ := Softmax(m.z)
			g := make([]float64, K)
			for k := range g {
				g[k] = -pi[k]
			}
			g[y]++
			want, wantR := naiveFI(m.J, m.z, g)
			if math.Abs(res.FI-want) > 1e-9*math.Max(1, want) {
				t.Errorf("P=%d: FI=%.15g, naive p×p pseudo-inverse %.15g", P, res.FI, want)
			}
			if res.Rank != wantR || res.Rank != min(P, K-1) {
				t.Errorf("P=%d: rank %d, naive %d, want min(P, K−1) = %d", P, res.Rank, wantR, min(P, K-1))
			}
			// The closed form: FI ≤ (1−π_y)/π_y, equality at rank K−1.
			odds := (1 - pi[y]) / pi[y]
			if math.Abs(res.Bound-odds) > 1e-12*odds {
				t.Errorf("bound %g, want %g", res.Bound, odds)
			}
			if res.Rank == K-1 {
				if math.Abs(res.FI-res.Bound) > 1e-9*res.Bound {
					t.Errorf("P=%d rank K−1: FI=%.15g, bound %.15g", P, res.FI, res.Bound)
				}
			} else if !(res.FI < res.Bound*(1-1e-9)) {
				t.Errorf("P=%d rank %d < K−1: FI=%g should be below the bound %g", P, res.Rank, res.FI, res.Bound)
			}
		}
	}
}

func TestFromGramGeneralObjectiveMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const K = 5
	// f = z_0 (not shift-invariant) and f = z_0 − z_1 (shift-invariant).
	objs := []Objective{
		{Name: "z0", Grad: func(z, pi []float64, y int) []float64 { g := make([]float64, len(z)); g[0] = 1; return g }},
		{Name: "margin", Grad: func(z, pi []float64, y int) []float64 {
			g := make([]float64, len(z))
			g[0], g[1] = 1, -1
			return g
		}},
	}
	for _, o := range objs {
		for P := 1; P <= 7; P++ {
			m := newLinear(rng, K, P, 1)
			res, err := FromGram(gramOf(m.J), m.z, 0, Options{Objective: o})
			if err != nil {
				t.Fatal(err)
			}
			pi, _, _ := Softmax(m.z)
			want, _ := naiveFI(m.J, m.z, o.Grad(m.z, pi, 0))
			if math.Abs(res.FI-want) > 1e-8*math.Max(1, want) {
				t.Errorf("%s P=%d: FI=%.12g, naive %.12g", o.Name, P, res.FI, want)
			}
		}
	}
}

// naiveAuthors follows the authors' code literally on the p × K matrices.
func naiveAuthors(J *mat.Dense, z []float64, y int, eps float64) (float64, int) {
	K, P := J.Dims()
	A, pi := softmaxJacobian(z)
	var grad mat.Dense
	grad.Mul(J.T(), A)
	L := mat.NewDense(P, K, nil)
	for i := 0; i < P; i++ {
		for k := 0; k < K; k++ {
			L.Set(i, k, grad.At(i, k)/(math.Sqrt(pi[k])+eps))
		}
	}
	df := make([]float64, P)
	for i := range df {
		df[i] = grad.At(i, y) / (pi[y] + eps)
	}
	var svd mat.SVD
	svd.Factorize(L, mat.SVDThin)
	d := svd.Values(nil)
	var B mat.Dense
	svd.UTo(&B)
	fi, r := 0.0, 0
	for i := range d {
		if d[i] <= eps {
			continue
		}
		r++
		c := floats(mat.Col(nil, i, &B), df)
		fi += c * c / (d[i] * d[i])
	}
	return fi, r
}

func TestAuthorsConventionMatchesTheirAlgorithm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const K = 10
	for _, scale := range []float64{1e-3, 1e-2, 1, 100} {
		for P := 1; P <= 12; P += 3 {
			m := newLinear(rng, K, P, 3)
			m.J.Scale(scale, m.J)
			y := rng.IntN(K)
			res, err := FromGram(gramOf(m.J), m.z, y, Options{Convention: Authors})
			if err != nil {
				t.Fatal(err)
			}
			want, wantR := naiveAuthors(m.J, m.z, y, DefaultAuthorsEps)
			if math.Abs(res.FI-want) > 1e-7*math.Max(1, want) || res.Rank != wantR {
				t.Errorf("scale %g P=%d: authors FI=%.12g r=%d, their algorithm %.12g r=%d", scale, P, res.FI, res.Rank, want, wantR)
			}
		}
	}
}

func TestJacobianNorms(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const K, P = 4, 6
	m := newLinear(rng, K, P, 1)
	y := 2
	res, err := FromGram(gramOf(m.J), m.z, y, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pi, _, _ := Softmax(m.z)
	// ∂ log π_y/∂ω = Jᵀ(e_y − π); ∂π_k/∂ω = π_k (J_k − Σ_j π_j J_j).
	var sq, fro float64
	for q := 0; q < P; q++ {
		var d float64
		mean := 0.0
		for j := 0; j < K; j++ {
			mean += pi[j] * m.J.At(j, q)
		}
		d = m.J.At(y, q) - mean
		sq += d * d
		for k := 0; k < K; k++ {
			dk := pi[k] * (m.J.At(k, q) - mean)
			fro += dk * dk
		}
	}
	if math.Abs(res.JacNorm-math.Sqrt(sq)) > 1e-12 || math.Abs(res.SoftmaxJacNorm-math.Sqrt(fro)) > 1e-12 {
		t.Errorf("norms %g %g, want %g %g", res.JacNorm, res.SoftmaxJacNorm, math.Sqrt(sq), math.Sqrt(fro))
	}
}

func TestConfidentExampleStaysAccurate(t *testing.T) {
	// π_y = 1 − 1e-12: the bound must come from the other classes' probabilities, not 1 − π_y.
	z := []float64{30, 2.4, 0, -1, 0.5}
	rng := rand.New(rand.NewPCG(9, 9))
	m := newLinear(rng, 5, 8, 0)
	res, err := FromGram(gramOf(m.J), z, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var others float64
	for _, v := range z[1:] {
		others += math.Exp(v - 30)
	}
	if math.Abs(res.Bound-others)/others > 1e-12 {
		t.Errorf("bound %.17g, want %.17g", res.Bound, others)
	}
	if math.Abs(res.FI-res.Bound)/res.Bound > 1e-6 {
		t.Errorf("full-rank FI %.17g should equal the bound %.17g", res.FI, res.Bound)
	}
}

func TestFromGramErrors(t *testing.T) {
	M := make([]float64, 9)
	cases := []struct {
		name  string
		M, z  []float64
		label int
	}{
		{"nan logit", M, []float64{0, math.NaN(), 1}, 0},
		{"inf logit", M, []float64{0, math.Inf(1), 1}, 0},
		{"zero probability", M, []float64{-1000, 0, 1}, 0},
		{"label out of range", M, []float64{0, 0, 1}, 3},
		{"shape mismatch", make([]float64, 4), []float64{0, 0, 1}, 0},
		{"nan Gram", []float64{0, 0, 0, 0, math.NaN(), 0, 0, 0, 0}, []float64{0, 0, 1}, 0},
		{"one class", []float64{1}, []float64{0}, 0},
	}
	for _, c := range cases {
		if _, err := FromGram(c.M, c.z, c.label, Options{}); err == nil {
			t.Errorf("%s: want an error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestZeroJacobianGivesZeroFI(t *testing.T) {
	res, err := FromGram(make([]float64, 9), []float64{0, 1, 2}, 1, Options{})
	if err != nil || res.FI != 0 || res.Rank != 0 {
		t.Fatalf("FI=%g r=%d err=%v, want 0, 0, nil", res.FI, res.Rank, err)
	}
}
