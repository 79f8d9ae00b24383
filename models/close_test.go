package models

import (
	"errors"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
)

// tBatch returns the first n images of the 8x8x1 test set as an analyzer batch (raw 0–255 values).
func tBatch(n int) fisens.Batch {
	x := make([]float32, n*64)
	for i := range x {
		x[i] = float32((i * 37) % 256)
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 3
	}
	return fisens.Batch{X: x, Shape: []int{n, 8, 8, 1}, Labels: labels}
}

// TestCloseRefusesUse: Close is idempotent, and every later use of the model or its analyzer is an
// error wrapping ErrClosed (not a panic, and not a silently re-initialised model).
func TestCloseRefusesUse(t *testing.T) {
	b := backend.Must("go")
	s := tSynthSet(t, "close", 6, 1)
	m := tInitialized(t, tconvCfg(), s)
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := an.InputFI(tBatch(2), fisens.Additive, fisens.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := an.ParamFIBatch(tBatch(2), fisens.ParamOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := an.Close(); err != nil {
		t.Fatal(err)
	}
	if err := an.Close(); err != nil {
		t.Fatalf("second Analyzer.Close: %v", err)
	}
	if !an.Closed() || an.Classifier() != fisens.Classifier(m) {
		t.Errorf("Closed() = %v, Classifier() = %v; want true and the model", an.Closed(), an.Classifier())
	}
	for name, f := range map[string]func() error{
		"InputFI": func() error { _, err := an.InputFI(tBatch(2), fisens.Additive, fisens.Options{}); return err },
		"Logits":  func() error { _, err := an.Logits(tBatch(1)); return err },
		// Never compiled before Close: the lazily built graph must not come back to life.
		"ParamFI": func() error { _, err := an.ParamFI(tBatch(1), fisens.ParamOptions{}); return err },
		// Compiled before Close (the finalized graph is still cached).
		"ParamFIBatch": func() error { _, err := an.ParamFIBatch(tBatch(2), fisens.ParamOptions{}); return err },
		"Cook": func() error {
			_, err := an.Cook(tBatch(1), fisens.Perturbation{InputCols: []int{3, 4}}, fisens.Options{})
			return err
		},
	} {
		if err := f(); !errors.Is(err, fisens.ErrClosed) {
			t.Errorf("Analyzer.%s after Close: error %v, want one wrapping fisens.ErrClosed", name, err)
		}
	}
	// The model is still open: a new analyzer works.
	an2, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := an2.Logits(tBatch(1)); err != nil {
		t.Fatalf("new analyzer on the open model: %v", err)
	}
	if _, err := an2.ParamFI(tBatch(1), fisens.ParamOptions{}); err != nil {
		t.Fatalf("ParamFI on the open model: %v", err)
	}

	if m.Closed() {
		t.Fatal("Closed() before Close")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Model.Close: %v", err)
	}
	if !m.Closed() {
		t.Error("Closed() = false after Close")
	}
	_, errPredict := Predict(b, m, s, 16)
	_, errClone := m.Clone()
	for name, err := range map[string]error{
		"Predict":    errPredict,
		"Clone":      errClone,
		"Save":       m.Save(t.TempDir()),
		"UseBackend": m.UseBackend(b),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Model.Close: error %v, want one wrapping models.ErrClosed", name, err)
		}
	}
	// An analyzer of a closed model refuses too, with the model's error.
	if _, err := an2.Logits(tBatch(1)); !errors.Is(err, fisens.ErrClosed) {
		t.Errorf("analyzer of a closed model: error %v, want one wrapping fisens.ErrClosed", err)
	}
	// A graph compiled before the model was closed reads its freed variables: an error, not a crash.
	if _, err := an2.ParamFI(tBatch(1), fisens.ParamOptions{}); err == nil {
		t.Error("ParamFI of a closed model (graph compiled before Close) returned no error")
	} else {
		t.Logf("ParamFI of a closed model: %v", err)
	}
	an3, err := fisens.NewAnalyzer(b, m)
	if err == nil {
		_, err = an3.InputFI(tBatch(1), fisens.Additive, fisens.Options{})
	}
	if !errors.Is(err, ErrClosed) && !errors.Is(err, fisens.ErrClosed) {
		t.Errorf("a new analyzer of a closed model: error %v, want one wrapping ErrClosed", err)
	}
	t.Logf("new analyzer of a closed model: %v", err)
	var nilModel *Model
	var nilAnalyzer *fisens.Analyzer
	if nilModel.Close() != nil || nilAnalyzer.Close() != nil {
		t.Error("Close on nil must be a no-op")
	}
}
