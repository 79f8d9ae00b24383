package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
)

// Setup 4 (Shu & Zhu, SPEC A.6): vulnerable areas. For every pixel, the k × k square centred on
// it (clipped at the borders, within one channel) is the perturbation; one FI map per scale k and
// channel (f = log π_ŷ), all from one input Jacobian. Then the one-pixel attack guided by the
// scale-1 map (channel mean for colour images): the pixel with the largest FI is set to 0 or 255
// (every channel; whichever flips the prediction, else whichever lowers π_ŷ more).

func init() {
	Register(Experiment{
		Name:    "setup4",
		Title:   "Setup 4: multi-scale FI maps and the FI-guided one-pixel attack",
		Paper:   "Shu & Zhu 2019",
		Order:   40,
		Run:     runSetup4Experiment,
		Summary: "FI maps of k×k patches (k = 1, 3, 5, 7) for chosen test images and the one-pixel attack guided by the k = 1 map",
	})
}

// Setup4Config configures Setup 4.
type Setup4Config struct {
	Models     []string // model references
	Dataset    string   // "" → the dataset each model records
	Split      string   // split the images come from (default "test")
	Pool       int      // images scanned for the automatic choice (seeded subset; 0 = all)
	Images     []int    // explicit image indices of the split; none → the least confident correctly classified and the most confidently misclassified image of the pool
	Scales     []int    // odd patch sizes (paper: 1, 3, 5, 7)
	Convention string   // "exact" or "authors": the maps that guide the attack
	AuthorsEps float64  // also draw the maps in the authors' convention with this absolute ε (0: don't)
}

// DefaultSetup4Config returns the settings of a scale; the pure-Go backend scans fewer images.
func DefaultSetup4Config(scale Scale, backendName string) Setup4Config {
	cfg := Setup4Config{Models: quickPairRefs, Split: datasets.SplitTest, Pool: 0, Scales: fisens.DefaultScales, Convention: "exact",
		AuthorsEps: fisens.DefaultAuthorsEps}
	switch {
	case scale == Paper:
		cfg.Models = paperModelsWithCIFAR()
	case pureGoBackend(backendName):
		cfg.Pool = 1000
	}
	return cfg
}

func (cfg Setup4Config) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("setup4: Models is empty, want at least one model reference")
	case cfg.Pool < 0:
		return fmt.Errorf("setup4: Pool = %d, want ≥ 0 (0 = all)", cfg.Pool)
	case len(cfg.Scales) == 0:
		return errors.New("setup4: Scales is empty, want odd patch sizes such as 1, 3, 5, 7")
	case cfg.Split == "":
		return errors.New("setup4: Split is empty")
	case cfg.AuthorsEps < 0:
		return fmt.Errorf("setup4: AuthorsEps = %g, want ≥ 0 (0: no authors' maps)", cfg.AuthorsEps)
	}
	for _, k := range cfg.Scales {
		if k < 1 || k%2 == 0 {
			return fmt.Errorf("setup4: patch size %d, want a positive odd number", k)
		}
	}
	_, err := ParseConvention(cfg.Convention)
	return err
}

// Setup4Result is what Setup 4 computed.
type Setup4Result struct {
	Config Setup4Config
	Models []Setup4Model
}

// Setup4Model is one model's maps and attacks.
type Setup4Model struct {
	Name, Ref, Dataset string
	K, H, W, C         int
	Images             []Setup4Image
}

// Setup4Image is one image's FI maps and the one-pixel attack.
type Setup4Image struct {
	Why                  string // why it was chosen
	Index, Source, Label int
	Image                []uint8           // HWC bytes
	Maps                 *fisens.PatchMaps // f = log π_ŷ, Config.Convention; Maps.Label = ŷ, Maps.Prob = π_ŷ
	AuthorsMaps          *fisens.PatchMaps // the same in the authors' convention (absolute ε = Config.AuthorsEps); nil when off
	Attack               OnePixelAttack
}

// OnePixelAttack is the outcome of the FI-guided one-pixel attack on one image.
type OnePixelAttack struct {
	Row, Col   int
	Value      uint8   // the raw value the pixel was set to (0 or 255)
	FI         float64 // the pixel's scale-1 FI (channel mean)
	PredBefore int
	ProbBefore float64 // π_ŷ before
	PredAfter  int
	ProbAfter  float64 // π_ŷ after (same ŷ)
	Flipped    bool
	Perturbed  []uint8 // the attacked image (HWC bytes)
}

