package models

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Shared test helpers of the families' tests.

func goBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mnistCfg(arch string) Config {
	return Config{Arch: arch, Height: 28, Width: 28, Channels: 1, Classes: 10, Dropout: 0.2, L2: 1e-4, Seed: 1}
}

func cifarCfg(arch string) Config {
	return Config{Arch: arch, Height: 32, Width: 32, Channels: 3, Classes: 10, Dropout: 0.2, L2: 1e-4, Seed: 1}
}

// buildOnly builds (never compiles nor runs) the inference graph of a model for a batch of batch
// images: it creates the variables without values and returns the model and the logits' shape.
func buildOnly(t *testing.T, cfg Config, batch int) (*Model, shapes.Shape) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.NewGraph(goBackend(t), "build_only")
	defer g.Finalize()
	model.SetStore(g, m.Store())
	m.Store().SetTraining(g, false)
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, batch, cfg.Height, cfg.Width, cfg.Channels))
	return m, m.Logits(m.Store().RootScope(), x).Shape()
}

// layer is one trainable layer: the trainable variables sharing one scope.
type layer struct {
	scope  string
	params int
	vars   []string
}

// layersOf groups the trainable variables by scope, in creation order.
func layersOf(store *model.Store) []layer {
	var ls []layer
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		scope, name := model.SplitPath(v.Path())
		if len(ls) == 0 || ls[len(ls)-1].scope != scope {
			ls = append(ls, layer{scope: scope})
		}
		l := &ls[len(ls)-1]
		l.params += v.Shape().Size()
		l.vars = append(l.vars, name)
	}
	return ls
}

// kindCounts counts the layers by kind (the prefix of the scope's last element: conv, bn, dense,
// fc) and fails on any other name or on variable names outside the contract.
func kindCounts(t *testing.T, ls []layer) (counts map[string]int, params int) {
	t.Helper()
	counts = map[string]int{}
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.scope] {
			t.Errorf("scope %s holds non-consecutive trainable variables", l.scope)
		}
		seen[l.scope] = true
		last := model.BasePath(l.scope)
		kind := ""
		for _, k := range []string{"conv", "bn", "dense", "fc"} {
			if strings.HasPrefix(last, k) {
				kind = k
				break
			}
		}
		want := "[weights biases]"
		switch kind {
		case "":
			t.Errorf("layer %s: kind not recognisable from %q", l.scope, last)
		case "bn":
			want = "[gamma beta]"
		case "conv":
			if len(l.vars) == 1 {
				want = "[weights]"
			}
		}
		if got := fmt.Sprint(l.vars); got != want {
			t.Errorf("layer %s: variables %s, want %s", l.scope, got, want)
		}
		counts[kind]++
		params += l.params
	}
	return counts, params
}

// checkNonTrainable checks that every non-trainable variable (except the RNG state) is a BN moving
// "mean" or "variance".
// checkConvBNNet builds cfg for a batch of 2 and checks the logits' shape, that the trainable
// layers are conv conv layers, bn batch norms and one dense layer with params parameters in all,
// and the non-trainable state; it returns the layers.
func checkConvBNNet(t *testing.T, cfg Config, conv, bn, params int) []layer {
	t.Helper()
	m, out := buildOnly(t, cfg, 2)
	if got := fmt.Sprint(out.Dimensions); got != "[2 10]" {
		t.Errorf("logits shape %s, want [2 10]", got)
	}
	ls := layersOf(m.Store())
	counts, n := kindCounts(t, ls)
	if len(ls) != conv+bn+1 || counts["conv"] != conv || counts["bn"] != bn || counts["dense"] != 1 {
		t.Errorf("%d trainable layers %v, want %d conv + %d bn + 1 dense", len(ls), counts, conv, bn)
	}
	if n != params {
		t.Errorf("%d trainable parameters, want %d", n, params)
	}
	checkNonTrainable(t, m.Store())
	return ls
}

func checkNonTrainable(t *testing.T, store *model.Store) {
	t.Helper()
	for v := range store.IterVariables() {
		if v.Trainable || strings.HasPrefix(v.Name(), "#") {
			continue
		}
		scope, name := model.SplitPath(v.Path())
		if (name != "mean" && name != "variance") || !strings.HasPrefix(model.BasePath(scope), "bn") {
			t.Errorf("unexpected non-trainable variable %s", v.Path())
		}
	}
}

