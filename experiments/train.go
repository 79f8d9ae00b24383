package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

// The paper models: at paper scale, the first step trains ResNet50 and DenseNet121 on MNIST and
// (when its files are found) CIFAR-10 as the paper does (models.Train: Adam 1e-3 → 1e-4 in four
// stages, batch 128, dropout 0.2, L2 1e-4, raw pixels; 200 / 500 epochs) into the training
// directories PaperModelRef names (runs/<arch>-<dataset>, relative to the working directory), and
// keeps the best-validation checkpoint (runs/<arch>-<dataset>/best), which every later paper-scale
// experiment loads. A finished run is reused, an interrupted one resumed. At quick scale the zoo's
// trained models are used and nothing is trained (unless Archs is set).

func init() {
	register(Experiment{
		Name:    "train",
		Title:   "Paper models: ResNet50 and DenseNet121 trained on MNIST and CIFAR-10 (best-validation checkpoints)",
		Paper:   "Shu & Zhu 2019",
		Order:   -1,
		Summary: "train the paper's models (paper scale; resumable), keep the best-validation checkpoint, learning curves",
	}, DefaultTrainModelsConfig, RunTrainModels)
}

// streamTrainValid is the generator stream of the validation subset (TrainModelsConfig.ValidImages).
const streamTrainValid = 0x7472

// TrainModelsConfig configures the training step. Each (arch, dataset) pair is one training
// directory PaperModelRef(arch, dataset); a cluster runs one pair per job (`fisens submit`).
type TrainModelsConfig struct {
	Archs         []string // architectures (paper: resnet50, densenet121; quick: none, the zoo is used)
	Datasets      []string // datasets (paper: mnist, and cifar10 when its files are found)
	MNISTEpochs   int      // epochs on MNIST-shaped data (paper 200)
	CIFAR10Epochs int      // epochs on CIFAR-10 (paper 500)
	BatchSize     int      // training batch (paper 128)
	MaxSteps      int      // > 0: at most this many batches per epoch (smoke runs, tests)
	ValidImages   int      // validation images used for checkpoint selection (seeded subset; 0 = the whole validation split)
	EvalBatch     int      // batch of the validation passes
	// BNStatsImages > 0: after each epoch the batch norms' moving statistics are re-estimated over
	// this many training images with the epoch's weights ("precise batch norm",
	// models.TrainConfig.BNStatsImages; recorded in best/training.json). 0 (paper): Keras' moving
	// averages only — enough after an epoch of the real data, not after a few steps (smoke runs).
	BNStatsImages int
	InputScale    string  // input pixels: raw255 (paper) or unit
	Dropout       float64 // dropout after ReLUs (paper 0.2)
	L2            float64 // L2 weight decay on kernels (paper 1e-4)
}

// PaperArchs are the paper's two architectures.
var PaperArchs = []string{"resnet50", "densenet121"}

// PaperDatasets returns the datasets of the paper-scale runs: MNIST, and CIFAR-10 when its files
// are found (see `fisens data where`).
func PaperDatasets() []string {
	out := []string{datasets.MNIST}
	if _, err := datasets.Locate(datasets.CIFAR10); err == nil {
		out = append(out, datasets.CIFAR10)
	}
	return out
}

// DefaultTrainModelsConfig returns the settings of a scale.
func DefaultTrainModelsConfig(scale Scale, backendName string) TrainModelsConfig {
	cfg := TrainModelsConfig{MNISTEpochs: 200, CIFAR10Epochs: 500, BatchSize: models.PaperBatchSize,
		EvalBatch: models.DefaultEvalBatch, InputScale: string(datasets.Raw255), Dropout: 0.2, L2: 1e-4}
	if scale == Paper {
		cfg.Archs = append([]string(nil), PaperArchs...)
		cfg.Datasets = PaperDatasets()
	} else {
		cfg.Datasets = []string{datasets.MNIST}
	}
	return cfg
}

