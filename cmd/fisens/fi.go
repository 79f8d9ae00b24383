package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/internal/rows"
	"github.com/fisens/fisens/models"
)

func init() {
	register(command{name: "fi", summary: "compute FI (and Jacobian norms) per example into a resumable CSV", run: runFI})
	register(command{name: "merge", summary: "merge the shard CSVs of a --shard run into one file", run: runMerge})
}

// fiSettings is written next to the CSV so every number can be traced to how it was computed.
type fiSettings struct {
	Model      string  `json:"model"`
	Data       string  `json:"data"`
	Split      string  `json:"split"`
	Scale      string  `json:"input_scale"`
	Perturb    string  `json:"perturb"`
	Objective  string  `json:"objective"`
	Form       string  `json:"form"`
	Convention string  `json:"convention"`
	RelTol     float64 `json:"rel_tol,omitempty"`
	Eps        float64 `json:"eps,omitempty"`
	Backend    string  `json:"backend"`
	Start      int     `json:"start"`
	End        int     `json:"end"`
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
	relTol := fs.Float64("reltol", 0, "exact convention: relative eigenvalue threshold (0: default 1e-10)")
	eps := fs.Float64("eps", 0, "authors' convention: ε (0: default 1e-3)")
	batch := fs.Int("batch", 64, "batch size for input Jacobians")
	out := fs.String("out", "fi.csv", "output CSV (resumed if it exists)")
	shardFlag := fs.String("shard", "", "i/n: compute only examples with index mod n == i, into OUT.shard-i-of-n.csv")
	backendFlag := fs.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	shard, err := rows.ParseShard(*shardFlag)
	if err != nil {
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
	if *data == "" {
		ds, _, ok := models.TrainedOn(*modelRef)
		if !ok {
			return fmt.Errorf("--data is required: %s does not record the dataset it was trained on", *modelRef)
		}
		*data = ds
	}
	set, err := datasets.Load(*data, *split)
	if err != nil {
		return err
	}
	if err := m.CheckData(set); err != nil {
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

	path := shard.Path(*out)
	header := []string{"index", "label", "pred", "prob", "fi", "rank", "bound", "jacnorm", "softmax_jacnorm"}
	keys := []string{"index"}
	if *perturb == "params" {
		header = []string{"index", "layer", "kind", "params", "label", "pred", "prob", "fi", "rank", "bound", "jacnorm", "softmax_jacnorm"}
		keys = []string{"index", "layer"}
	}
	f, err := rows.Open(path, header, keys...)
	if err != nil {
		return err
	}
	defer f.Close()
	settings := fiSettings{Model: *modelRef, Data: *data, Split: *split, Scale: string(scale), Perturb: *perturb,
		Objective: opt.Objective.String(), Form: pform.String(), Convention: opt.Convention.String(),
		RelTol: *relTol, Eps: *eps, Backend: backend.Name(*backendFlag), Start: *start, End: *end}
	if js, err := json.MarshalIndent(settings, "", "  "); err == nil {
		os.WriteFile(path+".json", append(js, '\n'), 0o644)
	}

	// The examples still to do in this shard.
	var todo []int
	for i := *start; i < *end; i++ {
		if !shard.Owns(i) {
			continue
		}
		if *perturb == "input" && f.Done(rows.Key(strconv.Itoa(i))) {
			continue
		}
		if *perturb == "params" && f.Done(rows.Key(strconv.Itoa(i), "all")) {
			continue
		}
		todo = append(todo, i)
	}
	fmt.Fprintf(os.Stderr, "fisens fi: %s on %s (%s scale), examples [%d, %d) shard %s: %d to do, %d already in %s\n",
		*modelRef, set.Name(), scale, *start, *end, shard, len(todo), f.NumDone(), path)
	if len(todo) == 0 {
		return nil
	}
	h, w, c := set.Dims()
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	bar := progress.New(os.Stderr, "fi", len(todo))
	t0 := time.Now()
	step := *batch
	if *perturb == "params" {
		step = 1
	}
	for lo := 0; lo < len(todo); lo += step {
		idx := todo[lo:min(lo+step, len(todo))]
		labels := make([]int, len(idx))
		for i, j := range idx {
			labels[i] = set.Label(j)
		}
		bt := fisens.Batch{X: set.Batch(idx, scale), Shape: []int{len(idx), h, w, c}, Labels: labels}
		if *perturb == "input" {
			res, err := an.InputFI(bt, pform, opt)
			if err != nil {
				return fmt.Errorf("examples %d..%d: %w", idx[0], idx[len(idx)-1], err)
			}
			for i, r := range res {
				if err := f.Write([]string{strconv.Itoa(idx[i]), strconv.Itoa(labels[i]), strconv.Itoa(r.Pred), ff(r.Prob),
					ff(r.FI), strconv.Itoa(r.Rank), ff(r.Bound), ff(r.JacNorm), ff(r.SoftmaxJacNorm)}); err != nil {
					return err
				}
			}
		} else {
			pr, err := an.ParamFI(bt, fisens.ParamOptions{Options: opt, Form: pform})
			if err != nil {
				return fmt.Errorf("example %d: %w", idx[0], err)
			}
			row := func(name, kind string, params int, r fisens.Result) []string {
				return []string{strconv.Itoa(idx[0]), name, kind, strconv.Itoa(params), strconv.Itoa(labels[0]), strconv.Itoa(r.Pred),
					ff(r.Prob), ff(r.FI), strconv.Itoa(r.Rank), ff(r.Bound), ff(r.JacNorm), ff(r.SoftmaxJacNorm)}
			}
			total := 0
			for i, l := range pr.Groups {
				total += l.Params
				if err := f.Write(row(l.Name, l.Kind, l.Params, pr.PerGroup[i])); err != nil {
					return err
				}
			}
			// "all" last: its presence marks the example done.
			if err := f.Write(row("all", "all", total, pr.All)); err != nil {
				return err
			}
		}
		bar.Add(len(idx))
	}
	bar.Done()
	fmt.Fprintf(os.Stderr, "fisens fi: %d examples in %s → %s\n", len(todo), time.Since(t0).Round(time.Millisecond), path)
	return nil
}

func runMerge(args []string) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	out := fs.String("out", "", "merged CSV to write")
	keys := fs.String("keys", "index", "comma-separated key columns (index,layer for per-layer runs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("usage: fisens merge --out FILE.csv SHARD.csv...")
	}
	n, err := rows.Merge(*out, fs.Args(), splitComma(*keys)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fisens merge: %d rows → %s\n", n, *out)
	return nil
}

func splitComma(s string) []string { return strings.Split(s, ",") }
