package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
)

// ---- costs ---------------------------------------------------------------------------------------

// The paper run's sizes per model and dataset (SPEC A.5, A.6 and the experiments' paper configs):
// what `costs` multiplies the measured per-image costs by.
type paperSizes struct {
	epochs, train, valid, test int
	// Setup 0 (MNIST only): fine-tuning for at least 100 epochs (setup0.Epochs; FitTarget may add
	// up to 100 more) on the training split plus 2,700 outliers, then FI of all of them.
	finetuneEpochs, finetuneImages int
	maps                           int // images with multi-scale patch maps (onepixel.Images 500; Setup 4's few are left out)
}

var paperSizesOf = map[string]paperSizes{
	datasets.MNIST:   {epochs: 200, train: 54000, valid: 6000, test: 10000, finetuneEpochs: 100, finetuneImages: 54000 + 2700, maps: 500},
	datasets.CIFAR10: {epochs: 500, train: 45000, valid: 5000, test: 10000, maps: 500},
}

// measured is one (model, dataset) row: seconds per image.
type measured struct {
	forward, inputFI, maps, train, paramFI float64
	loadBefore, loadAfter                  string
	seconds                                float64
}

// runCosts measures the per-image cost of every workload of a paper run for the paper's two
// networks at MNIST and CIFAR-10 input shapes, and prints what it implies for the full runs.
func runCosts(args []string) error {
	fs := flag.NewFlagSet("costs", flag.ContinueOnError)
	list := fs.String("models", "resnet50,densenet121", "architectures (generated weights)")
	data := fs.String("data", "mnist,cifar10", "input shapes: mnist (28×28×1) and/or cifar10 (32×32×3); synthetic images")
	batch := fs.Int("batch", 4, "images per batch of the forward pass and the input Jacobian")
	trainBatch := fs.Int("train-batch", 4, "training batch (the paper's is 128: per-image cost on 2 cores is about flat in the batch, and an ONNX Runtime step at 32 takes ~16 GB)")
	trainSteps := fs.Int("train-steps", 2, "timed Adam steps (after one untimed epoch of the same steps, which compiles)")
	paramBatch := fs.Int("param-batch", 2, "images of per-layer parameter FI (Analyzer.ParamFIBatch, one timed call after a warm-up; 0: skip)")
	reps := fs.Int("reps", 1, "timed repetitions of forward and input FI after a warm-up (median)")
	night := fs.Float64("night-hours", 10, "length of one array task's time limit, hours")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := backend.New("")
	if err != nil {
		return err
	}
	archs := splitList(*list)
	sets := splitList(*data)
	fmt.Printf("paper costs: backend %s, %d CPUs (GOMAXPROCS %d), batches: forward/input FI %d, training %d, parameter FI %d; load average %s\n",
		backend.Name(""), runtime.NumCPU(), runtime.GOMAXPROCS(0), *batch, *trainBatch, *paramBatch, loadAvg())
	rows := map[string]measured{}
	for _, ds := range sets {
		if _, ok := paperSizesOf[ds]; !ok {
			return fmt.Errorf("unknown dataset %q (mnist, cifar10)", ds)
		}
		set, err := syntheticSet(ds, max(*batch, *trainBatch**trainSteps, *paramBatch))
		if err != nil {
			return err
		}
		for _, arch := range archs {
			r, err := measure(b, arch, set, *batch, *trainBatch, *trainSteps, *paramBatch, *reps)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", arch, ds, err)
			}
			rows[arch+"/"+ds] = r
			fmt.Printf("  measured %s %s in %.0f s (load %s → %s)\n", arch, ds, r.seconds, r.loadBefore, r.loadAfter)
		}
	}

	// Table 1: seconds per image.
	var cols []string
	for _, arch := range archs {
		for _, ds := range sets {
			cols = append(cols, arch+"/"+ds)
		}
	}
	fmt.Printf("\nSeconds per image (%s; %d CPUs; load average %s at the end):\n\n", backend.Name(""), runtime.NumCPU(), loadAvg())
	fmt.Printf("| workload | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	line := func(name string, f func(measured) float64) {
		fmt.Printf("| %s |", name)
		for _, c := range cols {
			fmt.Printf(" %s |", fmtSec(f(rows[c])))
		}
		fmt.Println()
	}
	line(fmt.Sprintf("Adam training step (batch %d)", *trainBatch), func(m measured) float64 { return m.train })
	line(fmt.Sprintf("forward pass, inference (batch %d)", *batch), func(m measured) float64 { return m.forward })
	line("whole-image input FI (K backward passes + K×K solve; Setups 0, 1, 3, identity)", func(m measured) float64 { return m.inputFI })
	line("patch maps k = 1, 3, 5, 7 on top of the input Jacobian (Setup 4, one-pixel)", func(m measured) float64 { return m.maps })
	line(fmt.Sprintf("per-layer parameter FI, every layer (ParamFIBatch of %d; Setup 2)", *paramBatch), func(m measured) float64 { return m.paramFI })

	// Table 2: what the full paper runs cost.
	fmt.Printf("\nWhat it implies for the paper's sizes, per model and dataset (hours on one such machine):\n\n")
	fmt.Printf("| model, dataset | training (one job, cannot be split) | input FI + maps | parameter FI (Setup 2) | array tasks of %g h for the per-example work |\n|---|---|---|---|---|\n", *night)
	for _, arch := range archs {
		for _, ds := range sets {
			m, p := rows[arch+"/"+ds], paperSizesOf[ds]
			train := (float64(p.epochs*p.train)*m.train + float64(p.epochs*p.valid)*m.forward +
				float64(p.finetuneEpochs*p.finetuneImages)*m.train) / 3600
			fiImages := p.train + p.test + p.finetuneImages
			inFI := (float64(fiImages)*m.inputFI + float64(p.maps)*m.maps) / 3600
			parFI := float64(p.train) * m.paramFI / 3600
			tasks := math.Ceil((inFI + parFI) / *night)
			fmt.Printf("| %s, %s | %s (%.0f nights) | %s | %s | %.0f |\n", arch, ds, fmtHours(train), math.Ceil(train / *night), fmtHours(inFI), fmtHours(parFI), tasks)
		}
	}
	fmt.Printf("\ntraining = epochs × training images × step + a validation forward pass per epoch (MNIST: 200 × 54,000 + 200 × 6,000;\n" +
		"CIFAR-10: 500 × 45,000 + 500 × 5,000), MNIST also Setup 0's fine-tuning (≥ 100 epochs × 56,700 images);\n" +
		"input FI on every training and test image (Setups 1, 3, 4, identity share one table per model and split) plus,\n" +
		"on MNIST, Setup 0's 56,700 fine-tuned images; patch maps on the one-pixel study's 500 images; parameter FI on\n" +
		"every training image (Setup 2). The per-example work splits over an array (--shard i/N); training does not.\n")
	return nil
}

