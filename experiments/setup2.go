package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/results"
	"github.com/fisens/fisens/stats"
)

// Setup 2 of Shu & Zhu (SPEC A.6): FI of perturbing the trainable parameters, all together (2.1)
// and one layer at a time (2.2), with the true label, on training images, for the two families.
//
// SPEC A.3 decides most of the outcome: with f = log π_y, FI ≤ (1 − π_y)/π_y with equality when
// the perturbation's Fisher matrix has rank K − 1, and any layer with at least K − 1 generic
// parameters reaches that rank. So the exact FI of a layer is the odds against the label at that
// image, the same for every full-rank layer; only layers with fewer effective directions (or the
// authors' absolute-ε truncation) depart from it. Every result carries the rank, and the authors'
// convention (ε = 1e-3, as in their MNIST_ResNet50_IF_setup2.py) is computed next to the exact one
// from the same Jacobians so the two readings can be compared.

func init() {
	register(Experiment{
		Name:    "setup2",
		Title:   "Setup 2: FI of parameter perturbations (all parameters, each layer)",
		Paper:   "Shu & Zhu 2019",
		Order:   20,
		Summary: "FI of perturbing all parameters and each trainable layer, with ranks and the odds bound",
	}, DefaultSetup2Config, RunSetup2)
}

// Setup2Config configures Setup 2.
type Setup2Config struct {
	Models  []string // model references; each is evaluated on the training split it was trained on
	Dataset string   // dataset of models that record none ("" → they must record it)
	DataDir string   // folder with the dataset files; "" → discovery

	Images     int         // training images per model (a seeded uniform subset of the training split; 0 = all)
	Form       fisens.Form // Additive (the authors') or Scaling; FI is the same where no parameter is 0
	Authors    bool        // also compute the authors' absolute-ε convention (a second pass of K backward passes)
	AuthorsEps float64     // their ε (1e-3 in their Setup 2 scripts)
}

// DefaultSetup2Config returns the settings of a scale (smaller quick sizes on the pure-Go backend).
func DefaultSetup2Config(scale Scale, backendName string) Setup2Config {
	cfg := Setup2Config{Models: quickPairRefs, Images: 150, Form: fisens.Additive, Authors: true, AuthorsEps: fisens.DefaultAuthorsEps}
	switch {
	case scale == Paper:
		cfg.Images = 0
		cfg.Models = paperModelsWithCIFAR() // CIFAR-10 too when its files are found
	case pureGoBackend(backendName):
		cfg.Images = 12
	}
	return cfg
}

func (cfg Setup2Config) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("setup2: Models is empty, want at least one model reference")
	case cfg.Images < 0:
		return fmt.Errorf("setup2: Images %d, want ≥ 0 (0 = all)", cfg.Images)
	case cfg.Form != fisens.Additive && cfg.Form != fisens.Scaling:
		return fmt.Errorf("setup2: Form %d, want fisens.Additive or fisens.Scaling", cfg.Form)
	case cfg.Authors && (!(cfg.AuthorsEps > 0) || math.IsInf(cfg.AuthorsEps, 1)):
		return fmt.Errorf("setup2: AuthorsEps %g, want a finite value > 0", cfg.AuthorsEps)
	}
	return nil
}

// settings describes the configuration in words for the report (next to the raw fields).
func (cfg Setup2Config) settings() map[string]string {
	authors := "not computed"
	if cfg.Authors {
		authors = fmt.Sprintf("also computed, ε = %g", cfg.AuthorsEps)
	}
	return map[string]string{
		"images per model":    sizeOrAll(cfg.Images) + " (seeded subset of the training split)",
		"perturbation":        cfg.Form.String() + ", trainable parameters grouped by layer (scope); objective log p(true label)",
		"exact convention":    fmt.Sprintf("relative eigenvalue threshold %g", fisens.DefaultRelTol),
		"authors' convention": authors,
	}
}

// Setup2FI is the FI of one perturbation (a layer, or all parameters) at one image.
type Setup2FI struct {
	FI          float64 // exact convention
	Rank        int
	JacNorm     float64 // ‖∂ log π_y/∂θ‖₂ of the perturbed parameters
	AuthorsFI   float64 // NaN when not computed
	AuthorsRank int     // -1 when not computed
}

