package fisens

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// PatchMaps holds multi-scale FI maps of one image (Shu & Zhu Setup 4): for each scale k and
// channel c, the FI of perturbing the k × k square centred on each pixel (clipped at the image
// borders) within channel c.
type PatchMaps struct {
	H, W, C int
	Scales  []int
	// Maps[s][c] has H·W results in row-major pixel order, for scale Scales[s] and channel c.
	Maps  [][][]Result
	Label int     // the objective's y
	Pred  int     // predicted class
	Prob  float64 // π_y
	Bound float64 // (1 − π_y)/π_y
}

// FI returns the FI values of scale index s and channel c as a row-major H × W slice.
func (m *PatchMaps) FI(s, c int) []float64 {
	out := make([]float64, m.H*m.W)
	for i, r := range m.Maps[s][c] {
		out[i] = r.FI
	}
	return out
}

// ChannelMean returns the FI map of scale index s averaged over channels (the paper's guide for
// one-pixel attacks on colour images).
func (m *PatchMaps) ChannelMean(s int) []float64 {
	out := make([]float64, m.H*m.W)
	for c := 0; c < m.C; c++ {
		for i, r := range m.Maps[s][c] {
			out[i] += r.FI / float64(m.C)
		}
	}
	return out
}

// DefaultScales are the patch sizes of the paper's Figure 6.
var DefaultScales = []int{1, 3, 5, 7}

// PatchMaps computes the FI maps of example n for the given odd patch sizes (nil: DefaultScales)
// from this Jacobian alone: the Gram matrix of a patch is the sum of its pixels' K × K outer
// products, so every scale costs one K × K solve per pixel and no backward pass. The batch shape
// must be [N, H, W, C].
//
// The result is the one FromGram gives for each patch's own Gram matrix (up to rounding), computed
// faster:
//   - Patch sums are separable sliding sums of per-pixel terms: a row pass widened in place from
//     one scale to the next, then a column pass of k direct additions per patch. Only additions:
//     differences of running prefix sums would leave rounding noise in a small patch's Gram matrix
//     and inflate its numerical rank.
//   - In the Exact convention with a log-probability (shift-invariant) objective, the per-pixel
//     terms are the outer products of u = W j (W = D(I − 1πᵀ) as in Solver), so a patch sum is Q
//     itself and the O(K³) product W M Wᵀ disappears (the centring happens per pixel, before any
//     summation, so it also removes a cancellation). FI = ‖P v‖² then comes from the same pivoted
//     Cholesky factorisation as Solver (same threshold, same rank), with the projector written
//     through L = [L1; L2] (pivot rows first): range(L) = range([I; X]), X = L2 L1⁻¹, so
//     ‖P v‖² = zᵀ (I + XᵀX)⁻¹ z with z = v1 + Xᵀ v2: an r × r Cholesky instead of a Gram–Schmidt
//     orthonormalisation. A single pixel (k = 1, p = 1) has the closed form (uᵀv)²/‖u‖², rank 1.
//   - Other conventions and objectives sum the per-pixel outer products j jᵀ and call Solver.Solve.
//   - Rows of patches are solved by GOMAXPROCS goroutines.
func (j *InputJacobian) PatchMaps(n int, scales []int, form Form, opt Options) (*PatchMaps, error) {
	if len(j.Shape) != 4 {
		return nil, fmt.Errorf("fisens: patch maps need images [N, H, W, C], got batch shape %v", j.Shape)
	}
	if n < 0 || n >= j.N {
		return nil, fmt.Errorf("fisens: example %d out of range [0, %d)", n, j.N)
	}
	if scales == nil {
		scales = DefaultScales
	}
	for _, k := range scales {
		if k < 1 || k%2 == 0 {
			return nil, fmt.Errorf("fisens: patch size %d must be a positive odd number", k)
		}
	}
	H, W, C, K := j.Shape[1], j.Shape[2], j.Shape[3], j.K
	y := -1
	if j.Labels != nil {
		y = j.Labels[n]
	}
	z := j.LogitsOf(n)
	solver, err := NewSolver(z, y, opt)
	if err != nil {
		return nil, fmt.Errorf("fisens: example %d: %w", n, err)
	}
	out := &PatchMaps{H: H, W: W, C: C, Scales: append([]int(nil), scales...), Maps: make([][][]Result, len(scales)),
		Label: solver.base.Label, Pred: solver.base.Pred, Prob: solver.base.Prob, Bound: solver.base.Bound}
	for s := range scales {
		out.Maps[s] = make([][]Result, C)
	}
	ks := slices.Clone(scales)
	slices.Sort(ks)
	ks = slices.Compact(ks)

	pb := newPatchBuilder(j, n, form, solver)
	workers := make([]*patchWork, max(1, min(runtime.GOMAXPROCS(0), H)))
	for w := range workers {
		s := solver
		if w > 0 && !pb.fast {
			// Solver holds workspace: one per goroutine.
			if s, err = NewSolver(z, y, opt); err != nil {
				return nil, fmt.Errorf("fisens: example %d: %w", n, err)
			}
		}
		workers[w] = newPatchWork(K, pb.L, s)
	}
	for c := 0; c < C; c++ {
		if err := pb.pixels(c); err != nil {
			return nil, err
		}
		copy(pb.row, pb.pix)
		h := 0
		for _, k := range ks {
			for h < k/2 {
				h++
				pb.widenRows(h)
			}
			res := make([]Result, H*W)
			if err := pb.solveAll(workers, k, res); err != nil {
				return nil, fmt.Errorf("fisens: example %d channel %d scale %d: %w", n, c, k, err)
			}
			first := true
			for s, kk := range scales {
				if kk != k {
					continue
				}
				if first {
					out.Maps[s][c] = res
					first = false
				} else {
					out.Maps[s][c] = slices.Clone(res)
				}
			}
		}
	}
	return out, nil
}

