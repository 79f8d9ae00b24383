package main

import (
	"cmp"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

func init() {
	register(command{name: "fi", summary: "compute FI (and Jacobian norms) per example into a resumable CSV", run: runFI})
	register(command{name: "merge", summary: "merge the shard CSVs of a --shard run into one file", run: runMerge})
}

// fiColumns are the columns of `fisens fi` tables: one row per example (--perturb input), or one
// row per parameter layer of an example plus its "all" row (--perturb params).
var (
	fiInputColumns = []results.Column{results.IntCol("index"), results.IntCol("label"), results.IntCol("pred"),
		results.FloatCol("prob"), results.FloatCol("fi"), results.IntCol("rank"), results.FloatCol("bound"),
		results.FloatCol("jacnorm"), results.FloatCol("softmax_jacnorm")}
	fiParamColumns = []results.Column{results.IntCol("index"), results.TextCol("layer"), results.TextCol("kind"),
		results.IntCol("params"), results.IntCol("label"), results.IntCol("pred"), results.FloatCol("prob"),
		results.FloatCol("fi"), results.IntCol("rank"), results.FloatCol("bound"), results.FloatCol("jacnorm"),
		results.FloatCol("softmax_jacnorm")}
)

// checkThreshold accepts 0 (the documented default) or a finite positive value.
func checkThreshold(flagName string, v, def float64) error {
	if v == 0 || (v > 0 && !math.IsInf(v, 1)) {
		return nil
	}
	return fmt.Errorf("--%s %g: want a finite value > 0 (or 0 for the default %g)", flagName, v, def)
}

func runFI(args []string) error {
	fs := flag.NewFlagSet("fi", flag.ContinueOnError)
	modelRef := fs.String("model", "zoo:resnet-small-mnist", "model: zoo:NAME or a checkpoint directory")
	data := fs.String("data", "", "dataset (mnist, fashion-mnist, cifar10); default: the one the model was trained on")
	split := fs.String("split", "train", "split: train, valid, test or train-full")
	n := fs.Int("n", 100, "number of examples from --start (ignored when --end is set)")
	start := fs.Int("start", 0, "first example index")
	end := fs.Int("end", -1, "one past the last example index (default start+n)")
	perturb := fs.String("perturb", "input", "what to perturb: input (whole image) or params (all parameters and each layer)")
	objective := fs.String("objective", "true", "objective log π_y with y = true or pred")
	form := fs.String("form", "additive", "perturbation form: additive or scaling")
	convention := fs.String("convention", "exact", "exact (relative threshold) or authors (absolute ε, thin SVD)")
	relTol := fs.Float64("reltol", 0, fmt.Sprintf("exact convention: relative eigenvalue threshold, finite and > 0 (0: default %g)", fisens.DefaultRelTol))
	eps := fs.Float64("eps", 0, fmt.Sprintf("authors' convention: absolute ε, finite and > 0 (0: default %g)", fisens.DefaultAuthorsEps))
	batch := fs.Int("batch", 64, "examples per call: one input-Jacobian graph call, or one ParamFIBatch call (chunks of 8) and one table write for --perturb params")
	out := fs.String("out", "fi.csv", "output CSV (resumed if it exists)")
	shardFlag := fs.String("shard", "", "i/n: compute only examples with index mod n == i, into OUT.shard-i-of-n.csv")
	backendFlag := fs.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	shard, err := results.ParseShard(*shardFlag)
	if err != nil {
		return err
	}
	if err := checkThreshold("reltol", *relTol, fisens.DefaultRelTol); err != nil {
		return err
	}
	if err := checkThreshold("eps", *eps, fisens.DefaultAuthorsEps); err != nil {
		return err
	}
	opt := fisens.Options{RelTol: *relTol, Eps: *eps}
	switch *objective {
	case "true":
		opt.Objective = fisens.LogProbTrue
	case "pred":
		opt.Objective = fisens.LogProbPred
	default:
		return fmt.Errorf("--objective %q: want true or pred", *objective)
	}
	var pform fisens.Form
	switch *form {
	case "additive":
	case "scaling":
		pform = fisens.Scaling
	default:
		return fmt.Errorf("--form %q: want additive or scaling", *form)
	}
	switch *convention {
	case "exact":
	case "authors":
		opt.Convention = fisens.Authors
	default:
		return fmt.Errorf("--convention %q: want exact or authors", *convention)
	}
	if *perturb != "input" && *perturb != "params" {
		return fmt.Errorf("--perturb %q: want input or params", *perturb)
	}
	if *batch < 1 {
		return fmt.Errorf("--batch %d: want ≥ 1", *batch)
	}

	m, err := models.Load(*modelRef)
	if err != nil {
		return err
	}
	if *split == datasets.SplitUnlabeled && *objective == "true" {
		// An unlabeled folder gives every image label 0: log π_0 would be computed silently.
		return fmt.Errorf("--split %s has no labels: use --objective pred (FI of the predicted label), or add %s to the folder", datasets.SplitUnlabeled, datasets.LabelsFile)
	}
	set, err := loadModelData(m, *modelRef, data, *split, "--data")
	if err != nil {
		return err
	}
	scale, err := m.InputScale()
	if err != nil {
		return err
	}
	if *end < 0 {
		*end = *start + *n
	}
	if *end > set.Len() {
		*end = set.Len()
	}
	if *start < 0 || *start >= *end {
		return fmt.Errorf("empty example range [%d, %d) of %s (%d examples)", *start, *end, set.Name(), set.Len())
	}
	b, err := backend.New(*backendFlag)
	if err != nil {
		return err
	}
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return err
	}

	spec := results.Spec{Columns: fiInputColumns, Key: []string{"index"}, Shard: shard}
	if *perturb == "params" {
		spec = results.Spec{Columns: fiParamColumns, Key: []string{"index", "layer"}, Shard: shard}
	}
	// The settings every row depends on (not the example range: a resumed run may extend it).
	spec.Settings = results.Settings{"model": *modelRef, "data": *data, "split": *split, "input_scale": string(scale),
		"perturb": *perturb, "objective": opt.Objective.String(), "form": pform.String(),
		"convention": opt.Convention.String(), "backend": backend.Name(*backendFlag)}
	for k, v := range m.Provenance() { // an ONNX model's file hash, layout, preprocessing, output handling
		spec.Settings[k] = v
	}
	if opt.Convention == fisens.Authors {
		spec.Settings["eps"] = results.FormatFloat(cmp.Or(*eps, fisens.DefaultAuthorsEps))
	} else {
		spec.Settings["rel_tol"] = results.FormatFloat(cmp.Or(*relTol, fisens.DefaultRelTol))
	}
	f, err := results.Open(*out, spec)
	if err != nil {
		return err
	}
	defer f.Close()
	path := f.Path()

	// The examples still to do in this shard.
	var todo []int
	for i := *start; i < *end; i++ {
		if !shard.Owns(i) {
			continue
		}
		if *perturb == "input" && f.Has(strconv.Itoa(i)) {
			continue
		}
		if *perturb == "params" && f.Has(strconv.Itoa(i), "all") {
			continue
		}
		todo = append(todo, i)
	}
	fmt.Fprintf(os.Stderr, "fisens fi: %s on %s (%s scale), examples [%d, %d) shard %s: %d to do, %d already in %s\n",
		*modelRef, set.Name(), scale, *start, *end, shard, len(todo), f.Len(), path)
	if len(todo) == 0 {
		return f.Close()
	}
	h, w, c := set.Dims()
	ff := results.FormatFloat
	bar := progress.New(os.Stderr, "fi", len(todo))
	t0 := time.Now()
	step := *batch
	for lo := 0; lo < len(todo); lo += step {
		idx := todo[lo:min(lo+step, len(todo))]
		labels := make([]int, len(idx))
		for i, j := range idx {
			labels[i] = set.Label(j)
		}
		x, err := set.ReadBatch(idx, scale)
		if err != nil {
			return err
		}
		bt := fisens.Batch{X: x, Shape: []int{len(idx), h, w, c}, Labels: labels}
		if *perturb == "input" {
			res, err := an.InputFI(bt, pform, opt)
			if err != nil {
				return fmt.Errorf("examples %d..%d: %w", idx[0], idx[len(idx)-1], err)
			}
			recs := make([][]string, len(res))
			for i, r := range res {
				recs[i] = []string{strconv.Itoa(idx[i]), strconv.Itoa(labels[i]), strconv.Itoa(r.Pred), ff(r.Prob),
					ff(r.FI), strconv.Itoa(r.Rank), ff(r.Bound), ff(r.JacNorm), ff(r.SoftmaxJacNorm)}
			}
			if _, err := f.Append(recs...); err != nil {
				return err
			}
		} else {
			// K backward passes per chunk of examples (ParamFIBatch), not per example.
			prs, err := an.ParamFIBatch(bt, fisens.ParamOptions{Options: opt, Form: pform})
			if err != nil {
				return fmt.Errorf("examples %d..%d: %w", idx[0], idx[len(idx)-1], err)
			}
			// Each example's rows are one unit; rows already present (an older, interrupted run)
			// are skipped. "all" is last: its presence marks the example done.
			var recs [][]string
			for j, pr := range prs {
				row := func(name, kind string, params int, r fisens.Result) []string {
					return []string{strconv.Itoa(idx[j]), name, kind, strconv.Itoa(params), strconv.Itoa(labels[j]), strconv.Itoa(r.Pred),
						ff(r.Prob), ff(r.FI), strconv.Itoa(r.Rank), ff(r.Bound), ff(r.JacNorm), ff(r.SoftmaxJacNorm)}
				}
				total := 0
				for i, l := range pr.Groups {
					total += l.Params
					recs = append(recs, row(l.Name, l.Kind, l.Params, pr.PerGroup[i]))
				}
				recs = append(recs, row("all", "all", total, pr.All))
			}
			if _, err := f.Append(recs...); err != nil {
				return err
			}
		}
		bar.Add(len(idx))
	}
	bar.Done()
	fmt.Fprintf(os.Stderr, "fisens fi: %d examples in %s → %s\n", len(todo), time.Since(t0).Round(time.Millisecond), path)
	return f.Close()
}

