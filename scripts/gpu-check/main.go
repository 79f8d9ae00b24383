// Command gpu-check checks a GoMLX backend (XLA on a GPU) against reference values computed on
// the CPU, measures the cost of the paper's workloads and trains the paper models for a time
// budget. It is built here (`-tags xla` for the GPU, `-tags onnx` for the CPU reference) and run
// by scripts/gpu-check.sh on a machine without Go; see that script.
//
//	gpu-check ref   --out REF.json            # on the CPU: logits, input Jacobians and FI
//	gpu-check check --ref REF.json            # on the backend under test: the same, compared
//	gpu-check bench --models resnet50,densenet121 --batch 32
//	gpu-check train --model resnet50 --seconds 120
//	gpu-check costs [--data mnist,cifar10]     # per-image costs of a paper run and what they imply (scripts/paper-costs.sh)
//
// The backend is $GOMLX_BACKEND (e.g. xla:/path/to/xla_cuda_plugin.so, onnx:cpu, go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gpu-check ref|check|bench|train|costs [flags] (see the package doc)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ref":
		err = runRef(os.Args[2:], false)
	case "check":
		err = runRef(os.Args[2:], true)
	case "bench":
		err = runBench(os.Args[2:])
	case "train":
		err = runTrain(os.Args[2:])
	case "costs":
		err = runCosts(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpu-check:", err)
		os.Exit(1)
	}
}

// ---- the models ---------------------------------------------------------------------------------

// newModel returns a model on backend b: "zoo:NAME" loads trained weights; an architecture name
// (resnet50, densenet121) gets deterministic weights computed here in Go (the same on every
// backend, unlike the backends' random generators), scaled so that its logits are moderate.
func newModel(b compute.Backend, ref string, set *datasets.Set, logitScale float64) (*models.Model, float64, error) {
	if strings.HasPrefix(ref, models.ZooPrefix) {
		m, err := models.Load(ref)
		if err != nil {
			return nil, 0, err
		}
		return m, 1, m.UseBackend(b)
	}
	h, w, c := set.Dims()
	m, err := models.New(models.Config{Arch: ref, Height: h, Width: w, Channels: c, Classes: 10,
		InputScale: string(datasets.Unit), Seed: 1, Dropout: 0.2, L2: 1e-4})
	if err != nil {
		return nil, 0, err
	}
	// Create the variables (one prediction), then overwrite them.
	if _, err := models.Predict(b, m, set.Subset([]int{0}), 1); err != nil {
		return nil, 0, err
	}
	return m, logitScale, setWeights(m, logitScale)
}

// setWeights overwrites every float variable of m with deterministic values: He-uniform kernels
// (the last dense layer's scaled by logitScale), BatchNorm γ = 1, β = 0, moving mean 0, variance 1.
func setWeights(m *models.Model, logitScale float64) error {
	for v := range m.Store().IterVariables() {
		if v.DType().String() != "Float32" || !v.HasValue() {
			continue
		}
		shape := v.Shape()
		n := shape.Size()
		vals := make([]float32, n)
		base := filepath.Base(v.Path())
		switch {
		case base == "variance" || base == "gamma":
			for i := range vals {
				vals[i] = 1
			}
		case base == "mean" || base == "beta" || strings.Contains(base, "bias"):
			// zeros
		default:
			fanIn := 1
			if dims := shape.Dimensions; len(dims) > 1 {
				for _, d := range dims[:len(dims)-1] {
					fanIn *= d
				}
			}
			lim := math.Sqrt(6 / float64(fanIn)) // He uniform
			if strings.HasPrefix(v.Path(), "/dense/") {
				lim *= logitScale
			}
			r := newSplitMix(v.Path())
			for i := range vals {
				vals[i] = float32((2*r.float() - 1) * lim)
			}
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, shape.Dimensions...)); err != nil {
			return err
		}
	}
	return nil
}

// splitMix is SplitMix64 seeded by a string.
type splitMix struct{ s uint64 }

