package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models/ops"
)

// PaperLearningRates are the paper's Adam learning rates in order (SPEC A.5). The authors' code
// (shu-hai/SA_DNN, MNIST_ResNet50.py) trains each for a quarter of the epochs: 1–50, 51–100,
// 101–150, 151–200 of 200 MNIST epochs.
var PaperLearningRates = []float64{1e-3, 5e-4, 2.5e-4, 1e-4}

// PaperBatchSize is the paper's training batch size.
const PaperBatchSize = 128

// Files of a training directory besides best/ and last/.
const (
	trainStateFile = "train_state.json" // in last/: where to resume
	trainInfoFile  = "training.json"    // in best/: how the model was trained
	stateFormat    = 1
	streamBNStats  = 0x626e // stream of the images of the batch-norm statistics (BNStatsImages)
)

// TrainConfig configures Train. The zero value (with Epochs set) trains as in the paper: Adam with
// the stepped learning rates PaperLearningRates over equal parts of the epochs, batch 128, softmax
// cross-entropy plus Config.L2 · Σ w² over conv/dense kernels, keeping the best-validation model.
type TrainConfig struct {
	Epochs        int       // number of epochs (paper: 200 for MNIST, 500 for CIFAR-10); required
	BatchSize     int       // training batch size (<= 0: PaperBatchSize); the last partial batch of an epoch is dropped
	LearningRates []float64 // Adam learning rate of each stage (nil: PaperLearningRates)
	// StepEpochs[i] is the epoch (0-based) at which stage i+1 starts; len(LearningRates)-1 increasing
	// values. nil: the stages split the epochs in equal parts (DefaultStepEpochs).
	StepEpochs []int
	// Seed of the per-epoch shuffles. Initialisation and dropout draw from the model's random state,
	// seeded by Config.Seed (and saved with the state, so a resumed run continues the same stream).
	Seed int64

	Dir    string // training directory: best/ (best-validation model) and last/ (resume state); "" keeps nothing on disk
	Resume bool   // continue from Dir/last (it must exist); without it, Train refuses a Dir that already has a run

	EvalBatch        int // batch of the validation passes (<= 0: DefaultEvalBatch)
	MaxStepsPerEpoch int // > 0: at most this many batches per epoch (quick trials, tests)
	// BNStatsImages > 0: after each epoch, before the validation pass, the batch norms' moving
	// statistics are re-estimated with the epoch's final weights over this many training images (a
	// seeded random sample, in batches of BatchSize; RecomputeBNStats, "precise batch norm"), so
	// that validation, the kept checkpoints and the final model use them. 0: the moving averages of
	// training only (Keras and the paper). It matters after few steps: the moving averages
	// (momentum 0.99) keep ≈ 0.99^steps of the initialisation's statistics.
	BNStatsImages int
	Progress      io.Writer // progress bars and one summary line per epoch (nil: silent)

	// Provenance, recorded in Dir/best/training.json (informational).
	Dataset   string // dataset name, e.g. "mnist"
	SplitSeed int64  // seed of its train/valid split
	Command   string // the command line that ran the training
	Backend   string // the backend's name
}

// EpochStats are one epoch's numbers.
type EpochStats struct {
	Epoch        int     `json:"epoch"`         // 1-based
	LearningRate float64 `json:"learning_rate"` // Adam learning rate of the epoch
	Steps        int     `json:"steps"`         // batches trained
	TrainLoss    float64 `json:"train_loss"`    // mean batch loss (cross-entropy + L2), training mode
	TrainAcc     float64 `json:"train_acc"`     // mean batch accuracy in training mode (dropout on), as Keras reports it
	ValidAcc     float64 `json:"valid_acc"`     // validation accuracy, inference mode (NaN without a validation set)
	Seconds      float64 `json:"seconds"`       // wall time of the epoch, validation included
}

// MarshalJSON writes a NaN ValidAcc (no validation set) as null.
func (e EpochStats) MarshalJSON() ([]byte, error) {
	type plain EpochStats
	return json.Marshal(struct {
		plain
		ValidAcc *float64 `json:"valid_acc"`
	}{plain(e), nanToNil(e.ValidAcc)})
}

