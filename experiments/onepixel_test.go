package experiments

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
)

func TestPixelTryBest(t *testing.T) {
	const y = 3
	cases := []struct {
		try  PixelTry
		want int
	}{
		{PixelTry{Pred: [2]int{3, 5}, Prob: [2]float64{0.2, 0.4}}, 1}, // only 255 flips, though π_y is higher
		{PixelTry{Pred: [2]int{5, 3}, Prob: [2]float64{0.4, 0.2}}, 0}, // only 0 flips
		{PixelTry{Pred: [2]int{3, 3}, Prob: [2]float64{0.6, 0.5}}, 1}, // neither: the lower π_y
		{PixelTry{Pred: [2]int{1, 2}, Prob: [2]float64{0.1, 0.3}}, 0}, // both: the lower π_y
	}
	for i, c := range cases {
		if got := c.try.Best(y); got != c.want {
			t.Errorf("case %d: Best = %d, want %d", i, got, c.want)
		}
	}
	r := Rate{K: 3, N: 12}
	if r.P() != 0.25 || math.Abs(r.SE()-math.Sqrt(0.25*0.75/12)) > 1e-15 {
		t.Errorf("rate %g ± %g", r.P(), r.SE())
	}
}

func TestOnePixelEndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "onepixel"), Seed: 1}
	cfg := OnePixelConfig{Models: refs, Dataset: datasets.MNIST, Split: datasets.SplitTest, Pool: 300, Images: 12, Batch: 4, Convention: "exact"}
	res, err := RunOnePixel(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	set := loadMNIST(t, datasets.SplitTest)
	for mi, m := range res.Models {
		if len(m.Rows) != cfg.Images || m.PoolSize != 300 {
			t.Fatalf("%s: %d rows, pool %d", m.Name, len(m.Rows), m.PoolSize)
		}
		lm, _ := LoadModel(c, refs[mi], datasets.MNIST)
		// Oracle 1: the attacked images are the least confident correct ones of the pool.
		pool := datasets.SampleIndices(set.Len(), 300, c.Seed, streamExamples)
		z, _ := lm.Predict(c, set, pool, 100)
		picked := map[int]bool{}
		for _, r := range m.Rows {
			picked[r.Index] = true
			// r.Prob comes from the FI batches, MaxProb from the prediction batches: float32 logits
			// of other batch shapes differ in the last bits.
			if r.Prob > m.MaxProb*(1+1e-5) {
				t.Fatalf("%s #%d: π %g above the recorded maximum %g", m.Name, r.Index, r.Prob, m.MaxProb)
			}
		}
		for j, i := range pool {
			pred, prob, _ := probOf(z[j*10:(j+1)*10], set.Label(i))
			if pred == set.Label(i) && !picked[i] && prob < m.MaxProb-1e-6 {
				t.Fatalf("%s: correct image %d (π %g) was skipped for one with π %g", m.Name, i, prob, m.MaxProb)
			}
		}
		// Oracle 2: for the first image, recompute the guides and the attacks directly.
		r := m.Rows[0]
		bt, _ := ReadBatch(set, []int{r.Index}, lm.Scale, 1)
		jac, err := lm.Analyzer.InputJacobian(bt)
		if err != nil {
			t.Fatal(err)
		}
		all := make([]int, 784)
		bestFI, bestJac := -1.0, -1.0
		for q := range all {
			res, err := jac.FI([]int{q}, fisens.Additive, fisens.Options{Objective: fisens.LogProbPred})
			if err != nil {
				t.Fatal(err)
			}
			bestFI, bestJac = max(bestFI, res[0].FI), max(bestJac, res[0].JacNorm)
		}
		if !nearRel(r.Tries[0].FI, bestFI, 1e-6) || !nearRel(r.Tries[1].Jac, bestJac, 1e-6) {
			t.Fatalf("%s #%d: guides FI %g / Jac %g, direct maxima %g / %g", m.Name, r.Index, r.Tries[0].FI, r.Tries[1].Jac, bestFI, bestJac)
		}
		for g, tr := range r.Tries {
			for v, val := range PixelValues {
				x := set.Batch([]int{r.Index}, lm.Scale)
				x[tr.Pixel] = float32(val) * lm.Scale.Factor()
				zz, err := lm.Analyzer.Logits(fisens.Batch{X: x, Shape: []int{1, 28, 28, 1}})
				if err != nil {
					t.Fatal(err)
				}
				pred, prob, _ := probOf(zz, r.Label)
				if pred != tr.Pred[v] || !nearRel(prob, tr.Prob[v], 1e-4) {
					t.Fatalf("%s #%d guide %s value %d: pred %d π %g, recorded %d %g", m.Name, r.Index, PixelGuides[g], val, pred, prob, tr.Pred[v], tr.Prob[v])
				}
			}
		}
		// Oracle 3: success counts from the rows.
		for g := range PixelGuides {
			either := m.Success(g, 2)
			if either.K < m.Success(g, 0).K || either.K < m.Success(g, 1).K || either.K > m.Success(g, 0).K+m.Success(g, 1).K {
				t.Fatalf("%s guide %d: inconsistent counts", m.Name, g)
			}
		}
	}
	// A resumed run computes nothing and reads the same rows.
	path := res.Files[0]
	before, _ := os.ReadFile(path)
	res2, err := RunOnePixel(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) || res2.Models[0].Success(0, 2) != res.Models[0].Success(0, 2) {
		t.Fatal("the resumed run changed the results file")
	}
	rep := runRegistered(t, c, "onepixel", "onepixel.Models="+strings.Join(refs, ",")+"; onepixel.Pool=300; onepixel.Images=12; onepixel.Batch=4", "onepixel/success.png", "onepixel/success.csv")
	if len(rep.Findings) != 2 || !strings.Contains(rep.Findings[0], "at random") {
		t.Errorf("findings %q", rep.Findings)
	}
}
