package experiments

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/results"
)

// Setup 1 (Shu & Zhu, SPEC A.6): outliers in the real training set. Whole-image FI with the TRUE
// label for every training image, shown as a Manhattan plot by class, and the images with the
// largest FI captioned label / prediction / FI. By SPEC A.3 whole-image FI equals the odds
// (1 − π_y)/π_y wherever the rank is K − 1, so the ranking is the ranking by confidence in the
// true label; the run reports the rank and how often the identity holds.

func init() {
	register(Experiment{
		Name:    "setup1",
		Title:   "Setup 1: whole-image FI of the training images (true label)",
		Paper:   "Shu & Zhu 2019",
		Order:   10,
		Summary: "Manhattan plot of whole-image FI (true label) over training images by class, and the top-FI images",
	}, DefaultSetup1Config, RunSetup1)
}

// Setup1Config configures Setup 1.
type Setup1Config struct {
	Models     []string // model references (zoo:NAME or directories)
	Dataset    string   // "" → the dataset each model records
	Split      string   // the split scored (the paper: "train")
	Images     int      // images per model: a seeded subset of the split (0 = all)
	Batch      int      // images per Jacobian
	TopN       int      // the largest-FI images shown (paper: 5)
	Convention string   // "exact" (default) or "authors" (their absolute-ε SVD)
}

// DefaultSetup1Config returns the settings of a scale; quick sizes are smaller on the pure-Go
// backend (backendName as given to backend.New, "" → $GOMLX_BACKEND → go).
func DefaultSetup1Config(scale Scale, backendName string) Setup1Config {
	cfg := Setup1Config{Models: quickPairRefs, Split: datasets.SplitTrain, Images: 2000, Batch: 32, TopN: 5, Convention: "exact"}
	switch {
	case scale == Paper:
		cfg.Images = 0
		cfg.Models = paperModelsWithCIFAR()
	case pureGoBackend(backendName):
		cfg.Images = 150
		cfg.Batch = 8
	}
	return cfg
}

func (cfg Setup1Config) check() error {
	switch {
	case cfg.Images < 0:
		return fmt.Errorf("setup1: Images = %d, want ≥ 0 (0 = all)", cfg.Images)
	case cfg.TopN < 1:
		return fmt.Errorf("setup1: TopN = %d, want ≥ 1", cfg.TopN)
	case cfg.Split == "":
		return errors.New("setup1: Split is empty, want train, valid, test or train-full")
	}
	return checkCommon("setup1", cfg.Models, cfg.Batch, cfg.Convention)
}

// Setup1Result is what Setup 1 computed.
type Setup1Result struct {
	Config   Setup1Config
	Complete bool     // false for a run over one shard: Models then hold only that shard's rows
	Files    []string // the per-example CSVs
	Models   []Setup1Model
}

// Setup1Model is one model's whole-image FI over the scored images.
type Setup1Model struct {
	Name, Ref, Dataset, Split string
	K, H, W, C                int
	Rows                      []InputFIRow // in example order
	Top                       []TopImage   // the TopN largest FI (true label), largest first
	Bound                     BoundSummary // FI against the odds (1 − π_y)/π_y
}

// TopImage is an example picked for display, with its pixels.
type TopImage struct {
	Row   InputFIRow
	Image []uint8 // HWC bytes
}

// RunSetup1 computes Setup 1: whole-image FI (true label) of cfg.Images training images per model,
// resumable and shardable (see InputFITable).
func RunSetup1(ctx context.Context, c Common, cfg Setup1Config) (*Setup1Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res := &Setup1Result{Config: cfg, Complete: true}
	for _, ref := range cfg.Models {
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("setup1: %w", err)
		}
		m, file, complete, err := setup1Model(ctx, c, cfg, lm)
		if err != nil {
			return nil, fmt.Errorf("setup1: %s: %w", lm.Name, err)
		}
		res.Files = append(res.Files, file)
		res.Complete = res.Complete && complete
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// setup1Model scores one model.
func setup1Model(ctx context.Context, c Common, cfg Setup1Config, lm *LoadedModel) (Setup1Model, string, bool, error) {
	fi, err := sampleInputFI(ctx, c, lm, cfg.Split, cfg.Images, cfg.Batch, cfg.Convention)
	if err != nil {
		return Setup1Model{}, "", false, err
	}
	set, rs := fi.Set, fi.Rows
	h, w, ch := set.Dims()
	m := Setup1Model{Name: lm.Name, Ref: lm.Ref, Dataset: lm.Dataset, Split: cfg.Split, K: lm.K(), H: h, W: w, C: ch, Rows: rs,
		Bound: SummarizeBound(resultsOf(rs, false), lm.K())}
	top, err := topImages(set, rs, cfg.TopN, func(r InputFIRow) float64 { return r.True.FI })
	if err != nil {
		return Setup1Model{}, "", false, err
	}
	m.Top = top
	return m, fi.File, fi.Complete, nil
}

// topImages returns the n rows with the largest value (ties: lower index first) with their pixels.
func topImages(set *datasets.Set, rs []InputFIRow, n int, value func(InputFIRow) float64) ([]TopImage, error) {
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return value(rs[order[a]]) > value(rs[order[b]]) })
	var out []TopImage
	for _, i := range order[:min(n, len(order))] {
		img, err := set.ReadImage(rs[i].Index)
		if err != nil {
			return nil, err
		}
		out = append(out, TopImage{Row: rs[i], Image: img})
	}
	return out, nil
}