// UnmarshalJSON reads a null ValidAcc as NaN.
func (e *EpochStats) UnmarshalJSON(data []byte) error {
	type plain EpochStats
	p := struct {
		*plain
		ValidAcc *float64 `json:"valid_acc"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	e.ValidAcc = nilToNaN(p.ValidAcc)
	return nil
}

func nanToNil(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func nilToNaN(x *float64) float64 {
	if x == nil {
		return math.NaN()
	}
	return *x
}

// TrainResult summarises a training run (all sessions of a resumed run).
type TrainResult struct {
	Epochs       int          `json:"epochs"`         // epochs completed
	BestEpoch    int          `json:"best_epoch"`     // 1-based epoch of the kept model (0: none yet)
	BestValidAcc float64      `json:"best_valid_acc"` // its validation accuracy
	History      []EpochStats `json:"history"`
	Seconds      float64      `json:"seconds"` // training wall time, summed over sessions
	Interrupted  bool         `json:"interrupted"`
}

// MarshalJSON writes a NaN BestValidAcc (no validation set) as null.
func (r TrainResult) MarshalJSON() ([]byte, error) {
	type plain TrainResult
	return json.Marshal(struct {
		plain
		BestValidAcc *float64 `json:"best_valid_acc"`
	}{plain(r), nanToNil(r.BestValidAcc)})
}

// UnmarshalJSON reads a null BestValidAcc as NaN.
func (r *TrainResult) UnmarshalJSON(data []byte) error {
	type plain TrainResult
	p := struct {
		*plain
		BestValidAcc *float64 `json:"best_valid_acc"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	r.BestValidAcc = nilToNaN(p.BestValidAcc)
	return nil
}

// trainState is last/train_state.json: everything needed to resume, besides the variables.
type trainState struct {
	Format    int   `json:"format"`
	Epoch     int   `json:"epoch"` // epochs completed
	Step      int   `json:"step"`  // batches completed in epoch Epoch (an interrupted epoch)
	BatchSize int   `json:"batch_size"`
	Seed      int64 `json:"seed"`
	// Running sums of the interrupted epoch, so its stats stay exact.
	LossSum float64     `json:"loss_sum"`
	AccSum  float64     `json:"acc_sum"`
	EpochS  float64     `json:"epoch_seconds"`
	Result  TrainResult `json:"result"`
}

// trainInfo is best/training.json.
type trainInfo struct {
	Dataset       string    `json:"dataset,omitempty"`
	SplitSeed     int64     `json:"split_seed"`
	Epoch         int       `json:"epoch"`     // epoch of this checkpoint (1-based)
	Epochs        int       `json:"epochs"`    // planned epochs
	ValidAcc      *float64  `json:"valid_acc"` // nil without a validation set
	BatchSize     int       `json:"batch_size"`
	LearningRates []float64 `json:"learning_rates"`
	StepEpochs    []int     `json:"step_epochs"`
	Seed          int64     `json:"seed"`
	BNStatsImages int       `json:"bn_stats_images,omitempty"` // batch norms re-estimated over this many training images after each epoch
	Backend       string    `json:"backend,omitempty"`
	Command       string    `json:"command,omitempty"`
}

// DefaultStepEpochs splits epochs into stages parts of (nearly) equal length and returns the epochs
// (0-based) at which stages 1..stages-1 start: ⌈epochs·i/stages⌉ (200 epochs, 4 stages: 50, 100,
// 150). The first stage is never empty; with fewer epochs than stages the last ones are.
func DefaultStepEpochs(epochs, stages int) []int {
	steps := make([]int, 0, max(stages-1, 0))
	for i := 1; i < stages; i++ {
		steps = append(steps, (epochs*i+stages-1)/stages)
	}
	return steps
}

// withDefaults fills the defaults and checks the configuration.
func (c TrainConfig) withDefaults() (TrainConfig, error) {
	if c.Epochs <= 0 {
		return c, fmt.Errorf("models: Train: Epochs = %d, want > 0", c.Epochs)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = PaperBatchSize
	}
	if len(c.LearningRates) == 0 {
		c.LearningRates = PaperLearningRates
	}
	for _, lr := range c.LearningRates {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return c, fmt.Errorf("models: Train: learning rate %g, want > 0", lr)
		}
	}
	if c.StepEpochs == nil {
		c.StepEpochs = DefaultStepEpochs(c.Epochs, len(c.LearningRates))
	}
	if len(c.StepEpochs) != len(c.LearningRates)-1 {
		return c, fmt.Errorf("models: Train: %d step epochs for %d learning rates, want %d", len(c.StepEpochs), len(c.LearningRates), len(c.LearningRates)-1)
	}
	for i, s := range c.StepEpochs {
		if s < 0 || (i > 0 && s < c.StepEpochs[i-1]) {
			return c, fmt.Errorf("models: Train: step epochs %v must be non-negative and non-decreasing", c.StepEpochs)
		}
	}
	if c.EvalBatch <= 0 {
		c.EvalBatch = DefaultEvalBatch
	}
	if c.Resume && c.Dir == "" {
		return c, errors.New("models: Train: Resume needs Dir")
	}
	if c.BNStatsImages < 0 {
		return c, fmt.Errorf("models: Train: BNStatsImages = %d, want ≥ 0", c.BNStatsImages)
	}
	return c, nil
}

