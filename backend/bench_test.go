package backend_test

import (
	"math"
	"math/rand"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/models/ops"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkStridedConvGradient times forward + input gradient + kernel gradient of a 3×3 stride-2
// 'same' convolution (x [32, 32, 32, 16] → [32, 16, 16, 32], TensorFlow's phase) two ways, alternating
// them in every iteration: "direct", the strided convolution whose gradient the decorator supplies on
// ONNX Runtime (what models/ops.Convolve2D now emits), and "mask", models/ops' earlier portable
// workaround (stride-1 convolution, then an exact 2×2 subsample at TensorFlow's phase: 4× the MACs). It
// reports the median milliseconds of each and their ratio. Backends: pure Go always; ONNX Runtime and
// XLA when compiled in and installed.
//
//	go test -tags onnx,xla -run '^$' -bench StridedConvGradient -benchtime 20x ./backend/
func BenchmarkStridedConvGradient(b *testing.B) {
	cfgs := []string{"go"}
	if backend.Available("onnx") && os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "onnx:cpu")
	}
	if backend.Available("xla") && os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "xla:cpu")
	}
	const B, H, W, C, F = 32, 32, 32, 16, 32
	rng := rand.New(rand.NewSource(1))
	xv := make([]float32, B*H*W*C)
	wv := make([]float32, 3*3*C*F)
	for i := range xv {
		xv[i] = float32(rng.NormFloat64())
	}
	for i := range wv {
		wv[i] = float32(rng.NormFloat64() * 0.1)
	}
	grads := func(direct bool) func(x, w *Node) []*Node {
		return func(x, w *Node) []*Node {
			var y *Node
			if direct {
				y = Convolve(x, w).StridePerAxis(2, 2).PaddingPerDim([][2]int{{0, 1}, {0, 1}}).Done()
			} else {
				y = ops.Subsample2(Convolve(x, w).PadSame().Done(), ops.SamePhase(H, 3), ops.SamePhase(W, 3))
			}
			r := Sin(IotaFull(x.Graph(), y.Shape()))
			return append([]*Node{y}, Gradient(ReduceAllSum(Mul(y, r)), x, w)...)
		}
	}
	for _, cfg := range cfgs {
		b.Run(cfg, func(b *testing.B) {
			be := backend.Must(cfg)
			if cfg == "go" && testing.Short() {
				b.Skip("pure Go: slow, skipped with -short")
			}
			execs := []*Exec{MustNewExec(be, grads(true)), MustNewExec(be, grads(false))}
			run := func(e *Exec) time.Duration {
				t0 := time.Now()
				res, err := e.Exec(tensors.FromFlatDataAndDimensions(slices.Clone(xv), B, H, W, C),
					tensors.FromFlatDataAndDimensions(slices.Clone(wv), 3, 3, C, F))
				if err != nil {
					b.Fatal(err)
				}
				for _, t := range res {
					t.MustFinalizeAll()
				}
				return time.Since(t0)
			}
			// Warm up (ONNX Runtime compiles on the first calls) and check the two agree.
			check := func(e *Exec) [][]float32 {
				res, err := e.Exec(tensors.FromFlatDataAndDimensions(slices.Clone(xv), B, H, W, C),
					tensors.FromFlatDataAndDimensions(slices.Clone(wv), 3, 3, C, F))
				if err != nil {
					b.Fatal(err)
				}
				var out [][]float32
				for _, t := range res {
					out = append(out, tensors.MustCopyFlatData[float32](t))
				}
				return out
			}
			a, m := check(execs[0]), check(execs[1])
			for i := range a {
				scale, worst := 1.0, 0.0
				for j := range a[i] {
					scale = max(scale, math.Abs(float64(m[i][j])))
					worst = max(worst, math.Abs(float64(a[i][j]-m[i][j])))
				}
				if worst/scale > 1e-4 {
					b.Fatalf("%s: output %d of direct and mask differ by %.3g (relative)", cfg, i, worst/scale)
				}
			}
			run(execs[0])
			run(execs[1])
			var td, tm []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := run(execs[0])
				m := run(execs[1])
				td = append(td, float64(d.Microseconds())/1000)
				tm = append(tm, float64(m.Microseconds())/1000)
			}
			b.StopTimer()
			md, mm := median(td), median(tm)
			b.ReportMetric(md, "direct-ms")
			b.ReportMetric(mm, "mask-ms")
			b.ReportMetric(mm/md, "mask/direct")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// BenchmarkMaxPoolGradient times forward + input gradient of ResNet's max pool (3×3, stride 2,
// padding 1: overlapping windows) on x [32, 32, 32, 16]: on ONNX Runtime and pure Go the gradient is
// the decorator's emulated SelectAndScatterMax, on XLA the native one.
//
//	go test -tags onnx,xla -run '^$' -bench MaxPoolGradient -benchtime 20x ./backend/
func BenchmarkMaxPoolGradient(b *testing.B) {
	cfgs := []string{"go"}
	if backend.Available("onnx") && os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "onnx:cpu")
	}
	if backend.Available("xla") && os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "xla:cpu")
	}
	const B, H, W, C = 32, 32, 32, 16
	rng := rand.New(rand.NewSource(2))
	xv := make([]float32, B*H*W*C)
	for i := range xv {
		xv[i] = float32(rng.NormFloat64())
	}
	for _, cfg := range cfgs {
		b.Run(cfg, func(b *testing.B) {
			e := MustNewExec(backend.Must(cfg), func(x *Node) []*Node {
				y := MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
				r := Sin(IotaFull(x.Graph(), y.Shape()))
				return append([]*Node{y}, Gradient(ReduceAllSum(Mul(y, r)), x)...)
			})
			run := func() time.Duration {
				t0 := time.Now()
				res, err := e.Exec(tensors.FromFlatDataAndDimensions(slices.Clone(xv), B, H, W, C))
				if err != nil {
					b.Fatal(err)
				}
				for _, t := range res {
					t.MustFinalizeAll()
				}
				return time.Since(t0)
			}
			run()
			run()
			var ts []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts = append(ts, float64(run().Microseconds())/1000)
			}
			b.StopTimer()
			b.ReportMetric(median(ts), "ms")
		})
	}
}