// RunSetup4 computes the maps and attacks. The images are few: no resumable file is needed, and
// with --shard only shard 0 does the work.
func RunSetup4(ctx context.Context, c Common, cfg Setup4Config) (*Setup4Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	conv, _ := ParseConvention(cfg.Convention)
	res := &Setup4Result{Config: cfg}
	for _, ref := range cfg.Models {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("setup4: %w", err)
		}
		m, err := setup4Model(c, cfg, conv, lm)
		if err != nil {
			return nil, fmt.Errorf("setup4: %s: %w", lm.Name, err)
		}
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// chooseSetup4Images picks the least confident correctly classified image and the most confidently
// misclassified one of the pool.
func chooseSetup4Images(c Common, cfg Setup4Config, lm *LoadedModel, set *datasets.Set) ([]int, []string, error) {
	if cfg.Images != nil {
		why := make([]string, len(cfg.Images))
		for i, j := range cfg.Images {
			if j < 0 || j >= set.Len() {
				return nil, nil, fmt.Errorf("image %d out of range [0, %d) of %s", j, set.Len(), set.Name())
			}
			why[i] = "chosen"
		}
		return cfg.Images, why, nil
	}
	pool := SampleIndices(set.Len(), cfg.Pool, c.Seed)
	logits, err := lm.Predict(c, set, pool, 256)
	if err != nil {
		return nil, nil, err
	}
	K := lm.K()
	correct, wrong := -1, -1
	var pc, pw float64
	for j, i := range pool {
		z := make([]float64, K)
		for k := range z {
			z[k] = float64(logits[j*K+k])
		}
		pi, _, err := fisens.Softmax(z)
		if err != nil {
			return nil, nil, fmt.Errorf("%s example %d: %w", set.Name(), i, err)
		}
		pred := argmaxF(z)
		if pred == set.Label(i) {
			if correct < 0 || pi[pred] < pc {
				correct, pc = i, pi[pred]
			}
		} else if wrong < 0 || pi[pred] > pw {
			wrong, pw = i, pi[pred]
		}
	}
	var idx []int
	var why []string
	if correct >= 0 {
		idx = append(idx, correct)
		why = append(why, "least confident correct")
	}
	if wrong >= 0 {
		idx = append(idx, wrong)
		why = append(why, "most confident misclassified")
	}
	if len(idx) == 0 {
		return nil, nil, errors.New("no image to show")
	}
	return idx, why, nil
}

// setup4Model computes the maps and attacks of one model.
func setup4Model(c Common, cfg Setup4Config, conv fisens.Convention, lm *LoadedModel) (Setup4Model, error) {
	set, err := lm.Set(cfg.Split)
	if err != nil {
		return Setup4Model{}, err
	}
	h, w, ch := set.Dims()
	m := Setup4Model{Name: lm.Name, Ref: lm.Ref, Dataset: lm.Dataset, K: lm.K(), H: h, W: w, C: ch}
	idx, why, err := chooseSetup4Images(c, cfg, lm, set)
	if err != nil {
		return m, err
	}
	opt := fisens.Options{Objective: fisens.LogProbPred, Convention: conv}
	s1 := -1
	for s, k := range cfg.Scales {
		if k == 1 {
			s1 = s
		}
	}
	hi := 255 * lm.Scale.Factor()
	for n, i := range idx {
		bt, err := paddedBatch(set, []int{i}, 1, lm.Scale, h, w, ch)
		if err != nil {
			return m, err
		}
		jac, err := lm.Analyzer.InputJacobian(bt)
		if err != nil {
			return m, fmt.Errorf("image %d: %w", i, err)
		}
		pm, err := jac.PatchMaps(0, cfg.Scales, fisens.Additive, opt)
		if err != nil {
			return m, fmt.Errorf("image %d: %w", i, err)
		}
		var authors *fisens.PatchMaps
		if cfg.AuthorsEps > 0 {
			aopt := fisens.Options{Objective: fisens.LogProbPred, Convention: fisens.Authors, Eps: cfg.AuthorsEps}
			if authors, err = jac.PatchMaps(0, cfg.Scales, fisens.Additive, aopt); err != nil {
				return m, fmt.Errorf("image %d, authors' convention: %w", i, err)
			}
		}
		guide := pm
		if s1 < 0 {
			if guide, err = jac.PatchMaps(0, []int{1}, fisens.Additive, opt); err != nil {
				return m, fmt.Errorf("image %d: %w", i, err)
			}
		}
		fiMap := guide.ChannelMean(max(s1, 0))
		px := argmaxF(fiMap)
		z, err := editedLogits(lm, bt.X, h, w, ch, []pixelEdit{{Px: px, V: 0}, {Px: px, V: hi}}, 2)
		if err != nil {
			return m, fmt.Errorf("image %d: evaluating the attack: %w", i, err)
		}
		K := lm.K()
		t := PixelTry{Pixel: px, FI: fiMap[px]}
		for v := 0; v < 2; v++ {
			if t.Pred[v], t.Prob[v], err = probOf(z[v*K:(v+1)*K], pm.Label); err != nil {
				return m, fmt.Errorf("image %d attacked: %w", i, err)
			}
		}
		img, err := set.ReadImage(i)
		if err != nil {
			return m, err
		}
		best := t.Best(pm.Label)
		// Setting a pixel to the value it already has (a blank MNIST pixel to 0) is no attack:
		// show the other extreme then, even when it raises π_ŷ.
		if noop := func(v int) bool {
			for cc := 0; cc < ch; cc++ {
				if img[px*ch+cc] != PixelValues[v] {
					return false
				}
			}
			return true
		}; noop(best) {
			best = 1 - best
		}
		pert := append([]uint8(nil), img...)
		for cc := 0; cc < ch; cc++ {
			pert[px*ch+cc] = PixelValues[best]
		}
		m.Images = append(m.Images, Setup4Image{Why: why[n], Index: i, Source: set.SourceIndex(i), Label: set.Label(i), Image: img, Maps: pm, AuthorsMaps: authors,
			Attack: OnePixelAttack{Row: px / w, Col: px % w, Value: PixelValues[best], FI: fiMap[px], PredBefore: pm.Pred, ProbBefore: pm.Prob,
				PredAfter: t.Pred[best], ProbAfter: t.Prob[best], Flipped: t.Flipped(best, pm.Label), Perturbed: pert}})
	}
	return m, nil
}

// atBoundShare returns the share of the patches of scale index s (all channels) whose FI equals the
// odds bound (rank K − 1), and the map's largest FI.
func atBoundShare(pm *fisens.PatchMaps, s, K int) (share, maxFI float64) {
	n, at := 0, 0
	for c := 0; c < pm.C; c++ {
		for _, r := range pm.Maps[s][c] {
			n++
			if r.Rank == K-1 {
				at++
			}
			maxFI = math.Max(maxFI, r.FI)
		}
	}
	return float64(at) / float64(n), maxFI
}

// zeroShare returns the share of the patches of scale index s (all channels) whose FI is 0.
func zeroShare(pm *fisens.PatchMaps, s int) float64 {
	n, z := 0, 0
	for c := 0; c < pm.C; c++ {
		for _, r := range pm.Maps[s][c] {
			n++
			if r.FI == 0 {
				z++
			}
		}
	}
	return float64(z) / float64(n)
}

// logValues returns log10 of values, with values ≤ 0 set to the smallest positive value's log (or
// 0 when none is positive).
func logValues(v []float64) []float64 {
	lo := math.Inf(1)
	for _, x := range v {
		if x > 0 {
			lo = math.Min(lo, x)
		}
	}
	if math.IsInf(lo, 1) {
		lo = 1
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Log10(math.Max(x, lo))
	}
	return out
}

// minMax returns the range of v.
func minMax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// imageTitle describes an image of a model.
func (im Setup4Image) title(ds, split string) string {
	return fmt.Sprintf("%s %s #%d (%s): label %d, predicted %d (π %.3f)", datasetTitle(ds), split, im.Index, im.Why,
		im.Label, im.Maps.Pred, im.Maps.Prob)
}

// Findings returns one finding per model and image.
func (r *Setup4Result) Findings() []string {
	var out []string
	for _, m := range r.Models {
		for _, im := range m.Images {
			var sc []string
			for s, k := range im.Maps.Scales {
				share, mx := atBoundShare(im.Maps, s, m.K)
				sc = append(sc, fmt.Sprintf("k=%d: max FI %s, rank %d in %s of patches", k, fmtFI(mx), m.K-1, pctOf(int(math.Round(share*1000)), 1000)))
			}
			if am := im.AuthorsMaps; am != nil {
				var zs []string
				for s, k := range am.Scales {
					zs = append(zs, fmt.Sprintf("k=%d: %.0f %%", k, 100*zeroShare(am, s)))
				}
				sc = append(sc, fmt.Sprintf("in the authors' convention (absolute ε = %g) FI = 0 for %s of the patches", r.Config.AuthorsEps, strings.Join(zs, ", ")))
			}
			a := im.Attack
			verdict := "prediction unchanged"
			if a.Flipped {
				verdict = fmt.Sprintf("prediction flipped %d → %d", a.PredBefore, a.PredAfter)
			}
			out = append(out, fmt.Sprintf("%s, %s: odds bound (1−π_ŷ)/π_ŷ = %s; %s; attack on pixel (%d, %d) (FI %s) set to %d: π_ŷ %.3f → %.3f, %s",
				m.Name, im.title(m.Dataset, r.Config.Split), fmtFI(im.Maps.Bound), strings.Join(sc, ", "), a.Row, a.Col, fmtFI(a.FI), a.Value,
				a.ProbBefore, a.ProbAfter, verdict))
		}
	}
	return out
}

// Figures returns, per model, the multi-scale maps (shared log colour scale) and the attack grid
// original | perturbed | map | overlay.
func (r *Setup4Result) Figures() ([]ResultFigure, error) {
	var out []ResultFigure
	for _, m := range r.Models {
		var mapFigs []*figures.Figure
		var grid []figures.Image
		for _, im := range m.Images {
			var maps []figures.HeatMap
			for _, pm := range []*fisens.PatchMaps{im.Maps, im.AuthorsMaps} {
				if pm == nil {
					continue
				}
				for s, k := range pm.Scales {
					for c := 0; c < m.C; c++ {
						t := fmt.Sprintf("k = %d", k)
						if m.C > 1 {
							t += fmt.Sprintf(", channel %d", c)
						}
						if pm == im.AuthorsMaps {
							t += fmt.Sprintf(", authors' ε=%g", r.Config.AuthorsEps)
						}
						maps = append(maps, figures.HeatMap{Values: pm.FI(s, c), H: m.H, W: m.W, Title: t})
					}
				}
			}
			cols := len(im.Maps.Scales)
			if m.C > 1 {
				cols = m.C
			}
			f, err := figures.HeatMaps(im.title(m.Dataset, r.Config.Split), maps,
				figures.HeatMapOptions{SharedScale: true, LogScale: true, Cols: cols, Label: "FI (log scale)"})
			if err != nil {
				return nil, err
			}
			mapFigs = append(mapFigs, f)

			a := im.Attack
			orig := figures.Image{Pix: im.Image, H: m.H, W: m.W, C: m.C,
				Caption: fmt.Sprintf("#%d label %d\npred %d (π %.3f)", im.Index, im.Label, a.PredBefore, a.ProbBefore)}
			pert := figures.Image{Pix: a.Perturbed, H: m.H, W: m.W, C: m.C,
				Caption: fmt.Sprintf("(%d,%d) → %d\npred %d (π_%d %.3f)", a.Row, a.Col, a.Value, a.PredAfter, a.PredBefore, a.ProbAfter)}
			var guide []float64
			for s, k := range im.Maps.Scales {
				if k == 1 {
					guide = im.Maps.ChannelMean(s)
				}
			}
			if guide == nil {
				return nil, errors.New("setup4: the attack figure needs the k = 1 map (add 1 to Scales)")
			}
			lg := logValues(guide)
			lo, hi := minMax(lg)
			heat, err := figures.HeatImage(lg, m.H, m.W, lo, hi)
			if err != nil {
				return nil, err
			}
			heat.Caption = fmt.Sprintf("k=1 FI map (log)\nmax %s at (%d,%d)", fmtFI(a.FI), a.Row, a.Col)
			ov, err := figures.Overlay(orig, lg, 0.5)
			if err != nil {
				return nil, err
			}
			ov.Caption = "map over image"
			grid = append(grid, orig, pert, heat, ov)
		}
		maps, err := figures.Panels(fmt.Sprintf("Setup 4: %s, FI maps of k×k patches (f = log π_ŷ), one colour scale", m.Name), 1, mapFigs...)
		if err != nil {
			return nil, err
		}
		attack, err := figures.ImageGrid(fmt.Sprintf("Setup 4: %s, one-pixel attack guided by the k = 1 FI map", m.Name), grid, 4)
		if err != nil {
			return nil, err
		}
		var mf, af []string
		for _, im := range m.Images {
			var sc []string
			for s, k := range im.Maps.Scales {
				share, mx := atBoundShare(im.Maps, s, m.K)
				sc = append(sc, fmt.Sprintf("k=%d max %s (rank %d: %.0f %% of patches)", k, fmtFI(mx), m.K-1, 100*share))
			}
			mf = append(mf, fmt.Sprintf("#%d (bound %s): %s", im.Index, fmtFI(im.Maps.Bound), strings.Join(sc, ", ")))
			a := im.Attack
			af = append(af, fmt.Sprintf("#%d: pixel (%d, %d) → %d, prediction %d → %d, π_ŷ %.3f → %.3f", im.Index, a.Row, a.Col, a.Value,
				a.PredBefore, a.PredAfter, a.ProbBefore, a.ProbAfter))
		}
		out = append(out,
			ResultFigure{Figure: maps, Ref: FigureRef{Name: "setup4/maps-" + m.Name, Title: "Setup 4: multi-scale FI maps, " + m.Name,
				Caption: "FI of perturbing the k × k square centred on each pixel (clipped at the borders; per channel for colour images), " +
					"f = log π_(predicted label); one logarithmic colour scale shared by all maps of an image (FI = 0 gets the darkest colour). " +
					"First row: the exact pseudo-inverse (relative threshold); second row: the authors' convention (thin SVD, singular values " +
					"below an absolute ε dropped), which zeroes the patches whose Jacobian is small on the raw 0–255 pixel scale.",
				Claim: "The maps show the vulnerable areas of the image; larger patches smooth them.",
				Finding: strings.Join(mf, "; ") + fmt.Sprintf(". A patch of ≥ %d values generically reaches rank K−1 = %d, where FI = the odds bound "+
					"whatever the patch: only the k = 1 map (and border or dead patches) carries information beyond the confidence (SPEC A.3).", m.K-1, m.K-1)}},
			ResultFigure{Figure: attack, Ref: FigureRef{Name: "setup4/attack-" + m.Name, Title: "Setup 4: FI-guided one-pixel attack, " + m.Name,
				Caption: "Original | the pixel with the largest k = 1 FI set to 0 or 255 (whichever flips the prediction, else lowers π_ŷ more) | " +
					"the k = 1 FI map (log colour) | the map over the image; predictions before and after.",
				Claim:   "Changing the single most influential pixel can change the prediction.",
				Finding: strings.Join(af, "; ")}})
	}
	return out, nil
}

// Table lists the attacks.
func (r *Setup4Result) Table() ResultTable {
	header := []string{"model", "index", "source_index", "why", "label", "pred_before", "prob_before", "bound", "pixel_row", "pixel_col",
		"pixel_fi", "value", "pred_after", "prob_after", "flipped"}
	var data [][]string
	for _, m := range r.Models {
		for _, im := range m.Images {
			a := im.Attack
			data = append(data, []string{m.Name, strconv.Itoa(im.Index), strconv.Itoa(im.Source), im.Why, strconv.Itoa(im.Label),
				strconv.Itoa(a.PredBefore), fmtF(a.ProbBefore), fmtF(im.Maps.Bound), strconv.Itoa(a.Row), strconv.Itoa(a.Col), fmtF(a.FI),
				strconv.Itoa(int(a.Value)), strconv.Itoa(a.PredAfter), fmtF(a.ProbAfter), strconv.FormatBool(a.Flipped)})
		}
	}
	return ResultTable{Header: header, Rows: data, Ref: TableRef{Name: "setup4/attacks.csv", Title: "Setup 4: one-pixel attacks",
		Caption: "the images shown, the pixel with the largest k = 1 FI, the value it was set to and the predictions before and after"}}
}

// runSetup4Experiment is the registered wrapper.
func runSetup4Experiment(ctx context.Context, c Common) (*Report, error) {
	cfg := DefaultSetup4Config(c.Scale, c.Backend)
	if err := ApplyOverrides("setup4", &cfg, os.Getenv(OverridesEnv)); err != nil {
		return nil, err
	}
	rep := newReport(c, "setup4", "Setup 4: multi-scale FI maps and the FI-guided one-pixel attack", cfg)
	if c.Shard.N > 1 && c.Shard.I != 0 {
		rep.Findings = append(rep.Findings, fmt.Sprintf("shard %s: nothing to do (Setup 4 shows a few images; shard 0 computes them)", c.Shard))
		return rep, nil
	}
	res, err := RunSetup4(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	figs, err := res.Figures()
	if err != nil {
		return nil, err
	}
	var shown []string
	for _, m := range res.Models {
		for _, im := range m.Images {
			shown = append(shown, fmt.Sprintf("%s: %s #%d (%s)", m.Name, cfg.Split, im.Index, im.Why))
		}
	}
	rep.Settings["images shown"] = strings.Join(shown, "; ")
	rep.Findings = res.Findings()
	return rep, saveAll(c, rep, figs, []ResultTable{res.Table()})
}