// LearningRate returns the learning rate of epoch (0-based) under the configuration's schedule.
func (c TrainConfig) LearningRate(epoch int) float64 {
	c2, err := c.withDefaults()
	if err != nil {
		c2 = c
		if len(c2.LearningRates) == 0 {
			c2.LearningRates = PaperLearningRates
		}
	}
	return c2.lrAt(epoch)
}

func (c TrainConfig) lrAt(epoch int) float64 {
	stage := 0
	for stage < len(c.StepEpochs) && stage+1 < len(c.LearningRates) && epoch >= c.StepEpochs[stage] {
		stage++
	}
	return c.LearningRates[stage]
}

// Train trains m on train with Adam, the stepped learning-rate schedule and softmax cross-entropy
// (plus Config.L2 · Σ w² over the conv/dense kernels), in training mode (dropout, batch-norm batch
// statistics). After each epoch it measures the validation accuracy (inference mode) and keeps the
// best-validation model; at the end m holds that model (the last one if valid is nil) and its
// optimizer state is dropped.
//
// With cfg.Dir set it writes Dir/best (the best-validation model, loadable with Load(Dir)) and,
// after every epoch, Dir/last (all variables including Adam's moments and the step counters, plus
// where the run stands), so that a run stopped at any point resumes with cfg.Resume. Cancelling ctx
// stops between two batches: the state is saved (Dir/last records the position inside the epoch)
// and Train returns the result so far with Interrupted set and ctx's error.
func Train(ctx context.Context, b compute.Backend, m *Model, train, valid *datasets.Set, cfg TrainConfig) (*TrainResult, error) {
	if b == nil || m == nil {
		return nil, errors.New("models: Train: nil backend or model")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := m.CheckData(train); err != nil {
		return nil, err
	}
	if valid != nil {
		if err := m.CheckData(valid); err != nil {
			return nil, err
		}
	}
	scale, err := m.InputScale()
	if err != nil {
		return nil, err
	}
	specs, err := m.variableSpecs()
	if err != nil {
		return nil, err
	}

	// Where to start: fresh, or the saved state of Dir/last.
	st := trainState{Format: stateFormat, BatchSize: cfg.BatchSize, Seed: cfg.Seed}
	var best *model.Store // best-validation copy of the network variables
	defer func() {
		if best != nil {
			best.Finalize()
		}
	}()
	lastDir, bestDir := filepath.Join(cfg.Dir, LastDir), filepath.Join(cfg.Dir, BestDir)
	if cfg.Dir != "" {
		_, errLast := os.Stat(filepath.Join(lastDir, ConfigFile))
		hasLast := errLast == nil
		if !hasLast {
			if _, err := os.Stat(filepath.Join(lastDir+".old", ConfigFile)); err == nil {
				lastDir, hasLast = lastDir+".old", true
			}
		}
		switch {
		case cfg.Resume && !hasLast:
			return nil, fmt.Errorf("models: Train: nothing to resume in %s (no %s/%s)", cfg.Dir, LastDir, ConfigFile)
		case !cfg.Resume && hasLast:
			return nil, fmt.Errorf("models: Train: %s already holds a training run; resume it (--resume) or choose another directory", cfg.Dir)
		case cfg.Resume:
			if st, best, err = m.loadTrainState(lastDir, bestDir); err != nil {
				return nil, err
			}
			lastDir = filepath.Join(cfg.Dir, LastDir)
			if st.BatchSize != cfg.BatchSize || st.Seed != cfg.Seed {
				fmt.Fprintf(orDiscard(cfg.Progress), "resuming with the run's batch size %d and seed %d\n", st.BatchSize, st.Seed)
			}
			cfg.BatchSize, cfg.Seed = st.BatchSize, st.Seed
			kept := fmt.Sprintf("best valid acc %.4f at epoch %d", st.Result.BestValidAcc, st.Result.BestEpoch)
			if math.IsNaN(st.Result.BestValidAcc) {
				kept = "no validation set: the last epoch is kept"
			}
			fmt.Fprintf(orDiscard(cfg.Progress), "resuming %s at epoch %d, batch %d (%s)\n", cfg.Dir, st.Epoch+1, st.Step, kept)
		}
	}

	if err := m.UseBackend(b); err != nil {
		return nil, fmt.Errorf("models: Train: %w", err)
	}
	// Initialisation and dropout draw from the store's random state; seed it from Config.Seed unless
	// the architecture did (or a resumed state restored it).
	if _, found := m.store.GetParam("/" + model.ParamInitialSeed); !found {
		m.store.SetParam("/"+model.ParamInitialSeed, m.cfg.Seed)
	}

	n := train.Len()
	steps := n / cfg.BatchSize
	if steps == 0 {
		return nil, fmt.Errorf("models: Train: training set %s has %d examples, fewer than one batch of %d", train.Name(), n, cfg.BatchSize)
	}
	if cfg.MaxStepsPerEpoch > 0 && steps > cfg.MaxStepsPerEpoch {
		steps = cfg.MaxStepsPerEpoch
	}
	h, w, c := train.Dims()
	out := orDiscard(cfg.Progress)

	// The trainer: Adam (the learning rate lives in a variable, set at each epoch), sparse softmax
	// cross-entropy on the logits, plus the L2 penalty in training graphs.
	l2 := m.cfg.L2
	modelFn := func(scope *model.Scope, x *graph.Node) *graph.Node {
		logits := m.Logits(scope, x)
		if l2 > 0 && scope.IsTraining(x.Graph()) {
			gtrain.AddRegularizationLoss(graph.MulScalar(ops.L2(scope.Store().RootScope(), x.Graph()), l2))
		}
		return logits
	}
	var trainer *gtrain.Trainer
	err = catch(func() error {
		batchAcc := metric.NewBaseMetric("Batch accuracy", "acc", metric.AccuracyMetricType, metric.SparseCategoricalAccuracyGraph, nil)
		trainer = gtrain.NewTrainer(b, m.store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
			optimizer.Adam().LearningRate(cfg.LearningRates[0]).Done(), []metric.Interface{batchAcc}, nil)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models: Train: creating the trainer: %w", err)
	}
	defer trainer.ResetComputationGraphs()
	var bnPass *bnStatsPass // the statistics pass of BNStatsImages, compiled once
	defer func() { bnPass.finalize() }()

	res := st.Result
	res.Interrupted = false
	session := time.Now()
	prevSeconds := res.Seconds

	// saveLast writes Dir/last with the current position.
	saveLast := func(epoch, step int, lossSum, accSum, epochS float64) error {
		if cfg.Dir == "" {
			return nil
		}
		for _, sp := range specs {
			if v := m.store.GetVariable(sp.path); v == nil || !v.HasValue() {
				return nil // interrupted before the first batch: nothing to save
			}
		}
		res.Seconds = prevSeconds + time.Since(session).Seconds()
		s := trainState{Format: stateFormat, Epoch: epoch, Step: step, BatchSize: cfg.BatchSize, Seed: cfg.Seed,
			LossSum: lossSum, AccSum: accSum, EpochS: epochS, Result: res}
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		var clone *model.Store
		if err := catch(func() error { var err error; clone, err = m.store.Clone(); return err }); err != nil {
			return fmt.Errorf("models: Train: copying the state: %w", err)
		}
		defer clone.Finalize()
		return writeModelDir(lastDir, m.cfg, clone, map[string][]byte{trainStateFile: append(data, '\n')})
	}

	for epoch := st.Epoch; epoch < cfg.Epochs; epoch++ {
		lr := cfg.lrAt(epoch)
		epochStart := time.Now()
		startStep, lossSum, accSum, priorS := 0, 0.0, 0.0, 0.0
		if epoch == st.Epoch {
			startStep, lossSum, accSum, priorS = st.Step, st.LossSum, st.AccSum, st.EpochS
		}
		if err := catch(func() error {
			return optimizer.LearningRateVar(m.store.RootScope(), dtypes.Float32, lr).SetValue(tensors.FromScalar(float32(lr)))
		}); err != nil {
			return nil, fmt.Errorf("models: Train: setting the learning rate: %w", err)
		}
		perm := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(epoch))).Perm(n)
		bar := progress.New(cfg.Progress, fmt.Sprintf("epoch %d/%d lr %g", epoch+1, cfg.Epochs, lr), steps)
		bar.Add(startStep)
		for step := startStep; step < steps; step++ {
			if ctx.Err() != nil {
				bar.Done()
				res.Interrupted = true
				es := priorS + time.Since(epochStart).Seconds()
				if err := saveLast(epoch, step, lossSum, accSum, es); err != nil {
					return &res, fmt.Errorf("models: Train: interrupted, and saving the state failed: %w", err)
				}
				if cfg.Dir != "" {
					fmt.Fprintf(out, "interrupted at epoch %d, batch %d/%d; state saved in %s\n", epoch+1, step, steps, lastDir)
				}
				return &res, ctx.Err()
			}
			idx := perm[step*cfg.BatchSize : (step+1)*cfg.BatchSize]
			x, err := train.ReadBatch(idx, scale)
			if err != nil {
				return &res, err
			}
			var lossV, accV float64
			err = catch(func() error {
				// Fresh tensors every step: TrainStep takes (donates) them.
				batch := gtrain.Batch{
					Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, cfg.BatchSize, h, w, c)},
					Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(train.Labels(idx), cfg.BatchSize, 1)},
				}
				metrics, err := trainer.TrainStep(batch)
				if err != nil {
					return err
				}
				defer func() {
					for _, t := range metrics {
						t.MustFinalizeAll()
					}
				}()
				if len(metrics) < 3 {
					return fmt.Errorf("trainer returned %d metrics, want 3", len(metrics))
				}
				lossV, accV = scalarOf(metrics[0]), scalarOf(metrics[2])
				return nil
			})
			if err != nil {
				return &res, fmt.Errorf("models: Train: epoch %d, batch %d: %w", epoch+1, step, err)
			}
			if math.IsNaN(lossV) || math.IsInf(lossV, 0) {
				return &res, fmt.Errorf("models: Train: the loss diverged (%g) at epoch %d, batch %d; try a smaller learning rate", lossV, epoch+1, step)
			}
			lossSum += lossV
			accSum += accV
			bar.Add(1)
		}
		bar.Done()

		if cfg.BNStatsImages > 0 {
			k := min(cfg.BNStatsImages, n)
			idx := rand.New(rand.NewPCG(uint64(cfg.Seed), streamBNStats)).Perm(n)[:k]
			if bnPass == nil {
				if bnPass, err = newBNStatsPass(b, m); err != nil {
					return &res, err
				}
			}
			if _, err := bnPass.run(train.Subset(idx), cfg.BatchSize, cfg.Progress); err != nil {
				return &res, fmt.Errorf("models: Train: epoch %d: %w", epoch+1, err)
			}
		}
		stats := EpochStats{Epoch: epoch + 1, LearningRate: lr, Steps: steps,
			TrainLoss: lossSum / float64(steps), TrainAcc: accSum / float64(steps), ValidAcc: math.NaN()}
		improved := valid == nil
		if valid != nil {
			acc, err := Accuracy(b, m, valid, cfg.EvalBatch)
			if err != nil {
				return &res, fmt.Errorf("models: Train: validation after epoch %d: %w", epoch+1, err)
			}
			stats.ValidAcc = acc
			improved = res.BestEpoch == 0 || acc > res.BestValidAcc
		}
		if improved {
			snap, err := m.snapshot(specs)
			if err != nil {
				return &res, err
			}
			if best != nil {
				best.Finalize()
			}
			best = snap
			res.BestEpoch, res.BestValidAcc = epoch+1, stats.ValidAcc
			if cfg.Dir != "" {
				info, _ := json.MarshalIndent(trainInfo{Dataset: cfg.Dataset, SplitSeed: cfg.SplitSeed, Epoch: epoch + 1,
					Epochs: cfg.Epochs, ValidAcc: nanToNil(stats.ValidAcc), BatchSize: cfg.BatchSize, LearningRates: cfg.LearningRates,
					StepEpochs: cfg.StepEpochs, Seed: cfg.Seed, BNStatsImages: cfg.BNStatsImages, Backend: cfg.Backend, Command: cfg.Command}, "", "  ")
				var clone *model.Store
				if err := catch(func() error { var err error; clone, err = best.Clone(); return err }); err != nil {
					return &res, err
				}
				err := writeModelDir(bestDir, m.cfg, clone, map[string][]byte{trainInfoFile: append(info, '\n')})
				clone.Finalize()
				if err != nil {
					return &res, err
				}
			}
		}
		stats.Seconds = priorS + time.Since(epochStart).Seconds()
		res.History = append(res.History, stats)
		res.Epochs = epoch + 1
		validText := "no validation set (the last epoch is kept)"
		if valid != nil {
			validText = fmt.Sprintf("valid acc %.4f", stats.ValidAcc)
			if improved {
				validText += " *best*"
			}
		}
		fmt.Fprintf(out, "epoch %d/%d: lr %g  loss %.4f  train acc %.4f  %s  (%.1fs)\n",
			epoch+1, cfg.Epochs, lr, stats.TrainLoss, stats.TrainAcc, validText, stats.Seconds)
		if err := saveLast(epoch+1, 0, 0, 0, 0); err != nil {
			return &res, err
		}
	}
	res.Seconds = prevSeconds + time.Since(session).Seconds()

	// Leave m as a plain network holding the best-validation weights.
	if best != nil {
		err := catch(func() error {
			for v := range best.IterVariables() {
				t, err := v.Value()
				if err != nil {
					return err
				}
				c, err := t.Clone()
				if err != nil {
					return err
				}
				if err := m.store.GetVariable(v.Path()).SetValue(c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return &res, fmt.Errorf("models: Train: restoring the best model: %w", err)
		}
	}
	m.dropTrainingState()
	return &res, nil
}

// scalarOf returns a scalar tensor's value as float64.
func scalarOf(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// snapshot copies the network variables (not the training state) into a new store.
func (m *Model) snapshot(specs []varSpec) (*model.Store, error) {
	snap := model.NewStore()
	err := catch(func() error {
		for _, s := range specs {
			v := m.store.GetVariable(s.path)
			if v == nil {
				return fmt.Errorf("variable %s missing", s.path)
			}
			if _, err := v.CloneToStore(snap); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		snap.Finalize()
		return nil, fmt.Errorf("models: %s: copying the weights: %w", m.cfg.Arch, err)
	}
	return snap, nil
}

// dropTrainingState deletes the optimizer's and trainer's variables from the model's store.
func (m *Model) dropTrainingState() {
	var paths []string
	for v := range m.store.IterVariables() {
		if isTrainingState(v.Path()) {
			paths = append(paths, v.Path())
		}
	}
	for _, p := range paths {
		_ = m.store.DeleteVariable(p)
	}
}

// loadTrainState loads Dir/last (all variables, optimizer state included) into m and returns the
// saved position, and the best model of Dir/best if there is one.
func (m *Model) loadTrainState(lastDir, bestDir string) (trainState, *model.Store, error) {
	var st trainState
	fsys, name := os.DirFS(lastDir), lastDir
	cfg, err := readConfig(fsys, ".", name)
	if err != nil {
		return st, nil, err
	}
	if err := sameNetwork(cfg, m.cfg); err != nil {
		return st, nil, fmt.Errorf("models: Train: cannot resume %s: %w", lastDir, err)
	}
	data, err := os.ReadFile(filepath.Join(lastDir, trainStateFile))
	if err != nil {
		return st, nil, fmt.Errorf("models: Train: cannot resume: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, nil, fmt.Errorf("models: Train: cannot resume: %s is corrupt: %w", filepath.Join(lastDir, trainStateFile), err)
	}
	if st.Format != stateFormat || st.BatchSize <= 0 || st.Epoch < 0 || st.Step < 0 {
		return st, nil, fmt.Errorf("models: Train: cannot resume: %s is corrupt or of another version", filepath.Join(lastDir, trainStateFile))
	}
	values, err := readCheckpoint(fsys, ".", name)
	if err != nil {
		return st, nil, err
	}
	if err := m.setValues(values, name, true); err != nil {
		return st, nil, err
	}
	if st.Result.BestEpoch == 0 {
		return st, nil, nil
	}
	d, err := openModelDir(bestDir)
	if err != nil {
		return st, nil, fmt.Errorf("models: Train: cannot resume: the state says epoch %d was best, but: %w", st.Result.BestEpoch, err)
	}
	best, err := New(m.cfg)
	if err != nil {
		return st, nil, err
	}
	bv, err := readCheckpoint(os.DirFS(d), ".", d)
	if err != nil {
		return st, nil, err
	}
	if err := best.setValues(bv, d, false); err != nil {
		return st, nil, err
	}
	return st, best.store, nil
}