// Setup2Image is one training image's results.
type Setup2Image struct {
	Index  int // index in the training split
	Source int // index in the dataset's training files
	Label  int
	Pred   int
	Prob   float64 // π_y
	Bound  float64 // (1 − π_y)/π_y
	// MinProb is the smallest class probability: a class of negligible probability contributes an
	// eigenvalue below the relative threshold, so ranks drop below K − 1 while FI stays at the bound.
	MinProb float64
	All     Setup2FI
	Layers  []Setup2FI // one per layer of Setup2Model.Layers
}

// Setup2Model is one model's Setup 2 result.
type Setup2Model struct {
	Ref, Name string
	Dataset   string
	Classes   int
	Params    int            // trainable parameters
	Layers    []fisens.Layer // trainable layers (creation order)
	Images    []Setup2Image  // only this shard's under --shard
	Complete  bool
}

// Setup2Result is what RunSetup2 returns.
type Setup2Result struct {
	Config   Setup2Config
	Models   []Setup2Model
	Complete bool
}

var setup2Columns = []results.Column{results.IntCol("index"), results.TextCol("group"), results.IntCol("source_index"),
	results.IntCol("label"), results.TextCol("layer"), results.TextCol("kind"), results.IntCol("params"), results.IntCol("pred"),
	results.FloatCol("prob"), results.FloatCol("bound"), results.FloatCol("fi"), results.IntCol("rank"), results.FloatCol("jac_norm"),
	results.FloatCol("fi_authors"), results.IntCol("rank_authors"), results.FloatCol("min_prob")}

var setup2Header = results.Spec{Columns: setup2Columns}.Header()

// RunSetup2 computes, for every model and image, the FI of each trainable layer and of all
// parameters, appending rows to the resumable CSVs OutDir/setup2/param-fi-<model>.csv (only
// c.Shard's images under --shard).
func RunSetup2(ctx context.Context, c Common, cfg Setup2Config) (*Setup2Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := backend.New(c.Backend); err != nil {
		return nil, fmt.Errorf("setup2: %w", err)
	}
	dir, err := c.Path("setup2")
	if err != nil {
		return nil, err
	}
	if err := claimRunDir(dir, "setup2", struct {
		Config Setup2Config
		Seed   int64
	}{cfg, c.Seed}); err != nil {
		return nil, err
	}
	names, err := modelNames("setup2", cfg.Models)
	if err != nil {
		return nil, err
	}
	res := &Setup2Result{Config: cfg, Complete: true}
	for i, ref := range cfg.Models {
		sm, err := runSetup2Model(ctx, c, cfg, ref, names[i], dir)
		if err != nil {
			return nil, fmt.Errorf("setup2: %s: %w", ref, err)
		}
		res.Complete = res.Complete && sm.Complete
		res.Models = append(res.Models, *sm)
	}
	return res, nil
}

