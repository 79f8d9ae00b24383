package ops

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestBatchNormGradients(t *testing.T) {
	for _, training := range []bool{true, false} {
		name := "inference"
		if training {
			name = "training"
		}
		t.Run(name, func(t *testing.T) {
			gradCheck(t, []int{3, 2, 2, 3}, training, func(scope *model.Scope, x *Node) *Node {
				return BatchNorm(scope.In("bn"), x)
			})
		})
	}
}

// TestBatchNormModes checks the training output, the moving-average update and the inference output
// against values computed by hand in Go.
func TestBatchNormModes(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewSource(5))
	const n, c = 6, 2 // x [3, 2, 1, 2]: 6 values per channel
	xv := randFloats(rng, n*c, 2)
	for i := range xv {
		xv[i] += 3
	}
	x := tensors.FromFlatDataAndDimensions(xv, 3, 2, 1, c)
	store := model.NewStore()
	bn := func(scope *model.Scope, x *Node) *Node { return BatchNorm(scope.In("bn1"), x) }

	// Batch statistics per channel.
	mean, vr := make([]float64, c), make([]float64, c)
	for i, v := range xv {
		mean[i%c] += v / n
	}
	for i, v := range xv {
		vr[i%c] += (v - mean[i%c]) * (v - mean[i%c]) / n
	}

	y, _ := run1(t, b, store, true, bn, x) // gamma 1, beta 0
	for i, v := range xv {
		want := (v - mean[i%c]) / math.Sqrt(vr[i%c]+BatchNormEpsilon)
		if math.Abs(y[i]-want) > 1e-12 {
			t.Fatalf("training y[%d] = %g, want %g", i, y[i], want)
		}
	}
	mv := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/mean").MustValue())
	vv := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/variance").MustValue())
	for k := range c {
		wantM := 0.99*0 + 0.01*mean[k]
		wantV := 0.99*1 + 0.01*vr[k]*n/(n-1)
		if math.Abs(mv[k]-wantM) > 1e-12 || math.Abs(vv[k]-wantV) > 1e-12 {
			t.Fatalf("moving mean/variance[%d] = %g/%g, want %g/%g", k, mv[k], vv[k], wantM, wantV)
		}
	}
	if store.GetVariable("/bn1/mean").Trainable || store.GetVariable("/bn1/variance").Trainable {
		t.Error("moving mean/variance must be non-trainable")
	}
	if !store.GetVariable("/bn1/gamma").Trainable || !store.GetVariable("/bn1/beta").Trainable {
		t.Error("gamma/beta must be trainable")
	}

	// Inference uses the moving statistics and leaves them unchanged.
	y, _ = run1(t, b, store, false, bn, x)
	for i, v := range xv {
		want := (v - mv[i%c]) / math.Sqrt(vv[i%c]+BatchNormEpsilon)
		if math.Abs(y[i]-want) > 1e-12 {
			t.Fatalf("inference y[%d] = %g, want %g", i, y[i], want)
		}
	}
	mv2 := tensors.MustCopyFlatData[float64](store.GetVariable("/bn1/mean").MustValue())
	if mv2[0] != mv[0] {
		t.Errorf("inference changed the moving mean: %g → %g", mv[0], mv2[0])
	}
}