func newSplitMix(seed string) *splitMix {
	h := fnv.New64a()
	h.Write([]byte(seed))
	return &splitMix{s: h.Sum64()}
}

func (r *splitMix) float() float64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

func testBatch(set *datasets.Set, n int, scale datasets.Scale) (fisens.Batch, error) {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, err := set.ReadBatch(idx, scale)
	if err != nil {
		return fisens.Batch{}, err
	}
	h, w, c := set.Dims()
	labels := make([]int, n)
	for i := range labels {
		labels[i] = set.Label(i)
	}
	return fisens.Batch{X: x, Shape: []int{n, h, w, c}, Labels: labels}, nil
}

// ---- ref / check ----------------------------------------------------------------------------------

// refModel is one model's reference values.
type refModel struct {
	Ref        string
	LogitScale float64     // scale of the last layer's generated weights (1 for zoo models)
	Logits     []float32   // [N, K]
	J          []float32   // [K, N, P]
	FI, Bound  []float64   // whole-image FI (true label, exact) and the odds bound per example
	Rank       []int       // rank of the Gram matrix per example
	PixelFI    [][]float64 // single-pixel FI map (k = 1) of example 0
}

type refFile struct {
	Backend string
	N       int
	Models  []refModel
}

var defaultRefModels = "zoo:resnet-small-mnist,zoo:densenet-small-mnist,resnet50,densenet121"

