package experiments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/stats"
)

// Setup 3 (Shu & Zhu, SPEC A.6): train versus test. Whole-image FI with the PREDICTED label for
// training and test images; Manhattan plots (x = the TRUE class, as in the authors' scripts; XAxis
// "predicted" gives the earlier plots) and the 75…100 % quantiles, train versus test. With
// f = log π_ŷ and rank K − 1, FI = (1 − π_ŷ)/π_ŷ ≤ K − 1: the comparison is one of confidence in the
// predicted class.

func init() {
	register(Experiment{
		Name:    "setup3",
		Title:   "Setup 3: whole-image FI on training versus test images (predicted label)",
		Paper:   "Shu & Zhu 2019",
		Order:   30,
		Summary: "Manhattan plots and quantile table (75–100 %) of whole-image FI with the predicted label, train vs test",
	}, DefaultSetup3Config, RunSetup3)
}

// DefaultQuantiles are the levels of the paper's Setup 3 table.
var DefaultQuantiles = []float64{0.75, 0.80, 0.85, 0.90, 0.95, 0.98, 0.99, 1.00}

// Setup3Config configures Setup 3.
type Setup3Config struct {
	Models      []string  // model references
	Dataset     string    // "" → the dataset each model records
	TrainImages int       // training images per model (seeded subset; 0 = all); shared with Setup 1
	TestImages  int       // test images per model (seeded subset; 0 = all)
	Batch       int       // images per Jacobian
	Quantiles   []float64 // quantile levels in [0, 1]
	Convention  string    // "exact" or "authors"
	// XAxis is the class on the Manhattan plots' x axis: "true" (the authors' scripts; default, also for
	// "") or "predicted" (this project's earlier choice). The objective uses the predicted label either way.
	XAxis string
}

// DefaultSetup3Config returns the settings of a scale; quick sizes are smaller on the pure-Go backend.
// The training subset is Setup 1's (same seed and size), so the two share one computation.
func DefaultSetup3Config(scale Scale, backendName string) Setup3Config {
	s1 := DefaultSetup1Config(scale, backendName)
	cfg := Setup3Config{Models: s1.Models, TrainImages: s1.Images, TestImages: 1000, Batch: s1.Batch,
		Quantiles: DefaultQuantiles, Convention: "exact", XAxis: "true"}
	switch {
	case scale == Paper:
		cfg.TestImages = 0
	case pureGoBackend(backendName):
		cfg.TestImages = 100
	}
	return cfg
}

func (cfg Setup3Config) check() error {
	switch {
	case cfg.TrainImages < 0 || cfg.TestImages < 0:
		return fmt.Errorf("setup3: TrainImages %d, TestImages %d: want ≥ 0 (0 = all)", cfg.TrainImages, cfg.TestImages)
	case len(cfg.Quantiles) == 0:
		return errors.New("setup3: Quantiles is empty")
	}
	for _, q := range cfg.Quantiles {
		if q < 0 || q > 1 {
			return fmt.Errorf("setup3: quantile level %g, want a fraction in [0, 1]", q)
		}
	}
	if cfg.XAxis != "" && cfg.XAxis != "true" && cfg.XAxis != "predicted" {
		return fmt.Errorf("setup3: XAxis %q, want \"true\" or \"predicted\"", cfg.XAxis)
	}
	return checkCommon("setup3", cfg.Models, cfg.Batch, cfg.Convention)
}

// xPredicted reports whether the Manhattan plots' x axis is the predicted class.
func (cfg Setup3Config) xPredicted() bool { return cfg.XAxis == "predicted" }

// xName names the Manhattan plots' x axis.
func (cfg Setup3Config) xName() string {
	if cfg.xPredicted() {
		return "predicted"
	}
	return "true"
}

// Setup3Result is what Setup 3 computed.
type Setup3Result struct {
	Config   Setup3Config
	Complete bool
	Files    []string
	Models   []Setup3Model
}

// Setup3Model is one model's FI (predicted label) on training and test images.
type Setup3Model struct {
	Name, Ref, Dataset string
	K                  int
	Train, Test        []InputFIRow
	TrainQ, TestQ      []float64 // FI quantiles at Config.Quantiles
	TrainAcc, TestAcc  float64   // accuracy on the scored subsets
	TrainBound         BoundSummary
	TestBound          BoundSummary
}