// patchBuilder holds the per-pixel terms of one channel and their row sums.
type patchBuilder struct {
	j          *InputJacobian
	n          int
	form       Form
	s          *Solver
	fast       bool // Exact convention, shift-invariant objective: terms of Q = W M Wᵀ directly
	H, W, C, K int
	tri, L     int       // packed upper triangle size K(K+1)/2; terms per pixel
	sqrtPi     []float64 // √π
	pix        []float64 // H·W·L per-pixel terms
	row        []float64 // H·W·L row sums over the current half-width
	one        []float64 // fast path: per pixel uᵀv and ‖u‖² (the k = 1 closed form)
	col, u     []float64
}

func newPatchBuilder(j *InputJacobian, n int, form Form, s *Solver) *patchBuilder {
	H, W, C, K := j.Shape[1], j.Shape[2], j.Shape[3], j.K
	pb := &patchBuilder{j: j, n: n, form: form, s: s, H: H, W: W, C: C, K: K, tri: K * (K + 1) / 2,
		fast: s.opt.Convention == Exact && s.shiftInv, col: make([]float64, K), u: make([]float64, K)}
	pb.L = pb.tri
	if pb.fast {
		// Q's upper triangle, then (jᵀg)² and ‖A j‖² for gᵀMg and tr(AMA).
		pb.L += 2
		pb.one = make([]float64, 2*H*W)
		pb.sqrtPi = make([]float64, K)
		for k := range pb.sqrtPi {
			pb.sqrtPi[k] = math.Sqrt(s.pi[k])
		}
	}
	pb.pix = make([]float64, H*W*pb.L)
	pb.row = make([]float64, H*W*pb.L)
	return pb
}

// pixels fills pix with the per-pixel terms of channel c.
func (pb *patchBuilder) pixels(c int) error {
	K, L, col, u := pb.K, pb.L, pb.col, pb.u
	pi, g := pb.s.pi, pb.s.g
	for px := 0; px < pb.H*pb.W; px++ {
		pb.j.column(pb.n, px*pb.C+c, pb.form, col)
		for _, v := range col {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("fisens: example %d pixel (%d, %d) channel %d: Jacobian entry %v: the Jacobian is not finite",
					pb.n, px/pb.W, px%pb.W, c, v)
			}
		}
		o := pb.pix[px*L : (px+1)*L]
		if !pb.fast {
			x := 0
			for a := 0; a < K; a++ {
				for b := a; b < K; b++ {
					o[x] = col[a] * col[b]
					x++
				}
			}
			continue
		}
		// u = W j = D (j − (πᵀj) 1); A j = π ∘ (j − (πᵀj) 1).
		var mean, jg, aj, uv, uu float64
		for k := 0; k < K; k++ {
			mean += pi[k] * col[k]
			jg += g[k] * col[k]
		}
		for k := 0; k < K; k++ {
			ck := col[k] - mean
			u[k] = pb.sqrtPi[k] * ck
			a := pi[k] * ck
			aj += a * a
			uv += u[k] * pb.s.v[k]
			uu += u[k] * u[k]
		}
		x := 0
		for a := 0; a < K; a++ {
			ua := u[a]
			for b := a; b < K; b++ {
				o[x] = ua * u[b]
				x++
			}
		}
		o[x], o[x+1] = jg*jg, aj
		pb.one[2*px], pb.one[2*px+1] = uv, uu
	}
	return nil
}

