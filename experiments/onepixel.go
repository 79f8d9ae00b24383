package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/results"
)

// The one-pixel attack study (beyond the paper, whose Setup 4 shows two examples and no success
// rate): over many test images, change ONE pixel chosen by a guide map to an extreme value (0 or
// 255 on the raw pixel scale, every channel of the pixel) and count how often the prediction
// flips. Guides, all from the same input Jacobian:
//
//   - FI: the pixel with the largest single-pixel FI (f = log π_ŷ; channel mean for colour images);
//   - Jacobian norm: the pixel with the largest |∂ log π_ŷ/∂x_q| (root-sum-square over channels);
//   - random: a seeded uniform pixel.
//
// A single pixel is a one-dimensional perturbation (p = 1 < K − 1), so its FI is
// (∇f·j)² / (jᵀ(diag π − ππᵀ)j) with j = ∂z/∂x_q: it measures how well the pixel's direction in
// logit space aligns with changing log π_ŷ, independently of the gradient's magnitude, while the
// Jacobian norm is the magnitude. The study tests which of the two finds a flipping pixel.

func init() {
	register(Experiment{
		Name:    "onepixel",
		Title:   "One-pixel attacks guided by FI, by the Jacobian norm and at random",
		Paper:   "Shu & Zhu 2019 (beyond the paper)",
		Order:   45,
		Summary: "success rate of one-pixel attacks on the least confident correctly classified test images, by guide and pixel value",
	}, DefaultOnePixelConfig, RunOnePixel)
}

// OnePixelConfig configures the one-pixel attack study.
type OnePixelConfig struct {
	Models     []string // model references
	Dataset    string   // "" → the dataset each model records
	Split      string   // split attacked (default "test")
	Pool       int      // images of the split scanned (seeded subset; 0 = all)
	Images     int      // the least confident correctly classified images of the pool that are attacked
	Batch      int      // images per Jacobian
	Convention string   // "exact" or "authors"
}

// DefaultOnePixelConfig returns the settings of a scale; quick sizes are smaller on the pure-Go backend.
func DefaultOnePixelConfig(scale Scale, backendName string) OnePixelConfig {
	cfg := OnePixelConfig{Models: quickPairRefs, Split: datasets.SplitTest, Pool: 0, Images: 300, Batch: 32, Convention: "exact"}
	switch {
	case scale == Paper:
		cfg.Models = paperModelsWithCIFAR()
		cfg.Images = 500
	case pureGoBackend(backendName):
		cfg.Pool = 1000
		cfg.Images = 40
		cfg.Batch = 8
	}
	return cfg
}

func (cfg OnePixelConfig) check() error {
	switch {
	case cfg.Pool < 0:
		return fmt.Errorf("onepixel: Pool = %d, want ≥ 0 (0 = all)", cfg.Pool)
	case cfg.Images < 1:
		return fmt.Errorf("onepixel: Images = %d, want ≥ 1", cfg.Images)
	case cfg.Split == "":
		return errors.New("onepixel: Split is empty")
	}
	return checkCommon("onepixel", cfg.Models, cfg.Batch, cfg.Convention)
}

// PixelGuides names the guides of the study, in table order.
var PixelGuides = []string{"FI", "Jacobian norm", "random"}

// PixelValues are the raw pixel values tried (0 and 255, every channel of the pixel).
var PixelValues = []uint8{0, 255}

// PixelTry is the outcome of one guided pixel change.
type PixelTry struct {
	Pixel int     // row-major pixel index r·W + c
	FI    float64 // the pixel's single-pixel FI (channel mean)
	Jac   float64 // the pixel's |∂ log π_ŷ/∂x| (root-sum-square over channels)
	Pred  [2]int  // prediction after setting the pixel to PixelValues[v]
	Prob  [2]float64
}

// Flipped reports whether setting the pixel to PixelValues[v] changed the prediction from y.
func (t PixelTry) Flipped(v, y int) bool { return t.Pred[v] != y }

// Best returns the value index that flips the prediction (or, when neither or both do, the one
// that lowers π_y more), as in the paper's attack.
func (t PixelTry) Best(y int) int {
	f0, f1 := t.Flipped(0, y), t.Flipped(1, y)
	if f0 != f1 {
		if f1 {
			return 1
		}
		return 0
	}
	if t.Prob[1] < t.Prob[0] {
		return 1
	}
	return 0
}

