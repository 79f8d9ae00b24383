package models

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/models/ops"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// Benchmarks: one forward pass (inference mode) and one training step (cross-entropy + L2, Adam
// written out below) per family and backend, reported as images/second. The ONNX Runtime variants
// run when the test binary is built with -tags onnx and ONNXRUNTIME_SHARED_LIBRARY_PATH is set;
// otherwise they are skipped; likewise XLA's CPU backend (-tags xla, scripts/install-xla.sh).
//
//	go test -run NONE -bench '/-small/go' -benchtime 3x ./models/
//	go test -tags onnx -run NONE -bench '/-small/onnx' -benchtime 5x ./models/
//
// cpu-ms/op is the process' CPU time per operation (all threads): on a shared machine it is a
// steadier measure than wall time. `make bench-models` runs them all; it runs each paper-size
// model in its own process, because one ONNX Runtime training step of ResNet50 or DenseNet121 on
// a batch of 32 peaks at about 16 GB of memory and the sessions of earlier benchmarks stay alive.

// benchCase is an architecture on an input shape, with its batch size per backend (the pure-Go
// backend is about two orders of magnitude slower, so it gets smaller batches).
type benchCase struct {
	arch               string
	cfg                func(string) Config
	goBatch, onnxBatch int
}

var benchCases = []benchCase{
	{"resnet-small", mnistCfg, 32, 128},
	{"densenet-small", mnistCfg, 32, 128},
	{"alexnet-small", mnistCfg, 32, 128},
	{"vgg-small", mnistCfg, 32, 128},
	{"resnet-small", cifarCfg, 32, 128},
	{"densenet-small", cifarCfg, 32, 128},
	{"alexnet-small", cifarCfg, 32, 128},
	{"vgg-small", cifarCfg, 32, 128},
	{"resnet50", cifarCfg, 4, 32},
	{"densenet121", cifarCfg, 4, 32},
}

func (c benchCase) batch(backendName string) int {
	if backendName == "go" {
		return c.goBatch
	}
	return c.onnxBatch
}

func benchBackend(b *testing.B, name string) compute.Backend {
	be, err := backend.New(name)
	if err != nil {
		b.Skipf("backend %s unavailable: %v", name, err)
	}
	return be
}

func BenchmarkForward(b *testing.B) {
	for _, bn := range []string{"go", "onnx:cpu", "xla:cpu"} {
		for _, c := range benchCases {
			cfg := c.cfg(c.arch)
			batch := c.batch(bn)
			b.Run(fmt.Sprintf("%s_%dx%dx%d/%s_b%d", c.arch, cfg.Height, cfg.Width, cfg.Channels, bn, batch), func(b *testing.B) {
				if _, ok := registry[c.arch]; !ok {
					b.Skipf("%s not registered", c.arch)
				}
				be := benchBackend(b, bn)
				m, _ := New(cfg)
				exec := model.MustNewExec(be, m.Store(), func(scope *model.Scope, x *Node) *Node {
					scope.Store().SetTraining(x.Graph(), false)
					return m.Logits(scope, x)
				})
				x := randomImages(1, cfg, batch)
				exec.MustCall1(x).MustFinalizeAll() // compile, initialise
				exec.MustCall1(x).MustFinalizeAll() // warm up
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				for range b.N {
					exec.MustCall1(x).MustFinalizeAll()
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "images/s")
				b.ReportMetric((cpuTime()-cpu).Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// adamStep builds one training step: softmax cross-entropy (mean over the batch) + cfg.L2 · Σw²,
// gradients of every trainable variable, and an Adam update (lr 1e-3, β 0.9/0.999, ε 1e-7, no
// bias correction) whose moments live under "/adam". Returns the loss.
func adamStep(m *Model, scope *model.Scope, x, labels *Node) *Node {
	g := x.Graph()
	scope.Store().SetTraining(g, true)
	logits := m.Logits(scope, x)
	onehot := OneHot(labels, m.NumClasses(), dtypes.Float32)
	loss := Neg(ReduceAllMean(ReduceSum(Mul(LogSoftmax(logits), onehot), -1)))
	if l2 := m.Config().L2; l2 > 0 {
		loss = Add(loss, MulScalar(ops.L2(scope, g), l2))
	}
	var vars []*model.Variable
	var nodes []*Node
	for v := range m.Store().IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			nodes = append(nodes, v.NodeValue(g))
		}
	}
	grads := Gradient(loss, nodes...)
	adam := m.Store().RootScope().In("adam").WithInitializer(initializer.Zero)
	for i, v := range vars {
		name := v.Path()[1:]
		mv := adam.VariableWithShape("m_"+escape(name), v.Shape()).SetTrainable(false)
		vv := adam.VariableWithShape("v_"+escape(name), v.Shape()).SetTrainable(false)
		gr := grads[i]
		m1 := Add(MulScalar(mv.NodeValue(g), 0.9), MulScalar(gr, 0.1))
		v1 := Add(MulScalar(vv.NodeValue(g), 0.999), MulScalar(Square(gr), 0.001))
		mv.SetNodeValue(m1)
		vv.SetNodeValue(v1)
		v.SetNodeValue(Sub(nodes[i], MulScalar(Div(m1, AddScalar(Sqrt(v1), 1e-7)), 1e-3)))
	}
	return loss
}

// cpuTime is the process' user+system CPU time (all threads): on a shared machine it is less
// sensitive than wall time to other processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func escape(p string) string {
	out := []byte(p)
	for i, c := range out {
		if c == '/' {
			out[i] = '.'
		}
	}
	return string(out)
}

func BenchmarkTrainStep(b *testing.B) {
	for _, bn := range []string{"go", "onnx:cpu", "xla:cpu"} {
		for _, c := range benchCases {
			cfg := c.cfg(c.arch)
			batch := c.batch(bn)
			b.Run(fmt.Sprintf("%s_%dx%dx%d/%s_b%d", c.arch, cfg.Height, cfg.Width, cfg.Channels, bn, batch), func(b *testing.B) {
				if _, ok := registry[c.arch]; !ok {
					b.Skipf("%s not registered", c.arch)
				}
				be := benchBackend(b, bn)
				m, _ := New(cfg)
				exec := model.MustNewExec(be, m.Store(), func(scope *model.Scope, x, y *Node) *Node {
					return adamStep(m, scope, x, y)
				})
				x := randomImages(1, cfg, batch)
				y := make([]int32, batch)
				for i := range y {
					y[i] = int32(i % cfg.Classes)
				}
				labels := tensors.FromValue(y)
				exec.MustCall1(x, labels).MustFinalizeAll()
				exec.MustCall1(x, labels).MustFinalizeAll()
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime()
				for range b.N {
					exec.MustCall1(x, labels).MustFinalizeAll()
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "images/s")
				b.ReportMetric((cpuTime()-cpu).Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
