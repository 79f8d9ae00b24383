package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/fisens/weights"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
	"github.com/fisens/fisens/stats"
)

// Cheney, Schrimpf & Kreiman (2017), SPEC B: how much accuracy a trained network keeps when one
// layer's weights are knocked out or made noisy. For every model, layer, perturbation type and
// magnitude q, Draws seeded random perturbations (weights.PerturbLayer) are applied to a copy of the
// model's weights and the top-1 and top-5 accuracy are measured on a seeded subset of the test set.
// The summary is the q at which a layer loses half of its accuracy above chance, and a robustness
// score (the mean, over the q grid, of the fraction of the above-chance accuracy kept).
//
// Beyond the paper: each layer's FI (Shu & Zhu, scaling form, log p(true label)) is put next to
// its measured robustness. By SPEC A.3 the exact FI of any layer with at least K − 1 generic
// parameters equals the odds against the label, whatever the layer — so the run reports how often
// that happens, and the rank correlations of robustness with the authors'-convention FI (absolute
// ε, which does differ between layers) and with the Jacobian norm of the same perturbation.

func init() {
	register(Experiment{
		Name:    "cheney",
		Title:   "Weight knockout and noise, one layer at a time",
		Paper:   "Cheney et al. 2017",
		Order:   60,
		Summary: "accuracy vs fraction of knocked-out weights / units and vs Gaussian weight noise, per layer; half-accuracy q; FI of each layer next to its robustness",
	}, DefaultCheneyConfig, RunCheney)
}

// CheneyPerturbation is one perturbation type of the sweep and its grid of magnitudes.
type CheneyPerturbation struct {
	Kind   weights.Kind
	Target weights.Target // kernel+bias (the authors' code), kernel or bias; node knockout ignores it
	Qs     []float64      // magnitudes (q = 0 is the unperturbed model, measured once)
}

// Name returns e.g. "synapse knockout (kernel+bias)".
func (p CheneyPerturbation) Name() string {
	n := strings.ReplaceAll(p.Kind.String(), "-", " ")
	if p.Kind == weights.NodeKnockout {
		return n
	}
	return n + " (" + p.Target.String() + ")"
}

// key is the perturbation's identifier in result files.
func (p CheneyPerturbation) key() string {
	if p.Kind == weights.NodeKnockout {
		return p.Kind.String()
	}
	return p.Kind.String() + "/" + p.Target.String()
}

// CheneyConfig configures the weight-perturbation sweep.
type CheneyConfig struct {
	Models  []string // model references (zoo:NAME or directories)
	Dataset string   // dataset of models that record none
	DataDir string   // dataset folder; "" → discovery

	TestImages    int                  // seeded subset of the test set used for accuracy (0 = all)
	Perturbations []CheneyPerturbation // perturbation types with their q grids
	Draws         int                  // random draws per (layer, type, q)
	LayerKinds    []string             // layer kinds perturbed (fisens.LayerKind: "conv", "dense", "bn")
	MaxLayers     int                  // per model at most this many layers, evenly spaced, first and last included (0 = all)
	FIImages      int                  // test images for each layer's FI (0: no FI)
	EvalBatch     int                  // batch size of the accuracy passes
	HeadlineQ     float64              // the q at which the paper's headline is checked (0.7: "removing > 70 %")
}

// CheneyTop5MinClasses is the smallest number of classes for which the top-5 figure is drawn: with
// fewer, the top 5 hold a large share of the classes and top-5 accuracy saturates (K = 10: chance 50 %).
const CheneyTop5MinClasses = 50

// Default q grids: knockouts up to 0.9 and noise up to 2 standard deviations (SPEC B).
var (
	cheneyKnockoutQs      = []float64{0, 0.3, 0.5, 0.7, 0.9}
	cheneyNoiseQs         = []float64{0, 0.5, 1, 2}
	cheneyKnockoutQsPaper = []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	cheneyNoiseQsPaper    = []float64{0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}
)

// DefaultCheneyConfig returns the settings of a scale (smaller on the pure-Go backend).
func DefaultCheneyConfig(scale Scale, backendName string) CheneyConfig {
	cfg := CheneyConfig{
		Models: []string{models.ZooPrefix + "alexnet-small-mnist", models.ZooPrefix + "vgg-small-mnist",
			models.ZooPrefix + "resnet-small-mnist", models.ZooPrefix + "densenet-small-mnist"},
		TestImages: 200,
		Perturbations: []CheneyPerturbation{
			{Kind: weights.SynapseKnockout, Target: weights.KernelAndBias, Qs: cheneyKnockoutQs},
			{Kind: weights.NodeKnockout, Qs: cheneyKnockoutQs},
			{Kind: weights.GaussianNoise, Target: weights.KernelAndBias, Qs: cheneyNoiseQs},
			{Kind: weights.Draw, Target: weights.KernelAndBias, Qs: cheneyKnockoutQs},
		},
		Draws:      3,
		LayerKinds: []string{"conv", "dense"},
		MaxLayers:  8,
		FIImages:   20,
		EvalBatch:  500,
		HeadlineQ:  0.7,
	}
	switch {
	case scale == Paper:
		cfg.TestImages, cfg.Draws, cfg.MaxLayers, cfg.FIImages = 0, 5, 0, 500
		for i := range cfg.Perturbations {
			cfg.Perturbations[i].Qs = cheneyKnockoutQsPaper
			if cfg.Perturbations[i].Kind == weights.GaussianNoise {
				cfg.Perturbations[i].Qs = cheneyNoiseQsPaper
			}
		}
		cfg.Perturbations = append(cfg.Perturbations,
			CheneyPerturbation{Kind: weights.SynapseKnockout, Target: weights.BiasOnly, Qs: cheneyKnockoutQsPaper},
			CheneyPerturbation{Kind: weights.GaussianNoise, Target: weights.BiasOnly, Qs: cheneyNoiseQsPaper})
		cfg.LayerKinds = []string{"conv", "dense", "bn"}
		cfg.Models = append(cfg.Models, cheneyCIFARModels()...)
	case pureGoBackend(backendName):
		cfg.Models = cfg.Models[:1]
		cfg.TestImages, cfg.Draws, cfg.MaxLayers, cfg.FIImages, cfg.EvalBatch = 50, 2, 3, 3, 50
		for i := range cfg.Perturbations {
			cfg.Perturbations[i].Qs = []float64{0, 0.5, 0.9}
			if cfg.Perturbations[i].Kind == weights.GaussianNoise {
				cfg.Perturbations[i].Qs = []float64{0, 1, 2}
			}
		}
	}
	return cfg
}