func runSetup2Model(ctx context.Context, c Common, cfg Setup2Config, ref, name, dir string) (*Setup2Model, error) {
	lm, err := LoadModel(c, ref, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	m, dataset, an := lm.Model, lm.Dataset, lm.Analyzer
	// On the plain pure-Go backend, gradients run on a private copy on "go:ops_sequential" (see
	// gradientBackend: the parallel scheduler can deadlock on gradient graphs).
	if b, err := backend.New(c.Backend); err != nil {
		return nil, err
	} else if gb, err := gradientBackend(b, c.Backend); err != nil {
		return nil, err
	} else if gb != b {
		if m, err = m.Clone(); err != nil {
			return nil, err
		}
		defer m.Close()
		if err := m.UseBackend(gb); err != nil {
			return nil, err
		}
		if an, err = fisens.NewAnalyzer(gb, m); err != nil {
			return nil, err
		}
		defer an.Close()
	}
	train, err := lm.Set(datasets.SplitTrain, dataOptions(c, cfg.DataDir)...)
	if err != nil {
		return nil, err
	}
	scale := lm.Scale
	layers, err := an.Layers(nil)
	if err != nil {
		return nil, err
	}
	sm := &Setup2Model{Ref: ref, Name: name, Dataset: dataset, Classes: m.NumClasses(), Layers: layers}
	for _, l := range layers {
		sm.Params += l.Params
	}
	idx := datasets.SampleIndices(train.Len(), cfg.Images, c.Seed, streamSetup2Images)
	base := filepath.Join(dir, "param-fi-"+name+".csv")
	settings := results.Settings{"experiment": "setup2", "model": ref, "dataset": dataset, "form": cfg.Form.String(),
		"measure": "parameter FI per layer and of all parameters, log p(true), exact convention (and the authors')"}
	if cfg.Authors {
		settings["authors_eps"] = results.FormatFloat(cfg.AuthorsEps)
	}
	f, err := openTable(c, base, results.Spec{Columns: setup2Columns, Key: []string{"index", "group"}, Settings: settings})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	path := f.Path()
	var todo []int
	for u, i := range idx {
		if c.Shard.Owns(u) && !f.Has(strconv.Itoa(i), "all") {
			todo = append(todo, i)
		}
	}
	exact := fisens.ParamOptions{Options: fisens.Options{Objective: fisens.LogProbTrue}, Form: cfg.Form}
	authors := exact
	authors.Options = fisens.Options{Objective: fisens.LogProbTrue, Convention: fisens.Authors, Eps: cfg.AuthorsEps}
	bar := progress.New(c.Progress, "setup2: parameter FI "+name, len(todo))
	// ParamFIBatch: K backward passes per chunk of images instead of K per image (the authors'
	// convention comes from the same Grams: ParamResult.WithOptions).
	for lo := 0; lo < len(todo); lo += fisens.ParamBatchChunk {
		if err := ctx.Err(); err != nil {
			bar.Done()
			return nil, err
		}
		chunk := todo[lo:min(lo+fisens.ParamBatchChunk, len(todo))]
		batch, err := ReadBatch(train, chunk, scale, 0)
		if err != nil {
			return nil, err
		}
		exs, err := an.ParamFIBatch(batch, exact)
		if err != nil {
			return nil, fmt.Errorf("images %v: %w", chunk, err)
		}
		var recs [][]string
		for j, i := range chunk {
			ex := exs[j]
			mp := results.FormatFloat(minProb(ex.Logits()))
			var au *fisens.ParamResult
			if cfg.Authors {
				if au, err = ex.WithOptions(authors.Options); err != nil {
					return nil, fmt.Errorf("image %d (authors' convention): %w", i, err)
				}
			}
			// The image's rows are one unit (one write per chunk; rows of an interrupted earlier
			// write are skipped); "all" goes last: it marks the image done.
			row := func(group, layer, kind string, params int, r fisens.Result, a *fisens.Result) {
				afi, arank := "NaN", "-1"
				if a != nil {
					afi, arank = results.FormatFloat(a.FI), strconv.Itoa(a.Rank)
				}
				recs = append(recs, []string{strconv.Itoa(i), group, strconv.Itoa(train.SourceIndex(i)), strconv.Itoa(r.Label), layer, kind,
					strconv.Itoa(params), strconv.Itoa(r.Pred), results.FormatFloat(r.Prob), results.FormatFloat(r.Bound), results.FormatFloat(r.FI), strconv.Itoa(r.Rank),
					results.FormatFloat(r.JacNorm), afi, arank, mp})
			}
			for k, l := range ex.Groups {
				var a *fisens.Result
				if au != nil {
					a = &au.PerGroup[k]
				}
				row(strconv.Itoa(l.Index), l.Name, l.Kind, l.Params, ex.PerGroup[k], a)
			}
			var a *fisens.Result
			if au != nil {
				a = &au.All
			}
			row("all", "all", "all", sm.Params, ex.All, a)
		}
		if _, err := f.Append(recs...); err != nil {
			return nil, err
		}
		bar.Add(len(chunk))
	}
	bar.Done()
	sm.Images, sm.Complete, err = readSetup2(path, f.Rows(), idx, len(layers))
	if err != nil {
		return nil, err
	}
	return sm, f.Close()
}

// readSetup2 reads a model's result rows (of the table at path) back: the complete images among
// idx, in idx order.
func readSetup2(path string, recs [][]string, idx []int, nLayers int) ([]Setup2Image, bool, error) {
	byIndex := map[int]*Setup2Image{}
	seen := map[int]int{}
	for n, rec := range recs {
		p := results.Parser{Row: rec}
		i := p.Int(0)
		fi := Setup2FI{FI: p.Float(10), Rank: p.Int(11), JacNorm: p.Float(12), AuthorsFI: p.Float(13), AuthorsRank: p.Int(14)}
		img := byIndex[i]
		if img == nil && p.Err == nil {
			img = &Setup2Image{Index: i, Source: p.Int(2), Label: p.Int(3), Pred: p.Int(7), Prob: p.Float(8), Bound: p.Float(9),
				MinProb: p.Float(15), Layers: make([]Setup2FI, nLayers)}
			byIndex[i] = img
		}
		if p.Err != nil {
			return nil, false, fmt.Errorf("%s, row %d: %w", path, n+1, p.Err)
		}
		if len(rec) > 1 && rec[1] == "all" {
			img.All = fi
			seen[i] |= 1
			continue
		}
		k, err := strconv.Atoi(rec[1])
		if err != nil || k < 0 || k >= nLayers {
			return nil, false, fmt.Errorf("%s, row %d: group %q, want \"all\" or a layer index below %d (a file of another model?)", path, n+1, rec[1], nLayers)
		}
		img.Layers[k] = fi
	}
	var out []Setup2Image
	for _, i := range idx {
		if img, ok := byIndex[i]; ok && seen[i]&1 == 1 {
			out = append(out, *img)
		}
	}
	return out, len(out) == len(idx), nil
}

// Setup2LayerSummary summarises one layer over the images.
type Setup2LayerSummary struct {
	Layer           fisens.Layer
	MedianFI        float64 // exact convention
	MedianBound     float64 // odds against the label (1 − π_y)/π_y
	MedianAuthors   float64 // NaN if not computed
	AtBound         int     // images whose FI attains the bound (to 1e-6)
	FullRank        int     // images where the layer's FI had rank K − 1
	AuthorsBelow    int     // images whose authors' FI is more than 1 % below the bound
	AuthorsAbove    int     // images whose authors' FI is more than 1 % above the bound
	MinRank         int
	MaxRank         int
	MinAuthorsRank  int
	MaxAuthorsRank  int
	Images          int
	MedianJacNorm   float64
	MedianRatioAuth float64 // median of authors' FI / bound (NaN if not computed)
	Q10FI, Q90FI    float64 // 10th and 90th percentiles of the exact FI over the images
	MedianRatio     float64 // median over the images of exact FI / bound (NaN if every bound is 0)
	MinRatio        float64 // minimum over the images of exact FI / bound
}

// LayerSummaries summarises every layer over the model's images.
func (m Setup2Model) LayerSummaries() []Setup2LayerSummary {
	out := make([]Setup2LayerSummary, len(m.Layers))
	for k, l := range m.Layers {
		s := Setup2LayerSummary{Layer: l, MinRank: math.MaxInt, MinAuthorsRank: math.MaxInt, MaxRank: -1, MaxAuthorsRank: -1, Images: len(m.Images)}
		var fi, bound, auth, jn, ratio, exRatio []float64
		s.MinRatio = math.NaN()
		for _, img := range m.Images {
			r := img.Layers[k]
			fi, bound, jn = append(fi, r.FI), append(bound, img.Bound), append(jn, r.JacNorm)
			if img.Bound > 0 {
				exRatio = append(exRatio, r.FI/img.Bound)
				if !(s.MinRatio <= r.FI/img.Bound) {
					s.MinRatio = r.FI / img.Bound
				}
			}
			s.MinRank, s.MaxRank = min(s.MinRank, r.Rank), max(s.MaxRank, r.Rank)
			if AtBound(fisens.Result{FI: r.FI, Bound: img.Bound}) {
				s.AtBound++
			}
			if r.Rank == m.Classes-1 {
				s.FullRank++
			}
			if r.AuthorsRank >= 0 {
				auth = append(auth, r.AuthorsFI)
				s.MinAuthorsRank, s.MaxAuthorsRank = min(s.MinAuthorsRank, r.AuthorsRank), max(s.MaxAuthorsRank, r.AuthorsRank)
				if r.AuthorsFI < 0.99*img.Bound {
					s.AuthorsBelow++
				}
				if r.AuthorsFI > 1.01*img.Bound {
					s.AuthorsAbove++
				}
				if img.Bound > 0 {
					ratio = append(ratio, r.AuthorsFI/img.Bound)
				}
			}
		}
		s.MedianFI, s.MedianBound, s.MedianJacNorm = medianOr(fi), medianOr(bound), medianOr(jn)
		s.Q10FI, s.Q90FI = math.NaN(), math.NaN()
		if q, err := stats.Quantiles(fi, []float64{0.1, 0.9}); err == nil {
			s.Q10FI, s.Q90FI = q[0], q[1]
		}
		s.MedianAuthors, s.MedianRatioAuth = medianOr(auth), medianOr(ratio)
		s.MedianRatio = medianOr(exRatio)
		out[k] = s
	}
	return out
}

// AllSummary counts the images whose all-parameter FI attains the bound and those of rank K − 1,
// and gives the median ratio of the authors' all-parameter FI to the bound.
func (m Setup2Model) AllSummary() (atBound, fullRank int, authorsRatio float64) {
	var ratio []float64
	for _, img := range m.Images {
		if AtBound(fisens.Result{FI: img.All.FI, Bound: img.Bound}) {
			atBound++
		}
		if img.All.Rank == m.Classes-1 {
			fullRank++
		}
		if img.All.AuthorsRank >= 0 && img.Bound > 0 {
			ratio = append(ratio, img.All.AuthorsFI/img.Bound)
		}
	}
	return atBound, fullRank, medianOr(ratio)
}

// lowRankProb returns the largest smallest-class probability among the images where some
// perturbation (a layer or all parameters) had rank below K − 1 yet FI at the bound (0 if none).
func (m Setup2Model) lowRankProb() float64 {
	p := 0.0
	for _, img := range m.Images {
		for _, r := range append([]Setup2FI{img.All}, img.Layers...) {
			if r.Rank < m.Classes-1 && AtBound(fisens.Result{FI: r.FI, Bound: img.Bound}) {
				p = math.Max(p, img.MinProb)
			}
		}
	}
	return p
}

func medianOr(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	m, err := stats.Median(v)
	if err != nil {
		return math.NaN()
	}
	return m
}

// RankCaption states, for the caption of the per-layer figure, where each layer's FI attained the
// odds bound and what rank it had.
func (m Setup2Model) RankCaption() string {
	sums := m.LayerSummaries()
	K := m.Classes
	full, pairs, fullRankPairs := 0, 0, 0
	var except []string
	for _, s := range sums {
		pairs += s.Images
		fullRankPairs += s.FullRank
		if s.AtBound == s.Images {
			full++
			continue
		}
		except = append(except, fmt.Sprintf("#%d %s (%s, %d params): rank %d–%d, at the bound for %d of %d images",
			s.Layer.Index, s.Layer.Name, s.Layer.Kind, s.Layer.Params, s.MinRank, s.MaxRank, s.AtBound, s.Images))
	}
	txt := fmt.Sprintf("Exact FI equalled the odds bound (1−π_y)/π_y (to 1e-6; SPEC A.3) for every one of the %d images at %d of %d layers. "+
		"Ranks: %d = K−1 in %d of %d image-layer pairs", len(m.Images), full, len(sums), K-1, fullRankPairs, pairs)
	if fullRankPairs < pairs {
		if p := m.lowRankProb(); p > 0 {
			txt += fmt.Sprintf("; lower ranks with FI still at the bound occur where a class has probability ≤ %.2g (its direction falls below the relative eigenvalue threshold and carries no weight)", p)
		}
	}
	txt += "."
	if len(except) == 0 {
		return txt
	}
	const show = 6
	more := ""
	if len(except) > show {
		more = fmt.Sprintf("; and %d more layers (see the CSV)", len(except)-show)
		except = except[:show]
	}
	return txt + " Below the bound: " + strings.Join(except, "; ") + more + "."
}

// Figures returns the all-parameter Manhattan figure (one panel per model and convention) and
// one per-layer profile per model (nil for an incomplete, sharded run).
func (r *Setup2Result) Figures() (all *figures.Figure, layers []*figures.Figure, err error) {
	if !r.Complete {
		return nil, nil, nil
	}
	var panels []*figures.Figure
	for _, m := range r.Models {
		conv := []struct {
			name string
			get  func(Setup2FI) float64
		}{{"exact", func(f Setup2FI) float64 { return f.FI }}}
		if r.Config.Authors {
			conv = append(conv, struct {
				name string
				get  func(Setup2FI) float64
			}{fmt.Sprintf("authors' ε = %g", r.Config.AuthorsEps), func(f Setup2FI) float64 { return f.AuthorsFI }})
		}
		for _, cv := range conv {
			pts := make([]figures.ManhattanPoint, len(m.Images))
			for i, img := range m.Images {
				pts[i] = figures.ManhattanPoint{Class: img.Label, Value: cv.get(img.All), Label: strconv.Itoa(img.Index)}
			}
			fig, err := figures.Manhattan(fmt.Sprintf("%s, FI %s", m.Name, cv.name), "FI (all parameters)", pts,
				figures.ManhattanOptions{LogY: true, XLabel: "true label", Width: 5.2 * 72, Height: 4 * 72, Legend: figures.LegendNone})
			if err != nil {
				return nil, nil, fmt.Errorf("setup2: %s: %w", m.Name, err)
			}
			panels = append(panels, fig)
		}
	}
	cols := 1
	if r.Config.Authors {
		cols = 2
	}
	all, err = figures.Panels("Setup 2.1: FI of perturbing all trainable parameters, per training image", cols, panels...)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range r.Models {
		fig, err := m.layerFigure(r.Config)
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, fig)
	}
	return all, layers, nil
}

