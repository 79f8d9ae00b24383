package experiments

import (
	"context"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
)

// tinySetup1Config is Setup 1 at a tiny scale on the tiny test models.
func tinySetup1Config(refs []string) Setup1Config {
	return Setup1Config{Models: refs, Dataset: datasets.MNIST, Split: datasets.SplitTrain, Images: 60, Batch: 16, TopN: 5, Convention: "exact"}
}

func TestSetup1EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "setup1"), Seed: 1}
	cfg := tinySetup1Config(refs)
	res, err := RunSetup1(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Models) != 2 {
		t.Fatalf("complete %v, %d models", res.Complete, len(res.Models))
	}
	for _, m := range res.Models {
		if len(m.Rows) != cfg.Images || len(m.Top) != cfg.TopN {
			t.Fatalf("%s: %d rows, %d top, want %d, %d", m.Name, len(m.Rows), len(m.Top), cfg.Images, cfg.TopN)
		}
		// The top images are the largest FI values, in decreasing order, with their own pixels.
		maxFI := 0.0
		for _, r := range m.Rows {
			maxFI = max(maxFI, r.True.FI)
			// SPEC A.3 on every image: FI ≤ odds, equal at rank K − 1.
			if r.True.FI > r.True.Bound*(1+1e-6) || (r.True.Rank == 9 && !nearRel(r.True.FI, r.True.Bound, 1e-6)) {
				t.Fatalf("%s #%d: FI %g, odds %g, rank %d", m.Name, r.Index, r.True.FI, r.True.Bound, r.True.Rank)
			}
		}
		if m.Top[0].Row.True.FI != maxFI {
			t.Fatalf("%s: top FI %g, max %g", m.Name, m.Top[0].Row.True.FI, maxFI)
		}
		for i := 1; i < len(m.Top); i++ {
			if m.Top[i].Row.True.FI > m.Top[i-1].Row.True.FI {
				t.Fatalf("%s: top images not in decreasing FI order", m.Name)
			}
		}
		set, _ := datasets.Load(datasets.MNIST, datasets.SplitTrain)
		if got := set.Image(m.Top[0].Row.Index); string(got) != string(m.Top[0].Image) {
			t.Fatalf("%s: top image pixels are not those of example %d", m.Name, m.Top[0].Row.Index)
		}
		if m.Bound.N != cfg.Images || m.Bound.Above != 0 {
			t.Fatalf("%s: bound summary %+v", m.Name, m.Bound)
		}
	}
	figs, err := res.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 2 {
		t.Fatalf("%d figures, want 2", len(figs))
	}
	// The registered wrapper writes figures, the table and the index entries.
	rep := runRegistered(t, c, "setup1", "setup1.Models="+strings.Join(refs, ",")+"; setup1.Images=60; setup1.Batch=16; setup1.Dataset=mnist", "setup1/manhattan.png", "setup1/manhattan.svg", "setup1/top.png", "setup1/top.csv")
	if len(rep.Findings) != 2 || !strings.Contains(rep.Findings[0], "within 1e-6") || rep.Settings["Images"] != "60" {
		t.Errorf("report: findings %q, settings %v", rep.Findings, rep.Settings)
	}
	if _, err := WriteIndex(c, []*Report{rep}); err != nil {
		t.Fatal(err)
	}
}