// cheneyCIFARModels lists CIFAR-10 models of the four families where they have been trained
// (training directories runs/<arch>-cifar10, see PaperModelRef).
func cheneyCIFARModels() []string {
	var out []string
	for _, arch := range []string{"alexnet-small", "vgg-small", "resnet-small", "densenet-small"} {
		ref := PaperModelRef(arch, datasets.CIFAR10)
		if _, err := os.Stat(ref); err == nil {
			out = append(out, ref)
		}
	}
	return out
}

func (cfg CheneyConfig) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("cheney: Models is empty, want at least one model reference")
	case cfg.TestImages < 0 || cfg.FIImages < 0 || cfg.MaxLayers < 0:
		return fmt.Errorf("cheney: TestImages %d, FIImages %d, MaxLayers %d: want ≥ 0", cfg.TestImages, cfg.FIImages, cfg.MaxLayers)
	case cfg.Draws < 1:
		return fmt.Errorf("cheney: Draws %d, want ≥ 1", cfg.Draws)
	case cfg.EvalBatch < 1:
		return fmt.Errorf("cheney: EvalBatch %d, want ≥ 1", cfg.EvalBatch)
	case len(cfg.Perturbations) == 0:
		return errors.New("cheney: Perturbations is empty")
	case len(cfg.LayerKinds) == 0:
		return errors.New("cheney: LayerKinds is empty, want some of conv, dense, bn")
	case !(cfg.HeadlineQ > 0):
		return fmt.Errorf("cheney: HeadlineQ %v, want > 0", cfg.HeadlineQ)
	}
	seen := map[string]bool{}
	for i, p := range cfg.Perturbations {
		if seen[p.key()] {
			return fmt.Errorf("cheney: perturbation %d (%s) listed twice", i, p.Name())
		}
		seen[p.key()] = true
		if len(p.Qs) < 2 || p.Qs[0] != 0 || !sort.Float64sAreSorted(p.Qs) {
			return fmt.Errorf("cheney: %s: q grid %v, want increasing values starting at 0", p.Name(), p.Qs)
		}
		for _, q := range p.Qs {
			w := weights.Perturbation{Kind: p.Kind, Q: q, Target: p.Target}
			if _, _, err := weights.PerturbValues([]float32{1}, nil, 1, "check", w); err != nil {
				return fmt.Errorf("cheney: %w", err)
			}
		}
	}
	return nil
}

func (cfg CheneyConfig) settings(c Common) map[string]string {
	var perts []string
	for _, p := range cfg.Perturbations {
		perts = append(perts, fmt.Sprintf("%s q ∈ %v", p.Name(), p.Qs))
	}
	fi := "not computed"
	if cfg.FIImages > 0 {
		fi = fmt.Sprintf("%d test images; scaling form, log p(true label); exact convention and the authors' (absolute ε = %g)", cfg.FIImages, fisens.DefaultAuthorsEps)
	}
	return map[string]string{
		"scale":           string(c.Scale),
		"backend":         c.Backend,
		"seed":            strconv.FormatInt(c.Seed, 10),
		"shard":           c.Shard.String(),
		"models":          strings.Join(cfg.Models, ", "),
		"test images":     sizeOrAll(cfg.TestImages) + " (seeded subset of the test set; accuracy in inference mode)",
		"perturbations":   strings.Join(perts, "; "),
		"draws":           strconv.Itoa(cfg.Draws) + " seeded random draws per (layer, type, q); mean ± sample std",
		"layers":          fmt.Sprintf("kinds %v, at most %s per model (evenly spaced, first and last kept)", cfg.LayerKinds, sizeOrAll(cfg.MaxLayers)),
		"knockout counts": "⌊q·n⌋ entries (synapse) or ⌊q·units⌋ filters/units (node, kernel slice + bias), drawn without replacement as in the authors' code",
		"noise":           "w ← w + N(0, (q·σ)²), σ the population std of that variable (kernel and bias each their own)",
		"FI":              fi,
		"headline q":      fmt.Sprint(cfg.HeadlineQ),
	}
}

// CheneyPoint is the accuracy at one q (mean ± sample std over the draws).
type CheneyPoint struct {
	Q             float64
	Top1, Top1Std float64
	Top5, Top5Std float64 // NaN when K ≤ 5
	// Rel is the paper's performance measure: top-1 accuracy over the unperturbed model's (mean ± std).
	Rel, RelStd float64
	Draws       int
	Kept        float64 // (Top1 − chance)/(base − chance): the fraction of the above-chance accuracy kept
}

// CheneyCurve is one layer's accuracy curve under one perturbation type.
type CheneyCurve struct {
	Perturbation string // CheneyPerturbation.Name()
	Points       []CheneyPoint
	HalfQ        float64 // q where Top1 first falls to chance + (base − chance)/2 (linear interpolation); +Inf if never
	Robustness   float64 // mean of Kept over the q grid (trapezoid rule, q = 0 counts 1); 1 = no loss
}

// CheneyLayer is one perturbed layer.
type CheneyLayer struct {
	Name   string // scope
	Kind   string // conv, dense, bn
	Params int    // kernel + bias entries
	Curves []CheneyCurve
	// FI of the layer (scaling form, log p(true label)) averaged over the FI images.
	FI, FIAuthors, JacNorm  float64
	Odds                    float64 // mean (1 − π_y)/π_y over the same images
	FIRatio, FIAuthorsRatio float64 // mean FI/odds in the exact and the authors' conventions (1: FI is the odds)
	AtBound                 int     // images where the exact FI has rank K−1 and equals the odds (to 1e-6)
	FIImages                int
}

// CheneyModel is one model's result.
type CheneyModel struct {
	Ref, Name, Arch string
	Dataset         string
	Classes         int
	TestImages      int
	Base1, Base5    float64 // unperturbed top-1 / top-5 accuracy on the test subset
	Chance          float64 // 1/K
	Layers          []CheneyLayer
	Complete        bool
	SweepTime       time.Duration
	FITime          time.Duration
	Trials          int // perturbed evaluations made by this run (not read back from an earlier one)
}

// CheneyResult is what RunCheney returns.
type CheneyResult struct {
	Config   CheneyConfig
	Models   []CheneyModel
	Skipped  []string // zoo models of the configuration that the zoo does not hold
	Complete bool
}