// measure times every workload of one architecture on set's shape.
func measure(b compute.Backend, arch string, set *datasets.Set, batch, trainBatch, trainSteps, paramBatch, reps int) (measured, error) {
	r := measured{loadBefore: loadAvg(), forward: math.NaN(), inputFI: math.NaN(), maps: math.NaN(), train: math.NaN(), paramFI: math.NaN()}
	t0 := time.Now()
	m, _, err := newModel(b, arch, set, 0.3)
	if err != nil {
		return r, err
	}
	sc, _ := m.InputScale()
	bt, err := testBatch(set, batch, sc)
	if err != nil {
		return r, err
	}
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return r, err
	}
	bs := float64(batch)
	fwd, _, err := timed(reps, func() error { _, err := an.Logits(bt); return err })
	if err != nil {
		return r, fmt.Errorf("forward: %w", err)
	}
	r.forward = fwd / bs
	say := func(what string, v float64) {
		fmt.Fprintf(os.Stderr, "  %s %s: %s %.4g s/image (%.0f s so far, load %s)\n", arch, set.Name(), what, v, time.Since(t0).Seconds(), loadAvg())
	}
	say("forward", r.forward)
	var jac *fisens.InputJacobian
	opt := fisens.Options{Objective: fisens.LogProbTrue}
	fi, _, err := timed(reps, func() error {
		var err error
		if jac, err = an.InputJacobian(bt); err != nil {
			return err
		}
		_, err = jac.FI(nil, fisens.Additive, opt)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("input FI: %w", err)
	}
	r.inputFI = fi / bs
	say("input FI", r.inputFI)
	maps, _, err := timed(0, func() error {
		for e := 0; e < jac.N; e++ {
			if _, err := jac.PatchMaps(e, nil, fisens.Additive, opt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("patch maps: %w", err)
	}
	r.maps = maps / bs
	say("patch maps", r.maps)
	if paramBatch > 0 {
		pb, err := testBatch(set, paramBatch, sc)
		if err != nil {
			return r, err
		}
		pf, _, err := timed(1, func() error {
			_, err := an.ParamFIBatch(pb, fisens.ParamOptions{Options: opt})
			return err
		})
		if err != nil {
			return r, fmt.Errorf("parameter FI: %w", err)
		}
		r.paramFI = pf / float64(paramBatch)
		say("parameter FI", r.paramFI)
	}
	if trainSteps > 0 {
		tr := set.Subset(seq(trainBatch * trainSteps))
		res, err := models.Train(context.Background(), b, m, tr, nil,
			models.TrainConfig{Epochs: 2, BatchSize: trainBatch, MaxStepsPerEpoch: trainSteps})
		if err != nil {
			return r, fmt.Errorf("training: %w", err)
		}
		if len(res.History) == 2 {
			r.train = res.History[1].Seconds / float64(res.History[1].Steps*trainBatch)
		}
		say("training step", r.train)
	}
	r.loadAfter, r.seconds = loadAvg(), time.Since(t0).Seconds()
	return r, nil
}

// syntheticSet returns n images of a dataset's shape with seeded pseudo-random pixels and cycling
// labels: costs do not depend on the pixel values (the data files are not needed).
func syntheticSet(ds string, n int) (*datasets.Set, error) {
	info, err := datasets.DatasetInfo(ds)
	if err != nil {
		return nil, err
	}
	size := info.H * info.W * info.C
	img, lab := make([]uint8, n*size), make([]uint8, n)
	r := newSplitMix("costs/" + ds)
	for i := range img {
		img[i] = uint8(256 * r.float())
	}
	for i := range lab {
		lab[i] = uint8(i % info.Classes)
	}
	return datasets.NewSet(ds+"/synthetic", info.H, info.W, info.C, info.Classes, img, lab)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// loadAvg returns the 1-minute load average ("?" where /proc/loadavg is missing).
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func fmtSec(s float64) string {
	switch {
	case math.IsNaN(s):
		return "—"
	case s >= 10:
		return fmt.Sprintf("%.0f", s)
	case s >= 1:
		return fmt.Sprintf("%.1f", s)
	}
	return fmt.Sprintf("%.2g", s)
}

func fmtHours(h float64) string {
	switch {
	case math.IsNaN(h):
		return "—"
	case h >= 48:
		return fmt.Sprintf("%.0f h (%.0f days)", h, h/24)
	case h >= 10:
		return fmt.Sprintf("%.0f h", h)
	}
	return fmt.Sprintf("%.1f h", h)
}
