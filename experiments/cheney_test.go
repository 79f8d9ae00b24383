package experiments

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens/weights"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

// A tiny plain conv net for the end-to-end tests of the cheney and estimator experiments:
// conv1 (3×3, 4) → ReLU → pool → conv2 (3×3, 6) → ReLU → pool → fc3 (16) → ReLU → fc4 (10).
const tinyChainArch = "experiments-test-tiny-chain"

var tinyChainSpec = models.ConvNetSpec{
	Convs:  []models.ConvSpec{{Filters: 4, Kernel: 3, Pool: true}, {Filters: 6, Kernel: 3, Pool: true}},
	Hidden: []int{16},
	Bias:   true,
}

func init() {
	models.Register(tinyChainArch, "test only: a tiny AlexNet-style chain", models.ConvNetBuilder(tinyChainSpec))
	ChainSpecs[tinyChainArch] = tinyChainSpec
}

var (
	tinyChainOnce sync.Once
	tinyChainRef  string
	tinyChainErr  error
)

// tinyChainModel returns the reference of the tiny chain net trained for 120 steps on MNIST (a
// training directory in a temporary folder, made once per test binary).
func tinyChainModel(t *testing.T) string {
	t.Helper()
	tinyChainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fisens-cheney-test-")
		if err != nil {
			tinyChainErr = err
			return
		}
		train, err := datasets.Load(datasets.MNIST, datasets.SplitTrain)
		if err != nil {
			tinyChainErr = err
			return
		}
		valid, err := datasets.Load(datasets.MNIST, datasets.SplitValid)
		if err != nil {
			tinyChainErr = err
			return
		}
		b, err := backend.New("")
		if err != nil {
			tinyChainErr = err
			return
		}
		m, err := models.New(models.Config{Arch: tinyChainArch, Height: 28, Width: 28, Channels: 1, Classes: 10, Seed: 3})
		if err != nil {
			tinyChainErr = err
			return
		}
		tinyChainRef = filepath.Join(dir, "tiny-chain")
		_, tinyChainErr = models.Train(context.Background(), b, m, train.Subset(datasets.SampleIndices(train.Len(), 1280, 5, 1)),
			valid.Subset(datasets.SampleIndices(valid.Len(), 200, 5, 2)),
			models.TrainConfig{Epochs: 3, BatchSize: 32, LearningRates: []float64{5e-3}, Dir: tinyChainRef, Dataset: datasets.MNIST})
	})
	if tinyChainErr != nil {
		t.Fatal(tinyChainErr)
	}
	return tinyChainRef
}

func TestHalfQ(t *testing.T) {
	pts := []CheneyPoint{{Q: 0, Top1: 0.9}, {Q: 0.5, Top1: 0.7}, {Q: 1, Top1: 0.3}}
	for i := range pts {
		pts[i].Kept = (pts[i].Top1 - 0.1) / 0.8
	}
	// threshold 0.5: between q = 0.5 (0.7) and q = 1 (0.3) at q = 0.75
	h, r := cheneyHalfQ(pts, 0.1, 0.9)
	if math.Abs(h-0.75) > 1e-12 {
		t.Errorf("half q = %v, want 0.75", h)
	}
	// kept 1, 0.75, 0.25: trapezoid mean = (0.5·(1+0.75)/2 + 0.5·(0.75+0.25)/2)/1 = 0.6875
	if math.Abs(r-0.6875) > 1e-12 {
		t.Errorf("robustness = %v, want 0.6875", r)
	}
	pts[2].Top1 = 0.8
	if h, _ := cheneyHalfQ(pts, 0.1, 0.9); !math.IsInf(h, 1) {
		t.Errorf("never below half: got %v, want +Inf", h)
	}
}

func TestTopKAccuracy(t *testing.T) {
	logits := []float32{
		3, 1, 2, // label 0: top-1
		3, 1, 2, // label 2: top-2
		0, 0, 0, // label 1: ties count against the label
	}
	if got := cheneyTopK(logits, 3, []int{0, 2, 1}, 1); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("top-1 = %v, want 1/3", got)
	}
	if got := cheneyTopK(logits, 3, []int{0, 2, 1}, 2); math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("top-2 = %v, want 2/3", got)
	}
}

