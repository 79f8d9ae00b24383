package models

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fisens/fisens/backend"
)

func TestSchedule(t *testing.T) {
	if got := DefaultStepEpochs(200, 4); !reflect.DeepEqual(got, []int{50, 100, 150}) {
		t.Errorf("DefaultStepEpochs(200, 4) = %v, want [50 100 150] (the authors' quarters)", got)
	}
	if got := DefaultStepEpochs(6, 4); !reflect.DeepEqual(got, []int{2, 3, 5}) {
		t.Errorf("DefaultStepEpochs(6, 4) = %v, want [2 3 5]", got)
	}
	if got := DefaultStepEpochs(1, 4); !reflect.DeepEqual(got, []int{1, 1, 1}) {
		t.Errorf("DefaultStepEpochs(1, 4) = %v, want [1 1 1] (one epoch trains at the first rate)", got)
	}
	if got := DefaultStepEpochs(10, 4); !reflect.DeepEqual(got, []int{3, 5, 8}) {
		t.Errorf("DefaultStepEpochs(10, 4) = %v, want [3 5 8]", got)
	}
	c := TrainConfig{Epochs: 200}
	for _, tc := range []struct {
		epoch int
		lr    float64
	}{{0, 1e-3}, {49, 1e-3}, {50, 5e-4}, {99, 5e-4}, {100, 2.5e-4}, {150, 1e-4}, {199, 1e-4}} {
		if got := c.LearningRate(tc.epoch); got != tc.lr {
			t.Errorf("epoch %d: learning rate %g, want %g", tc.epoch, got, tc.lr)
		}
	}
	c = TrainConfig{Epochs: 10, LearningRates: []float64{1, 0.1}, StepEpochs: []int{3}}
	if c.LearningRate(2) != 1 || c.LearningRate(3) != 0.1 {
		t.Errorf("custom schedule: got %g, %g at epochs 2, 3", c.LearningRate(2), c.LearningRate(3))
	}
	for _, bad := range []TrainConfig{
		{},
		{Epochs: 4, LearningRates: []float64{1, 0.1}, StepEpochs: []int{1, 2}},
		{Epochs: 4, LearningRates: []float64{1, -0.1}},
		{Epochs: 4, StepEpochs: []int{3, 2, 1}},
		{Epochs: 4, Resume: true},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("config %+v accepted, want an error", bad)
		}
	}
}