func (m Setup2Model) layerFigure(cfg Setup2Config) (*figures.Figure, error) {
	sums := m.LayerSummaries()
	kinds := make([]string, len(sums))
	fi, bound, auth := make([]float64, len(sums)), make([]float64, len(sums)), make([]float64, len(sums))
	q10, q90 := make([]float64, len(sums)), make([]float64, len(sums))
	for k, s := range sums {
		kinds[k], fi[k], bound[k], auth[k] = s.Layer.Kind, s.MedianFI, s.MedianBound, s.MedianAuthors
		q10[k], q90[k] = s.Q10FI, s.Q90FI
	}
	n := len(m.Images)
	series := []figures.LayerSeries{{Name: fmt.Sprintf("FI exact, median of %d images", n), Values: fi, Kinds: kinds}}
	if cfg.Authors {
		series = append(series, figures.LayerSeries{Name: fmt.Sprintf("FI authors' ε = %g, median", cfg.AuthorsEps), Values: auth, Kinds: kinds})
	}
	if n >= 10 {
		series = append(series, figures.LayerSeries{Name: "FI exact, 90th percentile", Values: q90, Kinds: kinds},
			figures.LayerSeries{Name: "FI exact, 10th percentile", Values: q10, Kinds: kinds})
	}
	// A log axis only where the values span a decade (log ticks need one to be readable).
	lo, hi := math.Inf(1), 0.0
	for _, s := range append(series, figures.LayerSeries{Values: bound}) {
		for _, v := range s.Values {
			if v > 0 && !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	top, err := figures.LayerProfile("FI per layer", series, figures.LayerOptions{
		LogY:      hi >= 10*lo,
		YLabel:    "FI (one layer's parameters)",
		XLabel:    "trainable layer index (creation order)",
		Reference: &figures.LayerSeries{Name: "odds bound (1−π_y)/π_y, median", Values: bound},
		Width:     8 * 72,
		Height:    4.2 * 72,
	})
	if err != nil {
		return nil, fmt.Errorf("setup2: %s: %w", m.Name, err)
	}
	// FI relative to the bound: where a layer's perturbation carries information beyond confidence.
	med, mn, frac, authR := make([]float64, len(sums)), make([]float64, len(sums)), make([]float64, len(sums)), make([]float64, len(sums))
	for k, s := range sums {
		med[k], mn[k], authR[k] = finiteOr(s.MedianRatio, 0), finiteOr(s.MinRatio, 0), finiteOr(s.MedianRatioAuth, 0)
		frac[k] = float64(s.AtBound) / math.Max(float64(s.Images), 1)
	}
	ratios := []figures.LayerSeries{
		{Name: "median FI / bound", Values: med, Kinds: kinds},
		{Name: "minimum FI / bound", Values: mn, Kinds: kinds},
		{Name: "share of images with FI = bound", Values: frac, Kinds: kinds},
	}
	if cfg.Authors {
		ratios = append(ratios, figures.LayerSeries{Name: fmt.Sprintf("authors' ε = %g: median FI / bound", cfg.AuthorsEps), Values: authR, Kinds: kinds})
	}
	bottom, err := figures.LayerProfile("FI relative to the odds bound", ratios, figures.LayerOptions{
		YLabel:   "ratio or share",
		XLabel:   "trainable layer index (creation order)",
		RefLines: []figures.RefLine{{Value: 1, Label: "FI = bound"}},
		Caption:  m.RankCaption(),
		Width:    8 * 72,
		Height:   5 * 72,
	})
	if err != nil {
		return nil, fmt.Errorf("setup2: %s: %w", m.Name, err)
	}
	return figures.Panels(fmt.Sprintf("Setup 2.2, %s: FI of perturbing one layer (%s form, %d images)", m.Name, cfg.Form, n), 1, top, bottom)
}

// finiteOr returns v, or def if v is NaN or infinite.
func finiteOr(v, def float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return def
	}
	return v
}

// Report saves the figures (OutDir/setup2/all-params and layers-MODEL) and the per-layer table,
// and states the findings computed from the results. For an incomplete (sharded) run it only says
// what to merge.
func (res *Setup2Result) Report(c Common) (*Report, error) {
	cfg := res.Config
	rep := newReport(c, "setup2", "Setup 2: parameter perturbations", cfg)
	for k, v := range cfg.settings() {
		rep.Settings[k] = v
	}
	if !res.Complete {
		var files []string
		for _, m := range res.Models {
			files = append(files, c.Shard.Path(filepath.Join(c.OutDir, "setup2", "param-fi-"+m.Name+".csv")))
		}
		rep.Findings = append(rep.Findings, shardNote(c, files...))
		return rep, nil
	}
	allFig, layerFigs, err := res.Figures()
	if err != nil {
		return nil, err
	}
	var allFindings []string
	var table [][]string
	var layerRefs []FigureRef
	for _, m := range res.Models {
		n := len(m.Images)
		rep.Settings["model "+m.Name] = fmt.Sprintf("%s on %s: %d trainable parameters in %d layers", m.Ref, m.Dataset, m.Params, len(m.Layers))
		atAll, fullAll, ratioAll := m.AllSummary()
		f := fmt.Sprintf("%s: all-parameter FI (p = %d) equalled the odds bound (to 1e-6) for %d of %d images (rank %d = K−1 for %d)",
			m.Name, m.Params, atAll, n, m.Classes-1, fullAll)
		if cfg.Authors {
			f += fmt.Sprintf("; the authors' convention (ε = %g) gave a median FI/bound of %.3g", cfg.AuthorsEps, ratioAll)
		}
		allFindings = append(allFindings, f)
		rep.Findings = append(rep.Findings, f)

		sums := m.LayerSummaries()
		pairs, atPairs, below, above := 0, 0, 0, 0
		byKind := map[string][]float64{}
		for _, s := range sums {
			pairs += s.Images
			atPairs += s.AtBound
			below += s.AuthorsBelow
			above += s.AuthorsAbove
			byKind[s.Layer.Kind] = append(byKind[s.Layer.Kind], s.MedianRatioAuth)
			table = append(table, []string{m.Name, strconv.Itoa(s.Layer.Index), s.Layer.Name, s.Layer.Kind, strconv.Itoa(s.Layer.Params),
				strconv.Itoa(s.Images), strconv.Itoa(s.AtBound), fmt.Sprintf("%d-%d", s.MinRank, s.MaxRank), fmtG(s.MedianFI), fmtG(s.MedianBound),
				fmtG(s.MedianAuthors), authorsRange(s), fmtG(s.MedianJacNorm)})
		}
		full := 0
		for _, s := range sums {
			if s.AtBound == s.Images {
				full++
			}
		}
		lf := fmt.Sprintf("%s: per-layer FI equalled the odds bound (to 1e-6) for every image at %d of %d layers (%d of %d image-layer pairs)",
			m.Name, full, len(sums), atPairs, pairs)
		if full < len(sums) {
			worst := sums[0]
			for _, s := range sums[1:] {
				if s.AtBound < worst.AtBound || (s.AtBound == worst.AtBound && s.MinRatio < worst.MinRatio) {
					worst = s
				}
			}
			lf += fmt.Sprintf("; fewest at layer #%d %s (%s, %d params): %d of %d images, ranks %d–%d, FI/bound down to %.3g",
				worst.Layer.Index, worst.Layer.Name, worst.Layer.Kind, worst.Layer.Params, worst.AtBound, worst.Images, worst.MinRank, worst.MaxRank, worst.MinRatio)
		}
		if cfg.Authors && pairs > 0 {
			var kinds []string
			for k := range byKind {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			var parts []string
			for _, k := range kinds {
				parts = append(parts, fmt.Sprintf("%s %.3g", k, medianOr(byKind[k])))
			}
			lf += fmt.Sprintf("; with the authors' ε = %g, %.1f %% of the pairs fall more than 1 %% below the bound and %.1f %% more than 1 %% above it (median FI/bound by layer kind: %s)",
				cfg.AuthorsEps, 100*float64(below)/float64(pairs), 100*float64(above)/float64(pairs), strings.Join(parts, ", "))
		}
		rep.Findings = append(rep.Findings, lf)
		caption := fmt.Sprintf("Median over %d training images (%s, true label) of the FI of perturbing each trainable layer of %s alone (%s form): "+
			"marker shape = layer kind (conv ●, bn ▲, dense ■); dashed black line = median odds bound (1−π_y)/π_y; with 10 images or more also the 10th and 90th percentiles of the exact FI over the images. "+
			"Bottom: per layer, the median and minimum over the images of FI / bound, the share of images whose FI equals the bound, and the authors' median FI / bound. %s",
			n, m.Dataset, m.Name, cfg.Form, m.RankCaption())
		layerRefs = append(layerRefs, FigureRef{Name: "setup2/layers-" + m.Name,
			Title:   fmt.Sprintf("Setup 2.2: per-layer FI of %s", m.Name),
			Caption: caption,
			Claim:   "FI differs between layers and between architectures (ResNet50 vs DenseNet121), showing which layers are sensitive",
			Finding: lf})
	}
	caption := "One dot per training image (x = its true label, images spread within the band), y = FI of perturbing all trainable parameters together (log scale), " +
		"exact convention"
	if cfg.Authors {
		caption += fmt.Sprintf(" (left) and the authors' absolute ε = %g (right)", cfg.AuthorsEps)
	}
	caption += ". All parameters are far more than K−1 directions, so the exact FI equals (1−π_y)/π_y wherever its rank is K−1: the plot shows the odds against the true label."
	if err := rep.SaveFigure(c, allFig, FigureRef{Name: "setup2/all-params", Title: "Setup 2.1: FI of all parameters", Caption: caption,
		Claim: "FI of all parameters flags the training images whose prediction is most sensitive to the weights, and compares architectures", Finding: strings.Join(allFindings, "; ")}); err != nil {
		return nil, err
	}
	for i, ref := range layerRefs {
		if err := rep.SaveFigure(c, layerFigs[i], ref); err != nil {
			return nil, err
		}
	}
	if err := rep.SaveTable(c, []string{"model", "layer_index", "layer", "kind", "params", "images", "images_at_bound", "rank_range",
		"median_fi", "median_bound", "median_fi_authors", "rank_range_authors", "median_jac_norm"}, table,
		TableRef{Name: "setup2/layers.csv", Title: "Setup 2.2 per-layer summary", Caption: "per layer: images whose FI attains the odds bound, rank range, medians; per image in setup2/param-fi-MODEL.csv"}); err != nil {
		return nil, err
	}
	return rep, nil
}

func authorsRange(s Setup2LayerSummary) string {
	if s.MaxAuthorsRank < 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", s.MinAuthorsRank, s.MaxAuthorsRank)
}

func fmtG(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 5, 64)
}
