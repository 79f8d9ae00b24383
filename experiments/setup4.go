package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/results"
)

// Setup 4 (Shu & Zhu, SPEC A.6): vulnerable areas. For every pixel, the k × k square centred on
// it (clipped at the borders, within one channel) is the perturbation; one FI map per scale k and
// channel (f = log π_ŷ), all from one input Jacobian. Then the one-pixel attack guided by the
// scale-1 map (channel mean for colour images).
//
// By default it follows the authors' code (SPEC D): the images are chosen by whole-image FI (the
// test and the training image with the largest FI, f = log π_ŷ, of the scanned pools, and the
// rebuttal scripts' choice: a correctly classified test image with FI > 0.6 and π_ŷ > 0.5); the
// attack subtracts 76 from the pixel on one-channel images (MNIST) and sets it to black on colour
// images (CIFAR-10); maps are drawn on a linear colour scale from 0 to the map's maximum. Options
// keep this project's earlier choices: Choose "confidence" (the least confident correct and the most
// confidently wrong image), Attack "extremes" (0 or 255, every channel, whichever flips the
// prediction, else whichever lowers π_ŷ more) and LogScale.

func init() {
	register(Experiment{
		Name:     "setup4",
		Title:    "Setup 4: multi-scale FI maps and the FI-guided one-pixel attack",
		Paper:    "Shu & Zhu 2019",
		Order:    40,
		OneShard: true,
		Summary:  "FI maps of k×k patches (k = 1, 3, 5, 7) for chosen test images and the one-pixel attack guided by the k = 1 map",
	}, DefaultSetup4Config, RunSetup4)
}

// Setup4Config configures Setup 4.
type Setup4Config struct {
	Models  []string // model references
	Dataset string   // "" → the dataset each model records
	Split   string   // split the images come from (default "test")
	Pool    int      // images scanned for the automatic choice (seeded subset; 0 = all)
	Images  []int    // explicit image indices of the split; none → chosen by Choose
	// Choose picks the images when Images is empty: "fi" (default, the authors' choice: the largest
	// whole-image FI of the Split pool and of the training pool, and the rebuttal's correctly classified
	// image with FI > 0.6 and π_ŷ > 0.5) or "confidence" (the least confident correctly classified and
	// the most confidently misclassified image of the pool).
	Choose    string
	TrainPool int // training images scanned by Choose "fi" (seeded subset; 0 = all); Setup 1's subset by default
	Batch     int // images per input-Jacobian batch when scanning the pools (0: Setup 1's default batch)
	// Attack is the one-pixel change: "authors" (default: −76 on one-channel images, black on colour
	// images) or "extremes" (0 or 255 on every channel, whichever flips the prediction, else lowers π_ŷ more).
	Attack     string
	LogScale   bool    // colour the maps by log10 FI; false (default, the authors'): linear from 0 to the map's maximum
	Scales     []int   // odd patch sizes (paper: 1, 3, 5, 7)
	Convention string  // "exact" or "authors": the maps that guide the attack
	AuthorsEps float64 // also draw the maps in the authors' convention with this absolute ε (0: don't)
}