// conv, bn and dense are the parameter counts of Keras layers (conv with bias).
func conv(k, cin, cout int) int { return k*k*cin*cout + cout }
func bn(c int) int              { return 2 * c } // gamma, beta (moving stats are not trainable)
func dense(in, out int) int     { return in*out + out }

// bottleneckParams counts one bottleneck block: conv1 1×1, conv2 3×3, conv3 1×1, each with a BN,
// plus the projection shortcut (1×1 conv + BN) in the first block of a stage.
func bottleneckParams(cin, f1, f2, f3 int, project bool) int {
	p := conv(1, cin, f1) + bn(f1) + conv(3, f1, f2) + bn(f2) + conv(1, f2, f3) + bn(f3)
	if project {
		p += conv(1, cin, f3) + bn(f3)
	}
	return p
}

func TestResNetArchitectures(t *testing.T) {
	// ResNet50 by hand. Stem: conv(3, C, 64) + bn(64). Stage 2 (64, 64, 256) ×3, stage 3
	// (128, 128, 512) ×4, stage 4 (256, 256, 1024) ×6, stage 5 (512, 512, 2048) ×3; the first block
	// of each stage projects. Spatial: 28 → 28 → 14 → 7 → 4 (stride 2 'same' keeps ⌈n/2⌉) and
	// 32 → 32 → 16 → 8 → 4; the head's 2×2 average pool leaves 2×2×2048 = 8192 inputs to dense(10).
	r50body := bottleneckParams(64, 64, 64, 256, true) + 2*bottleneckParams(256, 64, 64, 256, false) +
		bottleneckParams(256, 128, 128, 512, true) + 3*bottleneckParams(512, 128, 128, 512, false) +
		bottleneckParams(512, 256, 256, 1024, true) + 5*bottleneckParams(1024, 256, 256, 1024, false) +
		bottleneckParams(1024, 512, 512, 2048, true) + 2*bottleneckParams(2048, 512, 512, 2048, false)
	r50mnist := conv(3, 1, 64) + bn(64) + r50body + dense(8192, 10)
	r50cifar := conv(3, 3, 64) + bn(64) + r50body + dense(8192, 10)
	// The same sums evaluated: 23,607,690 and 23,608,842 (23,582,282 without the 53 conv biases).
	if r50mnist != 23607690 || r50cifar != 23608842 {
		t.Fatalf("hand arithmetic: %d %d", r50mnist, r50cifar)
	}
	// resnet-small: stem conv(3, C, 32) (stride 2) + bn(32); stages (32,32,128), (64,64,256),
	// (128,128,512), one projecting block each, strides 1, 2, 2: 28 → 14 → 14 → 7 → 4 and
	// 32 → 16 → 16 → 8 → 4; the 2×2 pool leaves 2×2×512 = 2048 inputs to dense(10).
	rsBody := bottleneckParams(32, 32, 32, 128, true) + bottleneckParams(128, 64, 64, 256, true) +
		bottleneckParams(256, 128, 128, 512, true)
	rsMNIST := conv(3, 1, 32) + bn(32) + rsBody + dense(2048, 10) // = 517,066
	rsCIFAR := conv(3, 3, 32) + bn(32) + rsBody + dense(2048, 10) // = 517,642
	if rsMNIST != 517066 || rsCIFAR != 517642 {
		t.Fatalf("hand arithmetic: %d %d", rsMNIST, rsCIFAR)
	}

	for _, c := range []struct {
		cfg              Config
		conv, bn, params int
	}{
		{mnistCfg("resnet50"), 53, 53, r50mnist},
		{cifarCfg("resnet50"), 53, 53, r50cifar},
		{mnistCfg("resnet-small"), 13, 13, rsMNIST}, // 1 + 3·4 convs, as many BNs
		{cifarCfg("resnet-small"), 13, 13, rsCIFAR},
	} {
		t.Run(fmt.Sprintf("%s_%d", c.cfg.Arch, c.cfg.Height), func(t *testing.T) {
			ls := checkConvBNNet(t, c.cfg, c.conv, c.bn, c.params)
			if ls[0].scope != "/stem/conv" || ls[len(ls)-1].scope != "/dense" {
				t.Errorf("first/last layers %s, %s", ls[0].scope, ls[len(ls)-1].scope)
			}
		})
	}
}

