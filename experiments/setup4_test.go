package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
)

func TestSetup4EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "setup4"), Seed: 1}
	cfg := Setup4Config{Models: refs, Dataset: datasets.MNIST, Split: datasets.SplitTest, Pool: 300, Scales: []int{1, 3, 5, 7}, Convention: "exact",
		Choose: "confidence", Attack: "extremes", LogScale: true}
	res, err := RunSetup4(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	set := loadMNIST(t, datasets.SplitTest)
	for mi, m := range res.Models {
		if len(m.Images) != 2 || m.Images[0].Why != "least confident correct" || m.Images[1].Why != "most confident misclassified" {
			t.Fatalf("%s: images %d", m.Name, len(m.Images))
		}
		lm, err := LoadModel(c, refs[mi], datasets.MNIST)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range m.Images {
			pm, a := im.Maps, im.Attack
			if (im.Why == "least confident correct") != (pm.Pred == im.Label) {
				t.Fatalf("%s #%d (%s): label %d, pred %d", m.Name, im.Index, im.Why, im.Label, pm.Pred)
			}
			// Oracle 1: the attacked pixel has the largest k = 1 FI, and that FI is the FI of the
			// pixel's column computed directly from a fresh Jacobian.
			fi1 := pm.FI(0, 0)
			for _, v := range fi1 {
				if v > a.FI {
					t.Fatalf("%s #%d: attacked pixel FI %g is not the largest (%g)", m.Name, im.Index, a.FI, v)
				}
			}
			bt, _ := ReadBatch(set, []int{im.Index}, lm.Scale, 1)
			jac, err := lm.Analyzer.InputJacobian(bt)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := jac.FI(fisens.PatchColumns(28, 28, 1, a.Row, a.Col, 0, 1), fisens.Additive, fisens.Options{Objective: fisens.LogProbPred})
			if err != nil {
				t.Fatal(err)
			}
			if !nearRel(direct[0].FI, a.FI, 1e-6) {
				t.Fatalf("%s #%d: map FI %g, direct %g", m.Name, im.Index, a.FI, direct[0].FI)
			}
			// Oracle 2: SPEC A.3 on every patch: FI ≤ odds; a single pixel has rank ≤ 1.
			for s := range pm.Scales {
				for _, r := range pm.Maps[s][0] {
					if r.FI > pm.Bound*(1+1e-6) || (pm.Scales[s] == 1 && r.Rank > 1) {
						t.Fatalf("%s #%d k=%d: %+v above the odds %g", m.Name, im.Index, pm.Scales[s], r, pm.Bound)
					}
				}
			}
			// Oracle 3: the perturbed image is the original with one pixel changed, and its
			// prediction is what the model says on it.
			diff := 0
			for q := range im.Image {
				if im.Image[q] != a.Perturbed[q] {
					diff++
				}
			}
			if diff > 1 || a.Perturbed[a.Row*28+a.Col] != a.Value {
				t.Fatalf("%s #%d: %d pixels differ, pixel value %d, want %d", m.Name, im.Index, diff, a.Perturbed[a.Row*28+a.Col], a.Value)
			}
			x := make([]float32, len(a.Perturbed))
			for q, v := range a.Perturbed {
				x[q] = float32(v) * lm.Scale.Factor()
			}
			z, err := lm.Analyzer.Logits(fisens.Batch{X: x, Shape: []int{1, 28, 28, 1}})
			if err != nil {
				t.Fatal(err)
			}
			pred, prob, _ := probOf(z, pm.Label)
			if pred != a.PredAfter || !nearRel(prob, a.ProbAfter, 1e-4) || a.Flipped != (a.PredAfter != a.PredBefore) {
				t.Fatalf("%s #%d: after the attack pred %d π %g, recorded %d %g flipped %v", m.Name, im.Index, pred, prob, a.PredAfter, a.ProbAfter, a.Flipped)
			}
		}
	}
	figs, err := res.Figures()
	if err != nil || len(figs) != 4 {
		t.Fatalf("%d figures, err %v", len(figs), err)
	}
	rep := runRegistered(t, c, "setup4", "setup4.Models="+strings.Join(refs, ",")+"; setup4.Pool=300; setup4.TrainPool=200")
	// The authors' defaults: images chosen by whole-image FI, −76 on the largest-FI pixel it alters.
	def := DefaultSetup4Config(Quick, "")
	def.Models, def.Pool, def.TrainPool = refs, 300, 200
	dres, err := RunSetup4(context.Background(), c, def)
	if err != nil {
		t.Fatal(err)
	}
	nImages := 0
	for mi, m := range dres.Models {
		nImages += len(m.Images)
		lm, _ := LoadModel(c, refs[mi], datasets.MNIST)
		test, _, err := InputFITable(context.Background(), c, InputFISpec{Model: lm, Split: datasets.SplitTest, Indices: datasets.SampleIndices(10000, 300, c.Seed, streamExamples), Batch: 32})
		if err != nil {
			t.Fatal(err)
		}
		maxFI := 0.0
		for _, r := range test {
			maxFI = max(maxFI, r.Pred.FI)
		}
		if len(m.Images) < 2 || m.Images[0].WholeFI != maxFI || m.Images[len(m.Images)-1].Split != datasets.SplitTrain {
			t.Fatalf("%s: chosen %+v, want the largest test FI %g first and a training image last", m.Name, m.Images[0].WholeFI, maxFI)
		}
		for _, im := range m.Images {
			if strings.HasPrefix(im.Why, "rebuttal") && (im.Maps.Pred != im.Label || im.Maps.Prob <= 0.5 || im.WholeFI <= 0.6) {
				t.Fatalf("%s #%d: rebuttal image with π %g, FI %g, label %d pred %d", m.Name, im.Index, im.Maps.Prob, im.WholeFI, im.Label, im.Maps.Pred)
			}
			a := im.Attack
			px := a.Row*28 + a.Col
			if a.Change != "−76" || int(a.Perturbed[px]) != max(int(im.Image[px])-76, 0) || im.Image[px] == 0 {
				t.Fatalf("%s #%d: change %q, pixel %d → %d", m.Name, im.Index, a.Change, im.Image[px], a.Perturbed[px])
			}
			fi1 := im.Maps.FI(0, 0)
			for q, v := range fi1 {
				if im.Image[q] > 0 && v > a.FI {
					t.Fatalf("%s #%d: pixel %d (value %d) has FI %g > the attacked %g", m.Name, im.Index, q, im.Image[q], v, a.FI)
				}
			}
		}
	}
	if _, err := dres.Figures(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"setup4/maps-tiny-a.png", "setup4/attack-tiny-b.png", "setup4/attacks.csv"} {
		if _, err := os.Stat(filepath.Join(c.OutDir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	if len(rep.Findings) != nImages || !strings.Contains(rep.Findings[0], "k=3") {
		t.Errorf("findings %q", rep.Findings)
	}
}
