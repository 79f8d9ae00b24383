package fisens

import (
	"fmt"
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
// products, so every scale costs one K × K solve per pixel and no backward pass. The batch shape must be [N, H, W, C].
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
	solver, err := NewSolver(j.LogitsOf(n), y, opt)
	if err != nil {
		return nil, fmt.Errorf("fisens: example %d: %w", n, err)
	}
	out := &PatchMaps{H: H, W: W, C: C, Scales: append([]int(nil), scales...), Maps: make([][][]Result, len(scales)),
		Label: solver.base.Label, Pred: solver.base.Pred, Prob: solver.base.Prob, Bound: solver.base.Bound}
	for s := range scales {
		out.Maps[s] = make([][]Result, C)
	}
	// Per-pixel outer products j_q j_qᵀ (upper triangles) of one channel; a patch's Gram matrix is
	// their direct sum. Direct sums, not prefix-sum differences: differences of large running sums
	// would leave rounding noise in a small patch's Gram matrix and inflate its numerical rank.
	tri := K * (K + 1) / 2
	outer := make([]float64, H*W*tri)
	col := make([]float64, K)
	acc := make([]float64, tri)
	M := make([]float64, K*K)
	for c := 0; c < C; c++ {
		for px := 0; px < H*W; px++ {
			j.column(n, px*C+c, form, col)
			o := outer[px*tri : (px+1)*tri]
			x := 0
			for a := 0; a < K; a++ {
				for b := a; b < K; b++ {
					o[x] = col[a] * col[b]
					x++
				}
			}
		}
		for s, k := range scales {
			half := k / 2
			res := make([]Result, H*W)
			for r := 0; r < H; r++ {
				for cc := 0; cc < W; cc++ {
					for x := range acc {
						acc[x] = 0
					}
					for i := max(r-half, 0); i < min(r+half+1, H); i++ {
						for jj := max(cc-half, 0); jj < min(cc+half+1, W); jj++ {
							o := outer[(i*W+jj)*tri : (i*W+jj+1)*tri]
							for x, v := range o {
								acc[x] += v
							}
						}
					}
					x := 0
					for a := 0; a < K; a++ {
						for b := a; b < K; b++ {
							M[a*K+b], M[b*K+a] = acc[x], acc[x]
							x++
						}
					}
					if res[r*W+cc], err = solver.Solve(M); err != nil {
						return nil, fmt.Errorf("fisens: example %d pixel (%d, %d) channel %d scale %d: %w", n, r, cc, c, k, err)
					}
				}
			}
			out.Maps[s][c] = res
		}
	}
	return out, nil
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
