package main

import (
	"path/filepath"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/internal/rows"
	"github.com/fisens/fisens/models"
)

// TestFICommandResumes runs `fisens fi` on a small (untrained) saved model and real MNIST, stops,
// and resumes: the file ends with every example exactly once.
func TestFICommandResumes(t *testing.T) {
	m, err := models.New(models.Config{Arch: "alexnet-small", Height: 28, Width: 28, Channels: 1, Classes: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	set, err := datasets.Load("mnist", "test")
	if err != nil {
		t.Skipf("MNIST unavailable: %v", err)
	}
	if _, err := models.Predict(backend.Must("go"), m, set.Subset([]int{0, 1}), 2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "model")
	if err := m.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fi.csv")
	args := func(n string) []string {
		return []string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", n, "--batch", "2", "--out", out, "--backend", "go"}
	}
	if err := runFI(args("3")); err != nil {
		t.Fatal(err)
	}
	if err := runFI(args("5")); err != nil {
		t.Fatal(err)
	}
	header, recs, err := rows.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(header) < 7 || header[4] != "fi" || header[5] != "rank" || header[6] != "bound" {
		t.Fatalf("header %v", header)
	}
	if len(recs) != 5 {
		t.Fatalf("%d rows after resuming, want 5", len(recs))
	}
	for i, r := range recs {
		if r[0] != string(rune('0'+i)) {
			t.Errorf("row %d has index %s", i, r[0])
		}
	}
	// Per-layer parameter FI for one example: one row per layer plus "all".
	pout := filepath.Join(dir, "params.csv")
	if err := runFI([]string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "1", "--perturb", "params",
		"--form", "scaling", "--out", pout, "--backend", "go"}); err != nil {
		t.Fatal(err)
	}
	_, precs, _ := rows.Read(pout)
	if len(precs) < 3 || precs[len(precs)-1][1] != "all" || precs[0][1] != "/conv1" {
		t.Fatalf("params rows: %v", precs)
	}
	for _, bad := range [][]string{
		{"--model", ckpt, "--data", "mnist", "--objective", "nope"},
		{"--model", ckpt, "--data", "mnist", "--split", "nosuch"},
		{"--model", filepath.Join(dir, "missing"), "--data", "mnist"},
		{"--model", ckpt, "--data", "mnist", "--shard", "2/2"},
	} {
		if err := runFI(append(bad, "--out", filepath.Join(dir, "bad.csv"))); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
