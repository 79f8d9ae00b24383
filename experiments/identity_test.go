package experiments

import (
	"context"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
)

func TestIdentityEndToEnd(t *testing.T) {
	refs := tinyModels(t)
	c := Common{Scale: Quick, OutDir: testOutDir(t, "identity"), Seed: 1}
	// The one-pixel study first, so its single-pixel FI joins the figure.
	if _, err := RunOnePixel(context.Background(), c, OnePixelConfig{Models: refs, Dataset: datasets.MNIST, Split: datasets.SplitTest,
		Pool: 200, Images: 8, Batch: 4}); err != nil {
		t.Fatal(err)
	}
	cfg := IdentityConfig{Models: refs, Dataset: datasets.MNIST, TrainImages: 50, TestImages: 30, Batch: 16, Convention: "exact", OnePixel: true}
	res, err := RunIdentity(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Models {
		if len(m.True) != 50 || len(m.Pred) != 80 || len(m.Pixel) != 8 {
			t.Fatalf("%s: %d true, %d pred, %d pixel rows", m.Name, len(m.True), len(m.Pred), len(m.Pixel))
		}
		// SPEC A.3, the identity the figure shows.
		for _, x := range append(append([]fisens.Result{}, m.True...), m.Pred...) {
			if x.FI > x.Bound*(1+1e-6) || (x.Rank == 9 && !nearRel(x.FI, x.Bound, 1e-6)) {
				t.Fatalf("%s: FI %g, odds %g, rank %d", m.Name, x.FI, x.Bound, x.Rank)
			}
		}
		// A single pixel is below the odds.
		for _, p := range m.Pixel {
			if p.MaxFI > p.Bound*(1+1e-6) {
				t.Fatalf("%s #%d: single-pixel FI %g above the odds %g", m.Name, p.Index, p.MaxFI, p.Bound)
			}
		}
	}
	if d := departures(nil, 10); d.N != 0 {
		t.Fatal("departures of nothing")
	}
	figs, err := res.Figures()
	if err != nil || len(figs) != 2 {
		t.Fatalf("%d figures, err %v", len(figs), err)
	}
	rep := runRegistered(t, c, "identity", "identity.Models="+strings.Join(refs, ",")+"; identity.TrainImages=50; identity.TestImages=30; identity.Batch=16", "identity/fi-vs-odds.png", "identity/ratio.png")
	if len(rep.Findings) != 6 || !strings.Contains(rep.Findings[2], "single pixel") {
		t.Errorf("findings %q", rep.Findings)
	}
}
