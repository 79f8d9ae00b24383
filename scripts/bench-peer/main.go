// Command bench-peer is fisens' side of the side-by-side benchmark with PyTorch
// (scripts/bench-peer/run.sh, `make bench-peer`, docs/performance.md).
//
// It loads the zoo's resnet-small-mnist and the first --n MNIST test images, and times the
// workloads the PyTorch peer (peer.py) times on the same weights and inputs:
//
//	fi      whole-image FI of the --n images (one InputFI call: K backward passes + K × K algebra)
//	bwd     one backward pass (one class's input gradient) of a batch of 32
//	train   one Adam training step (cross-entropy + L2, as models.Train) on a batch of --n
//	params  per-layer parameter FI (every layer's K × K Gram) of --params-n images
//	maps    multi-scale patch maps (k = 1, 3, 5, 7) of --maps-n images, from their Jacobians
//
// Each workload is warmed up (graphs compiled) and then timed --reps times; one JSON line per timed
// repetition goes to stdout. --export DIR writes the inputs and fisens' results (fi.csv,
// params.csv) for the peer to load and check against.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/models/ops"
)

const zooModel = "zoo:resnet-small-mnist"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer:", err)
		os.Exit(1)
	}
}

func run() error {
	backendFlag := flag.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND or go)")
	n := flag.Int("n", 128, "test images for the FI and training workloads")
	reps := flag.Int("reps", 3, "timed repetitions per workload")
	workloads := flag.String("workloads", "fi,bwd,train,params,maps", "comma-separated workloads")
	paramsN := flag.Int("params-n", 16, "images of the per-layer parameter FI workload")
	paramsPath := flag.String("params-path", "batched", "per-layer parameter FI: batched (ParamFIBatch) or per-example (ParamFI)")
	mapsN := flag.Int("maps-n", 8, "images of the patch-map workload")
	export := flag.String("export", "", "write inputs.f32, inputs.json, fi.csv and params.csv into this folder")
	flag.Parse()

	be, err := backend.New(*backendFlag)
	if err != nil {
		return err
	}
	bname := backend.Name(*backendFlag)
	m, err := models.Load(zooModel)
	if err != nil {
		return err
	}
	set, err := datasets.Load("mnist", "test")
	if err != nil {
		return err
	}
	scale, err := m.InputScale()
	if err != nil {
		return err
	}
	idx := make([]int, *n)
	for i := range idx {
		idx[i] = i
	}
	h, w, c := set.Dims()
	x := set.Batch(idx, scale)
	labels32 := set.Labels(idx)
	labels := make([]int, *n)
	for i, l := range labels32 {
		labels[i] = int(l)
	}
	batch := fisens.Batch{X: x, Shape: []int{*n, h, w, c}, Labels: labels}
	an, err := fisens.NewAnalyzer(be, m)
	if err != nil {
		return err
	}
	if *export != "" {
		if err := exportInputs(*export, batch); err != nil {
			return err
		}
	}
	emit := func(wl string, images int, d time.Duration, extra string) {
		fmt.Printf(`{"side": "fisens", "backend": %q, "workload": %q, "images": %d, "seconds": %.6f%s}`+"\n",
			bname, wl, images, d.Seconds(), extra)
	}
	sub := func(lo, hi int) fisens.Batch {
		p := h * w * c
		return fisens.Batch{X: x[lo*p : hi*p], Shape: []int{hi - lo, h, w, c}, Labels: labels[lo:hi]}
	}
	for _, wl := range strings.Split(*workloads, ",") {
		var f func() error
		images := 0
		extra := ""
		switch wl {
		case "fi":
			images = *n
			f = func() error { _, err := an.InputFI(batch, fisens.Additive, fisens.Options{}); return err }
			if *export != "" {
				res, err := an.InputFI(batch, fisens.Additive, fisens.Options{})
				if err != nil {
					return err
				}
				if err := writeFICSV(filepath.Join(*export, "fi.csv"), res); err != nil {
					return err
				}
			}
		case "bwd":
			images = 32
			one := sub(0, 32)
			e, err := oneBackward(be, m)
			if err != nil {
				return err
			}
			f = func() error {
				out, err := callExec(e, tensors.FromFlatDataAndDimensions(one.X, one.Shape...))
				if err != nil {
					return err
				}
				_ = tensors.MustCopyFlatData[float32](out[0])
				out[0].MustFinalizeAll()
				return nil
			}
		case "train":
			images = *n
			step, err := trainStep(be, m)
			if err != nil {
				return err
			}
			f = func() error { return step(x, labels32, []int{*n, h, w, c}) }
		case "params":
			images = *paramsN
			pb := sub(0, *paramsN)
			extra = fmt.Sprintf(`, "variant": %q`, *paramsPath)
			switch *paramsPath {
			case "batched":
				f = func() error { _, err := an.ParamFIBatch(pb, fisens.ParamOptions{}); return err }
			case "per-example":
				f = func() error {
					for i := 0; i < *paramsN; i++ {
						if _, err := an.ParamFI(sub(i, i+1), fisens.ParamOptions{}); err != nil {
							return err
						}
					}
					return nil
				}
			default:
				return fmt.Errorf("--params-path %q: want batched or per-example", *paramsPath)
			}
			if *export != "" {
				if err := writeParamsCSV(filepath.Join(*export, "params.csv"), an, sub(0, min(4, *n))); err != nil {
					return err
				}
			}
		case "maps":
			images = *mapsN
			jac, err := an.InputJacobian(sub(0, *mapsN))
			if err != nil {
				return err
			}
			f = func() error {
				for i := 0; i < *mapsN; i++ {
					if _, err := jac.PatchMaps(i, nil, fisens.Additive, fisens.Options{}); err != nil {
						return err
					}
				}
				return nil
			}
		default:
			return fmt.Errorf("unknown workload %q", wl)
		}
		if *reps == 0 {
			continue
		}
		// Warm up twice: the first calls of a new graph compile it.
		for range 2 {
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", wl, err)
			}
		}
		for range *reps {
			t0 := time.Now()
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", wl, err)
			}
			emit(wl, images, time.Since(t0), extra)
		}
	}
	return nil
}