// TestRecordBNStats checks a statistics pass: the same training-mode output, the batch mean and the
// Bessel-corrected batch variance reported per channel, and the moving averages left untouched.
func TestRecordBNStats(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewSource(9))
	const n, c = 8, 3 // x [2, 2, 2, 3]: 8 values per channel
	xv := randFloats(rng, n*c, 5)
	for i := range xv {
		xv[i] += float64(10 * (i % c))
	}
	x := tensors.FromFlatDataAndDimensions(xv, 2, 2, 2, c)
	store := model.NewStore()
	var recorded []BNStats
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		stop := RecordBNStats(g)
		y := BatchNorm(scope.In("bn1"), x)
		recorded = stop()
		if len(recorded) != 1 {
			t.Fatalf("recorded %d statistics, want 1", len(recorded))
		}
		return []*Node{y, recorded[0].BatchMean, recorded[0].BatchVariance}
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	if recorded[0].Mean != "/bn1/mean" || recorded[0].Variance != "/bn1/variance" {
		t.Errorf("recorded paths %q, %q", recorded[0].Mean, recorded[0].Variance)
	}
	mean, vr := make([]float64, c), make([]float64, c)
	for i, v := range xv {
		mean[i%c] += v / n
	}
	for i, v := range xv {
		vr[i%c] += (v - mean[i%c]) * (v - mean[i%c]) / n
	}
	y := tensors.MustCopyFlatData[float64](outs[0])
	for i, v := range xv {
		if want := (v - mean[i%c]) / math.Sqrt(vr[i%c]+BatchNormEpsilon); math.Abs(y[i]-want) > 1e-12 {
			t.Fatalf("y[%d] = %g, want %g (the training-mode output)", i, y[i], want)
		}
	}
	gm, gv := tensors.MustCopyFlatData[float64](outs[1]), tensors.MustCopyFlatData[float64](outs[2])
	for k := range c {
		if math.Abs(gm[k]-mean[k]) > 1e-12 || math.Abs(gv[k]-vr[k]*n/(n-1)) > 1e-12 {
			t.Errorf("channel %d: batch mean/variance %g/%g, want %g/%g", k, gm[k], gv[k], mean[k], vr[k]*n/(n-1))
		}
	}
	for _, v := range []*model.Variable{store.GetVariable("/bn1/mean"), store.GetVariable("/bn1/variance")} {
		if !v.HasValue() {
			continue // never read by the pass: not even initialised
		}
		want := 0.0
		if v.Name() == "variance" {
			want = 1
		}
		for k, got := range tensors.MustCopyFlatData[float64](v.MustValue()) {
			if got != want {
				t.Errorf("channel %d: a statistics pass changed %s to %g", k, v.Path(), got)
			}
		}
	}
}

// TestBatchNormFusedGradient compares the fused training-mode gradient (both of its forms: from δ,
// and from v = δ·a) with GoMLX's autodiff of the same forward ops (FISENS_BN_VJP=autodiff), in
// float64 and float32, on a ReLU after the batch norm (so δ is not constant per channel), and checks
// that the outputs and the moving averages are bit-identical.
func TestBatchNormFusedGradient(t *testing.T) {
	b := goBackend(t)
	for _, dt := range []string{"float64", "float32"} {
		for _, fromV := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fromV=%v", dt, fromV), func(t *testing.T) {
				rng := rand.New(rand.NewSource(21))
				dims := []int{8, 5, 5, 6}
				xv := randFloats(rng, prod(dims), 2)
				rv := randFloats(rng, prod(dims), 1)
				var x *tensors.Tensor
				if dt == "float32" {
					x = tensors.FromFlatDataAndDimensions(toF32(xv), dims...)
				} else {
					x = tensors.FromFlatDataAndDimensions(xv, dims...)
				}
				run := func(mode string) ([][]float64, []float64) {
					t.Setenv("FISENS_BN_VJP", mode)
					bnFusedFromV = fromV
					defer func() { bnFusedFromV = false }()
					store := model.NewStore()
					// Create the variables (inference mode: no update), then set γ, β ≠ 1, 0 so that
					// every term of the gradient matters.
					if _, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node { return BatchNorm(scope.In("bn"), x) }, x); err != nil {
						t.Fatal(err)
					}
					c := dims[3]
					gv, bv := make([]float64, c), make([]float64, c)
					for i := range gv {
						gv[i], bv[i] = 0.5+0.3*float64(i), 0.2*float64(i)-0.4
					}
					for name, vals := range map[string][]float64{"gamma": gv, "beta": bv} {
						v := store.GetVariable("/bn/" + name)
						if dt == "float32" {
							v.MustSetValue(tensors.FromFlatDataAndDimensions(toF32(vals), c))
						} else {
							v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, c))
						}
					}
					outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
						g := x.Graph()
						scope.Store().SetTraining(g, true)
						y := BatchNorm(scope.In("bn"), x)
						r := ConvertDType(Reshape(Const(g, rv), dims...), x.DType())
						l := ReduceAllSum(Mul(ReLU(y), r))
						grads := Gradient(l, x, store.GetVariable("/bn/gamma").NodeValue(g), store.GetVariable("/bn/beta").NodeValue(g))
						return append([]*Node{y}, grads...)
					}, x)
					if err != nil {
						t.Fatal(err)
					}
					var res [][]float64
					for _, o := range outs {
						res = append(res, toF64(o))
					}
					return res, toF64(store.GetVariable("/bn/variance").MustValue())
				}
				want, wantVar := run("autodiff")
				tol := 1e-12
				if dt == "float32" {
					tol = 2e-5
				}
				names := []string{"y", "dx", "dγ", "dβ"}
				for _, mode := range []string{"fused"} {
					got, gotVar := run(mode)
					for i := range want {
						if d := relDiff(got[i], want[i]); d > tol || (i == 0 && d != 0) {
							t.Errorf("%s: %s vs autodiff differ by %.3g (relative)", names[i], mode, d)
						}
					}
					if d := relDiff(gotVar, wantVar); d != 0 {
						t.Errorf("%s: moving variance differs by %.3g", mode, d)
					}
				}
			})
		}
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func toF64(t *tensors.Tensor) []float64 {
	if t.DType().String() == "Float32" {
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out
	}
	return tensors.MustCopyFlatData[float64](t)
}