// streamCheneyTest is the generator stream of the test subset.
const streamCheneyTest = 0xc4e7_0001

var cheneyColumns = []results.Column{results.TextCol("layer"), results.TextCol("perturbation"), results.FloatCol("q"),
	results.IntCol("draw"), results.FloatCol("top1"), results.FloatCol("top5")}

var cheneyHeader = results.Spec{Columns: cheneyColumns}.Header()

// RunCheney runs the sweep for every model, appending one row per evaluation to the resumable
// CSV OutDir/cheney/trials-<model>.csv (only c.Shard's trials under --shard).
func RunCheney(ctx context.Context, c Common, cfg CheneyConfig) (*CheneyResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, fmt.Errorf("cheney: %w", err)
	}
	dir, err := c.Path("cheney")
	if err != nil {
		return nil, err
	}
	if err := claimRunDir(dir, "cheney", struct {
		Config CheneyConfig
		Seed   int64
	}{cfg, c.Seed}); err != nil {
		return nil, err
	}
	refs, skipped := availableZooModels(cfg.Models)
	if len(refs) == 0 {
		return nil, fmt.Errorf("cheney: none of the models %v is available (the zoo holds none of them)", cfg.Models)
	}
	for _, s := range skipped {
		c.Logf("cheney: skipping %s: not in the zoo", s)
	}
	names, err := modelNames("cheney", refs)
	if err != nil {
		return nil, err
	}
	res := &CheneyResult{Config: cfg, Complete: true, Skipped: skipped}
	for i, ref := range refs {
		cm, err := runCheneyModel(ctx, c, b, cfg, ref, names[i], dir)
		if err != nil {
			return nil, fmt.Errorf("cheney: %s: %w", ref, err)
		}
		res.Complete = res.Complete && cm.Complete
		res.Models = append(res.Models, *cm)
	}
	return res, nil
}

// cheneySelectLayers returns the model's layers of the wanted kinds, at most max evenly spaced ones.
func cheneySelectLayers(store *model.Store, kinds []string, maxLayers int) []string {
	var all []string
	for _, s := range weights.Layers(store) {
		for _, k := range kinds {
			if fisens.LayerKind(s) == k {
				all = append(all, s)
				break
			}
		}
	}
	if maxLayers <= 0 || len(all) <= maxLayers {
		return all
	}
	if maxLayers == 1 {
		return all[:1]
	}
	out := make([]string, 0, maxLayers)
	last := -1
	for i := 0; i < maxLayers; i++ {
		j := int(math.Round(float64(i) * float64(len(all)-1) / float64(maxLayers-1)))
		if j != last {
			out = append(out, all[j])
			last = j
		}
	}
	return out
}

