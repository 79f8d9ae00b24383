package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/stats"
)

func TestSetup3EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "setup3"), Seed: 1}
	cfg := Setup3Config{Models: refs, Dataset: datasets.MNIST, TrainImages: 60, TestImages: 40, Batch: 16,
		Quantiles: DefaultQuantiles, Convention: "exact"}
	res, err := RunSetup3(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Models) != 2 {
		t.Fatalf("complete %v, %d models", res.Complete, len(res.Models))
	}
	for _, m := range res.Models {
		if len(m.Train) != 60 || len(m.Test) != 40 {
			t.Fatalf("%s: %d train, %d test rows", m.Name, len(m.Train), len(m.Test))
		}
		// Oracle: the quantiles of the predicted-label FI column; the 100 % quantile is the maximum.
		want, _ := stats.Quantiles(predFI(m.Test), DefaultQuantiles)
		for i := range want {
			if m.TestQ[i] != want[i] {
				t.Fatalf("%s: test quantile %g = %g, want %g", m.Name, DefaultQuantiles[i], m.TestQ[i], want[i])
			}
			if i > 0 && m.TrainQ[i] < m.TrainQ[i-1] {
				t.Fatalf("%s: train quantiles not monotone: %v", m.Name, m.TrainQ)
			}
		}
		maxFI := 0.0
		for _, r := range m.Train {
			maxFI = max(maxFI, r.Pred.FI)
			// With the predicted label, π_ŷ ≥ 1/K, so FI ≤ (1 − π_ŷ)/π_ŷ ≤ K − 1.
			if r.Pred.Label != r.Pred.Pred || r.Pred.FI > 9*(1+1e-9) || r.Pred.FI > r.Pred.Bound*(1+1e-6) {
				t.Fatalf("%s #%d: predicted-label result %+v", m.Name, r.Index, r.Pred)
			}
		}
		if m.TrainQ[len(m.TrainQ)-1] != maxFI {
			t.Fatalf("%s: 100 %% quantile %g, max %g", m.Name, m.TrainQ[len(m.TrainQ)-1], maxFI)
		}
	}
	tab, err := res.QuantileTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != len(DefaultQuantiles) || len(tab.Header) != 5 || tab.Header[1] != "tiny-a train" {
		t.Fatalf("table header %v, %d rows", tab.Header, len(tab.Rows))
	}
	// The wrapper, with the training table shared with Setup 1 (same file, nothing recomputed).
	c.Overrides = MustParseOverrides("setup3.Models=" + strings.Join(refs, ",") + "; setup3.TrainImages=60; setup3.TestImages=40; setup3.Batch=16")
	trainCSV := filepath.Join(c.OutDir, "fi", "tiny-a-mnist-train.csv")
	before, err := os.Stat(trainCSV)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := registered(t, "setup3").Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(trainCSV)
	if after.Size() != before.Size() {
		t.Errorf("the training table grew from %d to %d bytes: rows were recomputed", before.Size(), after.Size())
	}
	for _, f := range []string{"setup3/manhattan.png", "setup3/quantiles.png", "setup3/quantiles.csv"} {
		if _, err := os.Stat(filepath.Join(c.OutDir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	if len(rep.Findings) != 2 || !strings.Contains(rep.Findings[0], "levels") {
		t.Errorf("findings %q", rep.Findings)
	}
}