// TestTrainLearnsAndKeepsBest trains the test conv net on a synthetic task: it must learn it, and
// the model Train leaves behind must be the best-validation one, without optimizer state.
func TestTrainLearnsAndKeepsBest(t *testing.T) {
	// Noisy images and 25 % wrong validation labels: the validation accuracy moves between epochs.
	trainSet := tNoisySet(t, "synth/train", 192, 10, 230, 0)
	validSet := tNoisySet(t, "synth/valid", 60, 11, 230, 0.25)
	m := tNewModel(t, tconvCfg())
	b := backend.Must("go")
	cfg := TrainConfig{Epochs: 6, BatchSize: 32, LearningRates: []float64{0.03, 0.01}, Seed: 1}
	res, err := Train(context.Background(), b, m, trainSet, validSet, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.History {
		t.Logf("epoch %d: lr %g loss %.4f train acc %.3f valid acc %.3f", h.Epoch, h.LearningRate, h.TrainLoss, h.TrainAcc, h.ValidAcc)
	}
	if res.Epochs != 6 || len(res.History) != 6 {
		t.Fatalf("got %d epochs, %d history entries, want 6", res.Epochs, len(res.History))
	}
	bestEpoch, bestAcc := 0, -1.0
	for _, h := range res.History {
		if h.Steps != 6 {
			t.Errorf("epoch %d: %d steps, want 192/32 = 6", h.Epoch, h.Steps)
		}
		if h.ValidAcc > bestAcc {
			bestEpoch, bestAcc = h.Epoch, h.ValidAcc
		}
	}
	if res.BestEpoch != bestEpoch || res.BestValidAcc != bestAcc {
		t.Errorf("best: epoch %d acc %g, history says epoch %d acc %g", res.BestEpoch, res.BestValidAcc, bestEpoch, bestAcc)
	}
	if bestAcc < 0.6 {
		t.Errorf("best validation accuracy %.3f, want >= 0.6 (at most 0.75 is reachable)", bestAcc)
	}
	if lrs := []float64{res.History[0].LearningRate, res.History[5].LearningRate}; lrs[0] != 0.03 || lrs[1] != 0.01 {
		t.Errorf("learning rates of epochs 1 and 6: %v, want [0.03 0.01]", lrs)
	}
	if res.BestEpoch == res.Epochs {
		t.Logf("the best epoch is the last one: restoring the best model is not exercised by this run")
	}
	// m holds the best-validation weights.
	acc, err := Accuracy(b, m, validSet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if acc != res.BestValidAcc {
		t.Errorf("the trained model's validation accuracy is %g, want the best epoch's %g", acc, res.BestValidAcc)
	}
	for v := range m.Store().IterVariables() {
		if isTrainingState(v.Path()) {
			t.Errorf("training state %s left in the model", v.Path())
		}
	}
}

// cancelAfter is a context that reports cancellation after n calls to Err: it interrupts Train at a
// deterministic batch.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestResume: a run interrupted twice (inside an epoch and again later) and resumed gives exactly
// the same model and history as an uninterrupted run (same shuffles, dropout stream, Adam state).
func TestResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small runs (~10 s)")
	}
	trainSet := tSynthSet(t, "synth/train", 128, 20)
	validSet := tSynthSet(t, "synth/valid", 30, 21)
	b := backend.Must("go")
	cfg := TrainConfig{Epochs: 4, BatchSize: 32, LearningRates: []float64{0.02, 0.01}, Seed: 5}

	cfgA := cfg
	cfgA.Dir = filepath.Join(t.TempDir(), "a")
	mA := tNewModel(t, tconvCfg())
	resA, err := Train(context.Background(), b, mA, trainSet, validSet, cfgA)
	if err != nil {
		t.Fatal(err)
	}

	cfgB := cfg
	cfgB.Dir = filepath.Join(t.TempDir(), "b")
	ctx := &cancelAfter{Context: context.Background()}
	ctx.n.Store(6) // 4 steps per epoch: stops inside epoch 2, after its 2nd batch
	res, err := Train(ctx, b, tNewModel(t, tconvCfg()), trainSet, validSet, cfgB)
	if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted {
		t.Fatalf("interrupted run: got result %+v, error %v; want Interrupted and context.Canceled", res, err)
	}
	if _, err := Train(context.Background(), b, tNewModel(t, tconvCfg()), trainSet, validSet, cfgB); err == nil ||
		!strings.Contains(err.Error(), "already holds a training run") {
		t.Errorf("a fresh run into a used directory: got %v, want a refusal", err)
	}
	cfgB.Resume = true
	ctx = &cancelAfter{Context: context.Background()}
	ctx.n.Store(5) // stops again inside epoch 3
	if _, err := Train(ctx, b, tNewModel(t, tconvCfg()), trainSet, validSet, cfgB); !errors.Is(err, context.Canceled) {
		t.Fatalf("second interrupted run: %v", err)
	}
	mB := tNewModel(t, tconvCfg())
	resB, err := Train(context.Background(), b, mB, trainSet, validSet, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	if resB.Epochs != resA.Epochs || resB.BestEpoch != resA.BestEpoch || len(resB.History) != len(resA.History) {
		t.Fatalf("resumed run: %d epochs, best %d; uninterrupted: %d epochs, best %d", resB.Epochs, resB.BestEpoch, resA.Epochs, resA.BestEpoch)
	}
	for i := range resA.History {
		t.Logf("epoch %d: loss %.4f valid acc %.3f", i+1, resA.History[i].TrainLoss, resA.History[i].ValidAcc)
		a, bb := resA.History[i], resB.History[i]
		if a.TrainLoss != bb.TrainLoss || a.TrainAcc != bb.TrainAcc || a.ValidAcc != bb.ValidAcc || a.LearningRate != bb.LearningRate {
			t.Errorf("epoch %d: uninterrupted %+v, resumed %+v", i+1, a, bb)
		}
	}
	if !tEqual(tPredict(t, mA, validSet), tPredict(t, mB, validSet)) {
		t.Errorf("the resumed run's model differs from the uninterrupted run's")
	}
	// The training directory loads as its best model.
	l, err := Load(cfgB.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tEqual(tPredict(t, l, validSet), tPredict(t, mB, validSet)) {
		t.Errorf("Load(training dir) differs from the model Train returned")
	}
	if _, err := os.Stat(filepath.Join(cfgB.Dir, BestDir, trainInfoFile)); err != nil {
		t.Errorf("best/%s missing: %v", trainInfoFile, err)
	}
	if math.IsNaN(resB.Seconds) || resB.Seconds <= 0 {
		t.Errorf("seconds %g", resB.Seconds)
	}
}

// TestInterruptBeforeFirstBatch: cancelling before any batch saves nothing and leaves the directory
// usable for a fresh run.
func TestInterruptBeforeFirstBatch(t *testing.T) {
	trainSet := tSynthSet(t, "synth/train", 64, 31)
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := TrainConfig{Epochs: 1, BatchSize: 32, Dir: dir}
	res, err := Train(ctx, backend.Must("go"), tNewModel(t, tconvCfg()), trainSet, nil, cfg)
	if !errors.Is(err, context.Canceled) || res == nil || !res.Interrupted || res.Epochs != 0 {
		t.Fatalf("got %+v, %v; want an interrupted result with 0 epochs and context.Canceled", res, err)
	}
	if _, err := Train(context.Background(), backend.Must("go"), tNewModel(t, tconvCfg()), trainSet, nil, cfg); err != nil {
		t.Errorf("a fresh run after an interruption before the first batch: %v", err)
	}
}

func TestResumeChecksArchitecture(t *testing.T) {
	trainSet := tSynthSet(t, "synth/train", 64, 30)
	b := backend.Must("go")
	dir := filepath.Join(t.TempDir(), "run")
	cfg := TrainConfig{Epochs: 1, BatchSize: 32, Dir: dir}
	if _, err := Train(context.Background(), b, tNewModel(t, tconvCfg()), trainSet, nil, cfg); err != nil {
		t.Fatal(err)
	}
	other := tconvCfg()
	other.Arch = "trainer-test-linear"
	cfg.Resume, cfg.Epochs = true, 2
	if _, err := Train(context.Background(), b, tNewModel(t, other), trainSet, nil, cfg); err == nil ||
		!strings.Contains(err.Error(), "architecture") {
		t.Errorf("resuming with another architecture: got %v, want an architecture error", err)
	}
	cfg.Dir = filepath.Join(t.TempDir(), "empty")
	if _, err := Train(context.Background(), b, tNewModel(t, tconvCfg()), trainSet, nil, cfg); err == nil ||
		!strings.Contains(err.Error(), "nothing to resume") {
		t.Errorf("resuming an empty directory: got %v", err)
	}
}
