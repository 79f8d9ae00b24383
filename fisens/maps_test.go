package fisens

import (
	"math"
	"math/rand/v2"
	"slices"
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

// randomJacobian returns an InputJacobian of N images H × W × C with random float32 entries. In
// the second half of the rows, pixel columns repeat a few basis columns (rank-deficient patches),
// one corner is zero (rank-0 patches) and a quarter of the inputs are 0 (zero columns in the
// scaling form).
func randomJacobian(seed uint64, N, H, W, C, K int) *InputJacobian {
	rng := rand.New(rand.NewPCG(seed, 7))
	P := H * W * C
	j := &InputJacobian{N: N, K: K, P: P, Shape: []int{N, H, W, C}, X: make([]float32, N*P),
		Labels: make([]int, N), Logits: make([]float32, N*K), J: make([]float32, K*N*P)}
	for i := range j.X {
		if rng.IntN(4) > 0 {
			j.X[i] = float32(rng.Float64() * 2)
		}
	}
	for n := 0; n < N; n++ {
		j.Labels[n] = rng.IntN(K)
		for k := 0; k < K; k++ {
			j.Logits[n*K+k] = float32(2 * rng.NormFloat64())
		}
		for q := 0; q < P; q++ {
			r, c := q/C/W, q/C%W
			for k := 0; k < K; k++ {
				v := rng.NormFloat64() + 0.5 // a common component along 1, as logit Jacobians have
				switch {
				case r < 2 && c < 2:
					v = 0
				case r >= H/2:
					v = float64(j.J[(k*N+n)*P+(c%3)*C+q%C]) * float64(1+r%2) // copies of row-0 columns
				}
				j.J[(k*N+n)*P+q] = float32(v)
			}
		}
	}
	return j
}

// TestPatchMapsMatchDirectGram compares PatchMaps (sliding sums, the Q-space solver, the k = 1
// closed form, goroutines) with each patch's own Gram matrix solved by FromGram, at every pixel.
func TestPatchMapsMatchDirectGram(t *testing.T) {
	zy := Objective{Name: "z_y", Grad: func(z, pi []float64, y int) []float64 {
		g := make([]float64, len(z))
		g[y] = 1
		return g
	}}
	opts := map[string]Options{"exact": {}, "pred": {Objective: LogProbPred}, "authors": {Convention: Authors, Eps: 1e-2},
		"z_y": {Objective: zy}}
	rel := func(got, want float64) float64 {
		if got == want {
			return 0
		}
		return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
	}
	for _, sh := range [][4]int{{9, 8, 1, 10}, {6, 7, 3, 10}, {2, 3, 1, 10}, {8, 9, 3, 4}} {
		H, W, C, K := sh[0], sh[1], sh[2], sh[3]
		jac := randomJacobian(uint64(H*100+W*10+C+K), 2, H, W, C, K)
		for name, opt := range opts {
			for _, form := range []Form{Additive, Scaling} {
				for _, scales := range [][]int{nil, {5, 1, 5}} {
					for n := 0; n < 2; n++ {
						maps, err := jac.PatchMaps(n, scales, form, opt)
						if err != nil {
							t.Fatal(err)
						}
						bad := 0
						for s, k := range maps.Scales {
							for c := 0; c < C; c++ {
								for r := 0; r < H; r++ {
									for cc := 0; cc < W; cc++ {
										cols := PatchColumns(H, W, C, r, cc, c, k)
										want, err := FromGram(jac.Gram(n, cols, form), jac.LogitsOf(n), jac.Labels[n], opt)
										if err != nil {
											t.Fatal(err)
										}
										tol := 1e-10
										if !opt.Objective.isLogProb() {
											// FI = ‖Q⁺ W M g‖² squares Q's conditioning: allow for the reference's
											// own rounding sensitivity, the same sum in reverse order (up to ~6e-10
											// here, where FI is 10⁴ times the odds).
											slices.Reverse(cols)
											rev, _ := FromGram(jac.Gram(n, cols, form), jac.LogitsOf(n), jac.Labels[n], opt)
											tol += 10 * rel(rev.FI, want.FI)
										}
										got := maps.Maps[s][c][r*W+cc]
										if rel(got.FI, want.FI) > tol || got.Rank != want.Rank ||
											rel(got.JacNorm, want.JacNorm) > 1e-10 || rel(got.SoftmaxJacNorm, want.SoftmaxJacNorm) > 1e-10 ||
											got.Label != want.Label || got.Pred != want.Pred || got.Bound != want.Bound {
											if bad++; bad <= 5 {
												t.Errorf("%v %s %v n=%d k=%d c=%d (%d, %d): map %+v, direct %+v", sh, name, form, n, k, c, r, cc, got, want)
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	jac := randomJacobian(5, 1, 5, 5, 1, 10)
	jac.J[(3*1+0)*25+12] = float32(math.NaN())
	if _, err := jac.PatchMaps(0, nil, Additive, Options{}); err == nil {
		t.Error("a non-finite Jacobian must be rejected")
	}
}

// BenchmarkPatchMapsRandomJacobian: the four-scale maps of one 28 × 28 × 1 image, K = 10, from a
// random Jacobian (no backend needed; BenchmarkPatchMaps in bench_test.go uses a real network).
func BenchmarkPatchMapsRandomJacobian(b *testing.B) {
	jac := randomJacobian(1, 4, 28, 28, 1, 10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range jac.J {
		jac.J[i] = float32(rng.NormFloat64())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jac.PatchMaps(i%4, nil, Additive, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image")
}
