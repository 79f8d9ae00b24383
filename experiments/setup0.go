package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
	"github.com/fisens/fisens/stats"
)

// Setup 0 of Shu & Zhu (SPEC A.6): simulated outliers. Per class, PerClass training images that
// every model classifies correctly become outlier bases (TrainPerClass for training, the rest for
// validation); each is overlaid with a random image of another class, both shifted independently
// by up to MaxShift pixels and combined by the pixel-wise maximum, keeping the base label
// (datasets.MakeOutliers). The models are fine-tuned on clean + outlier training images (validated
// on clean + outlier validation images), then the whole-image FI with the true label and the two
// Jacobian norms score clean training images (negatives) and the training outliers (positives);
// ROC and precision–recall curves compare the scores as outlier detectors.
//
// The authors (shu-hai/SA_DNN, MNIST_ResNet50_outlier.py) fine-tuned for 50 epochs at Adam 5e-4
// and 50 more at 1e-4 on all 54,000 clean training images + 2,700 outliers, and scored with their
// absolute ε = 1e-8 (MNIST_ResNet50_IF_setup0.py), until the outliers were learned; each overlay
// partner is an image of another class that is not itself a base, drawn without replacement, and the
// negatives are all clean training images. Both scales do the same by default: fine-tuning continues
// epoch by epoch until FitTarget (95 %) of the training outliers are classified as their (base) label,
// or MaxEpochs; partners are disjoint from the bases; the quick scale scores every clean image of its
// pool. PartnerReplacement and FitTarget = 0 with one epoch at 1e-4 give this project's earlier regime,
// in which the models had learned only ~40 % of the outliers (its ROC/PR then measured the detection
// of misclassified images).

func init() {
	register(Experiment{
		Name:    "setup0",
		Title:   "Setup 0: simulated outliers (FI vs Jacobian norms as outlier detectors)",
		Paper:   "Shu & Zhu 2019",
		Order:   0,
		Summary: "fine-tune on clean + simulated outliers, score FI and Jacobian norms, ROC and PR curves with AUCs",
	}, DefaultSetup0Config, RunSetup0)
}

// Setup0Config configures Setup 0. DefaultSetup0Config gives the quick and paper settings; every
// field is recorded in the report's settings.
type Setup0Config struct {
	Models  []string // model references (zoo:NAME, a model directory or a training directory)
	Dataset string   // dataset the models were trained on; "" → as recorded by the first model
	DataDir string   // folder with the dataset's files; "" → discovery (see `fisens data where`)

	// Pool is the number of clean training images (a seeded uniform subset of the training split;
	// 0 = the whole split) from which the outlier bases are drawn, on which the models are
	// fine-tuned together with the training outliers, and from which the clean images are scored.
	Pool          int
	PerClass      int // outlier base images per class (paper 300)
	TrainPerClass int // of those, training outliers; the rest are validation outliers (paper 270)
	MaxShift      int // shifts are integers in [−MaxShift, MaxShift] on both axes (paper 4)
	ValidClean    int // clean validation images (seeded subset; 0 = all) in the fine-tuning validation set
	Scored        int // clean training images of the pool scored as negatives (seeded subset; 0 = the whole pool)

	Epochs        int       // fine-tuning epochs (at least; see FitTarget)
	LearningRates []float64 // Adam learning rates of the fine-tuning stages (equal parts of Epochs; the last stage continues)
	BatchSize     int       // fine-tuning batch size
	// FitTarget: after Epochs, fine-tuning continues one epoch at a time until this fraction of the
	// training outliers is classified as their label (the authors trained until the outliers were
	// learned: ≥ 0.95), or MaxEpochs; 0: exactly Epochs.
	FitTarget float64
	MaxEpochs int
	// PartnerReplacement draws overlay partners uniformly with replacement from every image of another
	// class (this project's earlier choice); false (default): without replacement from non-bases (the authors').
	PartnerReplacement bool

	// AnyBase lets any pool image be an outlier base, not only the ones every model classifies
	// correctly (the authors' rule): for smoke runs of the paper path with barely trained models.
	AnyBase bool

	// FineTuneOnly stops after fine-tuning: the preparatory step of a sharded run (every shard then
	// reuses the fine-tuned models instead of training them concurrently into the same folder).
	FineTuneOnly bool

	FIBatch    int     // images per input-Jacobian batch when scoring
	EvalBatch  int     // batch of the prediction passes (choosing the bases, validation)
	AuthorsEps float64 // ε of the authors' convention, also computed for every scored image (their Setup 0 script: 1e-8)
}

// DefaultSetup0Config returns the settings of a scale. backendName is the resolved backend name
// ("go", "onnx:cpu", …); the pure-Go backend gets smaller quick sizes so that it still finishes.
func DefaultSetup0Config(scale Scale, backendName string) Setup0Config {
	cfg := Setup0Config{
		Models:        quickPairRefs,
		Dataset:       datasets.MNIST,
		Pool:          2000,
		PerClass:      30,
		TrainPerClass: 27,
		MaxShift:      4,
		ValidClean:    1000,
		Scored:        0,
		Epochs:        1,
		LearningRates: []float64{5e-4},
		FitTarget:     0.95,
		MaxEpochs:     8,
		BatchSize:     models.PaperBatchSize,
		FIBatch:       64,
		EvalBatch:     models.DefaultEvalBatch,
		AuthorsEps:    1e-8,
	}
	if scale == Paper {
		cfg.Models = paperPairRefs(datasets.MNIST)
		cfg.Pool, cfg.PerClass, cfg.TrainPerClass = 0, 300, 270
		cfg.ValidClean, cfg.Scored = 0, 0
		cfg.Epochs, cfg.LearningRates, cfg.MaxEpochs = 100, []float64{5e-4, 1e-4}, 200
		cfg.FIBatch = 32
		return cfg
	}
	if pureGoBackend(backendName) {
		cfg.Pool, cfg.PerClass, cfg.TrainPerClass = 600, 6, 5
		cfg.ValidClean, cfg.Scored, cfg.MaxEpochs = 100, 100, 4
		cfg.BatchSize, cfg.FIBatch, cfg.EvalBatch = 32, 16, 64
	}
	return cfg
}

