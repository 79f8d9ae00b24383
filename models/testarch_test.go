package models

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models/ops"
)

// Tiny architectures for the training/checkpoint tests, registered from this test file only.
func init() {
	// conv3x3(4)+bias → BN → ReLU → dropout → dense(K): exercises trainable and
	// non-trainable variables, dropout randomness and the BN moving averages.
	Register("trainer-test-conv", "test only: conv-BN-ReLU-dropout-dense", func(cfg Config, scope *model.Scope, x *Node) *Node {
		scope.Store().SetParam("/"+model.ParamInitialSeed, cfg.Seed)
		if cfg.InputScale != "unit" {
			x = MulScalar(x, 1.0/255)
		}
		y := ops.Conv2D(scope.In("conv1"), x, 4, 3, 1, ops.Same, true)
		y = ops.BatchNorm(scope.In("bn1"), y)
		y = ops.ReLU(y)
		y = ops.Dropout(scope, y, cfg.Dropout)
		return ops.Dense(scope.In("dense"), y, cfg.Classes, true)
	})
	// flatten → dense(K).
	Register("trainer-test-linear", "test only: flatten-dense", func(cfg Config, scope *model.Scope, x *Node) *Node {
		scope.Store().SetParam("/"+model.ParamInitialSeed, cfg.Seed)
		if cfg.InputScale != "unit" {
			x = MulScalar(x, 1.0/255)
		}
		return ops.Dense(scope.In("dense"), x, cfg.Classes, true)
	})
}

// tconvCfg is the configuration of the test conv net on 8x8x1 inputs with 3 classes.
func tconvCfg() Config {
	return Config{Arch: "trainer-test-conv", Height: 8, Width: 8, Channels: 1, Classes: 3, Dropout: 0.2, L2: 1e-4, Seed: 7}
}

// tSynthSet returns n 8x8x1 images of 3 classes: class k has a bright 3x3 block in column band k
// (columns 0-2, 3-5 or 5-7) at a random row, plus noise. The label is a function of where the bright
// block is, which the conv net learns in a few epochs.
func tSynthSet(t testing.TB, name string, n int, seed uint64) *datasets.Set {
	t.Helper()
	return tNoisySet(t, name, n, seed, 40, 0)
}

// tNoisySet is tSynthSet with background noise up to noise (0..255) and a fraction flip of the
// labels replaced by the next class (so that accuracy has room to vary between epochs).
func tNoisySet(t testing.TB, name string, n int, seed uint64, noise int, flip float64) *datasets.Set {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	const h, w = 8, 8
	img := make([]uint8, n*h*w)
	lab := make([]uint8, n)
	for i := range n {
		k := i % 3
		lab[i] = uint8(k)
		im := img[i*h*w : (i+1)*h*w]
		for p := range im {
			im[p] = uint8(r.IntN(noise))
		}
		row := r.IntN(h - 2)
		col := []int{0, 3, 5}[k]
		for dy := range 3 {
			for dx := range 3 {
				im[(row+dy)*w+col+dx] = uint8(200 + r.IntN(56))
			}
		}
		if r.Float64() < flip {
			lab[i] = uint8((k + 1) % 3)
		}
	}
	s, err := datasets.NewSet(name, h, w, 1, 3, img, lab)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tNewModel returns an untrained model, failing the test on error.
func tNewModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tInitialized returns a model whose variables hold their initial values (one forward pass).
func tInitialized(t testing.TB, cfg Config, s *datasets.Set) *Model {
	t.Helper()
	m := tNewModel(t, cfg)
	if _, err := Predict(backend.Must("go"), m, s, 16); err != nil {
		t.Fatal(err)
	}
	return m
}

// tPredict returns the logits of m on s with the pure-Go backend.
func tPredict(t testing.TB, m *Model, s *datasets.Set) []float32 {
	t.Helper()
	l, err := Predict(backend.Must("go"), m, s, 16)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