// OnePixelRow is one attacked image.
type OnePixelRow struct {
	Index, Source, Label int
	Prob, Bound          float64     // π_ŷ before (ŷ = label: only correctly classified images are attacked) and its odds
	MaxFI                float64     // the largest single-pixel FI of the image (= Tries[0].FI)
	Tries                [3]PixelTry // by guide, in PixelGuides order
}

// onePixelColumns are the per-example columns of the study's table.
func onePixelColumns() []results.Column {
	c := []results.Column{results.IntCol("index"), results.IntCol("source_index"), results.IntCol("label"), results.FloatCol("prob"), results.FloatCol("bound")}
	for _, g := range []string{"fi", "jac", "rand"} {
		c = append(c, results.IntCol(g+"_pixel"), results.FloatCol(g+"_fi"), results.FloatCol(g+"_jac"), results.IntCol(g+"_pred0"),
			results.FloatCol(g+"_prob0"), results.IntCol(g+"_pred255"), results.FloatCol(g+"_prob255"))
	}
	return append(c, results.TextCol("shard"))
}

// onePixelHeader is the per-example CSV header of the study.
func onePixelHeader() []string { return results.Spec{Columns: onePixelColumns()}.Header() }

// OnePixelResult is what the study computed.
type OnePixelResult struct {
	Config   OnePixelConfig
	Complete bool
	Files    []string
	Models   []OnePixelModel
}

// OnePixelModel is one model's attacks.
type OnePixelModel struct {
	Name, Ref, Dataset string
	K, H, W, C         int
	PoolSize           int     // images scanned
	Correct            int     // correctly classified images of the pool
	MaxProb            float64 // the largest π_ŷ among the attacked images (they are the least confident)
	Rows               []OnePixelRow
}

// Rate is a success count.
type Rate struct {
	K, N int
}

// P returns the rate k/n.
func (r Rate) P() float64 {
	if r.N == 0 {
		return math.NaN()
	}
	return float64(r.K) / float64(r.N)
}

// SE returns the binomial standard error √(p(1−p)/n).
func (r Rate) SE() float64 {
	p := r.P()
	return math.Sqrt(p * (1 - p) / float64(r.N))
}

// Success returns the success (flip) rate of guide g with value index v (0: value 0, 1: value
// 255, 2: either value).
func (m OnePixelModel) Success(g, v int) Rate {
	r := Rate{N: len(m.Rows)}
	for _, row := range m.Rows {
		t := row.Tries[g]
		if (v < 2 && t.Flipped(v, row.Label)) || (v == 2 && (t.Flipped(0, row.Label) || t.Flipped(1, row.Label))) {
			r.K++
		}
	}
	return r
}

// MeanProbAfter returns the mean π_y after guide g's best value.
func (m OnePixelModel) MeanProbAfter(g int) float64 {
	var s float64
	for _, row := range m.Rows {
		t := row.Tries[g]
		s += t.Prob[t.Best(row.Label)]
	}
	return s / float64(len(m.Rows))
}

// RunOnePixel runs the study (resumable and shardable: one CSV row per attacked image).
func RunOnePixel(ctx context.Context, c Common, cfg OnePixelConfig) (*OnePixelResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	conv, _ := ParseConvention(cfg.Convention)
	res := &OnePixelResult{Config: cfg, Complete: true}
	for _, ref := range cfg.Models {
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("onepixel: %w", err)
		}
		m, file, complete, err := onePixelModel(ctx, c, cfg, conv, lm)
		if err != nil {
			return nil, fmt.Errorf("onepixel: %s: %w", lm.Name, err)
		}
		res.Files = append(res.Files, file)
		res.Complete = res.Complete && complete
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// leastConfidentCorrect returns the n correctly classified examples of pool with the smallest π_ŷ
// (ties: lower index first), sorted by index, with the number of correct ones and the largest π_ŷ
// picked.
func leastConfidentCorrect(set *datasets.Set, pool []int, logits []float32, K, n int) (picked []int, correct int, maxProb float64, err error) {
	type cand struct {
		i int
		p float64
	}
	var cands []cand
	for j, i := range pool {
		pi, pred, err := softmaxRow(logits, j, K)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s example %d: %w", set.Name(), i, err)
		}
		if pred == set.Label(i) {
			cands = append(cands, cand{i, pi[pred]})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].p < cands[b].p })
	for _, cd := range cands[:min(n, len(cands))] {
		picked = append(picked, cd.i)
		maxProb = math.Max(maxProb, cd.p)
	}
	sort.Ints(picked)
	return picked, len(cands), maxProb, nil
}

