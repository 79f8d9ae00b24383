package fisens_test

// Benchmarks of the FI costs on a small ResNet (models "resnet-small", MNIST-shaped inputs,
// random weights). The backend is $GOMLX_BACKEND (default pure Go); for ONNX Runtime:
//
//	source <(scripts/install-onnxruntime.sh | grep export)
//	go test -tags onnx -run '^$' -bench . -benchtime 5x ./fisens/
//
// XLA's CPU backend: `source <(scripts/install-xla.sh | grep export)` and -tags xla.
// `make bench-fi` prints these figures for every backend that can be installed. The ratio the FI-core issue asks for
// is BenchmarkInputFI / BenchmarkInputJacobian (the K backward passes), and BenchmarkPatchMaps
// per image against BenchmarkInputJacobian per image.

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

const benchBatch = 32

var (
	benchOnce sync.Once
	benchAn   *fisens.Analyzer
	benchX    fisens.Batch
	benchErr  error
)

func benchSetup(b *testing.B) (*fisens.Analyzer, fisens.Batch) {
	benchOnce.Do(func() {
		be, err := backend.New("")
		if err != nil {
			benchErr = err
			return
		}
		m, err := models.New(models.Config{Arch: "resnet-small", Height: 28, Width: 28, Channels: 1, Classes: 10, Seed: 1, InputScale: "unit"})
		if err != nil {
			benchErr = err
			return
		}
		benchAn, benchErr = fisens.NewAnalyzer(be, m)
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, benchBatch*28*28)
		for i := range x {
			x[i] = float32(rng.IntN(256)) / 255
		}
		labels := make([]int, benchBatch)
		for i := range labels {
			labels[i] = rng.IntN(10)
		}
		benchX = fisens.Batch{X: x, Shape: []int{benchBatch, 28, 28, 1}, Labels: labels}
		// Warm up: compile the graphs (and create the variables) outside the timings.
		if _, err := benchAn.InputFI(benchX, fisens.Additive, fisens.Options{}); err != nil {
			benchErr = err
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchAn, benchX
}

// BenchmarkInputJacobian: the K = 10 backward passes for a batch of 32.
func BenchmarkInputJacobian(b *testing.B) {
	an, x := benchSetup(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := an.InputJacobian(x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*benchBatch)*1e3, "ms/image")
}

// BenchmarkInputFI: whole-input FI of a batch of 32 (Jacobian + Gram + K × K solves).
func BenchmarkInputFI(b *testing.B) {
	an, x := benchSetup(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := an.InputFI(x, fisens.Additive, fisens.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*benchBatch)*1e3, "ms/image")
}

// BenchmarkOneBackwardPass: one class's input gradient for the batch (a tenth of the K passes),
// as a reference for what a single backward pass costs on this backend.
func BenchmarkOneBackwardPass(b *testing.B) {
	an, x := benchSetup(b)
	m := an.Classifier()
	e, err := model.NewExec(an.Backend(), m.Store(), func(scope *model.Scope, xn *graph.Node) *graph.Node {
		z := m.Logits(scope, xn)
		mask := make([]float32, 10)
		mask[3] = 1
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(z, graph.Const(xn.Graph(), [][]float32{mask}))), xn)[0]
	})
	if err != nil {
		b.Fatal(err)
	}
	in := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x.X, x.Shape...) }
	e.MustCall(in()) // compile
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.MustCall(in())
	}
}

// BenchmarkPatchMaps: the four-scale FI maps of one 28×28 image from an existing Jacobian.
func BenchmarkPatchMaps(b *testing.B) {
	an, x := benchSetup(b)
	jac, err := an.InputJacobian(x)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jac.PatchMaps(i%benchBatch, nil, fisens.Additive, fisens.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image")
}

// BenchmarkParamFI: FI of every layer (and all parameters) for one example: K backward passes.
func BenchmarkParamFI(b *testing.B) {
	defer func() { b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/image") }()
	an, x := benchSetup(b)
	one := fisens.Batch{X: x.X[:28*28], Shape: []int{1, 28, 28, 1}, Labels: x.Labels[:1]}
	if _, err := an.ParamFI(one, fisens.ParamOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := an.ParamFI(one, fisens.ParamOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParamFIBatch: FI of every layer for the 32 examples of the batch with the batched
// per-example gradients (K backward passes per chunk of ParamBatchChunk examples); compare
// ms/image with BenchmarkParamFI (K backward passes per example).
func BenchmarkParamFIBatch(b *testing.B) {
	an, x := benchSetup(b)
	if _, err := an.ParamFIBatch(x, fisens.ParamOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := an.ParamFIBatch(x, fisens.ParamOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*benchBatch)*1e3, "ms/image")
}
