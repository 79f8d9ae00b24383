package models

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Config fully describes a network: enough to rebuild it (it is stored next to every checkpoint).
type Config struct {
	Arch       string  `json:"arch"`        // registry name, e.g. "resnet50", "resnet-small"
	Height     int     `json:"height"`      // input height
	Width      int     `json:"width"`       // input width
	Channels   int     `json:"channels"`    // input channels
	Classes    int     `json:"classes"`     // number of classes K
	InputScale string  `json:"input_scale"` // "raw255" (the paper's) or "unit": the scale the model expects
	Dropout    float64 `json:"dropout"`     // dropout rate after ReLUs (paper: 0.2); 0 disables
	L2         float64 `json:"l2"`          // L2 weight decay (paper: 1e-4)
	Seed       int64   `json:"seed"`        // initialisation seed
	// ONNX records how a model loaded from an ONNX file was read (LoadONNX); nil for Go-defined models.
	ONNX *ONNXInfo `json:"onnx,omitempty"`
}

// Builder builds a family member's logits [B, K] from x [B, H, W, C] inside scope.
type Builder func(cfg Config, scope *model.Scope, x *graph.Node) *graph.Node

// archEntry is one registered architecture.
type archEntry struct {
	build   Builder
	summary string
}

var registry = map[string]archEntry{}

// Register adds an architecture to the registry; called from init() of each family's file.
func Register(name, summary string, build Builder) {
	if _, dup := registry[name]; dup {
		panic("models: architecture registered twice: " + name)
	}
	registry[name] = archEntry{build: build, summary: summary}
}

// Archs lists the registered architecture names, sorted.
func Archs() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Model is a network: its configuration, its variables (in a GoMLX Store) and its builder.
// It satisfies fisens.Classifier.
type Model struct {
	cfg   Config
	store *model.Store
	build Builder

	inference inferenceCache // compiled inference executors (eval.go)
	closed    atomic.Bool    // set by Close (close.go)
}

// New returns an uninitialised model of a registered architecture (variables are created and
// initialised, seeded by cfg.Seed, the first time a graph is built, or loaded from a checkpoint).
func New(cfg Config) (*Model, error) {
	e, ok := registry[cfg.Arch]
	if !ok {
		return nil, fmt.Errorf("models: unknown architecture %q (known: %s)", cfg.Arch, strings.Join(Archs(), ", "))
	}
	if cfg.Height <= 0 || cfg.Width <= 0 || cfg.Channels <= 0 || cfg.Classes < 2 {
		return nil, fmt.Errorf("models: %s: bad input shape %dx%dx%d or classes %d", cfg.Arch, cfg.Height, cfg.Width, cfg.Channels, cfg.Classes)
	}
	if cfg.InputScale == "" {
		cfg.InputScale = "raw255"
	}
	return &Model{cfg: cfg, store: model.NewStore(), build: e.build}, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Name returns the architecture name.
func (m *Model) Name() string { return m.cfg.Arch }

// Store returns the variables.
func (m *Model) Store() *model.Store { return m.store }

// NumClasses returns K.
func (m *Model) NumClasses() int { return m.cfg.Classes }

// InputDims returns the expected input height, width and channels.
func (m *Model) InputDims() (h, w, c int) { return m.cfg.Height, m.cfg.Width, m.cfg.Channels }

// Logits builds the logits [B, K] for x [B, H, W, C]; it honours scope.IsTraining(g).
// Building the graph of a closed model panics with an error wrapping ErrClosed (GoMLX and fisens
// turn it into the error of the call that builds the graph).
func (m *Model) Logits(scope *model.Scope, x *graph.Node) *graph.Node {
	if err := m.checkOpen(); err != nil {
		panic(err)
	}
	return m.build(m.cfg, scope, x)
}