// onePixelModel attacks the images of one model.
func onePixelModel(ctx context.Context, c Common, cfg OnePixelConfig, conv fisens.Convention, lm *LoadedModel) (OnePixelModel, string, bool, error) {
	set, err := lm.Set(cfg.Split)
	if err != nil {
		return OnePixelModel{}, "", false, err
	}
	h, w, ch := set.Dims()
	m := OnePixelModel{Name: lm.Name, Ref: lm.Ref, Dataset: lm.Dataset, K: lm.K(), H: h, W: w, C: ch}
	pool := datasets.SampleIndices(set.Len(), cfg.Pool, c.Seed, streamExamples)
	m.PoolSize = len(pool)
	logits, err := lm.Predict(c, set, pool, 256)
	if err != nil {
		return m, "", false, err
	}
	picked, correct, maxProb, err := leastConfidentCorrect(set, pool, logits, m.K, cfg.Images)
	if err != nil {
		return m, "", false, err
	}
	if len(picked) == 0 {
		return m, "", false, fmt.Errorf("no correctly classified image among the %d scanned", len(pool))
	}
	m.Correct, m.MaxProb = correct, maxProb

	base, err := c.Path(fmt.Sprintf("onepixel/%s-%s-%s.csv", lm.Name, lm.Dataset, cfg.Split))
	if err != nil {
		return m, "", false, err
	}
	spec := results.Spec{Columns: onePixelColumns(), Key: []string{"index"}, Settings: results.Settings{
		"model": lm.Ref, "dataset": lm.Dataset, "split": cfg.Split, "input_scale": string(lm.Scale),
		"convention": conv.String(), "seed": strconv.FormatInt(c.Seed, 10),
		"measure": "one-pixel attacks: FI / Jacobian-norm / random guide, pixel set to 0 and to 255, objective log p(pred)"}}
	f, err := openTable(c, base, spec)
	if err != nil {
		return m, "", false, err
	}
	defer f.Close()
	path := f.Path()
	var todo []int
	for _, i := range picked {
		if c.Shard.Owns(i) && !f.Has(strconv.Itoa(i)) {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		c.Logf("   %s: one-pixel attacks on %d of %d images → %s", lm.Name, len(todo), len(picked), path)
		if err := attackImages(ctx, c, cfg, conv, lm, set, todo, f); err != nil {
			return m, "", false, err
		}
	}
	byIndex := map[int]OnePixelRow{}
	for n, rec := range f.Rows() {
		r, err := parseOnePixelRow(rec)
		if err != nil {
			return m, "", false, fmt.Errorf("%s row %d: %w", path, n+1, err)
		}
		byIndex[r.Index] = r
	}
	if err := f.Close(); err != nil {
		return m, "", false, err
	}
	complete := true
	for _, i := range picked {
		r, ok := byIndex[i]
		if !ok {
			complete = false
			continue
		}
		m.Rows = append(m.Rows, r)
	}
	return m, path, complete, nil
}

// pixelGuides returns the FI-guided, Jacobian-norm-guided and random pixels of example b of jac,
// with every pixel's FI (channel mean) and Jacobian norm (root-sum-square over channels).
func pixelGuides(jac *fisens.InputJacobian, b int, opt fisens.Options, seed int64, index int) (pix [3]int, fiMap, jacMap []float64, pm *fisens.PatchMaps, err error) {
	pm, err = jac.PatchMaps(b, []int{1}, fisens.Additive, opt)
	if err != nil {
		return pix, nil, nil, nil, err
	}
	fiMap = pm.ChannelMean(0)
	jacMap = make([]float64, pm.H*pm.W)
	for c := 0; c < pm.C; c++ {
		for q, r := range pm.Maps[0][c] {
			jacMap[q] += r.JacNorm * r.JacNorm
		}
	}
	for q := range jacMap {
		jacMap[q] = math.Sqrt(jacMap[q])
	}
	pix[0], pix[1] = argmaxF(fiMap), argmaxF(jacMap)
	pix[2] = datasets.NewRNG(seed, 0x0e91_0000+uint64(index)).IntN(pm.H * pm.W)
	return pix, fiMap, jacMap, pm, nil
}

// argmaxF returns the index of the largest value (the first on ties).
// softmaxRow returns π = softmax(z) and the predicted class argmax z of example j of logits
// ([N·K], row-major).
func softmaxRow(logits []float32, j, K int) (pi []float64, pred int, err error) {
	z := make([]float64, K)
	for k := range z {
		z[k] = float64(logits[j*K+k])
	}
	pi, _, err = fisens.Softmax(z)
	return pi, argmaxF(z), err
}

func argmaxF(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// pixelEdit is one copy of example Ex with every channel of pixel Px set to V (model scale).
type pixelEdit struct {
	Ex, Px int
	V      float32
}

// editedLogits returns the logits [len(edits)·K] of the edited images, evaluated in batches of
// exactly size images (padded) so that one graph shape is compiled.
func editedLogits(lm *LoadedModel, x []float32, h, w, ch int, edits []pixelEdit, size int) ([]float32, error) {
	per := h * w * ch
	K := lm.K()
	out := make([]float32, 0, len(edits)*K)
	for lo := 0; lo < len(edits); lo += size {
		part := edits[lo:min(lo+size, len(edits))]
		buf := make([]float32, size*per)
		for i := 0; i < size; i++ {
			e := part[min(i, len(part)-1)]
			img := buf[i*per : (i+1)*per]
			copy(img, x[e.Ex*per:(e.Ex+1)*per])
			for c := 0; c < ch; c++ {
				img[e.Px*ch+c] = e.V
			}
		}
		z, err := lm.Analyzer.Logits(fisens.Batch{X: buf, Shape: []int{size, h, w, ch}})
		if err != nil {
			return nil, err
		}
		out = append(out, z[:len(part)*K]...)
	}
	return out, nil
}

// probOf returns argmax and π_y of logits z (float32, length K).
func probOf(z []float32, y int) (pred int, prob float64, err error) {
	zz := make([]float64, len(z))
	for k, v := range z {
		zz[k] = float64(v)
	}
	pi, _, err := fisens.Softmax(zz)
	if err != nil {
		return 0, 0, err
	}
	return argmaxF(zz), pi[y], nil
}

// attackImages computes and writes the rows of examples todo.
func attackImages(ctx context.Context, c Common, cfg OnePixelConfig, conv fisens.Convention, lm *LoadedModel, set *datasets.Set, todo []int, f *results.Table) error {
	h, w, ch := set.Dims()
	opt := fisens.Options{Objective: fisens.LogProbPred, Convention: conv}
	hi := 255 * lm.Scale.Factor()
	bar := progress.New(c.Progress, "one-pixel "+lm.Name, len(todo))
	defer bar.Done()
	K := lm.K()
	for lo := 0; lo < len(todo); lo += cfg.Batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := todo[lo:min(lo+cfg.Batch, len(todo))]
		bt, err := ReadBatch(set, idx, lm.Scale, cfg.Batch)
		if err != nil {
			return err
		}
		jac, err := lm.Analyzer.InputJacobian(bt)
		if err != nil {
			return fmt.Errorf("examples %d..%d: %w", idx[0], idx[len(idx)-1], err)
		}
		rowsOut := make([]OnePixelRow, len(idx))
		var edits []pixelEdit
		for b, i := range idx {
			pix, fiMap, jacMap, pm, err := pixelGuides(jac, b, opt, c.Seed, i)
			if err != nil {
				return fmt.Errorf("example %d: %w", i, err)
			}
			r := OnePixelRow{Index: i, Source: set.SourceIndex(i), Label: set.Label(i), Prob: pm.Prob, Bound: pm.Bound, MaxFI: fiMap[pix[0]]}
			for g, p := range pix {
				r.Tries[g] = PixelTry{Pixel: p, FI: fiMap[p], Jac: jacMap[p]}
				edits = append(edits, pixelEdit{Ex: b, Px: p, V: 0}, pixelEdit{Ex: b, Px: p, V: hi})
			}
			rowsOut[b] = r
		}
		z, err := editedLogits(lm, bt.X, h, w, ch, edits, 2*len(PixelGuides)*cfg.Batch)
		if err != nil {
			return fmt.Errorf("examples %d..%d: evaluating the attacks: %w", idx[0], idx[len(idx)-1], err)
		}
		e := 0
		recs := make([][]string, 0, len(idx))
		for b := range idx {
			r := &rowsOut[b]
			for g := range r.Tries {
				for v := 0; v < 2; v++ {
					pred, prob, err := probOf(z[e*K:(e+1)*K], r.Label)
					if err != nil {
						return fmt.Errorf("example %d attacked: %w", r.Index, err)
					}
					r.Tries[g].Pred[v], r.Tries[g].Prob[v] = pred, prob
					e++
				}
			}
			rec := []string{strconv.Itoa(r.Index), strconv.Itoa(r.Source), strconv.Itoa(r.Label), results.FormatFloat(r.Prob), results.FormatFloat(r.Bound)}
			for _, t := range r.Tries {
				rec = append(rec, strconv.Itoa(t.Pixel), results.FormatFloat(t.FI), results.FormatFloat(t.Jac), strconv.Itoa(t.Pred[0]), results.FormatFloat(t.Prob[0]),
					strconv.Itoa(t.Pred[1]), results.FormatFloat(t.Prob[1]))
			}
			recs = append(recs, append(rec, c.Shard.String()))
		}
		if _, err := f.Append(recs...); err != nil {
			return err
		}
		bar.Add(len(idx))
	}
	return nil
}

// readOnePixel reads a study CSV.
func readOnePixel(path string) ([]OnePixelRow, error) {
	return readTable(path, "a one-pixel study table", onePixelHeader(), parseOnePixelRow)
}

// parseOnePixelRow parses one row of a study table.
func parseOnePixelRow(rec []string) (OnePixelRow, error) {
	p := results.Parser{Row: rec}
	r := OnePixelRow{Index: p.Int(0), Source: p.Int(1), Label: p.Int(2), Prob: p.Float(3), Bound: p.Float(4)}
	for g := range r.Tries {
		o := 5 + 7*g
		r.Tries[g] = PixelTry{Pixel: p.Int(o), FI: p.Float(o + 1), Jac: p.Float(o + 2),
			Pred: [2]int{p.Int(o + 3), p.Int(o + 5)}, Prob: [2]float64{p.Float(o + 4), p.Float(o + 6)}}
	}
	r.MaxFI = r.Tries[0].FI
	return r, p.Err
}

// valueNames are the column groups of the study's table and chart.
var valueNames = []string{"pixel → 0", "pixel → 255", "either value"}

// Table returns the success rates: one row per model, guide and value.
func (r *OnePixelResult) Table() ResultTable {
	header := []string{"model", "guide", "value", "flipped", "images", "success_rate", "std_error", "mean_prob_after_best"}
	var data [][]string
	for _, m := range r.Models {
		for g, gname := range PixelGuides {
			for v, vname := range valueNames {
				s := m.Success(g, v)
				data = append(data, []string{m.Name, gname, vname, strconv.Itoa(s.K), strconv.Itoa(s.N),
					strconv.FormatFloat(s.P(), 'f', 4, 64), strconv.FormatFloat(s.SE(), 'f', 4, 64),
					strconv.FormatFloat(m.MeanProbAfter(g), 'f', 4, 64)})
			}
		}
	}
	return ResultTable{Header: header, Rows: data, Ref: TableRef{Name: "onepixel/success.csv", Title: "One-pixel attacks: success rates",
		Caption: "flip rate of one-pixel attacks by guide (FI, Jacobian norm, random) and pixel value, with binomial standard errors " +
			"and the mean π_y after the better of the two values"}}
}

// Findings returns the headline findings per model.
func (r *OnePixelResult) Findings() []string {
	var out []string
	for _, m := range r.Models {
		fi, jac, rnd := m.Success(0, 2), m.Success(1, 2), m.Success(2, 2)
		same := 0
		var ratios []float64
		for _, row := range m.Rows {
			if row.Tries[0].Pixel == row.Tries[1].Pixel {
				same++
			}
			if row.Bound > 0 {
				ratios = append(ratios, row.MaxFI/row.Bound)
			}
		}
		sort.Float64s(ratios)
		med := math.NaN()
		if len(ratios) > 0 {
			med = ratios[len(ratios)/2]
		}
		out = append(out, fmt.Sprintf("%s: one pixel flips %d of %d least confident correct %s %s images (π_ŷ ≤ %.3f; %d correct of %d scanned) "+
			"when chosen by FI (%.1f ± %.1f %%), %d by the Jacobian norm (%.1f ± %.1f %%), %d at random (%.1f ± %.1f %%), best of 0/255; "+
			"FI and Jacobian norm pick the same pixel in %s of images; the largest single-pixel FI is a median %.2f of the odds bound",
			m.Name, fi.K, fi.N, datasetTitle(m.Dataset), r.Config.Split, m.MaxProb, m.Correct, m.PoolSize,
			100*fi.P(), 100*fi.SE(), jac.K, 100*jac.P(), 100*jac.SE(), rnd.K, 100*rnd.P(), 100*rnd.SE(),
			pctOf(same, len(m.Rows)), med))
	}
	return out
}

// Figures returns the bar chart of success rates (one panel per model).
func (r *OnePixelResult) Figures() ([]ResultFigure, error) {
	if !r.Complete {
		return nil, errors.New("onepixel: the result covers one shard only: run without --shard to merge and plot")
	}
	var panels []*figures.Figure
	for _, m := range r.Models {
		if len(m.Rows) == 0 {
			return nil, fmt.Errorf("onepixel: %s: no attacked images", m.Name)
		}
		var series []figures.BarSeries
		for g, gname := range PixelGuides {
			s := figures.BarSeries{Name: gname + "-guided"}
			if gname == "random" {
				s.Name = "random pixel"
			}
			for v := range valueNames {
				rt := m.Success(g, v)
				s.Values = append(s.Values, 100*rt.P())
				s.Err = append(s.Err, 100*rt.SE())
			}
			series = append(series, s)
		}
		fig, err := figures.Bars(fmt.Sprintf("%s: %d least confident correct %s images", m.Name, len(m.Rows), r.Config.Split),
			"prediction flipped (%)", valueNames, series)
		if err != nil {
			return nil, err
		}
		panels = append(panels, fig)
	}
	fig, err := figures.Panels("One-pixel attacks: success rate by guide (± binomial standard error)", 2, panels...)
	if err != nil {
		return nil, err
	}
	return []ResultFigure{{Figure: fig, Ref: FigureRef{Name: "onepixel/success", Title: "One-pixel attacks: FI vs Jacobian norm vs random",
		Caption: "Share of attacked images whose prediction changes when ONE pixel (every channel) is set to 0, to 255, or to whichever " +
			"of the two works; the pixel is the one with the largest single-pixel FI (log π_ŷ), the largest |∂ log π_ŷ/∂x|, or a seeded " +
			"random one. Images: the least confident correctly classified images of the scanned test images. Single-pixel FI is a ratio of " +
			"squared derivatives, invariant to the size of the pixel's effect: it ranks pixels by how well their direction in logit space " +
			"aligns with changing log π_ŷ, the Jacobian norm by how fast they change it.",
		Claim:   "The paper's Setup 4 shows two one-pixel attacks guided by the FI map; it reports no success rate.",
		Finding: strings.Join(r.Findings(), "; ")}}}, nil
}

// Report saves the figures and the table and states the findings; for a run over one shard only it
// says what to merge.
func (r *OnePixelResult) Report(c Common) (*Report, error) {
	rep := newReport(c, "onepixel", "One-pixel attacks guided by FI, by the Jacobian norm and at random", r.Config)
	rep.Settings["per-example CSVs"] = strings.Join(r.Files, ", ")
	if !r.Complete {
		rep.Findings = append(rep.Findings, shardNote(c, r.Files...))
		return rep, nil
	}
	return saveResult(c, rep, r, r.Table())
}
