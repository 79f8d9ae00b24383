package ops

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestSamePhase(t *testing.T) {
	// TensorFlow 'same', stride 2: pad_total = max(0, (⌈n/2⌉−1)·2 + k − n), pad_before = pad_total/2;
	// output i reads the stride-1 output at 2i + (k−1)/2 − pad_before.
	cases := []struct{ n, k, want int }{
		{28, 3, 1}, // pad_total 1, before 0 → phase 1
		{28, 1, 0}, // pad_total 0
		{7, 3, 0},  // pad_total 2, before 1 → phase 0
		{7, 1, 0},
		{32, 5, 1}, // pad_total 3, before 1 → 2 − 1
		{9, 5, 0},  // pad_total 4, before 2
	}
	for _, c := range cases {
		if got := SamePhase(c.n, c.k); got != c.want {
			t.Errorf("SamePhase(%d, %d) = %d, want %d", c.n, c.k, got, c.want)
		}
	}
	for _, c := range []struct{ n, k, s, lo, hi int }{
		{28, 3, 2, 0, 1}, {7, 3, 2, 1, 1}, {28, 3, 1, 1, 1}, {32, 5, 2, 1, 2}, {9, 5, 2, 2, 2}, {28, 1, 2, 0, 0}, {5, 7, 1, 3, 3},
	} {
		if got := SamePadding(c.n, c.k, c.s); got != [2]int{c.lo, c.hi} {
			t.Errorf("SamePadding(%d, %d, %d) = %v, want [%d %d]", c.n, c.k, c.s, got, c.lo, c.hi)
		}
	}
}

// TestConvolve2DMatchesBuiltin compares the stride-2 convolution with GoMLX's built-in strided
// convolution padded as TensorFlow pads (written out here), and with the TensorFlow phase of the
// stride-1 convolution (Subsample2 at SamePhase: how models/ops computed it before, against which the
// zoo's checkpoints were trained), forward, pure-Go backend.
func TestConvolve2DMatchesBuiltin(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{7, 8} {
		for _, k := range []int{1, 3, 5} {
			for _, pad := range []Padding{Same, Valid} {
				t.Run(fmt.Sprintf("n%d_k%d_%s", n, k, pad), func(t *testing.T) {
					x := tensors.FromFlatDataAndDimensions(randFloats(rng, 2*n*n*3, 1), 2, n, n, 3)
					w := tensors.FromFlatDataAndDimensions(randFloats(rng, k*k*3*4, 1), k, k, 3, 4)
					ours := MustExecOnce(b, func(x, w *Node) *Node { return Convolve2D(x, w, 2, pad) }, x, w)
					ref := MustExecOnce(b, func(x, w *Node) *Node {
						c := Convolve(x, w).Strides(2)
						if pad == Same {
							total := max(0, ((n+1)/2-1)*2+k-n)
							c = c.PaddingPerDim([][2]int{{total / 2, total - total/2}, {total / 2, total - total/2}})
						} else {
							c = c.NoPadding()
						}
						return c.Done()
					}, x, w)
					phase := MustExecOnce(b, func(x, w *Node) *Node {
						c := Convolve(x, w)
						ph := 0
						if pad == Same {
							c, ph = c.PadSame(), SamePhase(n, k)
						} else {
							c = c.NoPadding()
						}
						return Subsample2(c.Done(), ph, ph)
					}, x, w)
					for name, other := range map[string]*tensors.Tensor{"built-in": ref, "stride-1 phase": phase} {
						if !ours.Shape().Equal(other.Shape()) {
							t.Fatalf("shape %s, %s %s", ours.Shape(), name, other.Shape())
						}
						a, r := tensors.MustCopyFlatData[float64](ours), tensors.MustCopyFlatData[float64](other)
						for i := range a {
							if math.Abs(a[i]-r[i]) > 1e-12 {
								t.Fatalf("element %d: %g, %s %g", i, a[i], name, r[i])
							}
						}
					}
				})
			}
		}
	}
}

func TestConv2DGradients(t *testing.T) {
	for _, c := range []struct {
		n, k, stride int
		pad          Padding
		bias         bool
	}{
		{6, 3, 1, Same, true},
		{6, 3, 1, Valid, false},
		{6, 3, 2, Same, true},
		{7, 3, 2, Same, false},
		{7, 3, 2, Valid, true},
		{7, 1, 2, Same, true},
		{6, 1, 1, Same, false},
	} {
		t.Run(fmt.Sprintf("n%d_k%d_s%d_%s_bias%v", c.n, c.k, c.stride, c.pad, c.bias), func(t *testing.T) {
			gradCheck(t, []int{2, c.n, c.n, 2}, true, func(scope *model.Scope, x *Node) *Node {
				return Conv2D(scope.In("conv"), x, 3, c.k, c.stride, c.pad, c.bias)
			})
		})
	}
}

func TestConv2DVariables(t *testing.T) {
	b := goBackend(t)
	store := model.NewStore()
	x := tensors.FromFlatDataAndDimensions(make([]float64, 1*8*8*3), 1, 8, 8, 3)
	_, dims := run1(t, b, store, false, func(scope *model.Scope, x *Node) *Node {
		return Conv2D(scope.In("conv1"), x, 5, 3, 2, Same, true)
	}, x)
	if fmt.Sprint(dims) != "[1 4 4 5]" {
		t.Errorf("output dims %v, want [1 4 4 5]", dims)
	}
	var got []string
	for v := range store.IterVariables() {
		if v.Name()[0] == '#' { // the store's random-number state
			continue
		}
		got = append(got, fmt.Sprintf("%s%v%v", v.Path(), v.Shape().Dimensions, v.Trainable))
	}
	want := "[/conv1/weights[3 3 3 5]true /conv1/biases[5]true]"
	if fmt.Sprint(got) != want {
		t.Errorf("variables %v, want %s", got, want)
	}
}

func TestConvolve2DRejects(t *testing.T) {
	b := goBackend(t)
	x := tensors.FromFlatDataAndDimensions(make([]float64, 1*4*4*1), 1, 4, 4, 1)
	for name, c := range map[string]struct {
		k, stride int
		want      string
	}{
		"even kernel": {2, 1, "only odd kernel sizes"},
		"stride 3":    {3, 3, "stride 3 not supported"},
	} {
		w := tensors.FromFlatDataAndDimensions(make([]float64, c.k*c.k), c.k, c.k, 1, 1)
		_, err := ExecOnce(b, func(x, w *Node) *Node { return Convolve2D(x, w, c.stride, Same) }, x, w)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}