// fmtFI formats an FI value for captions.
func fmtFI(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e4 || v < 1e-2:
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// datasetTitle names a dataset for titles.
func datasetTitle(ds string) string {
	switch ds {
	case datasets.MNIST:
		return "MNIST"
	case datasets.CIFAR10:
		return "CIFAR-10"
	case datasets.FashionMNIST:
		return "Fashion-MNIST"
	}
	return ds
}

// misclassified counts rows whose prediction differs from the label.
func misclassified(rs []InputFIRow) int {
	n := 0
	for _, r := range rs {
		if r.True.Pred != r.True.Label {
			n++
		}
	}
	return n
}

// Figures returns the Manhattan plot (one panel per model) and the top-FI image grid, with their
// computed findings. It needs a complete result.
func (r *Setup1Result) Figures() ([]ResultFigure, error) {
	if !r.Complete {
		return nil, errors.New("setup1: the result covers one shard only: run without --shard to merge and plot")
	}
	var manhattans, grids []*figures.Figure
	var manFind, topFind []string
	for _, m := range r.Models {
		if len(m.Rows) == 0 {
			return nil, fmt.Errorf("setup1: %s: no rows", m.Name)
		}
		pts := make([]figures.ManhattanPoint, len(m.Rows))
		for i, row := range m.Rows {
			pts[i] = figures.ManhattanPoint{Class: row.True.Label, Value: row.True.FI,
				Label: fmt.Sprintf("#%d: %d→%d", row.Index, row.True.Label, row.True.Pred)}
		}
		caption := fmt.Sprintf("%d %s %s images (seeded subset); f = log π_(true label); whole-image additive perturbation. "+
			"Rank K−1 = %d for %s of them, where FI = (1−π_y)/π_y exactly (SPEC A.3). Ringed: top %d, '#index: label→prediction'.",
			len(m.Rows), datasetTitle(m.Dataset), m.Split, m.K-1, pctOf(m.Bound.FullRank, m.Bound.N), len(m.Top))
		fig, err := figures.Manhattan(fmt.Sprintf("%s, %s %s images", m.Name, datasetTitle(m.Dataset), m.Split), "FI (log scale)", pts,
			figures.ManhattanOptions{LogY: true, TopN: len(m.Top), Caption: caption})
		if err != nil {
			return nil, err
		}
		manhattans = append(manhattans, fig)
		manFind = append(manFind, fmt.Sprintf("%s: %s; %d of %d images misclassified", m.Name, m.Bound, misclassified(m.Rows), len(m.Rows)))

		imgs := make([]figures.Image, len(m.Top))
		var parts []string
		wrong := 0
		for i, t := range m.Top {
			imgs[i] = figures.Image{Pix: t.Image, H: m.H, W: m.W, C: m.C,
				Caption: fmt.Sprintf("label %d / pred %d\nFI %s", t.Row.True.Label, t.Row.True.Pred, fmtFI(t.Row.True.FI))}
			if t.Row.True.Pred != t.Row.True.Label {
				wrong++
			}
			parts = append(parts, fmt.Sprintf("#%d (label %d, pred %d, FI %s, rank %d)", t.Row.Index, t.Row.True.Label,
				t.Row.True.Pred, fmtFI(t.Row.True.FI), t.Row.True.Rank))
		}
		grid, err := figures.ImageGrid(fmt.Sprintf("%s: the %d training images with the largest FI", m.Name, len(m.Top)), imgs, len(imgs))
		if err != nil {
			return nil, err
		}
		grids = append(grids, grid)
		topFind = append(topFind, fmt.Sprintf("%s: %d of the top %d are misclassified: %s", m.Name, wrong, len(m.Top), strings.Join(parts, ", ")))
	}
	if len(r.Models) >= 2 {
		topFind = append(topFind, topOverlap(r.Models))
	}
	man, err := figures.Panels("Setup 1: whole-image FI with the true label, by class", 2, manhattans...)
	if err != nil {
		return nil, err
	}
	grid, err := figures.Panels("Setup 1: the training images with the largest FI (label / prediction / FI)", 1, grids...)
	if err != nil {
		return nil, err
	}
	return []ResultFigure{
		{Figure: man, Ref: FigureRef{Name: "setup1/manhattan", Title: "Setup 1: whole-image FI of training images (Manhattan plot)",
			Caption: "One dot per training image, x = its class (images spread within the band), y = FI of perturbing the whole image " +
				"with f = log π_(true label), log scale; the largest values are ringed and labelled '#index: label→prediction'.",
			Claim:   "FI singles out outlying training images (mislabelled or atypical digits) as the largest values of each class.",
			Finding: strings.Join(manFind, "; ")}},
		{Figure: grid, Ref: FigureRef{Name: "setup1/top", Title: "Setup 1: the top-FI training images",
			Caption: "The training images with the largest whole-image FI (true label) of each model, captioned label / prediction / FI.",
			Claim:   "The top-FI images are ambiguous, atypical or mislabelled.",
			Finding: strings.Join(topFind, "; ")}},
	}, nil
}

// topOverlap states how many top images the models share (by source index).
func topOverlap(ms []Setup1Model) string {
	count := map[int]int{}
	for _, m := range ms {
		for _, t := range m.Top {
			count[t.Row.Source]++
		}
	}
	shared := 0
	for _, n := range count {
		if n == len(ms) {
			shared++
		}
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return fmt.Sprintf("%d image(s) are in the top %d of all of %s", shared, len(ms[0].Top), strings.Join(names, ", "))
}

// Findings returns the headline findings: per model, how often FI equals the odds bound and how
// many of the top images are misclassified.
func (r *Setup1Result) Findings() []string {
	var out []string
	for _, m := range r.Models {
		wrong := 0
		for _, t := range m.Top {
			if t.Row.True.Pred != t.Row.True.Label {
				wrong++
			}
		}
		out = append(out, fmt.Sprintf("%s (%d %s %s images): FI = (1−π_y)/π_y within 1e-6 for %s (rank %d for %s; max relative "+
			"deviation at rank %d: %.2g); %d of the top %d FI images are misclassified (%d of all %d)", m.Name, len(m.Rows),
			datasetTitle(m.Dataset), m.Split, pctOf(m.Bound.AtBound, m.Bound.N), m.K-1, pctOf(m.Bound.FullRank, m.Bound.N), m.K-1,
			m.Bound.MaxRelDev, wrong, len(m.Top), misclassified(m.Rows), len(m.Rows)))
	}
	return out
}

// Table returns the top images of every model as a table.
func (r *Setup1Result) Table() ResultTable {
	header := []string{"model", "place", "index", "source_index", "label", "pred", "prob_true", "fi_true", "rank", "bound"}
	var rowsData [][]string
	for _, m := range r.Models {
		for i, t := range m.Top {
			x := t.Row.True
			rowsData = append(rowsData, []string{m.Name, strconv.Itoa(i + 1), strconv.Itoa(t.Row.Index), strconv.Itoa(t.Row.Source),
				strconv.Itoa(x.Label), strconv.Itoa(x.Pred), results.FormatFloat(x.Prob), results.FormatFloat(x.FI), strconv.Itoa(x.Rank), results.FormatFloat(x.Bound)})
		}
	}
	return ResultTable{Header: header, Rows: rowsData, Ref: TableRef{Name: "setup1/top.csv", Title: "Setup 1: top-FI training images",
		Caption: "the largest whole-image FI (true label) of each model, with π_y, the rank and the odds bound"}}
}

// Report saves the figures and the table of the top-FI images and states the findings; for a run
// over one shard only it says what to merge.
func (r *Setup1Result) Report(c Common) (*Report, error) {
	rep := newReport(c, "setup1", "Setup 1: whole-image FI of the training images (true label)", r.Config)
	rep.Settings["per-example CSVs"] = strings.Join(r.Files, ", ")
	if !r.Complete {
		rep.Findings = append(rep.Findings, shardNote(c, r.Files...))
		return rep, nil
	}
	return saveResult(c, rep, r, r.Table())
}
