package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/models/ops"
)

func init() {
	// A linear model: fast enough to train and evaluate on real MNIST in a test.
	models.Register("cli-test-linear", "test only: flatten-dense", func(cfg models.Config, scope *model.Scope, x *Node) *Node {
		scope.Store().SetParam("/"+model.ParamInitialSeed, cfg.Seed)
		return ops.Dense(scope.In("dense"), MulScalar(x, 1.0/255), cfg.Classes, true)
	})
}

// captureStdout runs fn and returns what it wrote to os.Stdout.
func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		data, _ := io.ReadAll(r)
		done <- string(data)
	}()
	ferr := fn()
	os.Stdout = old
	w.Close()
	return <-done, ferr
}

func needMNIST(t *testing.T) {
	t.Helper()
	if _, err := datasets.Locate(datasets.MNIST); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
}

// TestTrainResumeEval runs the commands end to end on real MNIST with a linear model: train one
// short epoch, resume for a second, evaluate the result.
func TestTrainResumeEval(t *testing.T) {
	needMNIST(t)
	out := filepath.Join(t.TempDir(), "run")
	common := []string{"--arch", "cli-test-linear", "--data", "mnist", "--out", out, "--max-steps", "20",
		"--backend", "go", "--quiet", "--lrs", "1e-2"}
	if _, err := captureStdout(t, func() error { return runTrain(append(common, "--epochs", "1")) }); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(common, "--epochs", "1")); err == nil || !strings.Contains(err.Error(), "already holds a training run") {
		t.Errorf("training into a used directory: got %v, want a refusal", err)
	}
	if _, err := captureStdout(t, func() error { return runTrain(append(common, "--epochs", "2", "--resume")) }); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res models.TrainResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 || len(res.History) != 2 || res.History[1].Steps != 20 {
		t.Errorf("result.json: %+v, want 2 epochs of 20 steps", res)
	}

	stdout, err := captureStdout(t, func() error {
		return runEval([]string{"--model", out, "--splits", "valid,test", "--json", "--quiet", "--backend", "go"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(stdout), &row); err != nil {
		t.Fatalf("eval --json printed %q: %v", stdout, err)
	}
	valid, _ := row["valid"].(float64)
	test, _ := row["test"].(float64)
	if row["dataset"] != "mnist" || row["train"] != nil || row["n_test"] != 10000.0 || row["n_valid"] != 6000.0 {
		t.Errorf("eval row %v", row)
	}
	if valid != res.BestValidAcc {
		t.Errorf("eval's validation accuracy %g differs from training's best %g", valid, res.BestValidAcc)
	}
	// 40 steps of a linear model on MNIST: far better than chance, far from perfect.
	if test < 0.7 || test > 0.97 {
		t.Errorf("test accuracy %g of a briefly trained linear model, want within [0.7, 0.97]", test)
	}

	// The table form names the splits.
	stdout, err = captureStdout(t, func() error {
		return runEval([]string{"--model", out, "--splits", "test", "--quiet"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "Table 1 row") || !strings.Contains(stdout, "%") {
		t.Errorf("eval printed %q", stdout)
	}
}

func TestTrainEvalFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "resnet-small", "--epochs", "1"}, "--out"},
		{[]string{"--arch", "resnet-small", "--out", t.TempDir()}, "--epochs"},
		{[]string{"--out", t.TempDir(), "--epochs", "1"}, "--arch"},
		{[]string{"--arch", "no-such", "--out", t.TempDir(), "--epochs", "1"}, "unknown architecture"},
		{[]string{"--arch", "resnet-small", "--out", t.TempDir(), "--epochs", "1", "--lrs", "x"}, "--lrs"},
		{[]string{"--out", filepath.Join(t.TempDir(), "none"), "--epochs", "1", "--resume"}, "--resume"},
	} {
		if err := runTrain(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %v: got %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
	if err := runEval(nil); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Errorf("eval without --model: %v", err)
	}
	if err := runEval([]string{"--model", "zoo:no-such"}); err == nil || !strings.Contains(err.Error(), "no zoo model") {
		t.Errorf("eval of an unknown zoo model: %v", err)
	}
	if _, err := captureStdout(t, func() error { return runEval([]string{"--list"}) }); err != nil {
		t.Errorf("eval --list: %v", err)
	}
}