// relDiff is max |a−b| / (1 + max|b|).
func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		m = math.Max(m, math.Abs(b[i]))
	}
	return d / (1 + m)
}

// TestBatchNormFusedSecondPass: differentiating the gradient graph of a training-mode batch norm
// again (a Hessian-vector product) must not reuse the first pass's δ: the result is linear in the
// second pass's cotangent w (zero for w = 0, doubled for 2w). Reusing the state made it the same
// for every w.
func TestBatchNormFusedSecondPass(t *testing.T) {
	b := goBackend(t)
	rng := rand.New(rand.NewSource(5))
	dims := []int{6, 3, 3, 4}
	xv := randFloats(rng, prod(dims), 2)
	rv := randFloats(rng, prod(dims), 1)
	wv := randFloats(rng, prod(dims), 1)
	x := tensors.FromFlatDataAndDimensions(xv, dims...)
	store := model.NewStore()
	if _, err := model.CallOnce(b, store, func(scope *model.Scope, x *Node) *Node { return BatchNorm(scope.In("bn"), x) }, x); err != nil {
		t.Fatal(err)
	}
	outs, err := model.CallOnceN(b, store, func(scope *model.Scope, x *Node) []*Node {
		g := x.Graph()
		scope.Store().SetTraining(g, true)
		y := BatchNorm(scope.In("bn"), x)
		gx := Gradient(ReduceAllSum(Mul(y, Reshape(Const(g, rv), dims...))), x)[0]
		w := Reshape(Const(g, wv), dims...)
		hvp := func(w *Node) *Node { return Gradient(ReduceAllSum(Mul(gx, w)), x)[0] }
		return []*Node{hvp(ZerosLike(w)), hvp(w), hvp(MulScalar(w, 2))}
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	h0, h1, h2 := toF64(outs[0]), toF64(outs[1]), toF64(outs[2])
	var n1 float64
	for i := range h1 {
		n1 = math.Max(n1, math.Abs(h1[i]))
	}
	if n1 == 0 {
		t.Fatal("second pass gave zero for a nonzero cotangent")
	}
	for i := range h0 {
		if math.Abs(h0[i]) > 1e-12*n1 || math.Abs(h2[i]-2*h1[i]) > 1e-12*n1 {
			t.Fatalf("second pass not linear in its cotangent at %d: h(0) = %g, h(w) = %g, h(2w) = %g", i, h0[i], h1[i], h2[i])
		}
	}
}
