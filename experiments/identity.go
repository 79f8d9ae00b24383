package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
)

// The FI-versus-odds figure (SPEC A.3): whole-image FI with f = log π_y equals the odds against y,
// (1 − π_y)/π_y, whenever the Fisher metric has rank K − 1, whatever the network. This experiment
// plots FI against the odds for the images of Setups 1 (true label) and 3 (predicted label) —
// reusing their per-example tables when they are in OutDir — and, when the one-pixel study has run,
// the largest single-pixel FI of its images: a one-dimensional perturbation, where FI departs from
// the odds and carries information beyond the confidence.

func init() {
	register(Experiment{
		Name:    "identity",
		Title:   "FI against the odds (1 − π_y)/π_y: the identity of SPEC A.3 and where FI departs from it",
		Paper:   "Shu & Zhu 2019 (beyond the paper)",
		Order:   50,
		Summary: "scatter of whole-image FI against (1−π_y)/π_y for Setups 1 and 3, with ranks, and single-pixel FI",
	}, DefaultIdentityConfig, RunIdentity)
}

// IdentityConfig configures the identity figure. Its image counts default to Setup 3's (and so
// Setup 1's), so that a full reproduction computes nothing new.
type IdentityConfig struct {
	Models      []string // model references
	Dataset     string   // "" → the dataset each model records
	TrainImages int      // training images (seeded subset; 0 = all)
	TestImages  int      // test images (seeded subset; 0 = all)
	Batch       int      // images per Jacobian
	Convention  string   // "exact" or "authors"
	OnePixel    bool     // add the single-pixel FI of the one-pixel study when its tables are in OutDir
}

// DefaultIdentityConfig returns the settings of a scale (Setup 3's sizes).
func DefaultIdentityConfig(scale Scale, backendName string) IdentityConfig {
	s3 := DefaultSetup3Config(scale, backendName)
	return IdentityConfig{Models: s3.Models, TrainImages: s3.TrainImages, TestImages: s3.TestImages, Batch: s3.Batch,
		Convention: s3.Convention, OnePixel: true}
}

func (cfg IdentityConfig) check() error {
	switch {
	case cfg.TrainImages < 0 || cfg.TestImages < 0:
		return fmt.Errorf("identity: TrainImages %d, TestImages %d: want ≥ 0 (0 = all)", cfg.TrainImages, cfg.TestImages)
	}
	return checkCommon("identity", cfg.Models, cfg.Batch, cfg.Convention)
}

// IdentityResult is what the identity experiment gathered.
type IdentityResult struct {
	Config   IdentityConfig
	Complete bool
	Files    []string
	Models   []IdentityModel
}

// IdentityModel is one model's FI and odds.
type IdentityModel struct {
	Name, Dataset string
	K             int
	True          []fisens.Result // training images, f = log π_(true label) (Setup 1)
	Pred          []fisens.Result // training and test images, f = log π_(predicted label) (Setup 3)
	Pixel         []OnePixelRow   // the one-pixel study's images (nil when it has not run)
	PixelFile     string
}

// Departure summarises the results whose FI is below the odds bound.
type Departure struct {
	N          int     // results with rank < K − 1
	MinProb    float64 // smallest π_y among them
	MaxOneMinP float64 // largest 1 − π_y among them (via bound·π_y)
	MinRatio   float64 // smallest FI / bound among them
}

// departures summarises the rank-deficient results.
func departures(res []fisens.Result, K int) Departure {
	d := Departure{MinProb: math.Inf(1), MinRatio: math.Inf(1)}
	for _, r := range res {
		if r.Rank >= K-1 {
			continue
		}
		d.N++
		d.MinProb = math.Min(d.MinProb, r.Prob)
		d.MaxOneMinP = math.Max(d.MaxOneMinP, r.Bound*r.Prob)
		if r.Bound > 0 {
			d.MinRatio = math.Min(d.MinRatio, r.FI/r.Bound)
		}
	}
	return d
}