func (cfg TrainModelsConfig) check() error {
	switch {
	case cfg.MNISTEpochs < 1 || cfg.CIFAR10Epochs < 1:
		return fmt.Errorf("train: MNISTEpochs %d, CIFAR10Epochs %d: want ≥ 1", cfg.MNISTEpochs, cfg.CIFAR10Epochs)
	case cfg.BatchSize < 1 || cfg.EvalBatch < 1:
		return fmt.Errorf("train: BatchSize %d, EvalBatch %d: want ≥ 1", cfg.BatchSize, cfg.EvalBatch)
	case cfg.MaxSteps < 0 || cfg.ValidImages < 0 || cfg.BNStatsImages < 0:
		return fmt.Errorf("train: MaxSteps %d, ValidImages %d, BNStatsImages %d: want ≥ 0", cfg.MaxSteps, cfg.ValidImages, cfg.BNStatsImages)
	case cfg.Dropout < 0 || cfg.Dropout >= 1 || cfg.L2 < 0:
		return fmt.Errorf("train: Dropout %g, L2 %g: want 0 ≤ Dropout < 1, L2 ≥ 0", cfg.Dropout, cfg.L2)
	}
	if _, err := datasets.ParseScale(cfg.InputScale); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, a := range cfg.Archs {
		if !contains(models.Archs(), a) {
			return fmt.Errorf("train: unknown architecture %q (known: %s)", a, strings.Join(models.Archs(), ", "))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// epochsFor returns the configured epochs of a dataset.
func (cfg TrainModelsConfig) epochsFor(dataset string) int {
	if dataset == datasets.CIFAR10 {
		return cfg.CIFAR10Epochs
	}
	return cfg.MNISTEpochs
}

// TrainedModel is one training run of the step.
type TrainedModel struct {
	Arch, Dataset, Dir string
	Result             *models.TrainResult
	Reused             bool // finished earlier: loaded, not trained
}

// TrainedEpochs returns the number of finished epochs of the training run in dir (0 when none),
// read from its resume state; a run stopped inside an epoch counts only its finished epochs.
func TrainedEpochs(dir string) int { return fineTunedEpochs(dir) }

// TrainPaperModels trains (or resumes, or reuses) every (arch, dataset) pair of cfg.
func TrainPaperModels(ctx context.Context, c Common, cfg TrainModelsConfig) ([]TrainedModel, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var out []TrainedModel
	for _, ds := range cfg.Datasets {
		for _, arch := range cfg.Archs {
			tm, err := trainPaperModel(ctx, c, cfg, arch, ds)
			if err != nil {
				return out, err
			}
			out = append(out, tm)
		}
	}
	return out, nil
}

func trainPaperModel(ctx context.Context, c Common, cfg TrainModelsConfig, arch, dataset string) (TrainedModel, error) {
	dir := PaperModelRef(arch, dataset)
	tm := TrainedModel{Arch: arch, Dataset: dataset, Dir: dir}
	epochs := cfg.epochsFor(dataset)
	resultFile := filepath.Join(dir, "result.json")
	if TrainedEpochs(dir) >= epochs {
		if data, err := os.ReadFile(resultFile); err == nil {
			var res models.TrainResult
			if json.Unmarshal(data, &res) == nil && res.Epochs >= epochs && !res.Interrupted {
				c.Logf("   %s: trained earlier (%d epochs, best valid acc %.4f at epoch %d): reused", dir, res.Epochs, res.BestValidAcc, res.BestEpoch)
				tm.Result, tm.Reused = &res, true
				return tm, nil
			}
		}
	}
	info, err := datasets.DatasetInfo(dataset)
	if err != nil {
		return tm, err
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return tm, err
	}
	if b, err = gradientBackend(b, c.Backend); err != nil {
		return tm, err
	}
	resume := false
	for _, last := range []string{models.LastDir, models.LastDir + ".old"} {
		if _, err := os.Stat(filepath.Join(dir, last, models.ConfigFile)); err == nil {
			resume = true
		}
	}
	var mcfg models.Config
	if resume {
		if mcfg, err = models.LoadConfig(filepath.Join(dir, models.LastDir)); err != nil {
			if mcfg, err = models.LoadConfig(filepath.Join(dir, models.LastDir+".old")); err != nil {
				return tm, fmt.Errorf("train: resuming %s: %w", dir, err)
			}
		}
		if mcfg.Arch != arch {
			return tm, fmt.Errorf("train: %s holds a %s run, not %s: move it away", dir, mcfg.Arch, arch)
		}
	} else {
		mcfg = models.Config{Arch: arch, Height: info.H, Width: info.W, Channels: info.C, Classes: info.Classes,
			InputScale: cfg.InputScale, Dropout: cfg.Dropout, L2: cfg.L2, Seed: c.Seed}
	}
	m, err := models.New(mcfg)
	if err != nil {
		return tm, err
	}
	trainSet, err := datasets.Load(dataset, datasets.SplitTrain)
	if err != nil {
		return tm, err
	}
	validSet, err := datasets.Load(dataset, datasets.SplitValid)
	if err != nil {
		return tm, err
	}
	if cfg.ValidImages > 0 && cfg.ValidImages < validSet.Len() {
		validSet = validSet.Subset(datasets.SampleIndices(validSet.Len(), cfg.ValidImages, c.Seed, streamTrainValid))
	}
	c.Logf("   training %s on %s: %d train / %d valid images, %d epochs (batch %d%s%s), backend %s → %s",
		arch, dataset, trainSet.Len(), validSet.Len(), epochs, cfg.BatchSize, maxStepsNote(cfg.MaxSteps), bnStatsNote(cfg.BNStatsImages), backend.Name(c.Backend), dir)
	tc := models.TrainConfig{
		Epochs: epochs, BatchSize: cfg.BatchSize, Seed: c.Seed, Dir: dir, Resume: resume,
		EvalBatch: cfg.EvalBatch, MaxStepsPerEpoch: cfg.MaxSteps, BNStatsImages: cfg.BNStatsImages, Progress: c.Progress,
		Dataset: info.Name, SplitSeed: datasets.DefaultSplitSeed, Backend: backend.Name(c.Backend),
		Command: fmt.Sprintf("fisens reproduce --scale %s --only train (%s on %s)", c.Scale, arch, dataset),
	}
	res, err := models.Train(ctx, b, m, trainSet, validSet, tc)
	if res != nil {
		if data, jerr := json.MarshalIndent(res, "", "  "); jerr == nil {
			if werr := writeFileAtomic(resultFile, append(data, '\n')); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		return tm, fmt.Errorf("train: %s on %s: %w", arch, dataset, err)
	}
	tm.Result = res
	return tm, nil
}

func bnStatsNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(", batch-norm statistics re-estimated over %d training images after each epoch", n)
}

func maxStepsNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(", at most %d batches per epoch", n)
}

// writeFileAtomic writes data to a temporary file next to p and renames it onto p, so that a
// reader (another job of a cluster array) never sees a half-written file.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file: not replaced", p)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// TrainModelsResult is what the training step did.
type TrainModelsResult struct {
	Config TrainModelsConfig
	Models []TrainedModel
}

// RunTrainModels trains (or resumes, or reuses) the paper models of cfg.
func RunTrainModels(ctx context.Context, c Common, cfg TrainModelsConfig) (*TrainModelsResult, error) {
	res := &TrainModelsResult{Config: cfg}
	if len(cfg.Archs) == 0 {
		return res, nil
	}
	trained, err := TrainPaperModels(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	res.Models = trained
	return res, nil
}

// Report writes the table of training runs and the learning curves.
func (r *TrainModelsResult) Report(c Common) (*Report, error) {
	rep := newReport(c, "train", "Paper models: training and checkpoint selection", r.Config)
	if len(r.Config.Archs) == 0 {
		rep.Findings = append(rep.Findings, "no architectures to train (quick scale uses the zoo's trained models; set train.Archs to train)")
		return rep, nil
	}
	header := []string{"arch", "dataset", "dir", "epochs", "best_epoch", "best_valid_acc", "seconds", "reused"}
	var tab [][]string
	var series []figures.Series
	for _, tm := range r.Models {
		res := tm.Result
		tab = append(tab, []string{tm.Arch, tm.Dataset, tm.Dir, strconv.Itoa(res.Epochs), strconv.Itoa(res.BestEpoch),
			results.FormatFloat(res.BestValidAcc), fmt.Sprintf("%.1f", res.Seconds), strconv.FormatBool(tm.Reused)})
		s := figures.Series{Name: tm.Arch + " " + tm.Dataset}
		for _, e := range res.History {
			if e.ValidAcc == e.ValidAcc { // not NaN
				s.X = append(s.X, float64(e.Epoch))
				s.Y = append(s.Y, e.ValidAcc)
			}
		}
		if len(s.X) > 0 {
			series = append(series, s)
		}
		note := ""
		if !tm.Reused {
			note = bnStatsNote(r.Config.BNStatsImages)
		}
		rep.Findings = append(rep.Findings, fmt.Sprintf("%s on %s: %d epochs, best validation accuracy %.4f at epoch %d (kept in %s/best)%s",
			tm.Arch, tm.Dataset, res.Epochs, res.BestValidAcc, res.BestEpoch, tm.Dir, note))
	}
	if err := rep.SaveTable(c, header, tab, TableRef{Name: "train/models.csv", Title: "Paper models",
		Caption: "training runs: epochs, the best-validation epoch whose checkpoint the experiments load, its validation accuracy"}); err != nil {
		return nil, err
	}
	if len(series) == 0 {
		return rep, nil
	}
	fig, err := figures.Curves("Validation accuracy per epoch", "epoch", "validation accuracy", series,
		figures.XYOptions{Caption: "the checkpoint of the best epoch is kept and used by every experiment"})
	if err != nil {
		return nil, err
	}
	if err := rep.SaveFigure(c, fig, FigureRef{Name: "train/valid-accuracy", Title: "Paper models: validation accuracy",
		Caption: "validation accuracy after each epoch of each training run",
		Claim:   "the paper trains ResNet50 and DenseNet121 for 200 (MNIST) / 500 (CIFAR-10) epochs and keeps the best-validation model",
		Finding: strings.Join(rep.Findings, "; ")}); err != nil {
		return nil, err
	}
	return rep, nil
}
