package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
)

func init() {
	register(command{name: "train", summary: "train a model (Adam, stepped learning rate, best-validation checkpoint; resumable)", run: runTrain})
}

const trainUsage = `usage: fisens train --arch ARCH --data DATASET --epochs N --out DIR [flags]
       fisens train --out DIR --resume [--epochs N] [flags]

Trains as in the paper by default: Adam with the learning rates 1e-3, 5e-4, 2.5e-4, 1e-4 over
equal parts of the epochs, batch 128, cross-entropy + L2 1e-4 on the kernels, dropout 0.2, raw
0-255 pixels, no augmentation; the model with the best validation accuracy is kept in DIR/best
(load it with --model DIR), the latest state (optimizer included) in DIR/last after every epoch.
Ctrl-C stops cleanly between two batches; --resume continues exactly where the run stopped
(the architecture comes from DIR/last; pass the same --data and --split-seed).

flags:
`

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, trainUsage)
		fs.PrintDefaults()
		fmt.Fprintf(os.Stderr, "\narchitectures: %s\n", strings.Join(models.Archs(), ", "))
	}
	arch := fs.String("arch", "", "architecture (see the list below)")
	data := fs.String("data", datasets.MNIST, "dataset: "+strings.Join(datasets.Datasets(), ", "))
	dataDir := fs.String("data-dir", "", "folder with the dataset's files (default: discovery, see `fisens data where`)")
	splitSeed := fs.Int64("split-seed", datasets.DefaultSplitSeed, "seed of the stratified train/valid split")
	epochs := fs.Int("epochs", 0, "epochs to train (paper: 200 for MNIST, 500 for CIFAR-10)")
	out := fs.String("out", "", "training directory (best/ and last/ are written there)")
	resume := fs.Bool("resume", false, "continue the run saved in --out")
	batch := fs.Int("batch", models.PaperBatchSize, "batch size")
	lrs := fs.String("lrs", "1e-3,5e-4,2.5e-4,1e-4", "Adam learning rates of the stages, comma-separated")
	steps := fs.String("lr-steps", "", "epochs (0-based) where stages 2, 3, ... start, comma-separated (default: equal parts)")
	seed := fs.Int64("seed", 0, "seed of the initialisation, dropout and shuffling")
	dropout := fs.Float64("dropout", 0.2, "dropout rate after ReLUs (paper 0.2)")
	l2 := fs.Float64("l2", 1e-4, "L2 weight decay on conv/dense kernels (paper 1e-4)")
	scale := fs.String("scale", string(datasets.Raw255), "input scale: raw255 (paper) or unit")
	maxSteps := fs.Int("max-steps", 0, "if > 0, at most this many batches per epoch (quick trials)")
	evalBatch := fs.Int("eval-batch", models.DefaultEvalBatch, "batch size of the validation passes")
	bnStats := fs.Int("bn-stats", 0, "if > 0, re-estimate the batch-norm statistics over this many training images after each epoch (precise batch norm; for short runs)")
	backendFlag := fs.String("backend", "", "compute backend: go, onnx:cpu, xla:cpu (default $GOMLX_BACKEND, else go)")
	quiet := fs.Bool("quiet", false, "no progress bars (epoch summaries are still printed)")
	if help, err := parseOptions(fs, args); help || err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	if *epochs <= 0 {
		return errors.New("--epochs N (> 0) is required")
	}
	rates, err := trainFloats(*lrs)
	if err != nil {
		return fmt.Errorf("--lrs: %w", err)
	}
	var stepEpochs []int
	if *steps != "" {
		if stepEpochs, err = trainInts(*steps); err != nil {
			return fmt.Errorf("--lr-steps: %w", err)
		}
	}
	info, err := datasets.DatasetInfo(*data)
	if err != nil {
		return err
	}

	// The network: from the flags, or (resuming) from the saved run.
	var cfg models.Config
	if *resume {
		if cfg, err = models.LoadConfig(filepath.Join(*out, models.LastDir)); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if *arch != "" && *arch != cfg.Arch {
			return fmt.Errorf("--resume: %s holds a %s run, not --arch %s", *out, cfg.Arch, *arch)
		}
	} else {
		if *arch == "" {
			return fmt.Errorf("--arch is required (one of %s)", strings.Join(models.Archs(), ", "))
		}
		sc, err := datasets.ParseScale(*scale)
		if err != nil {
			return err
		}
		cfg = models.Config{Arch: *arch, Height: info.H, Width: info.W, Channels: info.C, Classes: info.Classes,
			InputScale: string(sc), Dropout: *dropout, L2: *l2, Seed: *seed}
	}
	m, err := models.New(cfg)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*out, models.LastDir, models.ConfigFile)); err == nil && !*resume {
		return fmt.Errorf("%s already holds a training run; continue it with --resume or choose another --out", *out)
	}

	b, err := backend.New(*backendFlag)
	if err != nil {
		return err
	}
	opts := []datasets.Option{datasets.WithSplitSeed(*splitSeed), dirOption(*dataDir)}
	trainSet, err := datasets.Load(*data, datasets.SplitTrain, opts...)
	if err != nil {
		return err
	}
	validSet, err := datasets.Load(*data, datasets.SplitValid, opts...)
	if err != nil {
		return err
	}

	progressW := os.Stderr
	tc := models.TrainConfig{
		Epochs: *epochs, BatchSize: *batch, LearningRates: rates, StepEpochs: stepEpochs, Seed: *seed,
		Dir: *out, Resume: *resume, EvalBatch: *evalBatch, MaxStepsPerEpoch: *maxSteps, BNStatsImages: *bnStats,
		Dataset: info.Name, SplitSeed: *splitSeed, Backend: backend.Name(*backendFlag),
		Command: "fisens " + strings.Join(os.Args[1:], " "),
	}
	if !*quiet {
		tc.Progress = progressW
	} else {
		tc.Progress = epochLinesOnly{progressW}
	}
	fmt.Fprintf(os.Stderr, "training %s (input %dx%dx%d, %d classes, dropout %g, L2 %g, %s inputs) on %s: %d train / %d valid examples, backend %s\n",
		cfg.Arch, cfg.Height, cfg.Width, cfg.Channels, cfg.Classes, cfg.Dropout, cfg.L2, cfg.InputScale, info.Name,
		trainSet.Len(), validSet.Len(), backend.Name(*backendFlag))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := models.Train(ctx, b, m, trainSet, validSet, tc)
	if res != nil {
		if data, jerr := json.MarshalIndent(res, "", "  "); jerr == nil {
			_ = os.WriteFile(filepath.Join(*out, "result.json"), append(data, '\n'), 0o644)
		}
	}
	if err != nil {
		if res != nil && res.Interrupted {
			if _, serr := os.Stat(filepath.Join(*out, models.LastDir, models.ConfigFile)); serr != nil {
				return errors.New("interrupted before the first batch; nothing was saved")
			}
			return fmt.Errorf("interrupted after %d epochs; continue with: fisens train --out %s --resume --epochs %d --data %s --split-seed %d",
				res.Epochs, *out, *epochs, info.Name, *splitSeed)
		}
		return err
	}
	fmt.Printf("trained %s for %d epochs in %.0f s; best validation accuracy %.4f at epoch %d; model in %s (evaluate with: fisens eval --model %s)\n",
		cfg.Arch, res.Epochs, res.Seconds, res.BestValidAcc, res.BestEpoch, filepath.Join(*out, models.BestDir), *out)
	return nil
}

// epochLinesOnly passes through only the per-epoch summary lines (--quiet).
type epochLinesOnly struct{ w *os.File }

func (e epochLinesOnly) Write(p []byte) (int, error) {
	s := string(p)
	if strings.HasPrefix(s, "epoch ") && (strings.Contains(s, "valid acc") || strings.Contains(s, "no validation set")) || strings.HasPrefix(s, "resuming") || strings.HasPrefix(s, "interrupted") {
		return e.w.Write(p)
	}
	return len(p), nil
}

func trainFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func trainInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
