package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
)

func init() {
	register(command{name: "eval", summary: "print a model's Table 1 row: train / valid / test accuracy", run: runEval})
}

const evalUsage = `usage: fisens eval --model zoo:NAME|DIR [--data DATASET] [--split-seed N] [--json] [flags]

Prints the paper's Table 1 row for the model: accuracy (inference mode) on the training split,
the validation split and the test set. --model is a zoo model (fisens eval --list shows them), a
directory written by ` + "`fisens train --out DIR`" + ` (its best-validation model) or by Model.Save.
--data and --split-seed default to what the model was trained on when it records it, else mnist / 0.

flags:
`

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, evalUsage)
		fs.PrintDefaults()
	}
	ref := fs.String("model", "", "zoo:NAME or a model / training directory")
	data := fs.String("data", "", "dataset (default: the one the model was trained on, else mnist)")
	dataDir := fs.String("data-dir", "", "folder with the dataset's files (default: discovery)")
	splitSeed := fs.Int64("split-seed", -1, "seed of the train/valid split (default: the model's, else 0)")
	splits := fs.String("splits", "train,valid,test", "splits to evaluate, comma-separated")
	batch := fs.Int("batch", models.DefaultEvalBatch, "batch size")
	asJSON := fs.Bool("json", false, "print the row as JSON (fractions) instead of a table (percent)")
	list := fs.Bool("list", false, "list the zoo models and their recorded accuracies")
	backendFlag := fs.String("backend", "", "compute backend: go, onnx:cpu, xla:cpu (default $GOMLX_BACKEND, else go)")
	quiet := fs.Bool("quiet", false, "no progress bars")
	if help, err := parseOptions(fs, args); help || err != nil {
		return err
	}
	if *list {
		return listZoo(os.Stdout)
	}
	if *ref == "" {
		return errors.New("--model zoo:NAME|DIR is required (fisens eval --list shows the zoo)")
	}
	m, err := models.Load(*ref)
	if err != nil {
		return err
	}
	ds, seed, known := models.TrainedOn(*ref)
	if !known {
		ds, seed = datasets.MNIST, datasets.DefaultSplitSeed
	}
	if *data != "" {
		ds = *data
	}
	if *splitSeed >= 0 {
		seed = *splitSeed
	}
	b, err := backend.New(*backendFlag)
	if err != nil {
		return err
	}
	sets := map[string]*datasets.Set{}
	for _, sp := range strings.Split(*splits, ",") {
		sp = strings.TrimSpace(sp)
		switch sp {
		case datasets.SplitTrain, datasets.SplitValid, datasets.SplitTest:
		default:
			return fmt.Errorf("--splits: unknown split %q (want train, valid, test)", sp)
		}
		s, err := datasets.Load(ds, sp, datasets.WithSplitSeed(seed), dirOption(*dataDir))
		if err != nil {
			return err
		}
		sets[sp] = s
	}
	var progressW io.Writer = os.Stderr
	if *quiet {
		progressW = nil
	}
	row, err := models.Evaluate(b, m, sets[datasets.SplitTrain], sets[datasets.SplitValid], sets[datasets.SplitTest], *batch,
		models.WithProgress(progressW))
	if err != nil {
		return err
	}
	row.Model = *ref
	if info, err := datasets.DatasetInfo(ds); err == nil {
		row.Dataset = info.Name
	}
	if *asJSON {
		return printRowJSON(os.Stdout, row)
	}
	printRow(os.Stdout, row, seed, backend.Name(*backendFlag))
	return nil
}

// printRowJSON prints the row with null for splits not evaluated.
func printRowJSON(w io.Writer, row models.Table1Row) error {
	out := map[string]any{"model": row.Model, "dataset": row.Dataset}
	for _, f := range []struct {
		name string
		acc  float64
		n    int
	}{{"train", row.Train, row.NTrain}, {"valid", row.Valid, row.NValid}, {"test", row.Test, row.NTest}} {
		if f.n > 0 {
			out[f.name] = f.acc
			out["n_"+f.name] = f.n
		} else {
			out[f.name] = nil
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printRow(w io.Writer, row models.Table1Row, seed int64, backendName string) {
	pct := func(acc float64, n int) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f %%", 100*acc)
	}
	fmt.Fprintf(w, "Table 1 row (accuracy, inference mode; %s split seed %d; backend %s)\n", row.Dataset, seed, backendName)
	fmt.Fprintf(w, "%-32s %-8s %10s %10s %10s\n", "model", "dataset", "train", "valid", "test")
	fmt.Fprintf(w, "%-32s %-8s %10s %10s %10s\n", row.Model, row.Dataset,
		pct(row.Train, row.NTrain), pct(row.Valid, row.NValid), pct(row.Test, row.NTest))
	fmt.Fprintf(w, "%-32s %-8s %10d %10d %10d\n", "examples", "", row.NTrain, row.NValid, row.NTest)
}

func listZoo(w io.Writer) error {
	zoo, err := models.Zoo()
	if err != nil {
		return err
	}
	if len(zoo) == 0 {
		fmt.Fprintln(w, "the zoo is empty")
		return nil
	}
	fmt.Fprintf(w, "%-28s %-14s %-8s %7s %8s %8s %8s\n", "model", "arch", "dataset", "epochs", "train", "valid", "test")
	for _, e := range zoo {
		fmt.Fprintf(w, "%-28s %-14s %-8s %7d %7.2f%% %7.2f%% %7.2f%%\n", models.ZooPrefix+e.Name, e.Arch, e.Dataset, e.Epochs,
			100*e.TrainAcc, 100*e.ValidAcc, 100*e.TestAcc)
	}
	return nil
}