// callExec runs an Exec, turning panics into errors.
func callExec(e *model.Exec, args ...any) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return e.Call(args...)
}

// oneBackward builds one class's (class 3) input gradient of a batch, as peer.py's one_backward.
func oneBackward(be compute.Backend, m *models.Model) (*model.Exec, error) {
	return model.NewExec(be, m.Store(), func(scope *model.Scope, xn *graph.Node) *graph.Node {
		z := m.Logits(scope, xn)
		mask := make([]float32, m.NumClasses())
		mask[3] = 1
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(z, graph.Const(xn.Graph(), [][]float32{mask}))), xn)[0]
	})
}

// trainStep returns one Adam step (lr 1e-3, sparse softmax cross-entropy + L2 · Σw², as models.Train
// builds it) on a clone of m, so the FI workloads keep the zoo's weights.
func trainStep(be compute.Backend, m *models.Model) (func(x []float32, y []int32, shape []int) error, error) {
	tm, err := m.Clone()
	if err != nil {
		return nil, err
	}
	l2 := tm.Config().L2
	modelFn := func(scope *model.Scope, x *graph.Node) *graph.Node {
		logits := tm.Logits(scope, x)
		if l2 > 0 && scope.IsTraining(x.Graph()) {
			gtrain.AddRegularizationLoss(graph.MulScalar(ops.L2(scope.Store().RootScope(), x.Graph()), l2))
		}
		return logits
	}
	var trainer *gtrain.Trainer
	if err := catch(func() {
		trainer = gtrain.NewTrainer(be, tm.Store(), modelFn, loss.SparseCategoricalCrossEntropyLogits,
			optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
	}); err != nil {
		return nil, err
	}
	return func(x []float32, y []int32, shape []int) error {
		var err error
		cerr := catch(func() {
			batch := gtrain.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, shape...)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, len(y), 1)},
			}
			var metrics []*tensors.Tensor
			metrics, err = trainer.TrainStep(batch)
			for _, t := range metrics {
				t.MustFinalizeAll()
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}, nil
}

func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

func exportInputs(dir string, b fisens.Batch) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := make([]byte, 4*len(b.X))
	for i, v := range b.X {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(filepath.Join(dir, "inputs.f32"), buf, 0o644); err != nil {
		return err
	}
	js, err := json.Marshal(map[string]any{"model": zooModel, "data": "mnist test", "shape": b.Shape, "labels": b.Labels})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "inputs.json"), js, 0o644)
}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

func writeFICSV(path string, res []fisens.Result) error {
	var sb strings.Builder
	sb.WriteString("index,label,prob,fi,rank,jacnorm\n")
	for i, r := range res {
		fmt.Fprintf(&sb, "%d,%d,%s,%s,%d,%s\n", i, r.Label, ff(r.Prob), ff(r.FI), r.Rank, ff(r.JacNorm))
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// writeParamsCSV writes per-layer FI of the batch's images, from the per-example path (the oracle).
func writeParamsCSV(path string, an *fisens.Analyzer, b fisens.Batch) error {
	var sb strings.Builder
	sb.WriteString("index,layer,fi,rank\n")
	p := len(b.X) / b.N()
	for i := 0; i < b.N(); i++ {
		one := fisens.Batch{X: b.X[i*p : (i+1)*p], Shape: append([]int{1}, b.Shape[1:]...), Labels: b.Labels[i : i+1]}
		pr, err := an.ParamFI(one, fisens.ParamOptions{})
		if err != nil {
			return err
		}
		for l, g := range pr.Groups {
			fmt.Fprintf(&sb, "%d,%s,%s,%d\n", i, g.Name, ff(pr.PerGroup[l].FI), pr.PerGroup[l].Rank)
		}
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
