package models

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
)

// TestZooManifest checks every zoo entry without running a network: the manifest is complete, the
// checkpoint loads and matches the recorded architecture, and the parameter count is right.
func TestZooManifest(t *testing.T) {
	zoo, err := Zoo()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range zoo {
		t.Run(e.Name, func(t *testing.T) {
			if e.Arch == "" || e.Dataset == "" || e.Command == "" || e.EvalCommand == "" || e.Backend == "" || e.Epochs <= 0 || e.TrainSeconds <= 0 {
				t.Errorf("incomplete manifest entry: %+v", e)
			}
			if !strings.Contains(e.Command, "--arch "+e.Arch) {
				t.Errorf("command %q does not train --arch %s", e.Command, e.Arch)
			}
			for _, acc := range []float64{e.TrainAcc, e.ValidAcc, e.TestAcc} {
				if !(acc > 0 && acc <= 1) {
					t.Errorf("accuracy %g out of (0, 1]", acc)
				}
			}
			m, err := Load(ZooPrefix + e.Name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := m.Config()
			if cfg.Arch != e.Arch || cfg.InputScale != e.InputScale {
				t.Errorf("checkpoint is %s on %s inputs, manifest says %s on %s", cfg.Arch, cfg.InputScale, e.Arch, e.InputScale)
			}
			info, err := datasets.DatasetInfo(e.Dataset)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Height != info.H || cfg.Width != info.W || cfg.Channels != info.C || cfg.Classes != info.Classes {
				t.Errorf("checkpoint takes %dx%dx%d with %d classes, dataset %s is %dx%dx%d with %d", cfg.Height, cfg.Width,
					cfg.Channels, cfg.Classes, e.Dataset, info.H, info.W, info.C, info.Classes)
			}
			params := 0
			for v := range m.Store().IterVariables() {
				if v.Trainable {
					params += v.Shape().Size()
				}
			}
			if params != e.Params {
				t.Errorf("%d trainable parameters, manifest says %d", params, e.Params)
			}
			if ds, seed, ok := TrainedOn(ZooPrefix + e.Name); !ok || ds != e.Dataset || seed != e.SplitSeed {
				t.Errorf("TrainedOn: %s %d %v", ds, seed, ok)
			}
		})
	}
}

// checkZooAccuracy re-measures each zoo model's test accuracy on backend b and compares it with the
// manifest (measured by `fisens eval`): two backends may round a borderline example differently, so
// up to 2 test examples may differ.
func checkZooAccuracy(t *testing.T, b compute.Backend) {
	zoo, err := Zoo()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range zoo {
		t.Run(e.Name, func(t *testing.T) {
			test, err := datasets.Load(e.Dataset, datasets.SplitTest, datasets.WithSplitSeed(e.SplitSeed))
			if datasets.IsNotFound(err) {
				t.Skipf("dataset %s not available: %v", e.Dataset, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(ZooPrefix + e.Name)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			acc, err := Accuracy(b, m, test, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: test accuracy %.4f (manifest %.4f) on %d images, %s backend, %.1f s",
				e.Name, acc, e.TestAcc, test.Len(), b.Name(), time.Since(start).Seconds())
			if d := math.Abs(acc - e.TestAcc); d > 2.0/float64(test.Len())+1e-9 {
				t.Errorf("test accuracy %.4f, manifest records %.4f", acc, e.TestAcc)
			}
		})
	}
}

// TestZooAccuracy re-checks every zoo model's recorded test accuracy on real data with the pure-Go
// backend (slow: skipped with -short; the ONNX-tagged TestZooAccuracyONNX is the fast variant).
func TestZooAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every zoo model on the 10,000 test images with the pure-Go backend")
	}
	checkZooAccuracy(t, backend.Must("go"))
}