// RunIdentity gathers FI and the odds (computing only what Setups 1 and 3 have not left in OutDir).
func RunIdentity(ctx context.Context, c Common, cfg IdentityConfig) (*IdentityResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res := &IdentityResult{Config: cfg, Complete: true}
	for _, ref := range cfg.Models {
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		m := IdentityModel{Name: lm.Name, Dataset: lm.Dataset, K: lm.K()}
		for _, part := range []struct {
			split string
			n     int
		}{{datasets.SplitTrain, cfg.TrainImages}, {datasets.SplitTest, cfg.TestImages}} {
			fi, err := sampleInputFI(ctx, c, lm, part.split, part.n, cfg.Batch, cfg.Convention)
			if err != nil {
				return nil, fmt.Errorf("identity: %w", err)
			}
			res.Files = append(res.Files, fi.File)
			res.Complete = res.Complete && fi.Complete
			if part.split == datasets.SplitTrain {
				m.True = resultsOf(fi.Rows, false)
			}
			m.Pred = append(m.Pred, resultsOf(fi.Rows, true)...)
		}
		if cfg.OnePixel {
			p, err := c.Path(fmt.Sprintf("onepixel/%s-%s-%s.csv", lm.Name, lm.Dataset, datasets.SplitTest))
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(p); err == nil {
				if m.Pixel, err = readOnePixel(p); err != nil {
					return nil, fmt.Errorf("identity: %w", err)
				}
				m.PixelFile = p
			}
		}
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// Findings states, per model, how often FI equals the odds, where it departs, and how far below
// the odds single-pixel FI lies.
func (r *IdentityResult) Findings() []string {
	var out []string
	for _, m := range r.Models {
		for _, part := range []struct {
			name string
			rs   []fisens.Result
		}{{"Setup 1 (true label, training images)", m.True}, {"Setup 3 (predicted label, training + test images)", m.Pred}} {
			s := SummarizeBound(part.rs, m.K)
			d := departures(part.rs, m.K)
			txt := fmt.Sprintf("%s, %s: FI = (1−π_y)/π_y within 1e-6 for %d of %d (%s); at rank %d the largest relative deviation is %.2g",
				m.Name, part.name, s.AtBound, s.N, pctOf(s.AtBound, s.N), m.K-1, s.MaxRelDev)
			if d.N > 0 {
				txt += fmt.Sprintf("; %d have rank < %d (FI/bound down to %.3g), all with 1 − π_y ≤ %.2g: the tiny probabilities of the other "+
					"classes fall below the relative eigenvalue threshold", d.N, m.K-1, d.MinRatio, d.MaxOneMinP)
			} else {
				txt += fmt.Sprintf("; none has rank < %d", m.K-1)
			}
			if s.Above > 0 {
				txt += fmt.Sprintf("; %d exceed the bound (a numerical problem to investigate)", s.Above)
			}
			out = append(out, txt)
		}
		if len(m.Pixel) > 0 {
			ratios := make([]float64, 0, len(m.Pixel))
			for _, p := range m.Pixel {
				if p.Bound > 0 {
					ratios = append(ratios, p.MaxFI/p.Bound)
				}
			}
			sort.Float64s(ratios)
			if len(ratios) > 0 {
				out = append(out, fmt.Sprintf("%s, single pixels (%d test images of the one-pixel study): the largest single-pixel FI is "+
					"%.3g–%.3g of the odds bound (median %.3g): one pixel is a 1-dimensional perturbation, where FI is below the odds "+
					"and depends on the network", m.Name, len(ratios), ratios[0], ratios[len(ratios)-1], ratios[len(ratios)/2]))
			}
		}
	}
	return out
}

// Figures returns the FI-versus-odds scatter (log-log with the identity line) and the ratio
// FI / odds against the odds, one panel per model.
func (r *IdentityResult) Figures() ([]ResultFigure, error) {
	if !r.Complete {
		return nil, errors.New("identity: the result covers one shard only: run without --shard to merge and plot")
	}
	var scat, ratio []*figures.Figure
	for _, m := range r.Models {
		var s1, s3, low, pix figures.Series
		s1.Name = fmt.Sprintf("Setup 1: true label, train, rank %d", m.K-1)
		s3.Name = fmt.Sprintf("Setup 3: predicted label, train + test, rank %d", m.K-1)
		low.Name = fmt.Sprintf("Setups 1 and 3: rank < %d", m.K-1)
		pix.Name = "one pixel: largest FI over pixels"
		add := func(s *figures.Series, x, y float64) {
			s.X = append(s.X, x)
			s.Y = append(s.Y, y)
		}
		for _, part := range []struct {
			s  *figures.Series
			rs []fisens.Result
		}{{&s1, m.True}, {&s3, m.Pred}} {
			for _, x := range part.rs {
				if x.Rank < m.K-1 {
					add(&low, x.Bound, x.FI)
				} else {
					add(part.s, x.Bound, x.FI)
				}
			}
		}
		for _, p := range m.Pixel {
			add(&pix, p.Bound, p.MaxFI)
		}
		var series []figures.Series
		for _, s := range []figures.Series{s1, s3, low, pix} {
			if len(s.X) > 0 {
				series = append(series, s)
			}
		}
		title := fmt.Sprintf("%s (%s)", m.Name, datasetTitle(m.Dataset))
		f, err := figures.Scatter(title, "odds against y: (1 − π_y)/π_y", "FI", series,
			figures.XYOptions{LogX: true, LogY: true, Identity: true, Legend: figures.LegendTopLeft})
		if err != nil {
			return nil, err
		}
		scat = append(scat, f)
		var rs []figures.Series
		for _, s := range series {
			q := figures.Series{Name: s.Name}
			for i := range s.X {
				if s.X[i] > 0 {
					q.X = append(q.X, s.X[i])
					q.Y = append(q.Y, s.Y[i]/s.X[i])
				}
			}
			rs = append(rs, q)
		}
		f2, err := figures.Scatter(title, "odds against y: (1 − π_y)/π_y", "FI / odds", rs,
			figures.XYOptions{LogX: true, YLim: [2]float64{0, 1.08}, Legend: figures.LegendBottomLeft,
				RefLines: []figures.RefLine{{Value: 1, Label: "FI = odds (rank K−1)"}}})
		if err != nil {
			return nil, err
		}
		ratio = append(ratio, f2)
	}
	a, err := figures.Panels("FI against the odds (1 − π_y)/π_y: equal at rank K − 1 (SPEC A.3)", 2, scat...)
	if err != nil {
		return nil, err
	}
	b, err := figures.Panels("FI / odds: where FI departs from the odds", 2, ratio...)
	if err != nil {
		return nil, err
	}
	finding := strings.Join(r.Findings(), "; ")
	return []ResultFigure{
		{Figure: a, Ref: FigureRef{Name: "identity/fi-vs-odds", Title: "FI against the odds (1 − π_y)/π_y",
			Caption: "One dot per image: whole-image FI (f = log π_y) against the odds against y, log-log, with the line FI = odds; " +
				"true label for the training images of Setup 1, predicted label for the training and test images of Setup 3; " +
				"rank-deficient Fisher metrics separately; and, when the one-pixel study ran, the largest single-pixel FI of its images.",
			Claim:   "SPEC A.3: 0 ≤ FI ≤ (1 − π_y)/π_y, with equality at rank K − 1, so whole-image FI is the odds against y whatever the network.",
			Finding: finding}},
		{Figure: b, Ref: FigureRef{Name: "identity/ratio", Title: "FI / odds against the odds",
			Caption: "The same points as FI / (1 − π_y)/π_y: 1 on the identity, below it where the rank is below K − 1 or the perturbation is " +
				"one pixel.",
			Claim:   "FI carries information beyond the confidence only for low-dimensional perturbations.",
			Finding: finding}},
	}, nil
}

// Report saves the figures and states the findings; for a run over one shard only it says what to
// merge.
func (r *IdentityResult) Report(c Common) (*Report, error) {
	rep := newReport(c, "identity", "FI against the odds (1 − π_y)/π_y: the identity of SPEC A.3 and where FI departs from it", r.Config)
	files := r.Files
	for _, m := range r.Models {
		if m.PixelFile != "" {
			files = append(files, m.PixelFile)
		}
	}
	rep.Settings["per-example CSVs"] = strings.Join(files, ", ")
	if !r.Complete {
		rep.Findings = append(rep.Findings, shardNote(c, r.Files...))
		return rep, nil
	}
	return saveResult(c, rep, r)
}