// DefaultSetup4Config returns the settings of a scale; the pure-Go backend scans fewer images.
func DefaultSetup4Config(scale Scale, backendName string) Setup4Config {
	// The FI pools are Setup 3's test subset and Setup 1's training subset: their whole-image FI
	// tables are shared, so nothing is recomputed after those setups.
	s3 := DefaultSetup3Config(scale, backendName)
	cfg := Setup4Config{Models: quickPairRefs, Split: datasets.SplitTest, Pool: s3.TestImages, TrainPool: s3.TrainImages,
		Scales: fisens.DefaultScales, Convention: "exact", AuthorsEps: fisens.DefaultAuthorsEps, Choose: "fi", Attack: "authors"}
	if scale == Paper {
		cfg.Models = paperModelsWithCIFAR()
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
	case !(cfg.AuthorsEps >= 0) || math.IsInf(cfg.AuthorsEps, 1):
		return fmt.Errorf("setup4: AuthorsEps = %g, want a finite value ≥ 0 (0: no authors' maps)", cfg.AuthorsEps)
	case cfg.TrainPool < 0:
		return fmt.Errorf("setup4: TrainPool = %d, want ≥ 0 (0 = all)", cfg.TrainPool)
	case cfg.Batch < 0:
		return fmt.Errorf("setup4: Batch = %d, want ≥ 0 (0 = Setup 1's default)", cfg.Batch)
	case cfg.Choose != "" && cfg.Choose != "fi" && cfg.Choose != "confidence":
		return fmt.Errorf("setup4: Choose %q, want \"fi\" or \"confidence\"", cfg.Choose)
	case cfg.Attack != "" && cfg.Attack != "authors" && cfg.Attack != "extremes":
		return fmt.Errorf("setup4: Attack %q, want \"authors\" or \"extremes\"", cfg.Attack)
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
	Why                  string  // why it was chosen
	Split                string  // the split it comes from
	WholeFI              float64 // its whole-image FI (f = log π_ŷ) when chosen by FI, else NaN
	Index, Source, Label int
	Image                []uint8           // HWC bytes
	Maps                 *fisens.PatchMaps // f = log π_ŷ, Config.Convention; Maps.Label = ŷ, Maps.Prob = π_ŷ
	AuthorsMaps          *fisens.PatchMaps // the same in the authors' convention (absolute ε = Config.AuthorsEps); nil when off
	Attack               OnePixelAttack
}

// OnePixelAttack is the outcome of the FI-guided one-pixel attack on one image.
type OnePixelAttack struct {
	Row, Col   int
	Change     string  // what was done to the pixel: "−76", "black", "0" or "255"
	Value      uint8   // the raw value the pixel was set to (first channel)
	FI         float64 // the pixel's scale-1 FI (channel mean)
	TopRow     int     // the pixel with the largest scale-1 FI, when the change would not alter it (authors' attack on a 0 pixel); else Row
	TopCol     int
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
		m, err := setup4Model(ctx, c, cfg, conv, lm)
		if err != nil {
			return nil, fmt.Errorf("setup4: %s: %w", lm.Name, err)
		}
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// setup4Pick is an image chosen for Setup 4.
type setup4Pick struct {
	Split, Why string
	Index      int
	FI         float64 // whole-image FI (f = log π_ŷ) when chosen by FI, else NaN
}

// chooseSetup4Images picks the images: explicit ones, by FI (the authors' choice) or by confidence.
func chooseSetup4Images(ctx context.Context, c Common, cfg Setup4Config, lm *LoadedModel, set *datasets.Set) ([]setup4Pick, error) {
	if cfg.Images != nil {
		var out []setup4Pick
		for _, j := range cfg.Images {
			if j < 0 || j >= set.Len() {
				return nil, fmt.Errorf("image %d out of range [0, %d) of %s", j, set.Len(), set.Name())
			}
			out = append(out, setup4Pick{Split: cfg.Split, Why: "chosen", Index: j, FI: math.NaN()})
		}
		return out, nil
	}
	if cfg.Choose == "confidence" {
		return chooseByConfidence(c, cfg, lm, set)
	}
	return chooseByFI(ctx, c, cfg, lm)
}

// chooseByFI picks the largest whole-image FI (f = log π_ŷ) of the Split pool and of the training
// pool, and the rebuttal scripts' image: correctly classified, FI > 0.6 and π_ŷ > 0.5 (the largest
// such FI). The FI tables are Setup 3's (the same files: nothing is recomputed after Setup 3).
func chooseByFI(ctx context.Context, c Common, cfg Setup4Config, lm *LoadedModel) ([]setup4Pick, error) {
	batch := cfg.Batch
	if batch <= 0 {
		batch = DefaultSetup1Config(c.Scale, c.Backend).Batch
	}
	table := func(split string, n int) ([]InputFIRow, error) {
		fi, err := sampleInputFI(ctx, c, lm, split, n, batch, cfg.Convention)
		return fi.Rows, err
	}
	largest := func(rs []InputFIRow, ok func(InputFIRow) bool) int {
		best := -1
		for j, r := range rs {
			if ok(r) && (best < 0 || r.Pred.FI > rs[best].Pred.FI) {
				best = j
			}
		}
		return best
	}
	everyRow := func(InputFIRow) bool { return true }
	var out []setup4Pick
	test, err := table(cfg.Split, cfg.Pool)
	if err != nil {
		return nil, err
	}
	if j := largest(test, everyRow); j >= 0 {
		out = append(out, setup4Pick{Split: cfg.Split, Why: fmt.Sprintf("largest FI of %d %s images", len(test), cfg.Split), Index: test[j].Index, FI: test[j].Pred.FI})
	}
	if j := largest(test, func(r InputFIRow) bool {
		return r.Pred.Pred == r.True.Label && r.Pred.FI > 0.6 && r.Pred.Prob > 0.5
	}); j >= 0 && (len(out) == 0 || test[j].Index != out[0].Index) {
		out = append(out, setup4Pick{Split: cfg.Split, Why: "rebuttal: correct, FI > 0.6, π > 0.5", Index: test[j].Index, FI: test[j].Pred.FI})
	}
	if cfg.Split != datasets.SplitTrain {
		train, err := table(datasets.SplitTrain, cfg.TrainPool)
		if err != nil {
			return nil, err
		}
		if j := largest(train, everyRow); j >= 0 {
			out = append(out, setup4Pick{Split: datasets.SplitTrain, Why: fmt.Sprintf("largest FI of %d training images", len(train)), Index: train[j].Index, FI: train[j].Pred.FI})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no image to show")
	}
	return out, nil
}

// chooseByConfidence picks the least confident correctly classified image and the most confidently
// misclassified one of the pool (this project's earlier choice).
func chooseByConfidence(c Common, cfg Setup4Config, lm *LoadedModel, set *datasets.Set) ([]setup4Pick, error) {
	pool := datasets.SampleIndices(set.Len(), cfg.Pool, c.Seed, streamExamples)
	logits, err := lm.Predict(c, set, pool, 256)
	if err != nil {
		return nil, err
	}
	K := lm.K()
	correct, wrong := -1, -1
	var pc, pw float64
	for j, i := range pool {
		pi, pred, err := softmaxRow(logits, j, K)
		if err != nil {
			return nil, fmt.Errorf("%s example %d: %w", set.Name(), i, err)
		}
		if pred == set.Label(i) {
			if correct < 0 || pi[pred] < pc {
				correct, pc = i, pi[pred]
			}
		} else if wrong < 0 || pi[pred] > pw {
			wrong, pw = i, pi[pred]
		}
	}
	var out []setup4Pick
	if correct >= 0 {
		out = append(out, setup4Pick{Split: cfg.Split, Why: "least confident correct", Index: correct, FI: math.NaN()})
	}
	if wrong >= 0 {
		out = append(out, setup4Pick{Split: cfg.Split, Why: "most confident misclassified", Index: wrong, FI: math.NaN()})
	}
	if len(out) == 0 {
		return nil, errors.New("no image to show")
	}
	return out, nil
}

// setup4Model computes the maps and attacks of one model.
func setup4Model(ctx context.Context, c Common, cfg Setup4Config, conv fisens.Convention, lm *LoadedModel) (Setup4Model, error) {
	set, err := lm.Set(cfg.Split)
	if err != nil {
		return Setup4Model{}, err
	}
	h, w, ch := set.Dims()
	m := Setup4Model{Name: lm.Name, Ref: lm.Ref, Dataset: lm.Dataset, K: lm.K(), H: h, W: w, C: ch}
	picks, err := chooseSetup4Images(ctx, c, cfg, lm, set)
	if err != nil {
		return m, err
	}
	sets := map[string]*datasets.Set{cfg.Split: set}
	opt := fisens.Options{Objective: fisens.LogProbPred, Convention: conv}
	s1 := -1
	for s, k := range cfg.Scales {
		if k == 1 {
			s1 = s
		}
	}
	factor := lm.Scale.Factor()
	hi := 255 * factor
	for _, pk := range picks {
		i := pk.Index
		set := sets[pk.Split]
		if set == nil {
			if set, err = lm.Set(pk.Split); err != nil {
				return m, err
			}
			sets[pk.Split] = set
		}
		bt, err := ReadBatch(set, []int{i}, lm.Scale, 1)
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
		img, err := set.ReadImage(i)
		if err != nil {
			return m, err
		}
		var a OnePixelAttack
		if cfg.Attack == "extremes" {
			a, err = extremesAttack(lm, bt.X, img, fiMap, pm, h, w, ch, hi)
		} else {
			a, err = authorsAttack(lm, bt.X, img, fiMap, pm, h, w, ch, factor)
		}
		if err != nil {
			return m, fmt.Errorf("image %d: evaluating the attack: %w", i, err)
		}
		m.Images = append(m.Images, Setup4Image{Why: pk.Why, Split: pk.Split, WholeFI: pk.FI, Index: i, Source: set.SourceIndex(i), Label: set.Label(i),
			Image: img, Maps: pm, AuthorsMaps: authors, Attack: a})
	}
	return m, nil
}

// authorsAttack is the authors' one-pixel change (SPEC D): subtract 76 from the pixel of a
// one-channel image (clipped at 0), set it to black on a colour image. The pixel is the one with the
// largest scale-1 FI among the pixels the change alters (a blank MNIST pixel cannot lose 76); the
// overall largest is recorded in TopRow/TopCol.
func authorsAttack(lm *LoadedModel, x []float32, img []uint8, fiMap []float64, pm *fisens.PatchMaps, h, w, ch int, factor float32) (OnePixelAttack, error) {
	newValue := func(px int) []uint8 {
		out := make([]uint8, ch)
		if ch == 1 {
			out[0] = uint8(max(int(img[px])-76, 0))
		}
		return out
	}
	alters := func(px int) bool {
		nv := newValue(px)
		for cc := 0; cc < ch; cc++ {
			if nv[cc] != img[px*ch+cc] {
				return true
			}
		}
		return false
	}
	top, px := argmaxF(fiMap), -1
	for q, v := range fiMap {
		if alters(q) && (px < 0 || v > fiMap[px]) {
			px = q
		}
	}
	change := "−76"
	if ch > 1 {
		change = "black"
	}
	a := OnePixelAttack{Change: change, TopRow: top / w, TopCol: top % w, PredBefore: pm.Pred, ProbBefore: pm.Prob, PredAfter: pm.Pred, ProbAfter: pm.Prob,
		Perturbed: append([]uint8(nil), img...)}
	if px < 0 { // a blank image: nothing to change
		a.Row, a.Col, a.Value = top/w, top%w, img[top*ch]
		return a, nil
	}
	nv := newValue(px)
	z, err := editedLogits(lm, x, h, w, ch, []pixelEdit{{Px: px, V: float32(nv[0]) * factor}}, 2)
	if err != nil {
		return a, err
	}
	if a.PredAfter, a.ProbAfter, err = probOf(z[:lm.K()], pm.Label); err != nil {
		return a, err
	}
	copy(a.Perturbed[px*ch:(px+1)*ch], nv)
	a.Row, a.Col, a.Value, a.FI, a.Flipped = px/w, px%w, nv[0], fiMap[px], a.PredAfter != pm.Label
	return a, nil
}

// extremesAttack sets the pixel with the largest scale-1 FI to 0 or 255 (every channel), whichever
// flips the prediction, else whichever lowers π_ŷ more (never the value it already has).
func extremesAttack(lm *LoadedModel, x []float32, img []uint8, fiMap []float64, pm *fisens.PatchMaps, h, w, ch int, hi float32) (OnePixelAttack, error) {
	px := argmaxF(fiMap)
	z, err := editedLogits(lm, x, h, w, ch, []pixelEdit{{Px: px, V: 0}, {Px: px, V: hi}}, 2)
	if err != nil {
		return OnePixelAttack{}, err
	}
	K := lm.K()
	t := PixelTry{Pixel: px, FI: fiMap[px]}
	for v := 0; v < 2; v++ {
		if t.Pred[v], t.Prob[v], err = probOf(z[v*K:(v+1)*K], pm.Label); err != nil {
			return OnePixelAttack{}, err
		}
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
	return OnePixelAttack{Row: px / w, Col: px % w, TopRow: px / w, TopCol: px % w, Change: strconv.Itoa(int(PixelValues[best])), Value: PixelValues[best],
		FI: fiMap[px], PredBefore: pm.Pred, ProbBefore: pm.Prob, PredAfter: t.Pred[best], ProbAfter: t.Prob[best], Flipped: t.Flipped(best, pm.Label),
		Perturbed: pert}, nil
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
	if im.Split != "" {
		split = im.Split
	}
	return fmt.Sprintf("%s %s #%d (%s): label %d, predicted %d (π %.3f)", datasetTitle(ds), split, im.Index, im.Why,
		im.Label, im.Maps.Pred, im.Maps.Prob)
}

// attackText describes the change made to the attacked pixel.
func (a OnePixelAttack) text() string {
	s := fmt.Sprintf("pixel (%d, %d) (FI %s) ", a.Row, a.Col, fmtFI(a.FI))
	switch a.Change {
	case "−76", "black":
		s += fmt.Sprintf("%s → %d", a.Change, a.Value)
	default:
		s += fmt.Sprintf("set to %d", a.Value)
	}
	if a.TopRow != a.Row || a.TopCol != a.Col {
		s += fmt.Sprintf(" (the largest-FI pixel (%d, %d) is already 0)", a.TopRow, a.TopCol)
	}
	return s
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
			whole := ""
			if !math.IsNaN(im.WholeFI) {
				whole = fmt.Sprintf("whole-image FI %s, ", fmtFI(im.WholeFI))
			}
			out = append(out, fmt.Sprintf("%s, %s: %sodds bound (1−π_ŷ)/π_ŷ = %s; %s; attack on %s: π_ŷ %.3f → %.3f, %s",
				m.Name, im.title(m.Dataset, r.Config.Split), whole, fmtFI(im.Maps.Bound), strings.Join(sc, ", "), a.text(),
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
			label := "FI (linear, from 0)"
			if r.Config.LogScale {
				label = "FI (log scale)"
			}
			f, err := figures.HeatMaps(im.title(m.Dataset, r.Config.Split), maps,
				figures.HeatMapOptions{SharedScale: true, LogScale: r.Config.LogScale, ZeroBased: true, Cols: cols, Label: label})
			if err != nil {
				return nil, err
			}
			mapFigs = append(mapFigs, f)

			a := im.Attack
			orig := figures.Image{Pix: im.Image, H: m.H, W: m.W, C: m.C,
				Caption: fmt.Sprintf("#%d label %d\npred %d (π %.3f)", im.Index, im.Label, a.PredBefore, a.ProbBefore)}
			pert := figures.Image{Pix: a.Perturbed, H: m.H, W: m.W, C: m.C,
				Caption: fmt.Sprintf("(%d,%d) %s → %d\npred %d (π_%d %.3f)", a.Row, a.Col, a.Change, a.Value, a.PredAfter, a.PredBefore, a.ProbAfter)}
			var guide []float64
			for s, k := range im.Maps.Scales {
				if k == 1 {
					guide = im.Maps.ChannelMean(s)
				}
			}
			if guide == nil {
				return nil, errors.New("setup4: the attack figure needs the k = 1 map (add 1 to Scales)")
			}
			lg, scale, alpha := guide, "linear", 0.6 // the authors: linear from 0, overlay at alpha 0.6
			lo, hi := minMax(lg)
			lo = 0
			if r.Config.LogScale {
				lg, scale, alpha = logValues(guide), "log", 0.5
				lo, hi = minMax(lg)
			}
			heat, err := figures.HeatImage(lg, m.H, m.W, lo, hi)
			if err != nil {
				return nil, err
			}
			_, top := minMax(guide)
			heat.Caption = fmt.Sprintf("k=1 FI map (%s)\nmax %s at (%d,%d)", scale, fmtFI(top), a.TopRow, a.TopCol)
			ov, err := figures.OverlayRange(orig, lg, alpha, lo, hi)
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
			af = append(af, fmt.Sprintf("%s #%d (%s): %s, prediction %d → %d, π_ŷ %.3f → %.3f", im.Split, im.Index, im.Why, a.text(),
				a.PredBefore, a.PredAfter, a.ProbBefore, a.ProbAfter))
		}
		out = append(out,
			ResultFigure{Figure: maps, Ref: FigureRef{Name: "setup4/maps-" + m.Name, Title: "Setup 4: multi-scale FI maps, " + m.Name,
				Caption: "FI of perturbing the k × k square centred on each pixel (clipped at the borders; per channel for colour images), " +
					"f = log π_(predicted label); one colour scale shared by all maps of an image (linear from 0 to the maximum as in the authors' " +
					"figures, or logarithmic with LogScale; FI = 0 gets the darkest colour). Images chosen by " + r.Config.chooseText() + ". " +
					"First row: the exact pseudo-inverse (relative threshold); second row: the authors' convention (thin SVD, singular values " +
					"below an absolute ε dropped), which zeroes the patches whose Jacobian is small on the raw 0–255 pixel scale.",
				Claim: "The maps show the vulnerable areas of the image; larger patches smooth them.",
				Finding: strings.Join(mf, "; ") + fmt.Sprintf(". A patch of ≥ %d values generically reaches rank K−1 = %d, where FI = the odds bound "+
					"whatever the patch: only the k = 1 map (and border or dead patches) carries information beyond the confidence (SPEC A.3).", m.K-1, m.K-1)}},
			ResultFigure{Figure: attack, Ref: FigureRef{Name: "setup4/attack-" + m.Name, Title: "Setup 4: FI-guided one-pixel attack, " + m.Name,
				Caption: "Original | " + r.Config.attackText() + " | " +
					"the k = 1 FI map | the map over the image; predictions before and after.",
				Claim:   "Changing the single most influential pixel can change the prediction.",
				Finding: strings.Join(af, "; ")}})
	}
	return out, nil
}

// chooseText says how the images were chosen.
func (cfg Setup4Config) chooseText() string {
	switch {
	case cfg.Images != nil:
		return "index (Images)"
	case cfg.Choose == "confidence":
		return "confidence (the least confident correct and the most confidently misclassified image)"
	}
	return "whole-image FI as the authors did (the largest FI of the test and of the training pool; the rebuttal's correct image with FI > 0.6 and π > 0.5)"
}

// attackText says what the attack does.
func (cfg Setup4Config) attackText() string {
	if cfg.Attack == "extremes" {
		return "the pixel with the largest k = 1 FI set to 0 or 255 (whichever flips the prediction, else lowers π_ŷ more)"
	}
	return "the authors' change of the pixel with the largest k = 1 FI that it alters: −76 on MNIST, black on colour images"
}

// Table lists the attacks.
func (r *Setup4Result) Table() ResultTable {
	header := []string{"model", "split", "index", "source_index", "why", "whole_fi", "label", "pred_before", "prob_before", "bound", "pixel_row", "pixel_col",
		"pixel_fi", "change", "value", "pred_after", "prob_after", "flipped"}
	var data [][]string
	for _, m := range r.Models {
		for _, im := range m.Images {
			a := im.Attack
			data = append(data, []string{m.Name, im.Split, strconv.Itoa(im.Index), strconv.Itoa(im.Source), im.Why, results.FormatFloat(im.WholeFI), strconv.Itoa(im.Label),
				strconv.Itoa(a.PredBefore), results.FormatFloat(a.ProbBefore), results.FormatFloat(im.Maps.Bound), strconv.Itoa(a.Row), strconv.Itoa(a.Col), results.FormatFloat(a.FI),
				a.Change, strconv.Itoa(int(a.Value)), strconv.Itoa(a.PredAfter), results.FormatFloat(a.ProbAfter), strconv.FormatBool(a.Flipped)})
		}
	}
	return ResultTable{Header: header, Rows: data, Ref: TableRef{Name: "setup4/attacks.csv", Title: "Setup 4: one-pixel attacks",
		Caption: "the images shown, the pixel with the largest k = 1 FI, the value it was set to and the predictions before and after"}}
}

// Report saves the maps, the attack figures and the table of attacked pixels and states the
// findings.
func (r *Setup4Result) Report(c Common) (*Report, error) {
	rep := newReport(c, "setup4", "Setup 4: multi-scale FI maps and the FI-guided one-pixel attack", r.Config)
	var shown []string
	for _, m := range r.Models {
		for _, im := range m.Images {
			shown = append(shown, fmt.Sprintf("%s: %s #%d (%s)", m.Name, im.Split, im.Index, im.Why))
		}
	}
	rep.Settings["images shown"] = strings.Join(shown, "; ")
	return saveResult(c, rep, r, r.Table())
}
