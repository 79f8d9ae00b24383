package experiments

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
)

func TestInformativeEndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "informative"), Seed: 1}
	cfg := InformativeConfig{Models: refs, Dataset: datasets.MNIST, Split: datasets.SplitTest, Images: 3, LayerImages: 1,
		RankCuts: []float64{1e-15, 1e-13, 1e-8}, CookChecks: 3}
	res, err := RunInformative(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Models {
		sizes := map[string]int{KindPixel: 1, KindCorner: 4, KindEdge: 6, KindInterior: 9, KindImage: 784, KindChannel: 1}
		n := map[string]int{}
		for _, p := range m.Points {
			n[p.Kind]++
			if want, ok := sizes[p.Kind]; ok && p.P != want {
				t.Fatalf("%s %s at %s: p = %d, want %d", m.Name, p.Kind, p.Where, p.P, want)
			}
			// SPEC A.3: 0 ≤ FI ≤ odds; rank ≤ min(p, K−1).
			if p.FI < 0 || p.FI > p.Odds*(1+1e-6)+1e-12 || p.Rank > min(p.P, m.K-1) {
				t.Fatalf("%s %s at %s: FI %g, odds %g, rank %d", m.Name, p.Kind, p.Where, p.FI, p.Odds, p.Rank)
			}
			if p.Kind != KindLayer && p.P < m.K-1 && !(p.Cook >= 0) {
				t.Fatalf("%s %s at %s: Cook %g", m.Name, p.Kind, p.Where, p.Cook)
			}
		}
		if n[KindPixel] != 3*784 || n[KindCorner] != 3*4 || n[KindEdge] != 3*4 || n[KindImage] != 3 || n[KindChannel] == 0 || n[KindLayer] == 0 {
			t.Fatalf("%s: points %v", m.Name, n)
		}
		// The counts at the default cut are the points at the bound.
		for _, kind := range []string{KindImage, KindLayer} {
			at := 0
			for _, p := range m.points(kind) {
				if p.Rank == m.K-1 && AtBound(resultOfPoint(p)) {
					at++
				}
			}
			if m.AtBound[kind][1] != at || m.Total[kind] != len(m.points(kind)) {
				t.Errorf("%s %s: %d at the bound at 1e-13, points say %d (total %d of %d)", m.Name, kind, m.AtBound[kind][1], at, m.Total[kind], len(m.points(kind)))
			}
			// A looser cut can only lower the rank.
			if m.AtBound[kind][2] > m.AtBound[kind][0] {
				t.Errorf("%s %s: more at the bound at 1e-8 than at 1e-15: %v", m.Name, kind, m.AtBound[kind])
			}
		}
		if len(m.CookCheck) != 3 {
			t.Fatalf("%s: %d Cook checks", m.Name, len(m.CookCheck))
		}
		for _, d := range m.CookCheck {
			if !(d < 1e-3) {
				t.Errorf("%s: Cook from the Jacobian differs from double backpropagation by a relative %g", m.Name, d)
			}
		}
		if len(m.Gap) != 3 || !(m.Gap[0] > 0 && m.Gap[0] <= 1) {
			t.Errorf("%s: gaps %v", m.Name, m.Gap)
		}
	}
	rep := runRegistered(t, c, "informative", "informative.Models="+strings.Join(refs, ",")+"; informative.Images=2; informative.LayerImages=1", "informative/bound.png", "informative/correlations.png", "informative/rankcut.png", "informative/summary.csv", "informative/rankcut.csv")
	for _, f := range rep.Findings {
		t.Log(f)
	}
	if len(rep.Findings) < 6 || math.IsNaN(float64(len(rep.Findings))) {
		t.Errorf("findings %q", rep.Findings)
	}
}