// BenchmarkDotWeightGradient times the weight gradient of a 1×1 convolution as models/ops emits it
// (Einsum "bhwc,cd->bhwd", x [128, 14, 14, 32] → 128 channels: the small ResNet's stage-2 conv3 at
// batch 128) with this package's DotGeneral gradient ("reordered", vjp_dot.go: lhsᵀ·v) and with GoMLX's
// own ("gomlx": v first, which XLA runs after transposing v), alternating them in every iteration;
// it reports the median milliseconds of each and their ratio.
//
//	go test -tags onnx,xla -run '^$' -bench DotWeightGradient -benchtime 20x ./backend/
func BenchmarkDotWeightGradient(b *testing.B) {
	cfgs := []string{"go"}
	if backend.Available("onnx") && os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "onnx:cpu")
	}
	if backend.Available("xla") && os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" {
		cfgs = append(cfgs, "xla:cpu")
	}
	const N, H, C, D = 128, 14, 32, 128
	rng := rand.New(rand.NewSource(2))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	xv, wv, vv := rnd(N*H*H*C), rnd(C*D), rnd(N*H*H*D)
	fn := func(x, w, v *Node) *Node {
		return Gradient(ReduceAllSum(Mul(Einsum("bhwc,cd->bhwd", x, w), v)), w)[0]
	}
	for _, cfg := range cfgs {
		b.Run(cfg, func(b *testing.B) {
			if cfg == "go" && testing.Short() {
				b.Skip("pure Go: slow, skipped with -short")
			}
			be := backend.Must(cfg)
			// The same input tensors every call: after the first they stay on the device, so the
			// timings are the gradient's, not the 16 MB host-to-device copy's.
			x := tensors.FromFlatDataAndDimensions(xv, N, H, H, C)
			w := tensors.FromFlatDataAndDimensions(wv, C, D)
			v := tensors.FromFlatDataAndDimensions(vv, N, H, H, D)
			run := func(e *Exec) (time.Duration, []float32) {
				t0 := time.Now()
				res, err := e.Exec(x, w, v)
				if err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				out := tensors.MustCopyFlatData[float32](res[0])
				res[0].MustFinalizeAll()
				return d, out
			}
			reordered, gomlx := MustNewExec(be, fn), MustNewExec(be, fn)
			_, a := run(reordered) // the graphs are built at the first call
			b.Setenv("FISENS_DOT_VJP", "gomlx")
			_, g := run(gomlx)
			os.Unsetenv("FISENS_DOT_VJP")
			for i := range a {
				if math.Abs(float64(a[i]-g[i])) > 1e-3*(1+math.Abs(float64(g[i]))) {
					b.Fatalf("%s: entry %d: reordered %g, GoMLX's %g", cfg, i, a[i], g[i])
				}
			}
			var tr, tg []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d1, _ := run(reordered)
				d2, _ := run(gomlx)
				tr = append(tr, float64(d1.Microseconds())/1000)
				tg = append(tg, float64(d2.Microseconds())/1000)
			}
			b.StopTimer()
			mr, mg := median(tr), median(tg)
			b.ReportMetric(mr, "reordered-ms")
			b.ReportMetric(mg, "gomlx-ms")
			b.ReportMetric(mg/mr, "gomlx/reordered")
		})
	}
}