// RunSetup3 computes Setup 3 (resumable and shardable; see InputFITable).
func RunSetup3(ctx context.Context, c Common, cfg Setup3Config) (*Setup3Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res := &Setup3Result{Config: cfg, Complete: true}
	for _, ref := range cfg.Models {
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("setup3: %w", err)
		}
		m := Setup3Model{Name: lm.Name, Ref: lm.Ref, Dataset: lm.Dataset, K: lm.K()}
		for _, part := range []struct {
			split string
			n     int
			dst   *[]InputFIRow
		}{{datasets.SplitTrain, cfg.TrainImages, &m.Train}, {datasets.SplitTest, cfg.TestImages, &m.Test}} {
			fi, err := sampleInputFI(ctx, c, lm, part.split, part.n, cfg.Batch, cfg.Convention)
			if err != nil {
				return nil, fmt.Errorf("setup3: %w", err)
			}
			res.Files = append(res.Files, fi.File)
			res.Complete = res.Complete && fi.Complete
			*part.dst = fi.Rows
		}
		if res.Complete {
			if err := m.summarize(cfg.Quantiles); err != nil {
				return nil, fmt.Errorf("setup3: %s: %w", lm.Name, err)
			}
		}
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// summarize computes the quantiles, accuracies and bound summaries.
func (m *Setup3Model) summarize(qs []float64) error {
	var err error
	if m.TrainQ, err = stats.Quantiles(predFI(m.Train), qs); err != nil {
		return fmt.Errorf("train quantiles: %w", err)
	}
	if m.TestQ, err = stats.Quantiles(predFI(m.Test), qs); err != nil {
		return fmt.Errorf("test quantiles: %w", err)
	}
	m.TrainAcc = 1 - float64(misclassified(m.Train))/float64(len(m.Train))
	m.TestAcc = 1 - float64(misclassified(m.Test))/float64(len(m.Test))
	m.TrainBound = SummarizeBound(resultsOf(m.Train, true), m.K)
	m.TestBound = SummarizeBound(resultsOf(m.Test, true), m.K)
	return nil
}

// predFI returns the FI values with the predicted label.
func predFI(rs []InputFIRow) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Pred.FI
	}
	return out
}

// QuantileTable returns the quantile table: one row per level, columns "MODEL train" and
// "MODEL test" per model.
func (r *Setup3Result) QuantileTable() (ResultTable, error) {
	var names []string
	var samples [][]float64
	for _, m := range r.Models {
		names = append(names, m.Name+" train", m.Name+" test")
		samples = append(samples, predFI(m.Train), predFI(m.Test))
	}
	header, rowsData, err := figures.QuantileRows(r.Config.Quantiles, names, samples, "%.4g")
	if err != nil {
		return ResultTable{}, err
	}
	return ResultTable{Header: header, Rows: rowsData, Ref: TableRef{Name: "setup3/quantiles.csv",
		Title: "Setup 3: FI quantiles, train vs test",
		Caption: "quantiles of whole-image FI with the predicted label (numpy's default interpolation) on the scored training and " +
			"test images of each model"}}, nil
}

// Findings returns the headline findings: per model, at which levels the test quantile exceeds the
// training one, the accuracies and how often FI equals the bound.
func (r *Setup3Result) Findings() []string {
	var out []string
	for _, m := range r.Models {
		var higher, lower []string
		for i, q := range r.Config.Quantiles {
			lvl := strconv.FormatFloat(100*q, 'f', -1, 64) + " %"
			switch {
			case m.TestQ[i] > m.TrainQ[i]:
				higher = append(higher, lvl)
			case m.TestQ[i] < m.TrainQ[i]:
				lower = append(lower, lvl)
			}
		}
		s := fmt.Sprintf("%s: test FI quantiles exceed the training ones at %d of %d levels", m.Name, len(higher), len(r.Config.Quantiles))
		if len(higher) > 0 {
			s += " (" + strings.Join(higher, ", ") + ")"
		}
		if len(lower) > 0 {
			s += "; below at " + strings.Join(lower, ", ")
		}
		s += fmt.Sprintf("; 95 %% quantile train %s vs test %s; accuracy on the scored images train %.2f %% (%d), test %.2f %% (%d); "+
			"FI = (1−π_ŷ)/π_ŷ within 1e-6 for %s of training and %s of test images",
			quantileAt(m.TrainQ, r.Config.Quantiles, 0.95), quantileAt(m.TestQ, r.Config.Quantiles, 0.95), 100*m.TrainAcc, len(m.Train), 100*m.TestAcc, len(m.Test),
			pctOf(m.TrainBound.AtBound, m.TrainBound.N), pctOf(m.TestBound.AtBound, m.TestBound.N))
		out = append(out, s)
	}
	return out
}