// widenRows turns row sums of half-width h−1 into half-width h (in place, additions only).
func (pb *patchBuilder) widenRows(h int) {
	W, L := pb.W, pb.L
	for r := 0; r < pb.H; r++ {
		for c := 0; c < W; c++ {
			dst := pb.row[(r*W+c)*L : (r*W+c+1)*L]
			if c-h >= 0 {
				src := pb.pix[(r*W+c-h)*L : (r*W+c-h+1)*L]
				for x, v := range src {
					dst[x] += v
				}
			}
			if c+h < W {
				src := pb.pix[(r*W+c+h)*L : (r*W+c+h+1)*L]
				for x, v := range src {
					dst[x] += v
				}
			}
		}
	}
}

// solveAll computes the results of scale k (row sums already of half-width k/2) into res, the rows
// shared among the workers.
func (pb *patchBuilder) solveAll(workers []*patchWork, k int, res []Result) error {
	if len(workers) == 1 {
		return pb.solveRows(workers[0], k, 0, 1, res)
	}
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			errs[w] = pb.solveRows(workers[w], k, w, len(workers), res)
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// solveRows solves the patches of rows first, first+step, … of scale k.
func (pb *patchBuilder) solveRows(w *patchWork, k, first, step int, res []Result) error {
	H, W, L, K := pb.H, pb.W, pb.L, pb.K
	half := k / 2
	for r := first; r < H; r += step {
		r0, r1 := max(r-half, 0), min(r+half+1, H)
		for c := 0; c < W; c++ {
			px := r*W + c
			if pb.fast && k == 1 {
				res[px] = pb.onePixel(px)
				continue
			}
			acc := w.acc
			copy(acc, pb.row[(r0*W+c)*L:(r0*W+c+1)*L])
			for i := r0 + 1; i < r1; i++ {
				src := pb.row[(i*W+c)*L : (i*W+c+1)*L]
				for x, v := range src {
					acc[x] += v
				}
			}
			if pb.fast {
				res[px] = w.exactQ(pb.s, acc)
				continue
			}
			M, x := w.q, 0
			for a := 0; a < K; a++ {
				for b := a; b < K; b++ {
					M[a*K+b], M[b*K+a] = acc[x], acc[x]
					x++
				}
			}
			var err error
			if res[px], err = w.solver.Solve(M); err != nil {
				return fmt.Errorf("pixel (%d, %d): %w", r, c, err)
			}
		}
	}
	return nil
}

// onePixel is the closed form for a single pixel (p = 1): Q = u uᵀ has rank 1 (0 when u = 0) and
// FI = (uᵀv)²/‖u‖².
func (pb *patchBuilder) onePixel(px int) Result {
	res := pb.s.base
	o := pb.pix[px*pb.L : (px+1)*pb.L]
	res.JacNorm = math.Sqrt(o[pb.tri])
	res.SoftmaxJacNorm = math.Sqrt(o[pb.tri+1])
	if uv, uu := pb.one[2*px], pb.one[2*px+1]; uu > 0 {
		res.FI, res.Rank = uv*uv/uu, 1
	}
	return res
}

// patchWork is one goroutine's workspace.
type patchWork struct {
	K         int
	solver    *Solver
	acc       []float64 // a patch's summed terms
	q, l, x   []float64 // K × K: Q (or M), Cholesky factor, X = L2 L1⁻¹ (rows)
	gm        []float64 // K × K: I + XᵀX and its Cholesky factor
	d, zz     []float64 // K
	used      []bool
	piv, rest []int
}

func newPatchWork(K, L int, s *Solver) *patchWork {
	return &patchWork{K: K, solver: s, acc: make([]float64, L),
		q: make([]float64, K*K), l: make([]float64, K*K), x: make([]float64, K*K), gm: make([]float64, K*K),
		d: make([]float64, K), zz: make([]float64, K), used: make([]bool, K), piv: make([]int, K), rest: make([]int, K)}
}

// exactQ is Solver.Solve in the Exact convention for a shift-invariant objective, from acc = Q's
// packed upper triangle followed by gᵀMg and tr(AMA) (see PatchMaps).
func (w *patchWork) exactQ(s *Solver, acc []float64) Result {
	K := w.K
	tri := K * (K + 1) / 2
	res := s.base
	res.JacNorm = math.Sqrt(math.Max(0, acc[tri]))
	res.SoftmaxJacNorm = math.Sqrt(math.Max(0, acc[tri+1]))
	q, L, d, used := w.q, w.l, w.d, w.used
	maxDiag, x := 0.0, 0
	for a := 0; a < K; a++ {
		for b := a; b < K; b++ {
			q[a*K+b], q[b*K+a] = acc[x], acc[x]
			x++
		}
		d[a] = q[a*K+a]
		used[a] = false
		maxDiag = math.Max(maxDiag, d[a])
	}
	if maxDiag <= 0 {
		return res // J = 0 (or only along 1): the output distribution does not move
	}
	thr := s.opt.relTol() * maxDiag
	// The same factorisation as Solver (same threshold, same rank).
	r := pivotedCholesky(q, L, d, used, w.piv, K, thr)
	if r == 0 {
		return res
	}
	res.Rank = r
	piv, rest := w.piv[:r], w.rest
	nr := 0
	for i := 0; i < K; i++ {
		if !used[i] {
			rest[nr] = i
			nr++
		}
	}
	// X = L2 L1⁻¹ row by row: x L1 = l2, L1[t][c] = L[piv[t]][c], lower triangular.
	X := w.x
	for e := 0; e < nr; e++ {
		li := rest[e] * K
		xe := X[e*K : e*K+r]
		for c := r - 1; c >= 0; c-- {
			a := L[li+c]
			for t := c + 1; t < r; t++ {
				a -= xe[t] * L[piv[t]*K+c]
			}
			xe[c] = a / L[piv[c]*K+c]
		}
	}
	// z = v1 + Xᵀ v2 and G = I + XᵀX (lower triangle).
	zz, G, v := w.zz[:r], w.gm, s.v
	for a := 0; a < r; a++ {
		za := v[piv[a]]
		for e := 0; e < nr; e++ {
			za += X[e*K+a] * v[rest[e]]
		}
		zz[a] = za
		for b := 0; b <= a; b++ {
			var gab float64
			if a == b {
				gab = 1
			}
			for e := 0; e < nr; e++ {
				gab += X[e*K+a] * X[e*K+b]
			}
			G[a*K+b] = gab
		}
	}
	// Cholesky G = C Cᵀ in place (eigenvalues ≥ 1), then FI = ‖C⁻¹ z‖².
	for a := 0; a < r; a++ {
		for b := 0; b <= a; b++ {
			sum := G[a*K+b]
			for t := 0; t < b; t++ {
				sum -= G[a*K+t] * G[b*K+t]
			}
			if a == b {
				G[a*K+a] = math.Sqrt(sum)
			} else {
				G[a*K+b] = sum / G[b*K+b]
			}
		}
	}
	var fi float64
	for a := 0; a < r; a++ {
		t := zz[a]
		for b := 0; b < a; b++ {
			t -= G[a*K+b] * zz[b]
		}
		zz[a] = t / G[a*K+a]
		fi += zz[a] * zz[a]
	}
	res.FI = fi
	return res
}

// PatchColumns returns the input indices (HWC layout) of the k × k square centred on (r, c) in
// channel ch, clipped at the borders: the perturbation whose FI PatchMaps reports at that pixel.
func PatchColumns(H, W, C, r, c, ch, k int) []int {
	half := k / 2
	var cols []int
	for i := max(r-half, 0); i < min(r+half+1, H); i++ {
		for jj := max(c-half, 0); jj < min(c+half+1, W); jj++ {
			cols = append(cols, (i*W+jj)*C+ch)
		}
	}
	return cols
}
