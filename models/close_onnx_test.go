//go:build onnx

package models

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	onnxruntime "github.com/gomlx/compute-onnx"
)

// rssMiB returns the resident set size of this process in MiB (Linux; -1 elsewhere).
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// TestCloseFreesSessionsONNX: every ONNX Runtime session (compiled graph) of a loaded model and its
// analyzer is freed by Model.Close + Analyzer.Close — nothing else frees them, whatever the garbage
// collector does, so a process that loads models one after the other grows without them. It loads
// the zoo ResNet several times, runs a prediction and whole-image FI on each, and counts the live
// sessions (a counter of the patched backend, third_party/compute-onnx) with and without Close.
func TestCloseFreesSessionsONNX(t *testing.T) {
	b := onnxBackend(t)
	const n, rounds = 4, 5
	img := make([]uint8, n*28*28)
	for i := range img {
		img[i] = uint8((i * 29) % 256)
	}
	lab := []uint8{0, 1, 2, 3}
	set, err := datasets.NewSet("close-test", 28, 28, 1, 10, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	batch := fisens.Batch{X: make([]float32, 2*28*28), Shape: []int{2, 28, 28, 1}, Labels: []int{0, 1}}
	for i := range batch.X {
		batch.X[i] = float32(img[i])
	}
	// use loads the model, predicts and computes FI: two compiled graphs (inference, input Jacobian).
	use := func() (*Model, *fisens.Analyzer) {
		m, err := Load(ZooPrefix + "resnet-small-mnist")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Predict(b, m, set, n); err != nil {
			t.Fatal(err)
		}
		an, err := fisens.NewAnalyzer(b, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := an.InputFI(batch, fisens.Additive, fisens.Options{}); err != nil {
			t.Fatal(err)
		}
		return m, an
	}
	settle := func() float64 { runtime.GC(); debug.FreeOSMemory(); return rssMiB() }

	buffers0 := onnxruntime.LiveBuffers()
	m, an := use() // warm up: ONNX Runtime's own allocations, the zoo file cache
	base, rss0 := onnxruntime.LiveSessions()-2, settle()
	for range rounds {
		m, an := use()
		if err := an.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	closed, rssClosed := onnxruntime.LiveSessions()-base, settle()
	if closed != 2 { // the warm-up's two
		t.Errorf("%d live sessions after %d load/use/Close rounds, want 2 (the warm-up model's): Close left sessions behind", closed, rounds)
	}
	var kept []*Model
	var keptAn []*fisens.Analyzer
	for range rounds {
		m, an := use()
		kept, keptAn = append(kept, m), append(keptAn, an)
	}
	open, rssOpen := onnxruntime.LiveSessions()-base, settle()
	if open < 2+2*rounds {
		t.Errorf("%d live sessions after %d rounds without Close, want ≥ %d: the count does not see the leak", open, rounds, 2+2*rounds)
	}
	for i := range kept {
		keptAn[i].Close()
		kept[i].Close()
	}
	an.Close()
	m.Close()
	after, rssAfter := onnxruntime.LiveSessions()-base, settle()
	if after != 0 {
		t.Errorf("%d live sessions after closing every model and analyzer, want 0", after)
	}
	if n := onnxruntime.LiveBuffers() - buffers0; n != 0 {
		t.Errorf("%d live buffers after closing every model and analyzer, want 0 (variables and per-call tensors freed)", n)
	}
	t.Logf("live sessions (RSS): warm-up 2 (%.0f MiB); after %d rounds with Close %d (%.0f MiB); after %d more without Close %d (%.0f MiB); all closed %d (%.0f MiB)",
		rss0, rounds, closed, rssClosed, rounds, open, rssOpen, after, rssAfter)
}

// TestCallFreesBuffersONNX: a measure frees the buffers of its call (the input moved into a buffer
// ONNX Runtime owns, and the outputs): GoMLX frees a tensor's buffer only when it is finalized, and
// every InputJacobian batch leaked three buffers (the Jacobian's K·N·P floats among them) — 200
// batches of 16 images grew the process by 137 MiB.
func TestCallFreesBuffersONNX(t *testing.T) {
	b := onnxBackend(t)
	m, err := Load(ZooPrefix + "resnet-small-mnist")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	batch := func() fisens.Batch {
		return fisens.Batch{X: make([]float32, 4*28*28), Shape: []int{4, 28, 28, 1}, Labels: []int{0, 1, 2, 3}}
	}
	if _, err := an.InputFI(batch(), fisens.Additive, fisens.Options{}); err != nil { // compiles, uploads the variables
		t.Fatal(err)
	}
	set, err := datasets.NewSet("call-test", 28, 28, 1, 10, make([]uint8, 6*28*28), make([]uint8, 6))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RecomputeBNStats(b, m, set, 4, nil); err != nil { // compiles the statistics pass
		t.Fatal(err)
	}
	// The new statistics are host values until a graph uploads them: count from there.
	if _, err := an.Logits(batch()); err != nil {
		t.Fatal(err)
	}
	n0 := onnxruntime.LiveBuffers()
	// New batch-norm statistics: the old values' buffers are freed, the new ones uploaded by the next call.
	if _, err := RecomputeBNStats(b, m, set, 4, nil); err != nil {
		t.Fatal(err)
	}
	const calls = 10
	for range calls {
		if _, err := an.InputFI(batch(), fisens.Additive, fisens.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := an.Logits(batch()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Predict(b, m, set, 4); err != nil { // two batches
		t.Fatal(err)
	}
	if n := onnxruntime.LiveBuffers() - n0; n != 0 {
		t.Errorf("%d buffers left on ONNX Runtime by RecomputeBNStats, %d InputFI + Logits calls and a Predict, want 0", n, calls)
	}
}