// quantileAt formats the quantile at level q (or "—" when q is not a computed level).
func quantileAt(values, levels []float64, q float64) string {
	for i, l := range levels {
		if l == q {
			return fmtFI(values[i])
		}
	}
	return "—"
}

// Figures returns the Manhattan plots (train and test per model) and the quantile table figure.
func (r *Setup3Result) Figures() ([]ResultFigure, error) {
	if !r.Complete {
		return nil, errors.New("setup3: the result covers one shard only: run without --shard to merge and plot")
	}
	var panels []*figures.Figure
	for _, m := range r.Models {
		for _, part := range []struct {
			name string
			rs   []InputFIRow
		}{{"train", m.Train}, {"test", m.Test}} {
			if len(part.rs) == 0 {
				return nil, fmt.Errorf("setup3: %s %s: no rows", m.Name, part.name)
			}
			pts := make([]figures.ManhattanPoint, len(part.rs))
			for i, row := range part.rs {
				class := row.True.Label
				if r.Config.xPredicted() {
					class = row.Pred.Label
				}
				pts[i] = figures.ManhattanPoint{Class: class, Value: row.Pred.FI,
					Label: fmt.Sprintf("#%d: %d→%d", row.Index, row.True.Label, row.Pred.Pred)}
			}
			caption := fmt.Sprintf("%d %s %s images; x = %s class; f = log π_(predicted); rank %d for %s (FI = (1−π_ŷ)/π_ŷ ≤ %d there). "+
				"Ringed: top 5, '#index: label→prediction'.", len(part.rs), datasetTitle(m.Dataset), part.name, r.Config.xName(), m.K-1,
				pctOf(SummarizeBound(resultsOf(part.rs, true), m.K).FullRank, len(part.rs)), m.K-1)
			fig, err := figures.Manhattan(fmt.Sprintf("%s, %s images", m.Name, part.name), "FI (log scale)", pts,
				figures.ManhattanOptions{LogY: true, TopN: 5, Caption: caption, XLabel: r.Config.xName() + " class",
					RefLines: []figures.RefLine{{Value: float64(m.K - 1), Label: fmt.Sprintf("K−1 = %d (max of the odds of ŷ)", m.K-1)}}})
			if err != nil {
				return nil, err
			}
			panels = append(panels, fig)
		}
	}
	man, err := figures.Panels("Setup 3: whole-image FI with the predicted label, train vs test", 2, panels...)
	if err != nil {
		return nil, err
	}
	tab, err := r.QuantileTable()
	if err != nil {
		return nil, err
	}
	tfig, err := figures.QuantileTable("Setup 3: quantiles of whole-image FI (predicted label), train vs test", tab.Header, tab.Rows)
	if err != nil {
		return nil, err
	}
	finding := strings.Join(r.Findings(), "; ")
	return []ResultFigure{
		{Figure: man, Ref: FigureRef{Name: "setup3/manhattan", Title: "Setup 3: FI on training vs test images (Manhattan plots)",
			Caption: "One dot per image, x = " + r.Config.xName() + " class (the authors' scripts: true), y = whole-image FI with f = log π_(predicted label), log scale; " +
				"left training, right test images of each model.",
			Claim:   "Test images have larger FI than training images (the networks are less stable on unseen data).",
			Finding: finding}},
		{Figure: tfig, Ref: FigureRef{Name: "setup3/quantiles", Title: "Setup 3: FI quantiles, train vs test",
			Caption: "The 75, 80, 85, 90, 95, 98, 99 and 100 % quantiles of whole-image FI (predicted label); also in setup3/quantiles.csv.",
			Claim:   "The upper quantiles of FI are larger on test than on training images.",
			Finding: finding}},
	}, nil
}

// Report saves the figures and the quantile table and states the findings; for a run over one
// shard only it says what to merge.
func (r *Setup3Result) Report(c Common) (*Report, error) {
	rep := newReport(c, "setup3", "Setup 3: whole-image FI on training versus test images (predicted label)", r.Config)
	rep.Settings["per-example CSVs"] = strings.Join(r.Files, ", ")
	if !r.Complete {
		rep.Findings = append(rep.Findings, shardNote(c, r.Files...))
		return rep, nil
	}
	tab, err := r.QuantileTable()
	if err != nil {
		return nil, err
	}
	return saveResult(c, rep, r, tab)
}
