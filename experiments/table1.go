package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/models"
)

// Table 1 of Shu & Zhu (SPEC A.5): the training, validation and test accuracy of each model
// (inference mode), measured by models.Evaluate on the split each model was trained with. The
// paper's numbers were not recovered; the zoo manifest's full-split accuracies (measured when the
// checkpoints were made) are listed next to this run's for comparison.

func init() {
	register(Experiment{
		Name:    "table1",
		Title:   "Table 1: train / valid / test accuracy of the models",
		Paper:   "Shu & Zhu 2019",
		Order:   5,
		Summary: "accuracy of every model on its training, validation and test splits",
	}, DefaultTable1Config, RunTable1)
}

// Table1Config configures Table 1.
type Table1Config struct {
	Models  []string // model references; nil → every zoo model (quick) or the paper models present (paper)
	Dataset string   // dataset of models that record none
	DataDir string   // folder with the dataset files; "" → discovery
	// Examples evaluated per split: a seeded uniform subset (0 = the whole split).
	Train, Valid, Test int
	Batch              int // evaluation batch (0 → models.DefaultEvalBatch)
}

// DefaultTable1Config returns the settings of a scale: quick evaluates subsets (smaller on the
// pure-Go backend), paper whole splits.
func DefaultTable1Config(scale Scale, backendName string) Table1Config {
	switch {
	case scale == Paper:
		var refs []string
		for _, ds := range []string{datasets.MNIST, datasets.CIFAR10} {
			refs = append(refs, paperPairRefs(ds)...)
		}
		return Table1Config{Models: refs}
	case pureGoBackend(backendName):
		return Table1Config{Train: 100, Valid: 100, Test: 100, Batch: 100}
	}
	return Table1Config{Train: 2000, Valid: 1000, Test: 2000}
}

func (cfg Table1Config) check() error {
	if cfg.Train < 0 || cfg.Valid < 0 || cfg.Test < 0 || cfg.Batch < 0 {
		return fmt.Errorf("table1: Train %d, Valid %d, Test %d, Batch %d: want ≥ 0 (0 = all / default)", cfg.Train, cfg.Valid, cfg.Test, cfg.Batch)
	}
	return nil
}

// Table1Entry is one model's row.
type Table1Entry struct {
	Ref string
	models.Table1Row
	SplitSeed int64
	Manifest  *models.ZooModel // the zoo manifest entry (full splits), nil for other models
}

// Table1Result is what RunTable1 returns.
type Table1Result struct {
	Config  Table1Config
	Entries []Table1Entry
	Skipped []string // paper models that are not present (not trained yet)
}

// RunTable1 evaluates every model on (subsets of) its training, validation and test splits.
func RunTable1(ctx context.Context, c Common, cfg Table1Config) (*Table1Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, fmt.Errorf("table1: %w", err)
	}
	res := &Table1Result{Config: cfg}
	refs := cfg.Models
	if refs == nil {
		zoo, err := models.Zoo()
		if err != nil {
			return nil, fmt.Errorf("table1: %w", err)
		}
		for _, z := range zoo {
			refs = append(refs, models.ZooPrefix+z.Name)
		}
		if len(refs) == 0 {
			return nil, errors.New("table1: the model zoo is empty (models/zoo/manifest.json); name the models in the configuration")
		}
	} else if c.Scale == Paper {
		// Paper models are trained by the user: skip the ones that are not there, but not all.
		var present []string
		for _, ref := range refs {
			if _, err := os.Stat(ref); err == nil || strings.HasPrefix(ref, models.ZooPrefix) {
				present = append(present, ref)
			} else {
				res.Skipped = append(res.Skipped, ref)
			}
		}
		if len(present) == 0 {
			return nil, fmt.Errorf("table1: none of the paper models exist (%s); train them with `fisens train`, e.g. --arch resnet50 --data mnist --epochs 200 --out %s",
				strings.Join(refs, ", "), PaperModelRef("resnet50", datasets.MNIST))
		}
		refs = present
	}
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("table1: %w", err)
		}
		m, dataset, splitSeed := lm.Model, lm.Dataset, lm.SplitSeed
		var sets [3]*datasets.Set
		for k, sp := range []struct {
			split string
			n     int
		}{{datasets.SplitTrain, cfg.Train}, {datasets.SplitValid, cfg.Valid}, {datasets.SplitTest, cfg.Test}} {
			s, err := lm.Set(sp.split, dataOptions(c, cfg.DataDir)...)
			if err != nil {
				return nil, fmt.Errorf("table1: %s: %w", ref, err)
			}
			if sp.n > 0 && sp.n < s.Len() {
				s = s.Subset(datasets.SampleIndices(s.Len(), sp.n, c.Seed, streamTable1+uint64(k))).Rename(fmt.Sprintf("%s/%s[%d]", dataset, sp.split, sp.n))
			}
			sets[k] = s
		}
		row, err := models.Evaluate(b, m, sets[0], sets[1], sets[2], cfg.Batch, models.WithProgress(c.Progress))
		if err != nil {
			return nil, fmt.Errorf("table1: %s: %w", ref, err)
		}
		row.Model, row.Dataset = ModelName(ref), dataset
		e := Table1Entry{Ref: ref, Table1Row: row, SplitSeed: splitSeed}
		if name, ok := strings.CutPrefix(ref, models.ZooPrefix); ok {
			if z, err := models.ZooEntry(name); err == nil {
				e.Manifest = &z
			}
		}
		res.Entries = append(res.Entries, e)
	}
	return res, nil
}