func runRef(args []string, check bool) error {
	fs := flag.NewFlagSet("ref", flag.ContinueOnError)
	out := fs.String("out", "gpu-ref.json", "ref: where to write the reference values")
	refPath := fs.String("ref", "gpu-ref.json", "check: the reference values")
	list := fs.String("models", defaultRefModels, "ref: models (zoo:NAME, or resnet50 / densenet121 with generated weights)")
	n := fs.Int("n", 4, "ref: MNIST test images")
	tolLogit := fs.Float64("tol-logits", 1e-3, "check: max |Δz| / max(1, |z|)")
	tolJ := fs.Float64("tol-jacobian", 2e-2, "check: max ‖ΔJ‖/‖J‖ per example")
	tolFI := fs.Float64("tol-fi", 2e-2, "check: max |ΔFI| / FI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := backend.New("")
	if err != nil {
		return err
	}
	set, err := datasets.Load(datasets.MNIST, datasets.SplitTest)
	if err != nil {
		return err
	}
	var ref refFile
	if check {
		data, err := os.ReadFile(*refPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			return fmt.Errorf("%s: %w", *refPath, err)
		}
		fmt.Printf("checking %s against %s (reference backend %s, %d images per model)\n", backend.Name(""), *refPath, ref.Backend, ref.N)
	} else {
		ref = refFile{Backend: backend.Name(""), N: *n}
		for _, r := range strings.Split(*list, ",") {
			ref.Models = append(ref.Models, refModel{Ref: strings.TrimSpace(r), LogitScale: 1})
		}
	}
	failed := 0
	for i, rm := range ref.Models {
		t0 := time.Now()
		m, _, err := newModel(b, rm.Ref, set, rm.LogitScale)
		if err != nil {
			return fmt.Errorf("%s: %w", rm.Ref, err)
		}
		sc, _ := m.InputScale()
		bt, err := testBatch(set, ref.N, sc)
		if err != nil {
			return err
		}
		an, err := fisens.NewAnalyzer(b, m)
		if err != nil {
			return err
		}
		if !check && !strings.HasPrefix(rm.Ref, models.ZooPrefix) {
			// Scale the last layer so that the largest logit is 4 in magnitude: the softmax is then
			// not saturated and FI, its rank and the maps are well conditioned on every backend.
			z, err := an.Logits(bt)
			if err != nil {
				return fmt.Errorf("%s: %w", rm.Ref, err)
			}
			zmax := 0.0
			for _, v := range z {
				zmax = math.Max(zmax, math.Abs(float64(v)))
			}
			if zmax > 0 {
				rm.LogitScale *= 4 / zmax
				if err := setWeights(m, rm.LogitScale); err != nil {
					return err
				}
			}
		}
		jac, err := an.InputJacobian(bt)
		if err != nil {
			return fmt.Errorf("%s: %w", rm.Ref, err)
		}
		got := refModel{Ref: rm.Ref, LogitScale: rm.LogitScale, Logits: jac.Logits, J: jac.J}
		for e := 0; e < jac.N; e++ {
			r, err := fisens.FromGram(jac.Gram(e, nil, fisens.Additive), jac.LogitsOf(e), bt.Labels[e], fisens.Options{Objective: fisens.LogProbTrue})
			if err != nil {
				return fmt.Errorf("%s example %d: %w", rm.Ref, e, err)
			}
			got.FI, got.Bound, got.Rank = append(got.FI, r.FI), append(got.Bound, r.Bound), append(got.Rank, r.Rank)
		}
		pm, err := jac.PatchMaps(0, []int{1}, fisens.Additive, fisens.Options{Objective: fisens.LogProbTrue})
		if err != nil {
			return fmt.Errorf("%s pixel maps: %w", rm.Ref, err)
		}
		got.PixelFI = [][]float64{pm.ChannelMean(0)}
		took := time.Since(t0)
		if !check {
			ref.Models[i] = got
			fmt.Printf("%-28s logits[0] %v… FI %v (rank %v) in %s\n", rm.Ref, fmtVals(jac.LogitsOf(0)[:3]), fmtVals(got.FI), got.Rank, took.Round(time.Millisecond))
			continue
		}
		dz := maxRel(got.Logits, rm.Logits, 1)
		dJ := 0.0
		P := len(rm.J) / (len(rm.Logits) / ref.N * ref.N)
		K := len(rm.Logits) / ref.N
		for e := 0; e < ref.N; e++ {
			var num, den float64
			for k := 0; k < K; k++ {
				for q := 0; q < P; q++ {
					a, c := float64(got.J[(k*ref.N+e)*P+q]), float64(rm.J[(k*ref.N+e)*P+q])
					num += (a - c) * (a - c)
					den += c * c
				}
			}
			dJ = math.Max(dJ, math.Sqrt(num/math.Max(den, 1e-300)))
		}
		dFI := 0.0
		for e := range rm.FI {
			dFI = math.Max(dFI, math.Abs(got.FI[e]-rm.FI[e])/math.Max(math.Abs(rm.FI[e]), 1e-12))
		}
		dPix := maxRel64(got.PixelFI[0], rm.PixelFI[0])
		ok := dz <= *tolLogit && dJ <= *tolJ && dFI <= *tolFI
		verdict := "OK"
		if !ok {
			verdict = "MISMATCH"
			failed++
		}
		fmt.Printf("%-28s %-8s logits %.2g  Jacobian %.2g  FI %.2g  pixel-FI map (median rel.) %.2g  ranks %v/%v  (%s)\n",
			rm.Ref, verdict, dz, dJ, dFI, dPix, got.Rank, rm.Rank, took.Round(time.Millisecond))
	}
	if !check {
		data, err := json.Marshal(ref)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, data, 0o644)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models differ from the CPU reference beyond the tolerances", failed, len(ref.Models))
	}
	fmt.Println("all models agree with the CPU reference")
	return nil
}

func fmtVals(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.4g", x)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func maxRel(a, b []float32, floor float64) float64 {
	d := 0.0
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i]))/math.Max(floor, math.Abs(float64(b[i]))))
	}
	return d
}

// maxRel64 returns the median relative difference (pixel maps have near-zero entries whose
// relative error says nothing).
func maxRel64(a, b []float64) float64 {
	var ds []float64
	for i := range b {
		if b[i] != 0 {
			ds = append(ds, math.Abs(a[i]-b[i])/math.Abs(b[i]))
		}
	}
	if len(ds) == 0 {
		return 0
	}
	sort.Float64s(ds)
	return ds[len(ds)/2]
}