func TestSelectLayers(t *testing.T) {
	m, err := models.New(models.Config{Arch: "alexnet-small", Height: 28, Width: 28, Channels: 1, Classes: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	set, err := datasets.NewSet("zeros", 28, 28, 1, 10, make([]uint8, 28*28), []uint8{0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Predict(b, m, set, 1); err != nil { // creates the variables
		t.Fatal(err)
	}
	all := cheneySelectLayers(m.Store(), []string{"conv", "dense"}, 0)
	if strings.Join(all, ",") != "/conv1,/conv2,/conv3,/conv4,/conv5,/fc6,/fc7,/fc8" {
		t.Errorf("layers %v", all)
	}
	if got := cheneySelectLayers(m.Store(), []string{"conv", "dense"}, 3); strings.Join(got, ",") != "/conv1,/conv5,/fc8" {
		t.Errorf("3 evenly spaced layers: %v", got)
	}
	if got := cheneySelectLayers(m.Store(), []string{"dense"}, 0); len(got) != 3 {
		t.Errorf("dense layers: %v", got)
	}
}

func TestCheneyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny net and sweeps it")
	}
	ref := tinyChainModel(t)
	out := t.TempDir()
	c := Common{Scale: Quick, OutDir: out, Backend: "", Seed: 2}
	cfg := CheneyConfig{Models: []string{ref}, TestImages: 100, Draws: 2, LayerKinds: []string{"conv", "dense"}, FIImages: 2, EvalBatch: 100, HeadlineQ: 0.7,
		Perturbations: []CheneyPerturbation{
			{Kind: weights.SynapseKnockout, Target: weights.KernelAndBias, Qs: []float64{0, 0.7, 1}},
			{Kind: weights.NodeKnockout, Qs: []float64{0, 1}},
			{Kind: weights.GaussianNoise, Target: weights.KernelOnly, Qs: []float64{0, 1}},
			{Kind: weights.Draw, Target: weights.KernelAndBias, Qs: []float64{0, 1}},
		}}
	res, err := RunCheney(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Models) != 1 {
		t.Fatalf("complete %v, %d models", res.Complete, len(res.Models))
	}
	m := res.Models[0]
	if m.Base1 < 0.5 {
		t.Fatalf("the tiny net reached only %.3f top-1", m.Base1)
	}
	if len(m.Layers) != 4 || m.Trials != 4*(2+1+1+1)*2 {
		t.Fatalf("%d layers, %d trials", len(m.Layers), m.Trials)
	}
	last := m.Layers[3]
	// Knocking out every unit of the last layer zeroes the logits: all ties, counted as wrong.
	if p := last.Curves[1].Points[1]; p.Top1 != 0 || p.Top1Std != 0 {
		t.Errorf("node knockout q = 1 of fc4: top-1 %v ± %v, want 0", p.Top1, p.Top1Std)
	}
	for _, l := range m.Layers {
		// The paper's performance measure: perturbed over unperturbed top-1.
		for _, cv := range l.Curves {
			for _, p := range cv.Points {
				if math.Abs(p.Rel-p.Top1/m.Base1) > 1e-12 {
					t.Errorf("%s %s q=%v: relative performance %v, want %v", l.Name, cv.Perturbation, p.Q, p.Rel, p.Top1/m.Base1)
				}
			}
		}
		if l.Curves[0].Points[0].Kept != 1 || l.FIImages != 2 {
			t.Errorf("%s: kept at q = 0 %v, FI images %d", l.Name, l.Curves[0].Points[0].Kept, l.FIImages)
		}
		if l.FIRatio > 1+1e-9 {
			t.Errorf("%s: exact FI / odds = %v, want ≤ 1 (SPEC A.3)", l.Name, l.FIRatio)
		}
	}
	// The last layer's Jacobian has rank K (∂z_k/∂W[:, k] = h): its FI is the odds.
	if math.Abs(last.FIRatio-1) > 1e-6 {
		t.Errorf("fc4: exact FI / odds = %v, want 1", last.FIRatio)
	}
	rep, err := res.Report(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Figures {
		if _, err := os.Stat(filepath.Join(out, f.Name+".png")); err != nil {
			t.Error(err)
		}
	}
	if len(rep.Findings) == 0 || !strings.Contains(strings.Join(rep.Findings, "\n"), "headline") || !strings.Contains(strings.Join(rep.Findings, "\n"), "top-5 not shown") {
		t.Errorf("findings: %v", rep.Findings)
	}
	// A second run resumes: nothing is recomputed and the curves are the same.
	res2, err := RunCheney(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Models[0].Trials != 0 || res2.Models[0].Layers[0].Curves[0].Points[1].Top1 != m.Layers[0].Curves[0].Points[1].Top1 {
		t.Errorf("resume recomputed %d trials", res2.Models[0].Trials)
	}
	if d, err := results.Read(filepath.Join(out, "cheney", "trials-tiny-chain.csv")); err != nil || len(d.Rows) != m.Trials {
		t.Errorf("trials file: %v, want %d rows", err, m.Trials)
	}
	// Another configuration in the same folder is refused.
	cfg.Draws = 3
	if _, err := RunCheney(context.Background(), c, cfg); err == nil {
		t.Error("a different configuration reused the results folder")
	}
}

func TestCheneyConfigErrors(t *testing.T) {
	good := DefaultCheneyConfig(Quick, "onnx:cpu")
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*CheneyConfig){
		"no models":   func(c *CheneyConfig) { c.Models = nil },
		"no draws":    func(c *CheneyConfig) { c.Draws = 0 },
		"grid":        func(c *CheneyConfig) { c.Perturbations[0].Qs = []float64{0.5, 0.1} },
		"q > 1":       func(c *CheneyConfig) { c.Perturbations[0].Qs = []float64{0, 1.5} },
		"duplicate":   func(c *CheneyConfig) { c.Perturbations = append(c.Perturbations, c.Perturbations[0]) },
		"no kinds":    func(c *CheneyConfig) { c.LayerKinds = nil },
		"headline q":  func(c *CheneyConfig) { c.HeadlineQ = 0 },
		"eval batch":  func(c *CheneyConfig) { c.EvalBatch = 0 },
		"test images": func(c *CheneyConfig) { c.TestImages = -1 },
	} {
		cfg := DefaultCheneyConfig(Quick, "onnx:cpu")
		cfg.Perturbations = append([]CheneyPerturbation(nil), cfg.Perturbations...)
		mod(&cfg)
		if err := cfg.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
