package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/experiments"
	"github.com/fisens/fisens/results"
)

func init() {
	register(command{name: "reproduce", summary: "run the papers' experiments and write figures, tables and an index", run: runReproduce})
}

func runReproduce(args []string) error {
	fs := flag.NewFlagSet("reproduce", flag.ContinueOnError)
	scale := fs.String("scale", "quick", "quick (fresh 2-core machine, minutes) or paper (the paper's models and data)")
	only := fs.String("only", "", "comma-separated experiments to run (default: all); see --list")
	list := fs.Bool("list", false, "list the experiments and exit")
	out := fs.String("out", "out/reproduce", "output folder (figures, tables, index.md; resumable results)")
	backendFlag := fs.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND or go)")
	seed := fs.Int64("seed", 1, "seed of every random choice")
	shard := fs.String("shard", "", "i/n: per-example work of this shard only (merge the CSVs with `fisens merge`)")
	var sets []string
	fs.Func("set", "override a setting: experiment.Field=value (repeatable; also \"a.X=1; b.Y=2\")", func(v string) error {
		sets = append(sets, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, e := range experiments.List() {
			fmt.Printf("%-12s %-22s %s\n", e.Name, e.Paper, e.Title)
		}
		return nil
	}
	sc, err := experiments.ParseScale(*scale)
	if err != nil {
		return err
	}
	sh, err := results.ParseShard(*shard)
	if err != nil {
		return err
	}
	todo := experiments.List()
	if *only != "" {
		todo = nil
		for _, name := range strings.Split(*only, ",") {
			e, err := experiments.Lookup(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			todo = append(todo, e)
		}
	}
	overrides, err := experiments.ParseOverrides(sets...)
	if err != nil {
		return err
	}
	if _, err := backend.New(*backendFlag); err != nil {
		return err
	}
	// Every experiment reads MNIST at both scales: stop before anything runs, with one message,
	// rather than fail every experiment with the same long error.
	if _, err := datasets.Locate(datasets.MNIST); err != nil {
		return fmt.Errorf("reproduce needs MNIST and stops before running anything: %w", err)
	}
	c := experiments.Common{Scale: sc, OutDir: *out, Backend: backend.Name(*backendFlag), Seed: *seed, Shard: sh, Progress: os.Stderr, Overrides: overrides}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var reports []*experiments.Report
	var failed []string
	t0 := time.Now()
	for _, e := range todo {
		c.Logf("== %s: %s (%s), %s scale", e.Name, e.Title, e.Paper, sc)
		t := time.Now()
		r, err := e.Run(ctx, c)
		// At paper scale, free the experiment's models, their compiled graphs and device buffers
		// before the next one (nothing else frees them on ONNX Runtime: a process running every
		// paper-scale experiment grew to 19–22 GB). At quick scale the zoo's small models stay cached:
		// the next experiment reuses them and their compiled graphs (releasing them made the quick
		// run's small experiments 20–30 % slower on XLA, which compiles again; its peak is ~2.5 GB).
		if sc == experiments.Paper {
			if rerr := experiments.ReleaseModels(); rerr != nil {
				c.Logf("!! %s: releasing its models: %v", e.Name, rerr)
			}
		}
		if err != nil {
			if datasets.IsNotFound(err) {
				// Missing data fails every later experiment the same way: stop here.
				return fmt.Errorf("%s stopped the run: %w", e.Name, err)
			}
			c.Logf("!! %s failed: %v", e.Name, err)
			failed = append(failed, fmt.Sprintf("%s: %v", e.Name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r.Elapsed = time.Since(t)
		reports = append(reports, r)
		for _, f := range r.Findings {
			c.Logf("   %s", f)
		}
		c.Logf("   %s done in %s", e.Name, r.Elapsed.Round(time.Second))
		// Keep the report and rewrite the index after each experiment, so an interrupted run
		// still has one and a later --only run adds to it.
		if err := experiments.SaveReport(c, r); err != nil {
			return err
		}
		if _, _, err := writeIndex(c); err != nil {
			return err
		}
	}
	idx, n, err := writeIndex(c)
	if err != nil {
		return err
	}
	c.Logf("index: %s (%d experiments run now in %s; %d listed)", idx, len(reports), time.Since(t0).Round(time.Second), n)
	if len(failed) > 0 {
		return fmt.Errorf("%d experiment(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// writeIndex writes the index of every report kept in c.OutDir at c.Scale.
func writeIndex(c experiments.Common) (string, int, error) {
	all, err := experiments.LoadReports(c)
	if err != nil {
		return "", 0, err
	}
	idx, err := experiments.WriteIndex(c, all)
	return idx, len(all), err
}