// Header and Rows return the table (accuracies as percentages, with the number of examples).
func (r *Table1Result) Header() []string {
	return []string{"model", "dataset", "train acc %", "n train", "valid acc %", "n valid", "test acc %", "n test"}
}

// Rows returns the table's rows (see Header).
func (r *Table1Result) Rows() [][]string {
	var out [][]string
	for _, e := range r.Entries {
		out = append(out, []string{e.Model, e.Dataset, pct(e.Train), strconv.Itoa(e.NTrain), pct(e.Valid), strconv.Itoa(e.NValid), pct(e.Test), strconv.Itoa(e.NTest)})
	}
	return out
}

// Figure renders the table.
func (r *Table1Result) Figure() (*figures.Figure, error) {
	if len(r.Entries) == 0 {
		return nil, errors.New("table1: no model was evaluated")
	}
	return figures.QuantileTable("Table 1: accuracy (inference mode) on the training, validation and test splits", r.Header(), r.Rows())
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

// settings describes the configuration in words for the report (next to the raw fields).
func (cfg Table1Config) settings() map[string]string {
	models := "every zoo model"
	if cfg.Models != nil {
		models = strings.Join(cfg.Models, ", ")
	}
	return map[string]string{
		"models": models,
		"examples per split": fmt.Sprintf("train %s, valid %s, test %s (seeded uniform subsets)",
			sizeOrAll(cfg.Train), sizeOrAll(cfg.Valid), sizeOrAll(cfg.Test)),
	}
}

// Report saves the table as a figure (OutDir/table1/accuracy) and a CSV, with the findings.
func (res *Table1Result) Report(c Common) (*Report, error) {
	cfg := res.Config
	rep := newReport(c, "table1", "Table 1: accuracy of the models", cfg)
	for k, v := range cfg.settings() {
		rep.Settings[k] = v
	}
	fig, err := res.Figure()
	if err != nil {
		return nil, err
	}
	subset := cfg.Train > 0 || cfg.Valid > 0 || cfg.Test > 0
	var findings []string
	for _, e := range res.Entries {
		f := fmt.Sprintf("%s (%s): train %s %%, valid %s %%, test %s %% (on %d / %d / %d examples)",
			e.Model, e.Dataset, pct(e.Train), pct(e.Valid), pct(e.Test), e.NTrain, e.NValid, e.NTest)
		if e.Manifest != nil && e.Manifest.TestAcc > 0 {
			z := e.Manifest
			f += fmt.Sprintf("; the zoo manifest's full-split accuracies: %s / %s / %s %%", pct(z.TrainAcc), pct(z.ValidAcc), pct(z.TestAcc))
		}
		findings = append(findings, f)
	}
	rep.Findings = findings
	if len(res.Skipped) > 0 {
		rep.Findings = append(rep.Findings, "not trained yet, skipped: "+strings.Join(res.Skipped, ", "))
	}
	caption := "Accuracy in inference mode (dropout off, batch norm on its moving averages) of each model on the training split (training files minus the stratified validation set), the validation split and the test set of the dataset it was trained on."
	if subset {
		caption += fmt.Sprintf(" This %s-scale run evaluates seeded uniform subsets (train %s, valid %s, test %s examples; n columns), not the whole splits.",
			c.Scale, sizeOrAll(cfg.Train), sizeOrAll(cfg.Valid), sizeOrAll(cfg.Test))
	}
	if err := rep.SaveFigure(c, fig, FigureRef{Name: "table1/accuracy", Title: "Table 1: accuracy", Caption: caption,
		Claim: "the models fit the training data and generalise (the paper's Table 1; its numbers were not recovered)", Finding: strings.Join(findings, "; ")}); err != nil {
		return nil, err
	}
	header := append(res.Header(), "ref", "split_seed", "manifest train acc %", "manifest valid acc %", "manifest test acc %")
	var tbl [][]string
	for i, r := range res.Rows() {
		e := res.Entries[i]
		mt, mv, ms := "", "", ""
		if e.Manifest != nil && e.Manifest.TestAcc > 0 {
			mt, mv, ms = pct(e.Manifest.TrainAcc), pct(e.Manifest.ValidAcc), pct(e.Manifest.TestAcc)
		}
		tbl = append(tbl, append(r, e.Ref, strconv.FormatInt(e.SplitSeed, 10), mt, mv, ms))
	}
	if err := rep.SaveTable(c, header, tbl, TableRef{Name: "table1/accuracy.csv", Title: "Table 1", Caption: "accuracies (%) with the number of examples evaluated, and the zoo manifest's full-split accuracies"}); err != nil {
		return nil, err
	}
	return rep, nil
}
