package experiments

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/internal/rows"
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

// inputFIHeader is the CSV header of an input FI table.
var inputFIHeader = []string{"index", "source_index", "label", "pred",
	"prob_true", "fi_true", "rank_true", "bound_true", "jacnorm_true",
	"prob_pred", "fi_pred", "rank_pred", "bound_pred", "jacnorm_pred", "softmax_jacnorm", "shard"}

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

// tableSettings is written next to a results CSV; a resumed run must match it.
type tableSettings map[string]string

// checkSettings writes the settings file of a results CSV, or checks it against an existing one
// so that rows computed with other settings are never mixed in.
func checkSettings(csvPath string, want tableSettings) error {
	p := csvPath + ".json"
	if data, err := os.ReadFile(p); err == nil {
		var got tableSettings
		if err := json.Unmarshal(data, &got); err != nil {
			return fmt.Errorf("%s is corrupt (%v): move it and %s away to start over", p, err, csvPath)
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s was computed with %s = %q, this run uses %q: use another --out or move the file away",
					csvPath, k, got[k], v)
			}
		}
		return nil
	}
	js, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(js, '\n'), 0o644)
}

// mergeShards merges the shard files of base (base.shard-i-of-n.csv) into base when a run covers
// all shards: the merge step of a sharded run, done automatically (`fisens merge` does the same by
// hand). Shard files are kept; merging twice is harmless (duplicate keys are dropped).
func mergeShards(c Common, base string, keyCols ...string) error {
	if c.Shard.N > 1 {
		return nil
	}
	ext := filepath.Ext(base)
	shards, err := filepath.Glob(strings.TrimSuffix(base, ext) + ".shard-*-of-*" + ext)
	if err != nil || len(shards) == 0 {
		return err
	}
	inputs := shards
	if _, err := os.Stat(base); err == nil {
		inputs = append([]string{base}, shards...)
	}
	// Opening each file repairs a torn last line (an interrupted write).
	for _, in := range inputs {
		header, err := csvHeader(in)
		if err != nil {
			return err
		}
		f, err := rows.Open(in, header, keyCols...)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	n, err := rows.Merge(base, inputs, keyCols...)
	if err != nil {
		return fmt.Errorf("merging the shard files of %s: %w", base, err)
	}
	c.Logf("   merged %d shard file(s) into %s (%d rows)", len(shards), base, n)
	return nil
}

// csvHeader reads the first record of a CSV file.
func csvHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := csv.NewReader(f).Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	return h, nil
}

// fmtF formats a float for a results CSV: the shortest text that reads back as the same float64,
// so that comparisons made from the files (FI against the odds bound) keep full precision.
func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

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
	settings := tableSettings{"model": lm.Ref, "dataset": lm.Dataset, "split": spec.Split, "input_scale": string(lm.Scale),
		"form": spec.Form.String(), "convention": conv.String(), "measure": "whole-image input FI, objectives log p(true) and log p(pred)"}
	if err := mergeShards(c, base, "index"); err != nil {
		return nil, false, err
	}
	path := c.Shard.Path(base)
	if err := checkSettings(path, settings); err != nil {
		return nil, false, err
	}
	f, err := rows.Open(path, inputFIHeader, "index")
	if err != nil {
		return nil, false, err
	}
	var todo []int
	for _, i := range spec.Indices {
		if c.Shard.Owns(i) && !f.Done(rows.Key(strconv.Itoa(i))) {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		c.Logf("   %s on %s %s: %d of %d examples to compute (shard %s) → %s", lm.Name, lm.Dataset, spec.Split,
			len(todo), len(spec.Indices), c.Shard, path)
		if err := computeInputFI(ctx, c, lm, set, todo, batch, spec.Form, conv, f); err != nil {
			f.Close()
			return nil, false, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	all, err := ReadInputFI(path)
	if err != nil {
		return nil, false, err
	}
	byIndex := make(map[int]InputFIRow, len(all))
	for _, r := range all {
		byIndex[r.Index] = r
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
	form fisens.Form, conv fisens.Convention, f *rows.File) error {
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
				fmtF(rt.Prob), fmtF(rt.FI), strconv.Itoa(rt.Rank), fmtF(rt.Bound), fmtF(rt.JacNorm),
				fmtF(rp.Prob), fmtF(rp.FI), strconv.Itoa(rp.Rank), fmtF(rp.Bound), fmtF(rp.JacNorm), fmtF(rt.SoftmaxJacNorm), shard}
			if err := f.Write(rec); err != nil {
				return err
			}
		}
		bar.Add(n)
	}
	return nil
}

// ReadInputFI reads an input FI table written by InputFITable (or merged by `fisens merge`).
func ReadInputFI(path string) ([]InputFIRow, error) {
	header, recs, err := rows.Read(path)
	if err != nil {
		return nil, err
	}
	if strings.Join(header, ",") != strings.Join(inputFIHeader, ",") {
		return nil, fmt.Errorf("%s has header %v, want an input FI table %v", path, header, inputFIHeader)
	}
	out := make([]InputFIRow, 0, len(recs))
	for ln, rec := range recs {
		p := fieldParser{rec: rec}
		r := InputFIRow{Index: p.int(0), Source: p.int(1)}
		label, pred := p.int(2), p.int(3)
		r.True = fisens.Result{Label: label, Pred: pred, Prob: p.float(4), FI: p.float(5), Rank: p.int(6), Bound: p.float(7),
			JacNorm: p.float(8), SoftmaxJacNorm: p.float(14)}
		r.Pred = fisens.Result{Label: pred, Pred: pred, Prob: p.float(9), FI: p.float(10), Rank: p.int(11), Bound: p.float(12),
			JacNorm: p.float(13), SoftmaxJacNorm: p.float(14)}
		if p.err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, ln+2, p.err)
		}
		out = append(out, r)
	}
	return out, nil
}

// fieldParser parses CSV fields, remembering the first error.
type fieldParser struct {
	rec []string
	err error
}

func (p *fieldParser) field(i int) string {
	if i >= len(p.rec) {
		if p.err == nil {
			p.err = fmt.Errorf("row has %d fields, want more than %d", len(p.rec), i)
		}
		return "0"
	}
	return p.rec[i]
}

func (p *fieldParser) int(i int) int {
	v, err := strconv.Atoi(p.field(i))
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("field %d: %w", i+1, err)
	}
	return v
}

func (p *fieldParser) float(i int) float64 {
	v, err := strconv.ParseFloat(p.field(i), 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("field %d: %w", i+1, err)
	}
	return v
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