// ---- bench ---------------------------------------------------------------------------------------

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	list := fs.String("models", "resnet50,densenet121", "architectures (MNIST-shaped, generated weights) or zoo:NAME")
	batch := fs.Int("batch", 32, "images per batch (forward, input Jacobian, training step)")
	reps := fs.Int("reps", 3, "timed repetitions after one warm-up (median reported)")
	trainSteps := fs.Int("train-steps", 3, "timed training steps (0: skip training)")
	paramImages := fs.Int("param-images", 1, "images of per-layer parameter FI (0: skip)")
	dataset := fs.String("data", datasets.MNIST, "dataset (mnist or cifar10)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := backend.New("")
	if err != nil {
		return err
	}
	set, err := datasets.Load(*dataset, datasets.SplitTest)
	if err != nil {
		return err
	}
	fmt.Printf("backend %s, %s, batch %d, median of %d after a warm-up; seconds per image\n", backend.Name(""), *dataset, *batch, *reps)
	fmt.Printf("%-14s %10s %12s %12s %12s %14s %10s\n", "model", "forward", "input FI", "patch maps", "train step", "layer FI (1)", "total")
	for _, ref := range strings.Split(*list, ",") {
		ref = strings.TrimSpace(ref)
		t0 := time.Now()
		m, _, err := newModel(b, ref, set, 0.3)
		if err != nil {
			return err
		}
		sc, _ := m.InputScale()
		bt, err := testBatch(set, *batch, sc)
		if err != nil {
			return err
		}
		an, err := fisens.NewAnalyzer(b, m)
		if err != nil {
			return err
		}
		fwd, compile1, err := timed(*reps, func() error { _, err := an.Logits(bt); return err })
		if err != nil {
			return fmt.Errorf("%s forward: %w", ref, err)
		}
		var jac *fisens.InputJacobian
		fi, compile2, err := timed(*reps, func() error {
			var err error
			if jac, err = an.InputJacobian(bt); err != nil {
				return err
			}
			_, err = jac.FI(nil, fisens.Additive, fisens.Options{Objective: fisens.LogProbTrue})
			return err
		})
		if err != nil {
			return fmt.Errorf("%s input FI: %w", ref, err)
		}
		maps, _, err := timed(1, func() error {
			for e := 0; e < jac.N; e++ {
				if _, err := jac.PatchMaps(e, nil, fisens.Additive, fisens.Options{Objective: fisens.LogProbTrue}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s patch maps: %w", ref, err)
		}
		layerFI := math.NaN()
		if *paramImages > 0 {
			one, _ := testBatch(set, 1, sc)
			lf, _, err := timed(*paramImages, func() error {
				_, err := an.ParamFI(one, fisens.ParamOptions{Options: fisens.Options{Objective: fisens.LogProbTrue}})
				return err
			})
			if err != nil {
				return fmt.Errorf("%s parameter FI: %w", ref, err)
			}
			layerFI = lf
		}
		step := math.NaN()
		if *trainSteps > 0 {
			tr := set.Subset(seq(*batch * *trainSteps))
			res, err := models.Train(context.Background(), b, m, tr, nil, models.TrainConfig{Epochs: 2, BatchSize: *batch, MaxStepsPerEpoch: *trainSteps})
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s training: %v (its time is left out)\n", ref, err)
			}
			if res != nil && len(res.History) == 2 {
				step = res.History[1].Seconds / float64(res.History[1].Steps)
			}
		}
		bs := float64(*batch)
		fmt.Printf("%-14s %10.4g %12.4g %12.4g %12.4g %14.4g %9.0fs\n", ref, fwd/bs, fi/bs, maps/bs+fi/bs, step/bs, layerFI, time.Since(t0).Seconds())
		_, _ = compile1, compile2
	}
	fmt.Println("input FI = K backward passes + the K×K solve; patch maps = input FI + maps k = 1,3,5,7 (Setup 4);")
	fmt.Println("train step = one Adam step (training mode, dropout, batch statistics); layer FI = all layers' FI of one image (Setup 2.2), seconds per image")
	return nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// timed runs fn once (warm-up, compilation; its time is returned as compile) and then reps times,
// returning the median seconds.
func timed(reps int, fn func() error) (float64, time.Duration, error) {
	t0 := time.Now()
	if err := fn(); err != nil {
		return 0, 0, err
	}
	compile := time.Since(t0)
	if reps < 1 {
		return compile.Seconds(), compile, nil
	}
	var ts []float64
	for i := 0; i < reps; i++ {
		t := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ts = append(ts, time.Since(t).Seconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], compile, nil
}

// ---- train ---------------------------------------------------------------------------------------

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	arch := fs.String("model", "resnet50", "architecture")
	seconds := fs.Float64("seconds", 120, "training budget (the best epoch so far is evaluated)")
	epochs := fs.Int("epochs", 200, "epochs of the learning-rate schedule (paper: 200 on MNIST)")
	batch := fs.Int("batch", models.PaperBatchSize, "batch size (paper 128)")
	dir := fs.String("dir", "", "training directory (default: a temporary one)")
	maxSteps := fs.Int("max-steps", 0, "> 0: at most this many batches per epoch (dry runs)")
	validN := fs.Int("valid", 0, "> 0: validate on this many validation images (dry runs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := backend.New("")
	if err != nil {
		return err
	}
	train, err := datasets.Load(datasets.MNIST, datasets.SplitTrain)
	if err != nil {
		return err
	}
	valid, err := datasets.Load(datasets.MNIST, datasets.SplitValid)
	if err != nil {
		return err
	}
	test, err := datasets.Load(datasets.MNIST, datasets.SplitTest)
	if err != nil {
		return err
	}
	if *validN > 0 && *validN < valid.Len() {
		valid = valid.Subset(seq(*validN))
		test = test.Subset(seq(*validN))
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "gpu-train-"+*arch+"-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	m, err := models.New(models.Config{Arch: *arch, Height: 28, Width: 28, Channels: 1, Classes: 10, InputScale: string(datasets.Raw255),
		Dropout: 0.2, L2: 1e-4, Seed: 1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*seconds*float64(time.Second)))
	defer cancel()
	t0 := time.Now()
	res, err := models.Train(ctx, b, m, train, valid, models.TrainConfig{Epochs: *epochs, BatchSize: *batch, Dir: *dir, MaxStepsPerEpoch: *maxSteps,
		Progress: epochOnly{}, Dataset: datasets.MNIST, Backend: backend.Name("")})
	if err != nil && !(res != nil && res.Interrupted && errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	if res == nil || res.BestEpoch == 0 {
		fmt.Printf("%s: no epoch finished in %.0f s: no accuracy to report\n", *arch, *seconds)
		return nil
	}
	best, err := models.Load(*dir)
	if err != nil {
		return err
	}
	acc, err := models.Accuracy(b, best, test, models.DefaultEvalBatch)
	if err != nil {
		return err
	}
	steps := 0
	for _, e := range res.History {
		steps += e.Steps
	}
	fmt.Printf("%s on MNIST: %d epochs (+ part of one) in %.0f s, %.0f images/s in training; best valid acc %.4f (epoch %d); TEST ACCURACY %.4f\n",
		*arch, res.Epochs, time.Since(t0).Seconds(), float64(steps**batch)/res.Seconds, res.BestValidAcc, res.BestEpoch, acc)
	return nil
}

// epochOnly prints the per-epoch summary lines of models.Train.
type epochOnly struct{}

func (epochOnly) Write(p []byte) (int, error) {
	if s := string(p); strings.HasPrefix(s, "epoch ") && (strings.Contains(s, "valid acc") || strings.Contains(s, "no validation set")) {
		os.Stdout.Write(p)
	}
	return len(p), nil
}
