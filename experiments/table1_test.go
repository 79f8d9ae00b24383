package experiments

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

// TestTable1EndToEnd evaluates two tiny trained CNNs on MNIST subsets against a hand count.
func TestTable1EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	out := testOutDir(t, "table1")
	c := Common{Scale: Quick, OutDir: out, Seed: 2, Shard: results.All}
	cfg := Table1Config{Models: refs, Train: 120, Valid: 50, Test: 80, Batch: 40}
	res, err := RunTable1(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(res.Entries))
	}
	b := backend.Must("")
	for i, e := range res.Entries {
		if e.NTrain != 120 || e.NValid != 50 || e.NTest != 80 {
			t.Errorf("%s: evaluated %d / %d / %d examples, want 120 / 50 / 80", e.Model, e.NTrain, e.NValid, e.NTest)
		}
		if e.Model != []string{"tiny-a", "tiny-b"}[i] || e.Dataset != datasets.MNIST {
			t.Errorf("entry %d: model %q dataset %q", i, e.Model, e.Dataset)
		}
		// Oracle: count the correct predictions of the same test subset by hand.
		test := loadMNIST(t, datasets.SplitTest)
		sub := test.Subset(datasets.SampleIndices(test.Len(), 80, c.Seed, streamTable1+2))
		m, err := models.Load(refs[i])
		if err != nil {
			t.Fatal(err)
		}
		logits, err := models.Predict(b, m, sub, 16)
		if err != nil {
			t.Fatal(err)
		}
		correct := 0
		for j := 0; j < sub.Len(); j++ {
			best := 0
			for k := 1; k < 10; k++ {
				if logits[j*10+k] > logits[j*10+best] {
					best = k
				}
			}
			if best == sub.Label(j) {
				correct++
			}
		}
		if want := float64(correct) / 80; math.Abs(e.Test-want) > 1e-12 {
			t.Errorf("%s: test accuracy %g, counted %g", e.Model, e.Test, want)
		}
		for _, acc := range []float64{e.Train, e.Valid, e.Test} {
			if !(acc >= 0 && acc <= 1) {
				t.Errorf("%s: accuracy %g out of [0, 1]", e.Model, acc)
			}
		}
	}
	rep, err := res.Report(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Log(f)
	}
	if len(rep.Figures) != 1 || len(rep.Tables) != 1 || len(rep.Findings) != 2 {
		t.Errorf("report has %d figures, %d tables, %d findings; want 1, 1, 2", len(rep.Figures), len(rep.Tables), len(rep.Findings))
	}
	if !strings.Contains(rep.Figures[0].Caption, "subsets") {
		t.Errorf("caption %q does not say that subsets were evaluated", rep.Figures[0].Caption)
	}
	header, recs, err := readCSVFile(filepath.Join(out, "table1", "accuracy.csv"))
	if err != nil || len(recs) != 2 || header[0] != "model" {
		t.Errorf("table1/accuracy.csv: %v, header %v, %d rows", err, header, len(recs))
	}
	if _, err := os.Stat(filepath.Join(out, "table1", "accuracy.png")); err != nil {
		t.Error(err)
	}
}

func TestTable1Errors(t *testing.T) {
	if err := (Table1Config{Train: -1}).check(); err == nil {
		t.Error("negative size accepted")
	}
	c := Common{Scale: Paper, OutDir: t.TempDir()}
	_, err := RunTable1(context.Background(), c, Table1Config{Models: []string{filepath.Join(t.TempDir(), "never-trained")}})
	if err == nil || !strings.Contains(err.Error(), "fisens train") {
		t.Errorf("paper run without models: %v, want a hint to train them", err)
	}
	if g, o := DefaultTable1Config(Quick, "go"), DefaultTable1Config(Quick, "onnx:cpu"); g.Train >= o.Train {
		t.Errorf("pure-Go quick subset %d is not smaller than ONNX's %d", g.Train, o.Train)
	}
}