func (cfg Setup0Config) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("setup0: Models is empty, want at least one model reference")
	case cfg.Pool < 0 || cfg.ValidClean < 0 || cfg.Scored < 0:
		return fmt.Errorf("setup0: Pool %d, ValidClean %d, Scored %d: want ≥ 0 (0 = all)", cfg.Pool, cfg.ValidClean, cfg.Scored)
	case cfg.PerClass < 1 || cfg.TrainPerClass < 1 || cfg.TrainPerClass > cfg.PerClass:
		return fmt.Errorf("setup0: PerClass %d, TrainPerClass %d: want 1 ≤ TrainPerClass ≤ PerClass", cfg.PerClass, cfg.TrainPerClass)
	case cfg.MaxShift < 0:
		return fmt.Errorf("setup0: MaxShift %d, want ≥ 0", cfg.MaxShift)
	case cfg.Epochs < 1 || len(cfg.LearningRates) == 0:
		return fmt.Errorf("setup0: Epochs %d, LearningRates %v: want ≥ 1 epoch and at least one learning rate", cfg.Epochs, cfg.LearningRates)
	case cfg.BatchSize < 1 || cfg.FIBatch < 1:
		return fmt.Errorf("setup0: BatchSize %d, FIBatch %d: want ≥ 1", cfg.BatchSize, cfg.FIBatch)
	case cfg.FitTarget < 0 || cfg.FitTarget > 1 || (cfg.FitTarget > 0 && cfg.MaxEpochs < cfg.Epochs):
		return fmt.Errorf("setup0: FitTarget %g, MaxEpochs %d: want a fraction in [0, 1] and MaxEpochs ≥ Epochs (%d)", cfg.FitTarget, cfg.MaxEpochs, cfg.Epochs)
	case !(cfg.AuthorsEps > 0) || math.IsInf(cfg.AuthorsEps, 1):
		return fmt.Errorf("setup0: AuthorsEps %g, want a finite value > 0", cfg.AuthorsEps)
	}
	return nil
}

// settings describes the configuration in words for the report (next to the raw fields).
func (cfg Setup0Config) settings() map[string]string {
	return map[string]string{
		"outliers per class": fmt.Sprintf("%d (%d train + %d valid), shifts up to %d pixels", cfg.PerClass, cfg.TrainPerClass, cfg.PerClass-cfg.TrainPerClass, cfg.MaxShift),
		"fine-tuning":        fmt.Sprintf("%s, Adam %v, batch %d, on the pool + training outliers; validated on %s clean validation images + validation outliers", cfg.epochsText(), cfg.LearningRates, cfg.BatchSize, sizeOrAll(cfg.ValidClean)),
		"overlay partners":   cfg.partnerText(),
		"negatives":          fmt.Sprintf("%s clean training images of the pool (%s)", sizeOrAll(cfg.Scored), sizeOrAll(cfg.Pool)),
		"FI":                 fmt.Sprintf("whole image, additive, log p(true label), exact convention (relative threshold %g); the authors' convention with ε = %g is recorded too", fisens.DefaultRelTol, cfg.AuthorsEps),
	}
}

// epochsText describes the fine-tuning length.
func (cfg Setup0Config) epochsText() string {
	if cfg.FitTarget > 0 {
		return fmt.Sprintf("at least %d epoch(s), then until %.0f %% of the training outliers are classified as their label (at most %d epochs)",
			cfg.Epochs, 100*cfg.FitTarget, cfg.MaxEpochs)
	}
	return fmt.Sprintf("%d epoch(s)", cfg.Epochs)
}

// partnerText describes how the overlay partners are drawn.
func (cfg Setup0Config) partnerText() string {
	if cfg.PartnerReplacement {
		return "uniformly with replacement from every image of another class (bases included)"
	}
	return "without replacement from images of another class that are not bases (the authors')"
}