// runLogits runs the model's logits on the Go backend for x in the given mode.
func runLogits(t *testing.T, m *Model, x *tensors.Tensor, training bool) []float32 {
	t.Helper()
	out, err := model.CallOnce(goBackend(t), m.Store(), func(scope *model.Scope, x *graph.Node) *graph.Node {
		scope.Store().SetTraining(x.Graph(), training)
		return m.Logits(scope, x)
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

func randomImages(seed int64, cfg Config, batch int) *tensors.Tensor {
	rng := rand.New(rand.NewSource(seed))
	v := make([]float32, batch*cfg.Height*cfg.Width*cfg.Channels)
	for i := range v {
		v[i] = float32(rng.Intn(256))
	}
	return tensors.FromFlatDataAndDimensions(v, batch, cfg.Height, cfg.Width, cfg.Channels)
}

// checkModes checks the training/inference switch: inference is deterministic and leaves the BN
// moving statistics alone; a training pass (batch statistics, dropout) gives other logits and, when
// the model has BN, moves the moving statistics.
func checkModes(t *testing.T, cfg Config, hasBN bool) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := randomImages(1, cfg, 2)
	clone := func() *tensors.Tensor { c, _ := x.LocalClone(); return c }
	a := runLogits(t, m, clone(), false)
	moving := func() []float32 {
		var all []float32
		for v := range m.Store().IterVariables() {
			if !v.Trainable && !strings.HasPrefix(v.Name(), "#") {
				all = append(all, tensors.MustCopyFlatData[float32](v.MustValue())...)
			}
		}
		return all
	}
	before := moving()
	b := runLogits(t, m, clone(), false)
	if d := maxAbsDiff(a, b); d != 0 {
		t.Errorf("inference is not deterministic: logits differ by %g", d)
	}
	if d := maxAbsDiff(before, moving()); d != 0 {
		t.Errorf("inference changed the moving statistics by %g", d)
	}
	tr := runLogits(t, m, clone(), true)
	if d := maxAbsDiff(a, tr); d < 1e-4 {
		t.Errorf("training-mode logits equal inference logits (diff %g): dropout/BN not switched", d)
	}
	if hasBN {
		if d := maxAbsDiff(before, moving()); d == 0 {
			t.Error("a training pass did not update the BN moving statistics")
		}
	}
	if len(before) == 0 && hasBN {
		t.Error("no moving statistics found")
	}
	for _, v := range a {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite logits %v", a)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestResNetSmallModes(t *testing.T) {
	checkModes(t, mnistCfg("resnet-small"), true)
}

func TestResNetSmallDropoutOffIsDeterministicBN(t *testing.T) {
	// Without dropout, a training pass normalises with batch statistics: the logits of an example
	// depend on the rest of the batch, unlike inference.
	cfg := mnistCfg("resnet-small")
	cfg.Dropout = 0
	m, _ := New(cfg)
	x := randomImages(2, cfg, 4)
	c1, _ := x.LocalClone()
	c2, _ := x.LocalClone()
	t1 := runLogits(t, m, c1, true)
	t2 := runLogits(t, m, c2, true)
	if d := maxAbsDiff(t1, t2); d != 0 {
		t.Errorf("training pass without dropout is not deterministic: %g", d)
	}
}

// TestLogitsErrors checks that misuse surfaces as an error naming what was expected.
func TestLogitsErrors(t *testing.T) {
	cfg := mnistCfg("resnet-small")
	m, _ := New(cfg)
	x := tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32*1), 2, 32, 32, 1)
	_, err := model.CallOnce(goBackend(t), m.Store(), func(scope *model.Scope, x *graph.Node) *graph.Node {
		return m.Logits(scope, x)
	}, x)
	if err == nil || !strings.Contains(err.Error(), "expects input [B, 28, 28, 1]") {
		t.Errorf("wrong input shape: error %v", err)
	}
	cfg.InputScale = "percent"
	m, _ = New(cfg)
	_, err = model.CallOnce(goBackend(t), m.Store(), func(scope *model.Scope, x *graph.Node) *graph.Node {
		return m.Logits(scope, x)
	}, randomImages(1, cfg, 1))
	if err == nil || !strings.Contains(err.Error(), `unknown InputScale "percent"`) {
		t.Errorf("bad InputScale: error %v", err)
	}
}
