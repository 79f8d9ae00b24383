package experiments

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/results"
)

// Helpers shared by the per-example experiments (Setups 1, 3, 4, the one-pixel study and the
// identity figure): loading models by reference, seeded example selection, a resumable and
// shardable table of whole-image input FI per (model, split), and config overrides.

// ---------------------------------------------------------------------------------------------
// The input FI table.

// InputFIRow is one example's whole-input FI for both objectives of the paper, from one Jacobian.
type InputFIRow struct {
	Index  int           // index in the split
	Source int           // index in the dataset's original files
	True   fisens.Result // f = log π_(true label) (Setups 0–2)
	Pred   fisens.Result // f = log π_(predicted label) (Setups 3–4)
}

// InputFISpec says which whole-image FI values to compute.
type InputFISpec struct {
	Model      *LoadedModel
	Split      string        // "train", "valid", "test" or "train-full" of the model's dataset
	Set        *datasets.Set // the loaded split (nil: loaded from Split)
	Indices    []int         // examples of the split to compute
	Batch      int           // examples per Jacobian (the last batch is padded to keep one compiled shape)
	Form       fisens.Form   // Additive (the paper's) or Scaling
	Convention string        // "exact" (default) or "authors"
}

// inputFIColumns are the columns of an input FI table.
var inputFIColumns = []results.Column{results.IntCol("index"), results.IntCol("source_index"), results.IntCol("label"), results.IntCol("pred"),
	results.FloatCol("prob_true"), results.FloatCol("fi_true"), results.IntCol("rank_true"), results.FloatCol("bound_true"), results.FloatCol("jacnorm_true"),
	results.FloatCol("prob_pred"), results.FloatCol("fi_pred"), results.IntCol("rank_pred"), results.FloatCol("bound_pred"), results.FloatCol("jacnorm_pred"),
	results.FloatCol("softmax_jacnorm"), results.TextCol("shard")}

// inputFIHeader is the CSV header of an input FI table.
var inputFIHeader = results.Spec{Columns: inputFIColumns}.Header()

// ParseConvention parses "exact" ("" too) or "authors".
func ParseConvention(s string) (fisens.Convention, error) {
	switch strings.ToLower(s) {
	case "", "exact":
		return fisens.Exact, nil
	case "authors":
		return fisens.Authors, nil
	}
	return 0, fmt.Errorf("convention %q: want exact or authors", s)
}

// InputFIPath returns the base path (before sharding) of the table of spec under c.OutDir:
// fi/MODEL-DATASET-SPLIT[-FORM][-CONVENTION].csv. Setups 1 and 3 and the identity figure share it.
func InputFIPath(c Common, spec InputFISpec) (string, error) {
	name := fmt.Sprintf("%s-%s-%s", spec.Model.Name, spec.Model.Dataset, spec.Split)
	if spec.Form == fisens.Scaling {
		name += "-scaling"
	}
	if conv, _ := ParseConvention(spec.Convention); conv == fisens.Authors {
		name += "-authors"
	}
	return c.Path(filepath.Join("fi", name+".csv"))
}

// openTable opens this run's part of the results table base (the shard's own file with
// --shard). A run of the whole table first merges the shard files that sharded runs left
// (results.MergeShards), so it computes only what no shard did.
func openTable(c Common, base string, spec results.Spec) (*results.Table, error) {
	spec.Shard = c.Shard
	if c.Shard.N <= 1 {
		n, rows, err := results.MergeShards(base, spec)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			c.Logf("   merged %d shard file(s) into %s (%d rows)", n, base, rows)
		}
	}
	return results.Open(base, spec)
}