// loadModelData loads the split of *data for model m, checking that its images fit the model; an
// empty *data becomes the dataset the model records (flag names the flag(s) that would give one).
func loadModelData(m *models.Model, modelRef string, data *string, split, flag string) (*datasets.Set, error) {
	if *data == "" {
		ds, _, ok := models.TrainedOn(modelRef)
		if !ok {
			return nil, fmt.Errorf("%s is required: %s does not record the dataset it was trained on", flag, modelRef)
		}
		*data = ds
	}
	set, err := datasets.Load(*data, split)
	if err != nil {
		return nil, err
	}
	if err := m.CheckData(set); err != nil {
		return nil, err
	}
	return set, nil
}

func runMerge(args []string) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	out := fs.String("out", "", "merged CSV to write (a new path, or one of the inputs)")
	keys := fs.String("keys", "", "comma-separated key columns, only for tables without a settings file (e.g. index,layer); "+
		"default: the key recorded in each table's settings file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("usage: fisens merge --out FILE.csv [FILE.shard-0-of-N.csv ... FILE.shard-(N-1)-of-N.csv] " +
			"(no inputs: the shard files of FILE.csv found next to it, and FILE.csv itself if it exists)")
	}
	inputs := fs.Args()
	if len(inputs) == 0 {
		shards, err := results.ShardPaths(*out)
		if err != nil {
			return err
		}
		if len(shards) == 0 {
			return fmt.Errorf("no shard files of %s (%s)", *out, results.Shard{I: 0, N: 2}.Path(*out))
		}
		if _, err := os.Stat(*out); err == nil {
			inputs = append(inputs, *out)
		}
		inputs = append(inputs, shards...)
	}
	var opt results.MergeOptions
	if *keys != "" {
		opt.Key = strings.Split(*keys, ",")
	}
	n, err := results.Merge(*out, inputs, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fisens merge: %d rows → %s (settings in %s)\n", n, *out, results.SettingsPath(*out))
	return nil
}
