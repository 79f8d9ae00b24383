// Command ablate splits the cost of a training step of the zoo's resnet-small-mnist (batch --n of
// MNIST test images, cross-entropy + L2 as models.Train) on one backend into its parts, by timing
// graphs that compute less (docs/performance.md, "The training step on XLA"):
//
//	fwd-infer, fwd-train    the loss, batch norm in inference / training mode
//	gradx-infer             + the input gradient (the backward pass of the FI workloads)
//	gradw3-infer            + the 3×3 kernels' gradients      gradw1-infer  + the 1×1 and dense kernels'
//	gradw3stem-infer        + the stem's 3×3 kernel only      gradw3rest-infer + the other 3×3 kernels
//	gradbn-infer            + the batch norms' γ, β           gradb-infer   + the biases'
//	gradw-*, gradall-*      + all kernels' / all trainable variables' gradients
//	trainer                 the GoMLX trainer's Adam step (what bench-peer's "train" times)
//
// Each variant is warmed up twice and timed --reps times; it prints the median wall and process CPU
// time (all threads; on a shared machine steadier than wall time). scripts/bench-peer/ablate.py
// times the same parts in PyTorch.
//
//	go build -tags xla -o bin/ablate ./scripts/bench-peer/ablate && bin/ablate -backend xla:cpu
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/models/ops"
)

func main() {
	bk := flag.String("backend", "xla:cpu", "")
	n := flag.Int("n", 128, "")
	reps := flag.Int("reps", 5, "")
	variants := flag.String("v", "fwd-infer,fwd-train,gradx-infer,gradw-infer,gradw-train,gradall-train,trainer", "")
	flag.Parse()
	be, err := backend.New(*bk)
	must(err)
	m, err := models.Load("zoo:resnet-small-mnist")
	must(err)
	set, err := datasets.Load("mnist", "test")
	must(err)
	scale, _ := m.InputScale()
	idx := make([]int, *n)
	for i := range idx {
		idx[i] = i
	}
	h, w, c := set.Dims()
	x := set.Batch(idx, scale)
	y := set.Labels(idx)
	shape := []int{*n, h, w, c}
	xt := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, shape...) }
	yt := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(y, len(y), 1) }
	lossOf := func(scope *model.Scope, xn, yn *graph.Node) *graph.Node {
		z := m.Logits(scope, xn)
		l := graph.ReduceAllMean(loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{yn}, []*graph.Node{z}))
		return graph.Add(l, graph.MulScalar(ops.L2(scope.Store().RootScope(), xn.Graph()), 1e-4))
	}
	trainVarsF := func(scope *model.Scope, g *graph.Graph, keep func(v *model.Variable) bool) []*graph.Node {
		var out []*graph.Node
		for v := range scope.Store().IterVariables() {
			if v.Trainable && v.InUseByGraph(g) && keep(v) {
				out = append(out, v.NodeValue(g))
			}
		}
		return out
	}
	trainVars := func(scope *model.Scope, g *graph.Graph, kernelsOnly bool) []*graph.Node {
		return trainVarsF(scope, g, func(v *model.Variable) bool { return !kernelsOnly || v.Name() == "weights" })
	}
	for _, vn := range strings.Split(*variants, ",") {
		var f func()
		switch vn {
		case "trainer":
			tm, err := m.Clone()
			must(err)
			modelFn := func(scope *model.Scope, xn *graph.Node) *graph.Node {
				z := tm.Logits(scope, xn)
				if scope.IsTraining(xn.Graph()) {
					gtrain.AddRegularizationLoss(graph.MulScalar(ops.L2(scope.Store().RootScope(), xn.Graph()), 1e-4))
				}
				return z
			}
			tr := gtrain.NewTrainer(be, tm.Store(), modelFn, loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(1e-3).Done(), nil, nil)
			f = func() {
				ms, err := tr.TrainStep(gtrain.Batch{Inputs: []*tensors.Tensor{xt()}, Labels: []*tensors.Tensor{yt()}})
				must(err)
				for _, t := range ms {
					t.MustFinalizeAll()
				}
			}
		default:
			train := strings.HasSuffix(vn, "-train")
			kind := strings.TrimSuffix(strings.TrimSuffix(vn, "-train"), "-infer")
			tm, err := m.Clone()
			must(err)
			e, err := model.NewExec(be, tm.Store(), func(scope *model.Scope, xn, yn *graph.Node) []*graph.Node {
				g := xn.Graph()
				scope.Store().SetTraining(g, train)
				l := lossOf(scope, xn, yn)
				switch kind {
				case "fwd":
					return []*graph.Node{l}
				case "gradx":
					return []*graph.Node{graph.Gradient(l, xn)[0]}
				case "gradw":
					return graph.Gradient(l, trainVars(scope, g, true)...)
				case "gradall":
					return graph.Gradient(l, trainVars(scope, g, false)...)
				case "gradw3":
					return graph.Gradient(l, trainVarsF(scope, g, func(v *model.Variable) bool {
						return v.Name() == "weights" && v.Shape().Rank() == 4 && v.Shape().Dimensions[0] == 3
					})...)
				case "gradw3stem", "gradw3rest": // the stem's 3×3 kernel (1 input channel, stride 2) / the others
					stem := kind == "gradw3stem"
					return graph.Gradient(l, trainVarsF(scope, g, func(v *model.Variable) bool {
						d := v.Shape().Dimensions
						return v.Name() == "weights" && v.Shape().Rank() == 4 && d[0] == 3 && (d[2] == 1) == stem
					})...)
				case "gradw1":
					return graph.Gradient(l, trainVarsF(scope, g, func(v *model.Variable) bool {
						return v.Name() == "weights" && !(v.Shape().Rank() == 4 && v.Shape().Dimensions[0] == 3)
					})...)
				case "gradbn":
					return graph.Gradient(l, trainVarsF(scope, g, func(v *model.Variable) bool { return v.Name() == "gamma" || v.Name() == "beta" })...)
				case "gradb":
					return graph.Gradient(l, trainVarsF(scope, g, func(v *model.Variable) bool { return v.Name() == "biases" })...)
				}
				panic(vn)
			})
			must(err)
			f = func() {
				out, err := e.Call(xt(), yt())
				must(err)
				for _, t := range out {
					t.MustFinalizeAll()
				}
			}
		}
		f()
		f()
		var ts, cs []float64
		for range *reps {
			t0, c0 := time.Now(), cpuTime()
			f()
			ts = append(ts, time.Since(t0).Seconds())
			cs = append(cs, (cpuTime() - c0).Seconds())
		}
		sort.Float64s(ts)
		sort.Float64s(cs)
		ld, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("%-16s median %.4f s  min %.4f  (%.0f img/s)  cpu %.4f s  load %s\n", vn, ts[len(ts)/2], ts[0], float64(*n)/ts[len(ts)/2], cs[len(cs)/2], strings.Fields(string(ld))[0])
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