// InputFITable computes (resuming and sharding) whole-image FI with both objectives for the
// examples spec.Indices and returns their rows in that order. Results are appended per example to
// the CSV InputFIPath (the shard's own file with --shard), so an interrupted run loses at most one
// batch. complete is false when the run covers one shard only: then rows holds this shard's
// examples, and a run without --shard merges the shard files and completes the table.
func InputFITable(ctx context.Context, c Common, spec InputFISpec) ([]InputFIRow, bool, error) {
	lm := spec.Model
	if lm == nil {
		return nil, false, fmt.Errorf("InputFITable: no model")
	}
	conv, err := ParseConvention(spec.Convention)
	if err != nil {
		return nil, false, err
	}
	set := spec.Set
	if set == nil {
		if set, err = lm.Set(spec.Split); err != nil {
			return nil, false, err
		}
	}
	for _, i := range spec.Indices {
		if i < 0 || i >= set.Len() {
			return nil, false, fmt.Errorf("InputFITable: example %d out of range [0, %d) of %s", i, set.Len(), set.Name())
		}
	}
	batch := spec.Batch
	if batch <= 0 {
		batch = 32
	}
	base, err := InputFIPath(c, spec)
	if err != nil {
		return nil, false, err
	}
	spec2 := results.Spec{Columns: inputFIColumns, Key: []string{"index"}, Settings: results.Settings{
		"model": lm.Ref, "dataset": lm.Dataset, "split": spec.Split, "input_scale": string(lm.Scale),
		"form": spec.Form.String(), "convention": conv.String(), "measure": "whole-image input FI, objectives log p(true) and log p(pred)"}}
	f, err := openTable(c, base, spec2)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	path := f.Path()
	var todo []int
	for _, i := range spec.Indices {
		if c.Shard.Owns(i) && !f.Has(strconv.Itoa(i)) {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		c.Logf("   %s on %s %s: %d of %d examples to compute (shard %s) → %s", lm.Name, lm.Dataset, spec.Split,
			len(todo), len(spec.Indices), c.Shard, path)
		if err := computeInputFI(ctx, c, lm, set, todo, batch, spec.Form, conv, f); err != nil {
			return nil, false, err
		}
	}
	byIndex := make(map[int]InputFIRow, f.Len())
	for n, rec := range f.Rows() {
		r, err := parseInputFIRow(rec)
		if err != nil {
			return nil, false, fmt.Errorf("%s row %d: %w", path, n+1, err)
		}
		byIndex[r.Index] = r
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	var out []InputFIRow
	complete := true
	for _, i := range spec.Indices {
		r, ok := byIndex[i]
		if !ok {
			if c.Shard.Owns(i) {
				return nil, false, fmt.Errorf("%s: example %d is missing after computing it", path, i)
			}
			complete = false
			continue
		}
		out = append(out, r)
	}
	return out, complete, nil
}

// computeInputFI computes the rows of examples todo and appends them to f.
func computeInputFI(ctx context.Context, c Common, lm *LoadedModel, set *datasets.Set, todo []int, batch int,
	form fisens.Form, conv fisens.Convention, f *results.Table) error {
	optTrue := fisens.Options{Objective: fisens.LogProbTrue, Convention: conv}
	optPred := fisens.Options{Objective: fisens.LogProbPred, Convention: conv}
	bar := progress.New(c.Progress, "FI "+lm.Name+" "+set.Name(), len(todo))
	defer bar.Done()
	shard := c.Shard.String()
	for lo := 0; lo < len(todo); lo += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := todo[lo:min(lo+batch, len(todo))]
		n := len(idx)
		bt, err := ReadBatch(set, idx, lm.Scale, batch)
		if err != nil {
			return err
		}
		jac, err := lm.Analyzer.InputJacobian(bt)
		if err != nil {
			return fmt.Errorf("%s on %s examples %d..%d: %w", lm.Name, set.Name(), idx[0], idx[n-1], err)
		}
		recs := make([][]string, 0, n)
		for b := 0; b < n; b++ {
			M := jac.Gram(b, nil, form)
			z := jac.LogitsOf(b)
			rt, err := fisens.FromGram(M, z, bt.Labels[b], optTrue)
			if err != nil {
				return fmt.Errorf("%s on %s example %d: %w", lm.Name, set.Name(), idx[b], err)
			}
			rp, err := fisens.FromGram(M, z, bt.Labels[b], optPred)
			if err != nil {
				return fmt.Errorf("%s on %s example %d: %w", lm.Name, set.Name(), idx[b], err)
			}
			rec := []string{strconv.Itoa(idx[b]), strconv.Itoa(set.SourceIndex(idx[b])), strconv.Itoa(rt.Label), strconv.Itoa(rt.Pred),
				results.FormatFloat(rt.Prob), results.FormatFloat(rt.FI), strconv.Itoa(rt.Rank), results.FormatFloat(rt.Bound), results.FormatFloat(rt.JacNorm),
				results.FormatFloat(rp.Prob), results.FormatFloat(rp.FI), strconv.Itoa(rp.Rank), results.FormatFloat(rp.Bound), results.FormatFloat(rp.JacNorm), results.FormatFloat(rt.SoftmaxJacNorm), shard}
			recs = append(recs, rec)
		}
		if _, err := f.Append(recs...); err != nil {
			return err
		}
		bar.Add(n)
	}
	return nil
}

// ReadInputFI reads an input FI table written by InputFITable (or merged by `fisens merge`).
func ReadInputFI(path string) ([]InputFIRow, error) {
	return readTable(path, "an input FI table", inputFIHeader, parseInputFIRow)
}

// readTable reads the results table at path (key "index" if it records none), checks that it has
// header, and parses every row.
func readTable[T any](path, what string, header []string, parse func([]string) (T, error)) ([]T, error) {
	d, err := results.Read(path, "index")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(d.Header, header) {
		return nil, fmt.Errorf("%s has header %v, want %s %v", path, d.Header, what, header)
	}
	out := make([]T, 0, len(d.Rows))
	for n, rec := range d.Rows {
		r, err := parse(rec)
		if err != nil {
			return nil, fmt.Errorf("%s row %d: %w", path, n+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseInputFIRow parses one row of an input FI table.
func parseInputFIRow(rec []string) (InputFIRow, error) {
	p := results.Parser{Row: rec}
	r := InputFIRow{Index: p.Int(0), Source: p.Int(1)}
	label, pred := p.Int(2), p.Int(3)
	r.True = fisens.Result{Label: label, Pred: pred, Prob: p.Float(4), FI: p.Float(5), Rank: p.Int(6), Bound: p.Float(7),
		JacNorm: p.Float(8), SoftmaxJacNorm: p.Float(14)}
	r.Pred = fisens.Result{Label: pred, Pred: pred, Prob: p.Float(9), FI: p.Float(10), Rank: p.Int(11), Bound: p.Float(12),
		JacNorm: p.Float(13), SoftmaxJacNorm: p.Float(14)}
	return r, p.Err
}

// ---------------------------------------------------------------------------------------------
// Summaries of FI against the odds bound (SPEC A.3).

// BoundSummary compares FI with the odds bound (1 − π_y)/π_y over a set of results.
type BoundSummary struct {
	N         int     // results
	FullRank  int     // results with rank K − 1
	AtBound   int     // results with |FI − bound| ≤ 1e-6 · bound
	MaxRelDev float64 // max |FI − bound| / bound over the full-rank results
	MinRatio  float64 // min FI / bound over all results with bound > 0
	Above     int     // results with FI > bound (1 + 1e-6): would contradict SPEC A.3
}

// SummarizeBound computes a BoundSummary for K classes.
func SummarizeBound(res []fisens.Result, K int) BoundSummary {
	s := BoundSummary{N: len(res), MinRatio: math.Inf(1)}
	for _, r := range res {
		dev := math.Abs(r.FI - r.Bound)
		if r.Rank == K-1 {
			s.FullRank++
			if r.Bound > 0 {
				s.MaxRelDev = math.Max(s.MaxRelDev, dev/r.Bound)
			}
		}
		if dev <= 1e-6*r.Bound {
			s.AtBound++
		}
		if r.Bound > 0 {
			s.MinRatio = math.Min(s.MinRatio, r.FI/r.Bound)
		}
		if r.FI > r.Bound*(1+1e-6) {
			s.Above++
		}
	}
	if math.IsInf(s.MinRatio, 1) {
		s.MinRatio = math.NaN()
	}
	return s
}

// String states the summary in words.
func (s BoundSummary) String() string {
	return fmt.Sprintf("FI equals the odds bound (1−π_y)/π_y within 1e-6 for %s of %d examples; rank K−1 for %s "+
		"(max |FI − bound|/bound there %.2g); min FI/bound %.3g; FI above the bound: %d",
		pctOf(s.AtBound, s.N), s.N, pctOf(s.FullRank, s.N), s.MaxRelDev, s.MinRatio, s.Above)
}

// pct formats k/n as a percentage.
func pctOf(k, n int) string {
	if n == 0 {
		return "—"
	}
	v := 100 * float64(k) / float64(n)
	switch {
	case v == 100 || v == 0:
		return fmt.Sprintf("%.0f %%", v)
	case v > 99.9 || v < 0.1:
		return fmt.Sprintf("%.2f %%", v)
	}
	return fmt.Sprintf("%.1f %%", v)
}

// resultsOf extracts one objective's results from table rows.
func resultsOf(rs []InputFIRow, pred bool) []fisens.Result {
	out := make([]fisens.Result, len(rs))
	for i, r := range rs {
		if pred {
			out[i] = r.Pred
		} else {
			out[i] = r.True
		}
	}
	return out
}