// cheneyTopK returns the fraction of rows of logits [N, K] whose true label is among the k
// largest logits (ties counted against the label).
func cheneyTopK(logits []float32, K int, labels []int, k int) float64 {
	correct := 0
	for n, y := range labels {
		row := logits[n*K : (n+1)*K]
		zy := row[y]
		if math.IsNaN(float64(zy)) {
			continue
		}
		above := 0
		for j, v := range row {
			if j != y && v >= zy {
				above++
			}
		}
		if above < k {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

func cheneyEvaluate(b compute.Backend, m *models.Model, set *datasets.Set, labels []int, batch int) (top1, top5 float64, err error) {
	logits, err := models.Predict(b, m, set, batch)
	if err != nil {
		return 0, 0, err
	}
	K := m.NumClasses()
	top1 = cheneyTopK(logits, K, labels, 1)
	top5 = math.NaN()
	if K > 5 {
		top5 = cheneyTopK(logits, K, labels, 5)
	}
	return top1, top5, nil
}

// cheneyTrialSeed derives the seed of one draw (independent across q, draws and the run seed; the layer
// and perturbation names are mixed in by fisens).
func cheneyTrialSeed(seed int64, qi, draw int) uint64 {
	return uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(qi)<<32 ^ uint64(draw)
}

func runCheneyModel(ctx context.Context, c Common, b compute.Backend, cfg CheneyConfig, ref, name, dir string) (*CheneyModel, error) {
	lm, err := LoadModel(c, ref, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	m, dataset := lm.Model, lm.Dataset
	test, err := lm.Set(datasets.SplitTest, dataOptions(c, cfg.DataDir)...)
	if err != nil {
		return nil, err
	}
	test = test.Subset(datasets.SampleIndices(test.Len(), cfg.TestImages, c.Seed, streamCheneyTest))
	labels := test.AllLabels()
	K := m.NumClasses()
	cm := &CheneyModel{Ref: ref, Name: name, Arch: m.Name(), Dataset: dataset, Classes: K, TestImages: test.Len(), Chance: 1 / float64(K)}
	// The sweep perturbs a clone so that the loaded model stays intact.
	work, err := m.Clone()
	if err != nil {
		return nil, err
	}
	defer work.Close()
	t0 := time.Now()
	cm.Base1, cm.Base5, err = cheneyEvaluate(b, work, test, labels, cfg.EvalBatch)
	if err != nil {
		return nil, err
	}
	layers := cheneySelectLayers(work.Store(), cfg.LayerKinds, cfg.MaxLayers)
	if len(layers) == 0 {
		return nil, fmt.Errorf("no layer of kinds %v (layers: %v)", cfg.LayerKinds, weights.Layers(work.Store()))
	}
	// The run directory's run.json fingerprints the configuration; the table records what it holds.
	f, err := openTable(c, filepath.Join(dir, "trials-"+name+".csv"), results.Spec{Columns: cheneyColumns,
		Key: []string{"layer", "perturbation", "q", "draw"}, Settings: results.Settings{"experiment": "cheney", "model": ref,
			"dataset": dataset, "test_images": strconv.Itoa(test.Len()), "seed": strconv.FormatInt(c.Seed, 10),
			"measure": "top-1 and top-5 test accuracy after perturbing one layer's weights"}})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	path := f.Path()
	total := 0
	for _, p := range cfg.Perturbations {
		total += len(layers) * (len(p.Qs) - 1) * cfg.Draws
	}
	bar := progress.New(c.Progress, "cheney "+name, total)
	index := 0
	for _, p := range cfg.Perturbations {
		for _, layer := range layers {
			for qi, q := range p.Qs {
				if qi == 0 {
					continue
				}
				for d := 0; d < cfg.Draws; d++ {
					idx := index
					index++
					if !c.Shard.Owns(idx) || f.Has(layer, p.key(), results.FormatFloat(q), strconv.Itoa(d)) {
						bar.Add(1)
						continue
					}
					if err := ctx.Err(); err != nil {
						bar.Done()
						return nil, err
					}
					snap, err := weights.PerturbLayer(work.Store(), layer, weights.Perturbation{Kind: p.Kind, Q: q, Target: p.Target, Seed: cheneyTrialSeed(c.Seed, qi, d)})
					if err != nil {
						return nil, err
					}
					t1, t5, err := cheneyEvaluate(b, work, test, labels, cfg.EvalBatch)
					if rerr := snap.Restore(); rerr != nil && err == nil {
						err = rerr
					}
					if err != nil {
						return nil, fmt.Errorf("%s, %s, q = %v, draw %d: %w", layer, p.Name(), q, d, err)
					}
					if _, err := f.Append([]string{layer, p.key(), results.FormatFloat(q), strconv.Itoa(d), results.FormatFloat(t1), results.FormatFloat(t5)}); err != nil {
						return nil, err
					}
					cm.Trials++
					bar.Add(1)
				}
			}
		}
	}
	bar.Done()
	cm.SweepTime = time.Since(t0)
	// Read back every row (this run's and earlier runs').
	recs := f.Rows()
	if err := f.Close(); err != nil {
		return nil, err
	}
	type acc struct{ t1, t5 []float64 }
	got := map[string]*acc{}
	for _, r := range recs {
		k := r[0] + "\x00" + r[1] + "\x00" + r[2]
		a := got[k]
		if a == nil {
			a = &acc{}
			got[k] = a
		}
		t1, err1 := strconv.ParseFloat(r[4], 64)
		t5, err5 := strconv.ParseFloat(r[5], 64)
		if err1 != nil || err5 != nil {
			return nil, fmt.Errorf("%s: bad row %v", path, r)
		}
		a.t1 = append(a.t1, t1)
		a.t5 = append(a.t5, t5)
	}
	cm.Complete = true
	for _, layer := range layers {
		lp, err := weights.FindLayer(work.Store(), layer)
		if err != nil {
			return nil, err
		}
		params := lp.Kernel.Shape().Size()
		if lp.Bias != nil {
			params += lp.Bias.Shape().Size()
		}
		cl := CheneyLayer{Name: layer, Kind: fisens.LayerKind(layer), Params: params, FI: math.NaN(), FIAuthors: math.NaN(), JacNorm: math.NaN(), Odds: math.NaN(),
			FIRatio: math.NaN(), FIAuthorsRatio: math.NaN()}
		for _, p := range cfg.Perturbations {
			cc := CheneyCurve{Perturbation: p.Name()}
			for qi, q := range p.Qs {
				pt := CheneyPoint{Q: q, Top1: cm.Base1, Top5: cm.Base5, Draws: 0}
				if qi > 0 {
					a := got[layer+"\x00"+p.key()+"\x00"+results.FormatFloat(q)]
					if a == nil || len(a.t1) < cfg.Draws {
						cm.Complete = false
						continue
					}
					pt.Draws = len(a.t1)
					pt.Top1, pt.Top1Std, _ = stats.MeanStd(a.t1)
					if K > 5 {
						pt.Top5, pt.Top5Std, _ = stats.MeanStd(a.t5)
					} else {
						pt.Top5, pt.Top5Std = math.NaN(), math.NaN()
					}
				}
				pt.Kept = (pt.Top1 - cm.Chance) / (cm.Base1 - cm.Chance)
				pt.Rel, pt.RelStd = pt.Top1/cm.Base1, pt.Top1Std/cm.Base1
				cc.Points = append(cc.Points, pt)
			}
			cc.HalfQ, cc.Robustness = cheneyHalfQ(cc.Points, cm.Chance, cm.Base1)
			cl.Curves = append(cl.Curves, cc)
		}
		cm.Layers = append(cm.Layers, cl)
	}
	if cfg.FIImages > 0 && (c.Shard.N <= 1 || c.Shard.I == 0) {
		t1 := time.Now()
		if err := cheneyFI(ctx, c, b, m, test, cfg.FIImages, cm); err != nil {
			return nil, err
		}
		cm.FITime = time.Since(t1)
	}
	return cm, nil
}

// cheneyHalfQ returns the q where the mean top-1 accuracy first falls to chance + (base − chance)/2
// (linear interpolation; +Inf if it never does) and the robustness score (mean kept fraction
// over the q range, trapezoid rule).
func cheneyHalfQ(pts []CheneyPoint, chance, base float64) (float64, float64) {
	if len(pts) == 0 || base <= chance {
		return math.NaN(), math.NaN()
	}
	thr := chance + (base-chance)/2
	half := math.Inf(1)
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if b.Top1 <= thr && a.Top1 > thr {
			half = a.Q + (a.Top1-thr)/(a.Top1-b.Top1)*(b.Q-a.Q)
			break
		}
	}
	var area float64
	for i := 1; i < len(pts); i++ {
		area += (pts[i].Q - pts[i-1].Q) * (pts[i].Kept + pts[i-1].Kept) / 2
	}
	span := pts[len(pts)-1].Q - pts[0].Q
	if span <= 0 {
		return half, math.NaN()
	}
	return half, area / span
}

// cheneyFI computes each layer's FI (scaling form, exact and authors' conventions) and Jacobian
// norm, averaged over the first n images of the test subset.
func cheneyFI(ctx context.Context, c Common, b compute.Backend, m *models.Model, test *datasets.Set, n int, cm *CheneyModel) error {
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return err
	}
	defer an.Close()
	scale, err := m.InputScale()
	if err != nil {
		return err
	}
	n = min(n, test.Len())
	only := make([]string, len(cm.Layers))
	for i, l := range cm.Layers {
		only[i] = l.Name
	}
	K := cm.Classes
	sums := make([][6]float64, len(cm.Layers))
	atBound := make([]int, len(cm.Layers))
	bar := progress.New(c.Progress, "cheney FI "+cm.Name, n)
	defer bar.Done()
	// ParamFIBatch: K backward passes per chunk of images; the authors' convention from the same
	// Grams (ParamResult.WithOptions).
	for lo := 0; lo < n; lo += fisens.ParamBatchChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := make([]int, min(fisens.ParamBatchChunk, n-lo))
		for j := range idx {
			idx[j] = lo + j
		}
		batch, err := ReadBatch(test, idx, scale, 0)
		if err != nil {
			return err
		}
		exacts, err := an.ParamFIBatch(batch, fisens.ParamOptions{Form: fisens.Scaling, Only: only})
		if err != nil {
			return err
		}
		for _, exact := range exacts {
			auth, err := exact.WithOptions(fisens.Options{Convention: fisens.Authors})
			if err != nil {
				return err
			}
			for j := range cm.Layers {
				r := exact.PerGroup[j]
				if exact.Groups[j].Name != cm.Layers[j].Name {
					return fmt.Errorf("FI group %q where layer %q was expected", exact.Groups[j].Name, cm.Layers[j].Name)
				}
				sums[j][0] += r.FI
				sums[j][1] += auth.PerGroup[j].FI
				sums[j][2] += r.JacNorm
				sums[j][3] += r.Bound
				if r.Bound > 0 {
					sums[j][4] += r.FI / r.Bound
					sums[j][5] += auth.PerGroup[j].FI / r.Bound
				}
				if r.Rank == K-1 && math.Abs(r.FI-r.Bound) <= 1e-6*math.Max(r.Bound, 1e-300) {
					atBound[j]++
				}
			}
		}
		bar.Add(len(idx))
	}
	for j := range cm.Layers {
		l := &cm.Layers[j]
		l.FI, l.FIAuthors, l.JacNorm, l.Odds = sums[j][0]/float64(n), sums[j][1]/float64(n), sums[j][2]/float64(n), sums[j][3]/float64(n)
		l.FIRatio, l.FIAuthorsRatio = sums[j][4]/float64(n), sums[j][5]/float64(n)
		l.AtBound, l.FIImages = atBound[j], n
	}
	return nil
}

// ---- figures, findings, report ----------------------------------------------------------------

// cheneyLayerName drops the leading slash of a scope.
func cheneyLayerName(s string) string { return strings.TrimPrefix(s, "/") }

// Figure returns one model's performance-versus-q panels (one per perturbation type, one curve per
// layer, mean ± std over the draws): as in the paper, the perturbed accuracy over the unperturbed
// one, top-1 (top5 false) or top-5.
func (m CheneyModel) Figure(cfg CheneyConfig, top5 bool) (*figures.Figure, error) {
	var panels []*figures.Figure
	metric := "top-1"
	if top5 {
		metric = "top-5"
	}
	for pi, p := range cfg.Perturbations {
		var series []figures.Series
		for _, l := range m.Layers {
			cc := l.Curves[pi]
			s := figures.Series{Name: cheneyLayerName(l.Name)}
			for _, pt := range cc.Points {
				y, e := pt.Top1/m.Base1, pt.Top1Std/m.Base1
				if top5 {
					y, e = pt.Top5/m.Base5, pt.Top5Std/m.Base5
				}
				if math.IsNaN(y) {
					continue
				}
				s.X = append(s.X, pt.Q)
				s.Y = append(s.Y, y)
				s.YErr = append(s.YErr, e)
			}
			if len(s.X) > 0 {
				series = append(series, s)
			}
		}
		if len(series) == 0 {
			return nil, fmt.Errorf("cheney: %s: no %s points for %s", m.Name, metric, p.Name())
		}
		xlabel := "q (fraction knocked out)"
		switch p.Kind {
		case weights.GaussianNoise:
			xlabel = "q (noise std / weight std)"
		case weights.Draw:
			xlabel = "q (fraction redrawn from the layer's values)"
		}
		chance := m.Chance / m.Base1
		if top5 {
			chance = 5 / float64(m.Classes) / m.Base5
		}
		legend := figures.LegendNone
		if pi == len(cfg.Perturbations)-1 {
			legend = figures.LegendOutside
		}
		fig, err := figures.Curves(p.Name(), xlabel, metric+" / unperturbed "+metric, series, figures.XYOptions{
			YLim:     [2]float64{0, 1.05},
			RefLines: []figures.RefLine{{Value: chance, Label: "chance"}},
			Legend:   legend,
			Width:    4.6 * 72, Height: 3.6 * 72,
		})
		if err != nil {
			return nil, err
		}
		if legend == figures.LegendOutside {
			fig.Width += 1.4 * 72
		}
		panels = append(panels, fig)
	}
	return figures.Panels(fmt.Sprintf("%s (%s): %s performance (perturbed / unperturbed accuracy) when one layer is perturbed (%d test images, mean ± std of draws)",
		m.Name, m.Dataset, metric, m.TestImages), len(panels), panels...)
}

// headline checks the paper's headline on one model at the largest grid q ≤ HeadlineQ of the
// synapse knockout: the first layer keeps less of its above-chance accuracy than every top layer
// (the last conv layer and the dense layers), and every top layer keeps ≥ 70 %.
type cheneyHeadline struct {
	ok            bool
	q             float64
	firstName     string
	firstKept     float64
	top           []string
	topKept       []float64
	minTop        float64
	firstFragile  bool
	topRobust     bool
	firstChance   bool // the first layer keeps ≤ 20 % of its above-chance accuracy ("near chance")
	pert          string
	haveSynapseKO bool
}

func (m CheneyModel) headline(cfg CheneyConfig) cheneyHeadline {
	h := cheneyHeadline{}
	pi := -1
	for i, p := range cfg.Perturbations {
		if p.Kind == weights.SynapseKnockout && p.Target == weights.KernelAndBias {
			pi = i
			break
		}
	}
	if pi < 0 {
		for i, p := range cfg.Perturbations {
			if p.Kind == weights.SynapseKnockout {
				pi = i
				break
			}
		}
	}
	if pi < 0 || len(m.Layers) < 2 {
		return h
	}
	h.haveSynapseKO = true
	h.pert = cfg.Perturbations[pi].Name()
	qi := -1
	for i, q := range cfg.Perturbations[pi].Qs {
		if q <= cfg.HeadlineQ+1e-12 {
			qi = i
		}
	}
	if qi <= 0 {
		return h
	}
	h.q = cfg.Perturbations[pi].Qs[qi]
	kept := func(l CheneyLayer) float64 {
		for _, pt := range l.Curves[pi].Points {
			if pt.Q == h.q {
				return pt.Kept
			}
		}
		return math.NaN()
	}
	h.firstName, h.firstKept = cheneyLayerName(m.Layers[0].Name), kept(m.Layers[0])
	lastConv := -1
	for i, l := range m.Layers {
		if l.Kind == "conv" {
			lastConv = i
		}
	}
	h.minTop = math.Inf(1)
	for i, l := range m.Layers {
		if i == 0 || !(i == lastConv || l.Kind == "dense") {
			continue
		}
		k := kept(l)
		h.top = append(h.top, cheneyLayerName(l.Name))
		h.topKept = append(h.topKept, k)
		h.minTop = math.Min(h.minTop, k)
	}
	h.firstFragile = len(h.top) > 0 && h.firstKept < h.minTop
	h.topRobust = len(h.top) > 0 && h.minTop >= 0.7
	h.firstChance = h.firstKept <= 0.2
	h.ok = h.firstFragile && h.topRobust && h.firstChance
	return h
}

// correlations returns Spearman's ρ between per-layer robustness (for perturbation pi) and the
// layers' exact FI, authors' FI and Jacobian norm; NaN with a reason when undefined.
func (m CheneyModel) correlations(pi int) (exact, authors, jac float64, note string) {
	var rob, fi, fa, jn []float64
	for _, l := range m.Layers {
		if math.IsNaN(l.FI) || math.IsNaN(l.Curves[pi].Robustness) {
			continue
		}
		rob = append(rob, l.Curves[pi].Robustness)
		fi = append(fi, l.FI)
		fa = append(fa, l.FIAuthors)
		jn = append(jn, l.JacNorm)
	}
	sp := func(x []float64) float64 {
		if len(x) < 3 {
			return math.NaN()
		}
		r, err := stats.Spearman(x, rob)
		if err != nil {
			return math.NaN()
		}
		return r
	}
	exact = math.NaN()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range fi {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if len(fi) > 0 && hi-lo > 1e-6*math.Abs(hi) {
		exact = sp(fi)
	} else if len(fi) > 0 {
		note = fmt.Sprintf("the exact FI is the same for every layer (%.6g, spread %.1e relative): ρ undefined", hi, (hi-lo)/math.Max(math.Abs(hi), 1e-300))
	}
	return exact, sp(fa), sp(jn), note
}

func cheneyFmtQ(q float64) string {
	switch {
	case math.IsNaN(q):
		return "n/a"
	case math.IsInf(q, 1):
		return "> max"
	}
	return strconv.FormatFloat(q, 'f', 2, 64)
}

// Table returns the summary rows: per model, layer and perturbation, the half-accuracy q, the kept
// fraction at the headline q, the robustness score and the layer's FI.
func (r *CheneyResult) Table() ([]string, [][]string) {
	header := []string{"model", "layer", "kind", "params", "perturbation", "base_top1", "half_q", "robustness", "top1_at_max_q", "top5_at_max_q", "fi_exact", "odds", "fi_over_odds", "fi_authors", "fi_authors_over_odds", "jac_norm"}
	var out [][]string
	for _, m := range r.Models {
		for _, l := range m.Layers {
			for _, cc := range l.Curves {
				last := cc.Points[len(cc.Points)-1]
				out = append(out, []string{m.Name, cheneyLayerName(l.Name), l.Kind, strconv.Itoa(l.Params), cc.Perturbation,
					fmt.Sprintf("%.4f", m.Base1), cheneyFmtQ(cc.HalfQ), fmt.Sprintf("%.3f", cc.Robustness),
					fmt.Sprintf("%.4f", last.Top1), fmt.Sprintf("%.4f", last.Top5),
					fmt.Sprintf("%.4g", l.FI), fmt.Sprintf("%.4g", l.Odds), fmt.Sprintf("%.6f", l.FIRatio), fmt.Sprintf("%.4g", l.FIAuthors), fmt.Sprintf("%.6f", l.FIAuthorsRatio), fmt.Sprintf("%.4g", l.JacNorm)})
			}
		}
	}
	return header, out
}

// HalfQTable returns, per model and layer, the half-accuracy q of every perturbation type (the
// rendered summary table).
func (r *CheneyResult) HalfQTable() ([]string, [][]string) {
	header := []string{"model", "layer"}
	for _, p := range r.Config.Perturbations {
		header = append(header, p.Name())
	}
	var out [][]string
	for _, m := range r.Models {
		for _, l := range m.Layers {
			row := []string{m.Name, cheneyLayerName(l.Name)}
			for _, cc := range l.Curves {
				row = append(row, cheneyFmtQ(cc.HalfQ))
			}
			out = append(out, row)
		}
	}
	return header, out
}

// FIFigure plots, per model, each layer's robustness to the first perturbation type against its
// mean FI/odds ratio (exact and authors' conventions; 1 means FI is the odds against the label)
// and against its Jacobian norm (log x).
func (r *CheneyResult) FIFigure() (*figures.Figure, error) {
	var panels []*figures.Figure
	ylabel := "robustness (" + r.Config.Perturbations[0].Name() + ")"
	for _, m := range r.Models {
		ex := figures.Series{Name: "exact"}
		au := figures.Series{Name: fmt.Sprintf("authors' ε = %g", fisens.DefaultAuthorsEps)}
		jn := figures.Series{Name: "‖∂ log π_y/∂ω‖₂ (scaling)"}
		for _, l := range m.Layers {
			if math.IsNaN(l.FI) || len(l.Curves) == 0 || math.IsNaN(l.Curves[0].Robustness) {
				continue
			}
			y := l.Curves[0].Robustness
			ex.X, ex.Y = append(ex.X, l.FIRatio), append(ex.Y, y)
			au.X, au.Y = append(au.X, l.FIAuthorsRatio), append(au.Y, y)
			jn.X, jn.Y = append(jn.X, l.JacNorm), append(jn.Y, y)
		}
		if len(ex.X) == 0 {
			continue
		}
		xmax := 1.1
		for _, v := range append(append([]float64(nil), ex.X...), au.X...) {
			xmax = math.Max(xmax, 1.05*v)
		}
		left, err := figures.Scatter(m.Name+": FI / odds", "mean over images of layer FI / (1−π_y)/π_y", ylabel,
			[]figures.Series{ex, au}, figures.XYOptions{XLim: [2]float64{0, xmax}, Legend: figures.LegendBottomLeft, Width: 4.4 * 72, Height: 3.6 * 72})
		if err != nil {
			return nil, err
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range jn.X {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		right, err := figures.Scatter(m.Name+": Jacobian norm", "mean layer Jacobian norm", ylabel,
			[]figures.Series{jn}, figures.XYOptions{LogX: lo > 0 && hi > 10*lo, Legend: figures.LegendNone, Width: 4.4 * 72, Height: 3.6 * 72})
		if err != nil {
			return nil, err
		}
		panels = append(panels, left, right)
	}
	if len(panels) == 0 {
		return nil, errors.New("cheney: no FI computed")
	}
	return figures.Panels("Layer FI and Jacobian norm vs measured robustness (one point per layer)", 4, panels...)
}

// Report saves the figures and tables and states the computed findings.
func (res *CheneyResult) Report(c Common) (*Report, error) {
	cfg := res.Config
	rep := &Report{Experiment: "cheney", Title: "Weight knockout and noise, one layer at a time (Cheney et al. 2017)", Settings: cfg.settings(c)}
	if !res.Complete {
		rep.Findings = append(rep.Findings, fmt.Sprintf("shard %s computed; merge each model's trial files "+
			"(fisens merge --out %s/cheney/trials-MODEL.csv %s/cheney/trials-MODEL.shard-*-of-%d.csv) and run again without --shard for the figures",
			c.Shard, c.OutDir, c.OutDir, c.Shard.N))
		return rep, nil
	}
	if len(res.Skipped) > 0 {
		rep.Findings = append(rep.Findings, fmt.Sprintf("skipped (not in the zoo): %s", strings.Join(res.Skipped, ", ")))
	}
	claim := "Removing more than 70 % of the weights of the top conv or dense layers costs less than 30 % of the performance; the same in conv1 drops it to near chance. Effects are weaker in VGG."
	for _, m := range res.Models {
		rep.Settings["timing "+m.Name] = fmt.Sprintf("sweep %s (%d evaluations of %d images this run), FI %s", m.SweepTime.Round(time.Second), m.Trials, m.TestImages, m.FITime.Round(time.Second))
		h := m.headline(cfg)
		var finding string
		if h.haveSynapseKO && h.q > 0 {
			var tops []string
			for i, t := range h.top {
				tops = append(tops, fmt.Sprintf("%s %.0f %%", t, 100*h.topKept[i]))
			}
			verdict := "holds"
			if !h.ok {
				var yes, no []string
				for _, part := range []struct {
					ok   bool
					text string
				}{
					{h.topRobust, "every top layer keeps ≥ 70 % (costs < 30 %)"},
					{h.firstFragile, "the first layer is more fragile than every top layer"},
					{h.firstChance, "the first layer drops to near chance (keeps ≤ 20 %)"},
				} {
					if part.ok {
						yes = append(yes, part.text)
					} else {
						no = append(no, part.text)
					}
				}
				verdict = "does not hold"
				if len(yes) > 0 {
					verdict = "holds only in part: " + strings.Join(yes, " and ") + ", but not: " + strings.Join(no, ", ")
				}
			}
			finding = fmt.Sprintf("%s (base top-1 %.4f, chance %.2f): %s of q = %.2f keeps %.0f %% of the above-chance accuracy in %s vs %s; the headline %s",
				m.Name, m.Base1, m.Chance, h.pert, h.q, 100*h.firstKept, h.firstName, strings.Join(tops, ", "), verdict)
			rep.Findings = append(rep.Findings, finding)
		}
		// The most and least robust layers per perturbation.
		for pi, p := range cfg.Perturbations {
			best, worst := -1, -1
			for i, l := range m.Layers {
				r := l.Curves[pi].Robustness
				if math.IsNaN(r) {
					continue
				}
				if best < 0 || r > m.Layers[best].Curves[pi].Robustness {
					best = i
				}
				if worst < 0 || r < m.Layers[worst].Curves[pi].Robustness {
					worst = i
				}
			}
			if best < 0 {
				rep.Findings = append(rep.Findings, fmt.Sprintf("%s, %s: robustness undefined (unperturbed top-1 %.4f is not above chance %.2f)", m.Name, p.Name(), m.Base1, m.Chance))
				continue
			}
			rep.Findings = append(rep.Findings, fmt.Sprintf("%s, %s: most fragile layer %s (half-accuracy q %s, robustness %.2f), most robust %s (%s, %.2f)",
				m.Name, p.Name(), cheneyLayerName(m.Layers[worst].Name), cheneyFmtQ(m.Layers[worst].Curves[pi].HalfQ), m.Layers[worst].Curves[pi].Robustness,
				cheneyLayerName(m.Layers[best].Name), cheneyFmtQ(m.Layers[best].Curves[pi].HalfQ), m.Layers[best].Curves[pi].Robustness))
		}
		if !math.IsNaN(m.Layers[0].FI) {
			atB, tot := 0, 0
			for _, l := range m.Layers {
				atB += l.AtBound
				tot += l.FIImages
			}
			ex, au, jn, note := m.correlations(0)
			s := fmt.Sprintf("%s: exact layer FI had rank K−1 and equalled the odds (1−π_y)/π_y in %d of %d (image, layer) pairs; Spearman ρ of robustness (%s) with layer FI: exact %s, authors' convention %s, Jacobian norm %s (%d layers)",
				m.Name, atB, tot, cfg.Perturbations[0].Name(), cheneyFmtRho(ex), cheneyFmtRho(au), cheneyFmtRho(jn), len(m.Layers))
			if note != "" {
				s += " — " + note
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, l := range m.Layers {
				lo, hi = math.Min(lo, l.FIAuthorsRatio), math.Max(hi, l.FIAuthorsRatio)
			}
			s += fmt.Sprintf("; the authors' convention gives FI / odds between %.3f and %.3f per layer (it can exceed the bound: at full rank its ε adds a systematic term, fisens.AuthorsFullRank, and an absolute ε can keep a rounding-noise direction)", lo, hi)
			rep.Findings = append(rep.Findings, s)
		}
		if m.Classes < CheneyTop5MinClasses {
			rep.Findings = append(rep.Findings, fmt.Sprintf("%s: top-5 not shown: with K = %d classes the top 5 hold half of the classes (chance %.0f %%) and the "+
				"unperturbed top-5 accuracy is %.4f, so it only says whether the true class stays in the upper half of the ranking; the paper's top-5 is "+
				"for ImageNet's 1,000 classes (top-5 accuracies at the largest q are in cheney/summary.csv)", m.Name, m.Classes, 500/float64(m.Classes), m.Base5))
		}
		for _, top5 := range []bool{false, true} {
			if top5 && m.Classes < CheneyTop5MinClasses {
				continue
			}
			fig, err := m.Figure(cfg, top5)
			if err != nil {
				return nil, err
			}
			metric, suffix := "top-1", ""
			if top5 {
				metric, suffix = "top-5", "-top5"
			}
			caption := fmt.Sprintf("Performance as in the paper — %s accuracy over the unperturbed model's — of %s on %d %s test images when one layer (one curve each) is perturbed, "+
				"one panel per perturbation: synapse knockout (⌊q·n⌋ random weights and, separately, biases zeroed), node knockout (⌊q·units⌋ random filters/units with their biases zeroed), "+
				"Gaussian noise of std q × the variable's std, and draw (⌊q·n⌋ random entries replaced by values drawn from the variable's own entries; kernel and bias each their own). "+
				"Mean ± sample std of %d seeded draws per point; q = 0 is the unperturbed model (top-1 %.4f). Dashed: chance.",
				metric, m.Name, m.TestImages, m.Dataset, cfg.Draws, m.Base1)
			ref := FigureRef{Name: "cheney/accuracy-" + m.Name + suffix, Title: fmt.Sprintf("Cheney et al.: %s, %s accuracy vs q", m.Name, metric), Caption: caption, Claim: claim, Finding: finding}
			if top5 {
				ref.Finding = fmt.Sprintf("top-5 accuracy with K = %d classes; unperturbed %.4f", m.Classes, m.Base5)
			}
			if err := rep.SaveFigure(c, fig, ref); err != nil {
				return nil, err
			}
		}
	}
	if f := res.vggFinding(); f != "" {
		rep.Findings = append(rep.Findings, f)
	}
	header, table := res.HalfQTable()
	tfig, err := figures.QuantileTable("q at which a layer loses half of its accuracy above chance (top-1; \"> max\": never within the grid)", header, table)
	if err != nil {
		return nil, err
	}
	var summary []string
	for _, m := range res.Models {
		h := m.headline(cfg)
		if h.haveSynapseKO && h.q > 0 {
			v := "headline holds"
			if !h.ok {
				v = fmt.Sprintf("headline does not fully hold (top layers ≥ 70 %%: %v, first layer most fragile: %v, first layer near chance: %v)", h.topRobust, h.firstFragile, h.firstChance)
			}
			summary = append(summary, fmt.Sprintf("%s: %s; q = %.2f keeps %.0f %% in %s, ≥ %.0f %% in the top layers", m.Name, v, h.q, 100*h.firstKept, h.firstName, 100*h.minTop))
		}
	}
	if err := rep.SaveFigure(c, tfig, FigureRef{Name: "cheney/half-q", Title: "Cheney et al.: half-accuracy q per layer",
		Caption: "Linear interpolation of the mean top-1 accuracy curve; chance = 1/K.", Claim: claim, Finding: strings.Join(summary, "; ")}); err != nil {
		return nil, err
	}
	if err := rep.SaveTable(c, header, table, TableRef{Name: "cheney/half-q.csv", Title: "half-accuracy q", Caption: "per model and layer, for each perturbation type"}); err != nil {
		return nil, err
	}
	fh, ft := res.Table()
	if err := rep.SaveTable(c, fh, ft, TableRef{Name: "cheney/summary.csv", Title: "per-layer robustness and FI",
		Caption: "half-accuracy q, robustness score (mean kept fraction of the above-chance accuracy over the q grid), accuracy at the largest q, mean layer FI (exact and authors' conventions), odds and Jacobian norm"}); err != nil {
		return nil, err
	}
	if cfg.FIImages > 0 {
		ffig, err := res.FIFigure()
		if err != nil {
			return nil, err
		}
		var fs []string
		for _, m := range res.Models {
			ex, au, jn, _ := m.correlations(0)
			fs = append(fs, fmt.Sprintf("%s: ρ exact %s, authors %s, Jacobian norm %s", m.Name, cheneyFmtRho(ex), cheneyFmtRho(au), cheneyFmtRho(jn)))
		}
		if err := rep.SaveFigure(c, ffig, FigureRef{Name: "cheney/fi-vs-robustness", Title: "Layer FI vs robustness",
			Caption: fmt.Sprintf("Per layer (one point each): robustness to %s (mean kept fraction of the above-chance top-1 accuracy over the q grid) against, left, the mean over %d test images of the layer's FI "+
				"(scaling form, log p(true label)) divided by the odds (1−π_y)/π_y, exact and authors' conventions, and right, the Jacobian norm of the same perturbation. "+
				"The exact FI of a layer with ≥ K−1 generic parameters equals the odds against the label (SPEC A.3), so every layer sits at x = 1.", cfg.Perturbations[0].Name(), cfg.FIImages),
			Claim:   "(beyond the paper) does a layer's FI predict its robustness to weight perturbations?",
			Finding: strings.Join(fs, "; ")}); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// vggFinding compares the first layer's fragility of the AlexNet- and VGG-style models (the paper:
// "effects are weaker in VGG"), when both were run.
func (res *CheneyResult) vggFinding() string {
	var alex, vgg *CheneyModel
	for i := range res.Models {
		switch res.Models[i].Arch {
		case "alexnet-small":
			alex = &res.Models[i]
		case "vgg-small":
			vgg = &res.Models[i]
		}
	}
	if alex == nil || vgg == nil {
		return ""
	}
	ha, hv := alex.headline(res.Config), vgg.headline(res.Config)
	if !ha.haveSynapseKO || !hv.haveSynapseKO || ha.q == 0 {
		return ""
	}
	mean := func(m *CheneyModel) float64 {
		var s float64
		for _, l := range m.Layers {
			s += l.Curves[0].Robustness
		}
		return s / float64(len(m.Layers))
	}
	weaker := "weaker"
	if hv.firstKept < ha.firstKept {
		weaker = "not weaker"
	}
	return fmt.Sprintf("AlexNet vs VGG (%s, q = %.2f): the first layer keeps %.0f %% (%s) vs %.0f %% (%s) of the above-chance accuracy; mean robustness over layers %.2f vs %.2f: the first-layer effect is %s in VGG here",
		ha.pert, ha.q, 100*ha.firstKept, alex.Name, 100*hv.firstKept, vgg.Name, mean(alex), mean(vgg), weaker)
}

func cheneyFmtRho(r float64) string {
	if math.IsNaN(r) {
		return "undefined"
	}
	return fmt.Sprintf("%+.2f", r)
}
