package ops

import (
	"fmt"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// BenchmarkOps times forward + backward of single building blocks on a [128, 28, 28, C] batch
// (training mode), per backend, to see where a model's time goes.
//
//	go test -tags onnx -run NONE -bench Ops ./models/ops/
func BenchmarkOps(b *testing.B) {
	type opCase struct {
		name string
		cin  int
		f    layerFn
	}
	cases := []opCase{
		{"conv1x1_16to64", 16, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 64, 1, 1, Valid, true) }},
		{"dense1x1_16to64", 16, func(s *model.Scope, x *Node) *Node {
			w := s.In("conv").VariableWithShape("weights", shapes.Make(x.DType(), 16, 64)).NodeValue(x.Graph())
			return Einsum("bhwc,cd->bhwd", x, w)
		}},
		{"conv3x3_16to16", 16, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 16, 3, 1, Same, true) }},
		{"bn_train_64", 64, func(s *model.Scope, x *Node) *Node { return BatchNorm(s.In("bn"), x) }},
		{"dropout_64", 64, func(s *model.Scope, x *Node) *Node { return Dropout(s, x, 0.2) }},
		{"relu_64", 64, func(s *model.Scope, x *Node) *Node { return ReLU(x) }},
		{"conv1x1_s2_64to128", 64, func(s *model.Scope, x *Node) *Node { return Conv2D(s.In("conv"), x, 128, 1, 2, Valid, true) }},
		{"maxpool_64", 64, func(s *model.Scope, x *Node) *Node { return MaxPool2(x) }},
	}
	for _, bn := range []string{"go", "onnx:cpu"} {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%s", c.name, bn), func(b *testing.B) {
				be, err := backend.New(bn)
				if err != nil {
					b.Skipf("backend %s: %v", bn, err)
				}
				batch := 128
				if bn == "go" {
					batch = 16
				}
				store := model.NewStore()
				exec := model.MustNewExec(be, store, func(scope *model.Scope, x *Node) []*Node {
					g := x.Graph()
					scope.Store().SetTraining(g, true)
					y := c.f(scope, x)
					nodes := []*Node{x}
					for v := range store.IterVariables() {
						if v.Trainable {
							nodes = append(nodes, v.NodeValue(g))
						}
					}
					return Gradient(ReduceAllSum(Square(y)), nodes...)
				})
				rng := rand.New(rand.NewSource(1))
				x := tensors.FromFlatDataAndDimensions(randFloat32s(rng, batch*28*28*c.cin), batch, 28, 28, c.cin)
				for range 2 {
					for _, t := range exec.MustCall(x) {
						t.MustFinalizeAll()
					}
				}
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				for range b.N {
					for _, t := range exec.MustCall(x) {
						t.MustFinalizeAll()
					}
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "images/s")
				b.ReportMetric((cpuTime()-cpu).Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// cpuTime is the process' user+system CPU time (all threads): less sensitive than wall time to
// other processes on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func randFloat32s(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// BenchmarkBatchNormTrain times forward + all gradients (x, γ, β) of one training-mode batch norm
// on [128, 14, 14, 32] (stage 1 of the zoo's small ResNet at batch 128), with the fused gradient
// (default) and with GoMLX's autodiff (FISENS_BN_VJP=autodiff), on every backend built in:
//
//	go test -tags onnx,xla -run '^$' -bench BatchNormTrain -benchtime 20x ./models/ops/
func BenchmarkBatchNormTrain(b *testing.B) {
	for _, bn := range []string{"xla:cpu", "onnx:cpu", "go"} {
		for _, mode := range []string{"fused", "autodiff"} {
			b.Run(bn+"/"+mode, func(b *testing.B) {
				b.Setenv("FISENS_BN_VJP", mode)
				be, err := backend.New(bn)
				if err != nil {
					b.Skipf("backend %s: %v", bn, err)
				}
				batch := 128
				if bn == "go" {
					batch = 8
				}
				store := model.NewStore()
				exec := model.MustNewExec(be, store, func(scope *model.Scope, x *Node) []*Node {
					g := x.Graph()
					scope.Store().SetTraining(g, true)
					y := ReLU(BatchNorm(scope.In("bn"), x))
					nodes := []*Node{x}
					for v := range store.IterVariables() {
						if v.Trainable {
							nodes = append(nodes, v.NodeValue(g))
						}
					}
					return Gradient(ReduceAllSum(Mul(y, x)), nodes...)
				})
				rng := rand.New(rand.NewSource(1))
				x := tensors.FromFlatDataAndDimensions(randFloat32s(rng, batch*14*14*32), batch, 14, 14, 32)
				for range 2 {
					for _, t := range exec.MustCall(x) {
						t.MustFinalizeAll()
					}
				}
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				for range b.N {
					for _, t := range exec.MustCall(x) {
						t.MustFinalizeAll()
					}
				}
				b.ReportMetric(time.Since(start).Seconds()*1000/float64(b.N), "wall-ms/op")
				b.ReportMetric((cpuTime()-cpu).Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