func sizeOrAll(n int) string {
	if n <= 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

// Setup0Score is one scored image: a clean training image (Outlier false) or a training outlier.
type Setup0Score struct {
	Outlier bool
	Index   int // index in the pool (clean) or in the training outliers
	Source  int // index in the dataset's training files (of the base image for an outlier)
	fisens.Result
	AuthorsFI   float64 // FI in the authors' convention (absolute ε = AuthorsEps)
	AuthorsRank int
	MinProb     float64 // the smallest class probability (explains ranks below K − 1)
}

// MeasureAUC is one score's performance as an outlier detector.
type MeasureAUC struct {
	Measure string  // e.g. "FI"
	ROCAUC  float64 // area under the ROC curve
	AP      float64 // average precision (area under the PR steps)
}

// Setup0Model is one model's Setup 0 result.
type Setup0Model struct {
	Ref         string
	Name        string
	Classes     int // K
	FineTuneDir string
	FineTune    *models.TrainResult // the fine-tuning run (all sessions, when resumed)
	// Fitted[e] is the fraction of training outliers classified as their label after fine-tuning
	// epoch Epochs+e (the best-validation weights at that point); the last entry is the scored model's.
	Fitted      []float64
	FitEpochs   int           // epochs fine-tuned
	FittedValid float64       // the same fraction on the validation outliers
	ValidAcc    float64       // accuracy on the fine-tuning validation set (clean + validation outliers) of the scored model
	Scores      []Setup0Score // clean images first, then outliers (only this shard's under --shard)
	AUC         []MeasureAUC  // nil unless every score is present
}

// Setup0Result is what RunSetup0 returns.
type Setup0Result struct {
	Config        Setup0Config
	Dataset       string
	SplitSeed     int64
	Pool          int                // clean training images in the pool
	Eligible      int                // pool images every model classified correctly (possible bases)
	TrainOutliers int                // positives
	ValidOutliers int                // in the fine-tuning validation set only
	ScoredClean   int                // negatives
	Provenance    []datasets.Outlier // how each outlier was made (training outliers, then validation ones)
	Samples       []figures.Image    // the first training outlier of each class, captioned with its provenance
	Models        []Setup0Model
	Complete      bool // every model has every score (false when --shard computed only a part)
}

// Measure names of Setup 0, in figure order.
const (
	MeasureFI          = "FI"
	MeasureJacNorm     = "Jacobian norm ‖∂log π_y/∂x‖₂"
	MeasureSoftmaxNorm = "softmax Jacobian ‖∂π/∂x‖_F"
	MeasureOdds        = "odds (1−π_y)/π_y" // the confidence alone: FI's value wherever its rank is K − 1
)

// Value returns the score of a measure (MeasureFI, MeasureJacNorm, MeasureSoftmaxNorm).
func (s Setup0Score) Value(measure string) float64 {
	switch measure {
	case MeasureFI:
		return s.FI
	case MeasureJacNorm:
		return s.JacNorm
	case MeasureSoftmaxNorm:
		return s.SoftmaxJacNorm
	}
	return math.NaN()
}

// Curves returns the ROC/PR curves of the model's three scores.
func (m Setup0Model) Curves() []figures.Curve {
	var out []figures.Curve
	pos := make([]bool, len(m.Scores))
	for i, s := range m.Scores {
		pos[i] = s.Outlier
	}
	for _, name := range []string{MeasureFI, MeasureJacNorm, MeasureSoftmaxNorm} {
		v := make([]float64, len(m.Scores))
		for i, s := range m.Scores {
			v[i] = s.Value(name)
		}
		out = append(out, figures.Curve{Name: name, Scores: v, Positive: pos})
	}
	return out
}

// computeAUC fills m.AUC from the scores.
func (m *Setup0Model) computeAUC() error {
	m.AUC = nil
	for _, cv := range m.Curves() {
		_, _, auc, err := stats.ROC(cv.Scores, cv.Positive)
		if err != nil {
			return fmt.Errorf("setup0: %s: ROC of %s: %w", m.Name, cv.Name, err)
		}
		_, _, ap, err := stats.PR(cv.Scores, cv.Positive)
		if err != nil {
			return fmt.Errorf("setup0: %s: PR of %s: %w", m.Name, cv.Name, err)
		}
		m.AUC = append(m.AUC, MeasureAUC{Measure: cv.Name, ROCAUC: auc, AP: ap})
	}
	return nil
}

// RunSetup0 runs Setup 0: it builds the outliers, fine-tunes every model (resuming or reusing the
// checkpoint under OutDir/setup0/finetune/), and scores clean images and outliers into resumable
// CSVs OutDir/setup0/scores-<model>.csv (only c.Shard's units under --shard; merge the shard files
// with `fisens merge` and run again without --shard to get the curves).
func RunSetup0(ctx context.Context, c Common, cfg Setup0Config) (*Setup0Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	dir, err := c.Path("setup0")
	if err != nil {
		return nil, err
	}
	// What determines the results (not FineTuneOnly or the scoring batch sizes).
	fp := cfg
	fp.FineTuneOnly, fp.FIBatch, fp.EvalBatch = false, 0, 0
	if err := claimRunDir(dir, "setup0", struct {
		Config Setup0Config
		Seed   int64
	}{fp, c.Seed}); err != nil {
		return nil, err
	}

	// The models as trained, and the data they were trained on.
	orig := make([]*models.Model, len(cfg.Models))
	names, err := modelNames("setup0", cfg.Models)
	if err != nil {
		return nil, err
	}
	dataset, splitSeed := cfg.Dataset, int64(datasets.DefaultSplitSeed)
	for i, ref := range cfg.Models {
		lm, err := LoadModel(c, ref, dataset)
		if err != nil {
			return nil, fmt.Errorf("setup0: %w", err)
		}
		seed := lm.SplitSeed
		if i == 0 {
			dataset, splitSeed = lm.Dataset, seed
		} else if seed != splitSeed {
			return nil, fmt.Errorf("setup0: %s was trained with split seed %d, %s with %d: the clean training images would differ", ref, seed, cfg.Models[0], splitSeed)
		}
		orig[i] = lm.Model
	}
	opts := append([]datasets.Option{datasets.WithSplitSeed(splitSeed)}, dataOptions(c, cfg.DataDir)...)
	train, err := datasets.Load(dataset, datasets.SplitTrain, opts...)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	valid, err := datasets.Load(dataset, datasets.SplitValid, opts...)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	pool := train.Subset(datasets.SampleIndices(train.Len(), cfg.Pool, c.Seed, streamSetup0Pool)).Rename(dataset + "/train-pool")

	// Bases: pool images that every model classifies correctly.
	correct := make([]bool, pool.Len())
	for i := range correct {
		correct[i] = true
	}
	for i, m := range orig {
		logits, err := models.Predict(b, m, pool, cfg.EvalBatch, models.WithProgress(c.Progress), models.WithLabel("setup0: predict pool, "+names[i]))
		if err != nil {
			return nil, fmt.Errorf("setup0: %w", err)
		}
		for j, p := range models.Argmax(logits, m.NumClasses()) {
			correct[j] = correct[j] && (p == pool.Label(j) || cfg.AnyBase)
		}
	}
	eligible := 0
	for _, ok := range correct {
		if ok {
			eligible++
		}
	}
	trOut, vaOut, prov, err := datasets.MakeOutliers(pool, datasets.OutlierConfig{
		PerClass: cfg.PerClass, TrainPerClass: cfg.TrainPerClass, MaxShift: maxShiftArg(cfg.MaxShift), Seed: c.Seed,
		Keep: func(i int) bool { return correct[i] }, DisjointPartners: !cfg.PartnerReplacement,
	})
	if err != nil {
		return nil, fmt.Errorf("setup0: %w (enlarge Pool or lower PerClass)", err)
	}
	ftTrain, err := datasets.Concat(dataset+"/setup0-finetune-train", pool, trOut)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	ftValid, err := datasets.Concat(dataset+"/setup0-finetune-valid",
		valid.Subset(datasets.SampleIndices(valid.Len(), cfg.ValidClean, c.Seed, streamSetup0Valid)), vaOut)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	neg := datasets.SampleIndices(pool.Len(), cfg.Scored, c.Seed, streamSetup0Scored)
	c.Logf("setup0: %s pool %d (%d eligible bases), %d training + %d validation outliers, fine-tuning on %d images, scoring %d clean + %d outliers",
		dataset, pool.Len(), eligible, trOut.Len(), vaOut.Len(), ftTrain.Len(), len(neg), trOut.Len())

	res := &Setup0Result{Config: cfg, Dataset: dataset, SplitSeed: splitSeed, Pool: pool.Len(), Eligible: eligible,
		TrainOutliers: trOut.Len(), ValidOutliers: vaOut.Len(), ScoredClean: len(neg), Provenance: prov, Complete: true}
	seen := map[int]bool{}
	for _, o := range prov {
		if !o.Train || seen[o.Label] {
			continue
		}
		seen[o.Label] = true
		img, err := trOut.ReadImage(o.Index)
		if err != nil {
			return nil, fmt.Errorf("setup0: %w", err)
		}
		h, w, ch := trOut.Dims()
		res.Samples = append(res.Samples, figures.Image{Pix: img, H: h, W: w, C: ch,
			Caption: fmt.Sprintf("label %d + %d\nshifts (%d,%d) (%d,%d)", o.Label, o.PartnerLabel, o.BaseShift[0], o.BaseShift[1], o.PartnerShift[0], o.PartnerShift[1])})
	}
	// The fine-tuned models are this experiment's own: they train and are scored on gb.
	gb, err := gradientBackend(b, c.Backend)
	if err != nil {
		return nil, fmt.Errorf("setup0: %w", err)
	}
	for i, ref := range cfg.Models {
		m, err := orig[i].Clone()
		if err != nil {
			return nil, fmt.Errorf("setup0: %w", err)
		}
		defer m.Close() // the fine-tuned copy is this experiment's own
		sm := Setup0Model{Ref: ref, Name: names[i], Classes: m.NumClasses(), FineTuneDir: filepath.Join(dir, "finetune", names[i])}
		sm.FineTune, err = fineTuneSetup0(ctx, c, gb, m, &sm, ftTrain, ftValid, trOut, vaOut, cfg, dataset, splitSeed)
		if err != nil {
			return nil, fmt.Errorf("setup0: fine-tuning %s: %w", ref, err)
		}
		if cfg.FineTuneOnly {
			res.Complete = false
			res.Models = append(res.Models, sm)
			continue
		}
		var complete bool
		sm.Scores, complete, err = scoreSetup0(ctx, c, gb, m, sm.Name, filepath.Join(dir, "scores-"+names[i]+".csv"), pool, neg, trOut, cfg)
		if err != nil {
			return nil, fmt.Errorf("setup0: scoring %s: %w", ref, err)
		}
		if complete {
			if err := sm.computeAUC(); err != nil {
				return nil, err
			}
		} else {
			res.Complete = false
		}
		res.Models = append(res.Models, sm)
	}
	return res, nil
}

// maxShiftArg maps MaxShift to datasets.OutlierConfig's convention (0 there means the default 4).
func maxShiftArg(s int) int {
	if s == 0 {
		return -1
	}
	return s
}

// fineTuneSetup0 fine-tunes m in sm.FineTuneDir, resuming (or just reloading) an earlier run there,
// for cfg.Epochs and then, with FitTarget, one epoch at a time until the training outliers are
// fitted (or MaxEpochs); it records the fitted fractions in sm.
func fineTuneSetup0(ctx context.Context, c Common, b compute.Backend, m *models.Model, sm *Setup0Model, train, valid, trOut, vaOut *datasets.Set,
	cfg Setup0Config, dataset string, splitSeed int64) (*models.TrainResult, error) {
	fitted := func(set *datasets.Set) (float64, error) {
		logits, err := models.Predict(b, m, set, cfg.EvalBatch)
		if err != nil {
			return 0, err
		}
		n := 0
		for j, p := range models.Argmax(logits, m.NumClasses()) {
			if p == set.Label(j) {
				n++
			}
		}
		return float64(n) / float64(max(set.Len(), 1)), nil
	}
	var res *models.TrainResult
	// Fitting the outliers is the point: with FitTarget the model kept is the last epoch's, not the
	// best-validation one (which would undo the fitting when clean validation accuracy dips).
	tv := valid
	if cfg.FitTarget > 0 {
		tv = nil
	}
	for e := cfg.Epochs; ; e++ {
		var err error
		if res, err = fineTuneEpochs(ctx, c, b, m, sm.FineTuneDir, train, tv, cfg, e, dataset, splitSeed); err != nil {
			return res, err
		}
		f, err := fitted(trOut)
		if err != nil {
			return res, err
		}
		sm.Fitted, sm.FitEpochs = append(sm.Fitted, f), e
		c.Logf("setup0: %s after %d epoch(s): %.1f %% of the training outliers classified as their label", sm.Name, e, 100*f)
		if cfg.FitTarget <= 0 || f >= cfg.FitTarget || e >= cfg.MaxEpochs || (c.Shard.N > 1 && fineTunedEpochs(sm.FineTuneDir) <= e) {
			break
		}
	}
	var err error
	if sm.FittedValid, err = fitted(vaOut); err != nil {
		return res, err
	}
	sm.ValidAcc, err = fitted(valid)
	return res, err
}

// fineTuneEpochs fine-tunes m in dir up to epochs in all, resuming (or just reloading) an earlier run there.
func fineTuneEpochs(ctx context.Context, c Common, b compute.Backend, m *models.Model, dir string, train, valid *datasets.Set,
	cfg Setup0Config, epochs int, dataset string, splitSeed int64) (*models.TrainResult, error) {
	tc := models.TrainConfig{
		Epochs: epochs, BatchSize: cfg.BatchSize, LearningRates: cfg.LearningRates, Seed: c.Seed,
		StepEpochs: models.DefaultStepEpochs(cfg.Epochs, len(cfg.LearningRates)),
		Dir:        dir, EvalBatch: cfg.EvalBatch, Progress: c.Progress,
		Dataset: dataset + " (setup0: clean + simulated outliers)", SplitSeed: splitSeed, Backend: c.Backend,
		Command: "fisens reproduce --only setup0 (fine-tuning)",
	}
	for _, last := range []string{models.LastDir, models.LastDir + ".old"} {
		if _, err := os.Stat(filepath.Join(dir, last, models.ConfigFile)); err == nil {
			tc.Resume = true
		}
	}
	if c.Shard.N > 1 && fineTunedEpochs(dir) < cfg.Epochs {
		return nil, fmt.Errorf("shard %s: the fine-tuned model is not ready in %s; fine-tune once before the shards run "+
			"(fisens reproduce --only setup0 --set setup0.FineTuneOnly=true, without --shard, into the same --out)", c.Shard, dir)
	}
	if tc.Resume {
		c.Logf("setup0: reusing the fine-tuning run in %s", dir)
	}
	return models.Train(ctx, b, m, train, valid, tc)
}

// gradientBackend returns the backend to fine-tune and score on: b itself, except for the plain
// pure-Go backend ("go"), whose parallel op scheduler deadlocks on the training and input-Jacobian
// graphs of resnet-small on a 2-core machine (gomlx/compute v0.1.0: matmuls that fan out with
// workerspool.Saturate inside ops that already occupy every pool slot wait for each other
// forever). There it uses "go:ops_sequential", which runs one op at a time (each op still uses
// every core).
func gradientBackend(b compute.Backend, flag string) (compute.Backend, error) {
	if backend.Name(flag) != "go" {
		return b, nil
	}
	return backend.New("go:ops_sequential")
}

// fineTunedEpochs returns the epochs completed by the training run in dir (0 if none), from
// last/train_state.json written by models.Train.
func fineTunedEpochs(dir string) int {
	for _, last := range []string{models.LastDir, models.LastDir + ".old"} {
		data, err := os.ReadFile(filepath.Join(dir, last, "train_state.json"))
		if err != nil {
			continue
		}
		var st struct {
			Epoch int `json:"epoch"`
			Step  int `json:"step"`
		}
		if json.Unmarshal(data, &st) == nil && st.Step == 0 {
			return st.Epoch
		}
	}
	return 0
}

// setup0Columns are the columns of the per-image score files.
var setup0Columns = []results.Column{results.TextCol("set"), results.IntCol("index"), results.IntCol("source_index"),
	results.IntCol("label"), results.IntCol("pred"), results.FloatCol("prob"), results.FloatCol("bound"), results.FloatCol("fi"),
	results.IntCol("rank"), results.FloatCol("fi_authors"), results.IntCol("rank_authors"), results.FloatCol("jac_norm"),
	results.FloatCol("softmax_jac_norm"), results.FloatCol("min_prob")}

// setup0Header is the header of the per-image score files.
var setup0Header = results.Spec{Columns: setup0Columns}.Header()

// scoreSetup0 scores the clean images neg (indices into pool) and every training outlier with
// the fine-tuned model m, appending rows to the shard's CSV; it returns every score in the file
// and whether the file holds all of them.
func scoreSetup0(ctx context.Context, c Common, b compute.Backend, m *models.Model, name, base string,
	pool *datasets.Set, neg []int, outliers *datasets.Set, cfg Setup0Config) ([]Setup0Score, bool, error) {
	type unit struct {
		outlier bool
		index   int
	}
	units := make([]unit, 0, len(neg)+outliers.Len())
	for _, i := range neg {
		units = append(units, unit{false, i})
	}
	for i := 0; i < outliers.Len(); i++ {
		units = append(units, unit{true, i})
	}
	setName := func(u unit) string {
		if u.outlier {
			return "outlier"
		}
		return "clean"
	}
	key := func(u unit) []string { return []string{setName(u), strconv.Itoa(u.index)} }
	// The run directory's run.json fingerprints the configuration; the table records what it holds.
	f, err := openTable(c, base, results.Spec{Columns: setup0Columns, Key: []string{"set", "index"}, Settings: results.Settings{
		"experiment": "setup0", "model": name, "authors_eps": results.FormatFloat(cfg.AuthorsEps),
		"measure": "whole-image input FI of the fine-tuned model, log p(true), exact and authors' conventions"}})
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	path := f.Path()
	var todo []unit
	for k, u := range units {
		if c.Shard.Owns(k) && !f.Has(key(u)...) {
			todo = append(todo, u)
		}
	}
	if len(todo) > 0 {
		scale, err := m.InputScale()
		if err != nil {
			return nil, false, err
		}
		an, err := fisens.NewAnalyzer(b, m)
		if err != nil {
			return nil, false, err
		}
		defer an.Close()
		h, w, ch := pool.Dims()
		exact := fisens.Options{Objective: fisens.LogProbTrue}
		authors := fisens.Options{Objective: fisens.LogProbTrue, Convention: fisens.Authors, Eps: cfg.AuthorsEps}
		bar := progress.New(c.Progress, "setup0: FI "+name, len(todo))
		for start := 0; start < len(todo); start += cfg.FIBatch {
			if err := ctx.Err(); err != nil {
				bar.Done()
				return nil, false, err
			}
			batch := todo[start:min(start+cfg.FIBatch, len(todo))]
			x := make([]float32, 0, len(batch)*h*w*ch)
			labels := make([]int, len(batch))
			sources := make([]int, len(batch))
			for j, u := range batch {
				set := pool
				if u.outlier {
					set = outliers
				}
				img, err := set.ReadBatch([]int{u.index}, scale)
				if err != nil {
					return nil, false, err
				}
				x = append(x, img...)
				labels[j], sources[j] = set.Label(u.index), set.SourceIndex(u.index)
			}
			jac, err := an.InputJacobian(fisens.Batch{X: x, Shape: []int{len(batch), h, w, ch}, Labels: labels})
			if err != nil {
				return nil, false, err
			}
			ex, err := jac.FI(nil, fisens.Additive, exact)
			if err != nil {
				return nil, false, err
			}
			au, err := jac.FI(nil, fisens.Additive, authors)
			if err != nil {
				return nil, false, err
			}
			recs := make([][]string, len(batch))
			for j, u := range batch {
				r := ex[j]
				recs[j] = []string{setName(u), strconv.Itoa(u.index), strconv.Itoa(sources[j]), strconv.Itoa(r.Label), strconv.Itoa(r.Pred),
					results.FormatFloat(r.Prob), results.FormatFloat(r.Bound), results.FormatFloat(r.FI), strconv.Itoa(r.Rank),
					results.FormatFloat(au[j].FI), strconv.Itoa(au[j].Rank), results.FormatFloat(r.JacNorm), results.FormatFloat(r.SoftmaxJacNorm), results.FormatFloat(minProb(jac.LogitsOf(j)))}
			}
			if _, err := f.Append(recs...); err != nil {
				return nil, false, err
			}
			bar.Add(len(batch))
		}
		bar.Done()
	}
	// Read back everything the table holds (earlier sessions included).
	out := make([]Setup0Score, 0, len(units))
	for _, u := range units {
		if rec := f.Row(key(u)...); rec != nil {
			s, err := parseSetup0Row(rec)
			if err != nil {
				return nil, false, fmt.Errorf("%s, %s %d: %w", path, setName(u), u.index, err)
			}
			out = append(out, s)
		}
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	return out, len(out) == len(units), nil
}

func parseSetup0Row(rec []string) (Setup0Score, error) {
	p := results.Parser{Row: rec}
	var s Setup0Score
	switch p.Text(0) {
	case "clean":
	case "outlier":
		s.Outlier = true
	default:
		return s, fmt.Errorf("set %q, want clean or outlier", p.Text(0))
	}
	s.Index, s.Source, s.Label, s.Pred = p.Int(1), p.Int(2), p.Int(3), p.Int(4)
	s.Prob, s.Bound, s.FI, s.Rank = p.Float(5), p.Float(6), p.Float(7), p.Int(8)
	s.AuthorsFI, s.AuthorsRank, s.JacNorm, s.SoftmaxJacNorm, s.MinProb = p.Float(9), p.Int(10), p.Float(11), p.Float(12), p.Float(13)
	return s, p.Err
}

// AtBound reports whether FI attains the odds bound (1 − π_y)/π_y to a relative 1e-6 (SPEC A.3:
// equality holds when the rank is K − 1; numerically also when the dropped directions belong to
// classes of negligible probability, which carry no weight in ∇f).
func AtBound(r fisens.Result) bool {
	return math.Abs(r.FI-r.Bound) <= 1e-6*r.Bound+1e-300
}

// minProb returns the smallest class probability of logits z (NaN if they are not finite).
func minProb(z []float64) float64 {
	pi, _, err := fisens.Softmax(z)
	if err != nil {
		return math.NaN()
	}
	m := math.Inf(1)
	for _, p := range pi {
		m = math.Min(m, p)
	}
	return m
}

// Figures returns one ROC + PR figure per model (nil for an incomplete, sharded run).
func (r *Setup0Result) Figures() ([]*figures.Figure, error) {
	if !r.Complete {
		return nil, nil
	}
	var out []*figures.Figure
	for _, m := range r.Models {
		fig, err := figures.ROCPR(r.figureTitle(m), m.Curves())
		if err != nil {
			return nil, fmt.Errorf("setup0: %s: %w", m.Name, err)
		}
		out = append(out, fig)
	}
	return out, nil
}

// SamplesFigure shows the first training outlier of each class.
func (r *Setup0Result) SamplesFigure() (*figures.Figure, error) {
	if len(r.Samples) == 0 {
		return nil, errors.New("setup0: no outlier samples")
	}
	return figures.ImageGrid("Setup 0: simulated outliers (label + overlaid class, shifts of base and overlay)", r.Samples, min(len(r.Samples), 5))
}

func (r *Setup0Result) figureTitle(m Setup0Model) string {
	return fmt.Sprintf("Setup 0, %s: %d simulated outliers vs %d clean training images", m.Name, r.TrainOutliers, r.ScoredClean)
}

// boundStats counts the model's scores whose exact FI attains the odds bound, whose rank is K − 1,
// whose authors'-convention FI agrees with the exact one (to 1e-6), and whose authors' FI kept K
// directions (one more than G has: Σ_k ∂π_k/∂x = 0, so the K-th singular value is rounding noise)
// or exceeds the bound by more than 1e-6; maxMinProb is the largest smallest-class probability
// among the images of rank below K − 1 (0 if none).
func (m Setup0Model) boundStats() (atBound, fullRank, authorsSame, authorsFullK, authorsAbove int, maxMinProb, maxAuthorsRatio float64) {
	for _, s := range m.Scores {
		if AtBound(s.Result) {
			atBound++
		}
		if s.Rank == m.Classes-1 {
			fullRank++
		} else {
			maxMinProb = math.Max(maxMinProb, s.MinProb)
		}
		if math.Abs(s.AuthorsFI-s.FI) <= 1e-6*math.Max(s.FI, 1e-300) {
			authorsSame++
		}
		if s.AuthorsRank >= m.Classes {
			authorsFullK++
		}
		if s.AuthorsFI > s.Bound*(1+1e-6) {
			authorsAbove++
		}
		if s.Bound > 0 {
			maxAuthorsRatio = math.Max(maxAuthorsRatio, s.AuthorsFI/s.Bound)
		}
	}
	return
}

// oddsAUC returns the ROC-AUC and AP of ranking by the odds (1 − π_y)/π_y alone.
func (m Setup0Model) oddsAUC() (MeasureAUC, error) {
	v := make([]float64, len(m.Scores))
	pos := make([]bool, len(m.Scores))
	for i, s := range m.Scores {
		v[i], pos[i] = s.Bound, s.Outlier
	}
	_, _, auc, err := stats.ROC(v, pos)
	if err != nil {
		return MeasureAUC{}, err
	}
	_, _, ap, err := stats.PR(v, pos)
	return MeasureAUC{Measure: MeasureOdds, ROCAUC: auc, AP: ap}, err
}

// rankNote says how many images had rank K − 1 and what the others' smallest class probability was.
func rankNote(K, fullRank, n int, maxMinProb float64) string {
	if fullRank == n {
		return fmt.Sprintf("rank %d = K−1 for all %d", K-1, n)
	}
	return fmt.Sprintf("rank %d = K−1 for %d of %d; the other %d had a class of probability ≤ %.2g, whose direction falls below the relative eigenvalue threshold %g",
		K-1, fullRank, n, n-fullRank, maxMinProb, fisens.DefaultRelTol)
}

// authorsNote compares the authors' convention with the exact FI in words.
func authorsNote(name string, eps float64, K, n, same, fullK, above int, maxRatio float64) string {
	txt := fmt.Sprintf("%s: the authors' convention (absolute ε = %g) gave the exact FI (to 1e-6) for %d of %d images", name, eps, same, n)
	if fullK > 0 {
		txt += fmt.Sprintf("; it kept %d = K singular directions for %d images (one more than the Fisher matrix has, since Σ_k ∂π_k/∂x = 0: a rounding-noise direction above ε)", K, fullK)
	}
	if above > 0 {
		txt += fmt.Sprintf("; its FI exceeded the bound by more than 1e-6 for %d images (at most by a relative %.2g)", above, math.Max(maxRatio-1, 0))
	}
	return txt
}

// fitHistory lists the fitted fractions epoch by epoch (empty for a single entry).
func fitHistory(f []float64, first int) string {
	if len(f) < 2 {
		return ""
	}
	var parts []string
	for i, v := range f {
		parts = append(parts, fmt.Sprintf("%d: %.0f %%", first+i, 100*v))
	}
	return "; outliers fitted after epoch " + strings.Join(parts, ", ")
}

// fitVerdict says which question the ROC/PR curves answer.
func fitVerdict(cfg Setup0Config, fitted float64) string {
	if fitted >= 0.95 {
		return " — the outliers are learned, as in the authors' regime (≥ 95 %): the curves measure the detection of fitted outliers"
	}
	return fmt.Sprintf(" — below the authors' regime (≥ 95 %% fitted; target %.0f %%): the %.1f %% of the outliers still misclassified are easy positives for every score, "+
		"so part of the curves measures the detection of misclassified images (raise MaxEpochs or the learning rate)", 100*cfg.FitTarget, 100*(1-fitted))
}

// outlierAcc returns the fraction of scored outliers (and clean images) the fine-tuned model
// classifies as their label.
func (m Setup0Model) outlierAcc() (outliers, clean float64) {
	var no, nc, co, cc float64
	for _, s := range m.Scores {
		ok := 0.0
		if s.Pred == s.Label {
			ok = 1
		}
		if s.Outlier {
			no, co = no+1, co+ok
		} else {
			nc, cc = nc+1, cc+ok
		}
	}
	return co / math.Max(no, 1), cc / math.Max(nc, 1)
}

func (m Setup0Model) auc(measure string) MeasureAUC {
	for _, a := range m.AUC {
		if a.Measure == measure {
			return a
		}
	}
	return MeasureAUC{Measure: measure, ROCAUC: math.NaN(), AP: math.NaN()}
}

// Report saves the figures (OutDir/setup0/rocpr-MODEL.{svg,png}) and the AUC table, and states
// the findings computed from the results. For an incomplete (sharded) run it only says what to
// merge.
func (res *Setup0Result) Report(c Common) (*Report, error) {
	cfg := res.Config
	rep := newReport(c, "setup0", "Setup 0: simulated outliers", cfg)
	for k, v := range cfg.settings() {
		rep.Settings[k] = v
	}
	if cfg.FineTuneOnly {
		for _, m := range res.Models {
			rep.Findings = append(rep.Findings, fmt.Sprintf("%s: fine-tuned in %s (FineTuneOnly: no scores computed; run the shards or a full run next)", m.Name, m.FineTuneDir))
		}
		return rep, nil
	}
	if !res.Complete {
		var files []string
		for _, m := range res.Models {
			files = append(files, c.Shard.Path(filepath.Join(c.OutDir, "setup0", "scores-"+m.Name+".csv")))
		}
		rep.Findings = append(rep.Findings, shardNote(c, files...))
		return rep, nil
	}
	figs, err := res.Figures()
	if err != nil {
		return nil, err
	}
	var table [][]string
	for i, m := range res.Models {
		K := m.Classes
		atBound, fullRank, authorsSame, authorsK, authorsAbove, maxMinProb, maxRatio := m.boundStats()
		odds, err := m.oddsAUC()
		if err != nil {
			return nil, fmt.Errorf("setup0: %s: %w", m.Name, err)
		}
		n := len(m.Scores)
		fi, jn, sn := m.auc(MeasureFI), m.auc(MeasureJacNorm), m.auc(MeasureSoftmaxNorm)
		oAcc, cAcc := m.outlierAcc()
		ftAcc := math.NaN()
		if m.FineTune != nil {
			ftAcc = m.FineTune.BestValidAcc
		}
		if m.ValidAcc > 0 {
			ftAcc = m.ValidAcc
		}
		finding := fmt.Sprintf("%s: ROC-AUC FI %.3f vs Jacobian norm %.3f vs softmax Jacobian norm %.3f; AP %.3f vs %.3f vs %.3f (%d outliers, %d clean)",
			m.Name, fi.ROCAUC, jn.ROCAUC, sn.ROCAUC, fi.AP, jn.AP, sn.AP, res.TrainOutliers, res.ScoredClean)
		rep.Findings = append(rep.Findings, finding,
			fmt.Sprintf("%s: whole-image FI equalled the odds bound (1−π_y)/π_y (to 1e-6) for %d of %d scored images (%s); ranking by the odds alone gives ROC-AUC %.3f, AP %.3f",
				m.Name, atBound, n, rankNote(K, fullRank, n, maxMinProb), odds.ROCAUC, odds.AP),
			authorsNote(m.Name, cfg.AuthorsEps, K, n, authorsSame, authorsK, authorsAbove, maxRatio),
			fmt.Sprintf("%s after fine-tuning (%d epoch(s)%s): validation accuracy (clean + outliers) %.4f; it classifies %.1f %% of the training outliers "+
				"(%.1f %% of the validation outliers) and %.1f %% of the scored clean images as their label%s",
				m.Name, m.FitEpochs, fitHistory(m.Fitted, cfg.Epochs), ftAcc, 100*oAcc, 100*m.FittedValid, 100*cAcc, fitVerdict(cfg, oAcc)))
		caption := fmt.Sprintf("ROC (left) and precision–recall (right) curves of three scores separating the %d training outliers (positives) "+
			"from %d clean training images (negatives) after fine-tuning %s on clean + outlier images (%d epoch(s), Adam %v; %.1f %% of the outliers fitted). "+
			"FI: whole-image additive perturbation, objective log π_(true label). Jacobian norm: the authors' ‖∂log π_y/∂x‖₂; "+
			"softmax Jacobian: Novak et al.'s ‖∂π/∂x‖_F. The image has far more than K−1 = %d directions, so FI = (1−π_y)/π_y (SPEC A.3); "+
			"here FI equalled that bound for %d of %d images (%s): FI ranks the images as the odds against the true label do.",
			res.TrainOutliers, res.ScoredClean, m.Name, m.FitEpochs, cfg.LearningRates, 100*oAcc, K-1, atBound, n, rankNote(K, fullRank, n, maxMinProb))
		ref := FigureRef{Name: "setup0/rocpr-" + m.Name, Title: res.figureTitle(m), Caption: caption,
			Claim:   "FI separates the simulated outliers from clean images better than the Jacobian norm (ROC and PR curves; the AUCs were not recovered)",
			Finding: finding}
		if err := rep.SaveFigure(c, figs[i], ref); err != nil {
			return nil, err
		}
		for _, a := range append(append([]MeasureAUC(nil), m.AUC...), odds) {
			table = append(table, []string{m.Name, a.Measure, fmt.Sprintf("%.4f", a.ROCAUC), fmt.Sprintf("%.4f", a.AP),
				strconv.Itoa(res.TrainOutliers), strconv.Itoa(res.ScoredClean)})
		}
	}
	if sf, err := res.SamplesFigure(); err == nil {
		if err := rep.SaveFigure(c, sf, FigureRef{Name: "setup0/outliers", Title: "Setup 0: examples of simulated outliers",
			Caption: fmt.Sprintf("The first training outlier of each class: a training image every model classified correctly (its label is kept) "+
				"overlaid by pixel-wise maximum with a random image of another class, each shifted independently by integers in [−%d, %d] "+
				"(rows, columns). %d training and %d validation outliers in all; provenance of each in setup0/outliers.csv.",
				cfg.MaxShift, cfg.MaxShift, res.TrainOutliers, res.ValidOutliers)}); err != nil {
			return nil, err
		}
	}
	var prov [][]string
	for _, o := range res.Provenance {
		set := "valid"
		if o.Train {
			set = "train"
		}
		prov = append(prov, []string{set, strconv.Itoa(o.Index), strconv.Itoa(o.Label), strconv.Itoa(o.Base), strconv.Itoa(o.Partner), strconv.Itoa(o.PartnerLabel),
			strconv.Itoa(o.BaseShift[0]), strconv.Itoa(o.BaseShift[1]), strconv.Itoa(o.PartnerShift[0]), strconv.Itoa(o.PartnerShift[1])})
	}
	if err := rep.SaveTable(c, []string{"set", "index", "label", "base_pool_index", "partner_pool_index", "partner_label",
		"base_shift_rows", "base_shift_cols", "partner_shift_rows", "partner_shift_cols"}, prov,
		TableRef{Name: "setup0/outliers.csv", Title: "Setup 0 outliers", Caption: "how each simulated outlier was made (indices into the seeded pool of clean training images)"}); err != nil {
		return nil, err
	}
	if err := rep.SaveTable(c, []string{"model", "measure", "roc_auc", "ap", "positives", "negatives"}, table,
		TableRef{Name: "setup0/auc.csv", Title: "Setup 0 AUCs", Caption: "ROC-AUC and average precision of each score and model; per-image scores in setup0/scores-MODEL.csv"}); err != nil {
		return nil, err
	}
	return rep, nil
}

// ---- Helpers shared by setups 0 and 2 and Table 1 -------------------------------------------------

// Generator streams of the seeded subsets (distinct, so that the subsets are independent).
const (
	streamSetup0Pool   = 0x5e70_0001
	streamSetup0Valid  = 0x5e70_0002
	streamSetup0Scored = 0x5e70_0003
	streamSetup2Images = 0x5e72_0001
	streamTable1       = 0x7ab1_0001
)

// claimRunDir records what determines an experiment's results (as JSON) in dir/run.json, or checks
// that the earlier run whose results dir holds was made with the same settings, so that resuming
// never mixes results of different configurations.
func claimRunDir(dir, exp string, what any) error {
	data, err := json.MarshalIndent(what, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", exp, err)
	}
	data = append(data, '\n')
	p := filepath.Join(dir, "run.json")
	old, err := os.ReadFile(p)
	switch {
	case err == nil:
		if !bytes.Equal(old, data) {
			was, err1 := results.SettingsOf(json.RawMessage(old))
			now, err2 := results.SettingsOf(json.RawMessage(data))
			diff := strings.Join(strings.Fields(string(data)), " ")
			if err1 == nil && err2 == nil && len(was.Diff(now)) > 0 {
				diff = results.DiffText(was, now)
			}
			return fmt.Errorf("%s: %s holds results of another configuration (%s; see %s): use another --out or move that folder away",
				exp, dir, diff, p)
		}
		return nil
	case !os.IsNotExist(err):
		return fmt.Errorf("%s: %w", exp, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
