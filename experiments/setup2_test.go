package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/results"
)

// TestSetup2EndToEnd runs Setup 2 on two tiny trained CNNs (BN layers with 8 < K−1 parameters)
// and real MNIST; under -short it skips the invariance and resume reruns.
func TestSetup2EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	out := testOutDir(t, "setup2")
	c := Common{Scale: Quick, OutDir: out, Seed: 5, Shard: results.All}
	cfg := Setup2Config{Models: refs, Dataset: datasets.MNIST, Images: 4, Form: fisens.Additive, Authors: true, AuthorsEps: 1e-3}
	res, err := RunSetup2(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Models) != 2 {
		t.Fatalf("complete %v, %d models; want a complete result for 2 models", res.Complete, len(res.Models))
	}
	wantKinds := []string{"conv", "bn", "conv", "bn", "dense"}
	wantParams := []int{4*9 + 4, 8, 4*4*9 + 4, 8, 7*7*4*10 + 10}
	for _, m := range res.Models {
		if len(m.Layers) != 5 || len(m.Images) != 4 {
			t.Fatalf("%s: %d layers, %d images; want 5 and 4", m.Name, len(m.Layers), len(m.Images))
		}
		for k, l := range m.Layers {
			if l.Kind != wantKinds[k] || l.Params != wantParams[k] {
				t.Errorf("%s layer %d: %s with %d params, want %s with %d", m.Name, k, l.Kind, l.Params, wantKinds[k], wantParams[k])
			}
		}
		for _, img := range m.Images {
			// SPEC A.3: all parameters and every layer with ≥ K−1 = 9 parameters reach rank 9, where
			// FI = odds bound; the BN layers (8 parameters) have rank ≤ 8 and FI ≤ bound.
			if !AtBound(fisens.Result{FI: img.All.FI, Bound: img.Bound}) || img.All.Rank != 9 {
				t.Errorf("%s image %d: all-parameter FI %g rank %d, want the bound %g at rank 9", m.Name, img.Index, img.All.FI, img.All.Rank, img.Bound)
			}
			for k, r := range img.Layers {
				if r.FI > img.Bound*(1+1e-6) {
					t.Errorf("%s image %d layer %d: FI %g above the bound %g", m.Name, img.Index, k, r.FI, img.Bound)
				}
				if m.Layers[k].Kind == "bn" {
					if r.Rank > 8 || r.FI >= img.Bound*(1-1e-9) {
						t.Errorf("%s image %d BN layer %d: rank %d, FI %g; want rank ≤ 8 and FI below the bound %g", m.Name, img.Index, k, r.Rank, r.FI, img.Bound)
					}
				} else if r.Rank != 9 {
					t.Errorf("%s image %d layer %d (%s): rank %d, want 9", m.Name, img.Index, k, m.Layers[k].Kind, r.Rank)
				}
				if r.AuthorsRank < 0 || r.AuthorsFI < 0 {
					t.Errorf("%s image %d layer %d: authors' FI %g rank %d, want computed", m.Name, img.Index, k, r.AuthorsFI, r.AuthorsRank)
				}
			}
		}
		sums := m.LayerSummaries()
		if sums[1].FullRank != 0 || sums[0].FullRank != 4 || sums[4].FullRank != 4 || sums[0].AtBound != 4 || sums[4].AtBound != 4 {
			t.Errorf("%s: full-rank images per layer %d %d %d, at the bound conv1 %d dense %d; want conv1 4, bn1 0, dense 4, and 4, 4",
				m.Name, sums[0].FullRank, sums[1].FullRank, sums[4].FullRank, sums[0].AtBound, sums[4].AtBound)
		}
		if cap := m.RankCaption(); !strings.Contains(cap, "9 = K−1 in 12 of 20 image-layer pairs") {
			t.Errorf("%s: rank caption %q, want 12 full-rank pairs of 20", m.Name, cap)
		}
		for _, img := range m.Images {
			if !(img.MinProb > 0 && img.MinProb <= img.Prob) {
				t.Errorf("%s image %d: smallest class probability %g, π_y %g", m.Name, img.Index, img.MinProb, img.Prob)
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
	if len(rep.Figures) != 3 || len(rep.Tables) != 1 || len(rep.Findings) != 4 {
		t.Errorf("report has %d figures, %d tables, %d findings; want 3, 1, 4", len(rep.Figures), len(rep.Tables), len(rep.Findings))
	}
	for _, f := range rep.Figures {
		if _, err := os.Stat(filepath.Join(out, f.Name+".png")); err != nil {
			t.Error(err)
		}
	}
	if testing.Short() {
		return
	}

	// Invariance (Theorem 1): the scaling form gives the same FI where no parameter is zero.
	cs := c
	cs.OutDir = filepath.Join(out, "scaling")
	cfgS := cfg
	cfgS.Form, cfgS.Authors, cfgS.Models = fisens.Scaling, false, refs[:1]
	resS, err := RunSetup2(context.Background(), cs, cfgS)
	if err != nil {
		t.Fatal(err)
	}
	additive := map[int]Setup2Image{}
	for _, img := range res.Models[0].Images {
		additive[img.Index] = img
	}
	for _, img := range resS.Models[0].Images {
		ref, ok := additive[img.Index]
		if !ok {
			t.Fatalf("scaling run image %d is not in the additive run", img.Index)
		}
		for k, r := range img.Layers {
			if !near(r.FI, ref.Layers[k].FI, 1e-4) || r.Rank != ref.Layers[k].Rank {
				t.Errorf("image %d layer %d: scaling FI %g (rank %d), additive %g (rank %d)", img.Index, k, r.FI, r.Rank, ref.Layers[k].FI, ref.Layers[k].Rank)
			}
			if r.AuthorsRank != -1 {
				t.Errorf("authors' convention computed although Authors is false")
			}
		}
	}

	// Resuming: an image whose "all" row is missing is recomputed (its layer rows are kept).
	path := filepath.Join(out, "setup2", "param-fi-tiny-a.csv")
	d, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := d.Rows
	truncateRows(t, path, d.Header, recs[:len(recs)-3]) // the last image loses its "all" row and 2 layers
	res2, err := RunSetup2(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range res2.Models[0].Images {
		ref := res.Models[0].Images[i]
		if !near(img.All.FI, ref.All.FI, 1e-5) || !near(img.Layers[4].FI, ref.Layers[4].FI, 1e-5) {
			t.Errorf("resumed image %d: FI %g / %g, first run %g / %g", img.Index, img.All.FI, img.Layers[4].FI, ref.All.FI, ref.Layers[4].FI)
		}
	}
	if d2, err := results.Read(path); err != nil || len(d2.Rows) != len(recs) {
		t.Errorf("resumed file: %v, want %d rows", err, len(recs))
	}
}

func TestSetup2ConfigChecks(t *testing.T) {
	for _, bn := range []string{"go", "onnx:cpu"} {
		if err := DefaultSetup2Config(Quick, bn).check(); err != nil {
			t.Errorf("default quick/%s: %v", bn, err)
		}
	}
	cfg := DefaultSetup2Config(Quick, "go")
	cfg.Images = -1
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "Images") {
		t.Errorf("Images -1: %v", err)
	}
	cfg = DefaultSetup2Config(Quick, "go")
	cfg.Models = []string{"runs/x", "other/x"}
	if _, err := RunSetup2(context.Background(), Common{OutDir: t.TempDir()}, cfg); err == nil || !strings.Contains(err.Error(), "share the output name") {
		t.Errorf("two models named x: %v", err)
	}
}
