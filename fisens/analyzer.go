package fisens

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/fisens/fisens/internal/hostargs"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Form is how a perturbation ω acts on the perturbed sub-vector ζ.
type Form int

const (
	// Additive: ζ + ω, ω0 = 0. The Jacobian is ∂z/∂ζ.
	Additive Form = iota
	// Scaling: ζ ∘ ω, ω0 = 1. The Jacobian is ∂z/∂ζ · diag(ζ): zero entries of ζ give zero columns.
	Scaling
)

func (f Form) String() string {
	if f == Scaling {
		return "scaling"
	}
	return "additive"
}

// Analyzer computes sensitivity measures of one classifier on one backend. It compiles each graph
// once per input shape and is safe for use by one goroutine at a time. Close frees its compiled
// graphs when it is no longer needed.
type Analyzer struct {
	backend compute.Backend
	clf     Classifier

	mu        sync.Mutex
	logitsFn  *model.Exec
	inputJac  *model.Exec
	paramExec map[string]*paramExec
	tracked   []*model.Exec // other long-lived graphs of this analyzer (ChannelScaler), finalized by Close
	closed    bool
}

// ErrClosed is wrapped by the error of every use of an Analyzer after Close.
var ErrClosed = errors.New("closed")

// Close frees the analyzer's compiled graphs (every input shape of every measure it has run). On
// ONNX Runtime each is a session that lives until it is finalized — the garbage collector does not
// free it —, so a process that analyses many models one after the other should close each analyzer
// when done (and the model too: models.Model.Close). The classifier itself is not closed: the
// analyzer does not own it.
//
// Close is idempotent and safe on a nil Analyzer. Afterwards every measure (Logits, InputJacobian,
// InputFI, ParamFI, ParamFIBatch, Cook, ChannelScaler) fails with an error wrapping ErrClosed.
func (a *Analyzer) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	// Graphs built from now on (a measure that compiles lazily) fail at their first call.
	a.clf = closedClassifier{a.clf}
	// The finalized executors stay in place: calling one returns an error instead of compiling again.
	for _, e := range []*model.Exec{a.logitsFn, a.inputJac} {
		if e != nil {
			e.Finalize()
		}
	}
	for _, pe := range a.paramExec {
		if pe != nil && pe.exec != nil {
			pe.exec.Finalize()
		}
	}
	for _, e := range a.tracked {
		e.Finalize()
	}
	a.tracked = nil
	return nil
}

// Closed reports whether Close was called.
func (a *Analyzer) Closed() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// track registers a long-lived graph of a measure (kept outside the analyzer) for Close. It returns
// an error wrapping ErrClosed if the analyzer is closed.
func (a *Analyzer) track(e *model.Exec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		e.Finalize()
		return errAnalyzerClosed()
	}
	a.tracked = append(a.tracked, e)
	return nil
}

// checkOpen returns an error wrapping ErrClosed if the analyzer is closed, or the classifier's error
// if it was closed (a classifier with a Closed method, e.g. models.Model); the caller holds a.mu.
func (a *Analyzer) checkOpen() error {
	if a.closed {
		return errAnalyzerClosed()
	}
	if c, ok := a.clf.(interface{ Closed() bool }); ok && c.Closed() {
		return fmt.Errorf("fisens: the analyzed classifier was %w (e.g. by models.Model.Close): load it again and create a new Analyzer", ErrClosed)
	}
	return nil
}

// errAnalyzerClosed is the error of every use of a closed Analyzer.
func errAnalyzerClosed() error {
	return fmt.Errorf("fisens: analyzer %w (Analyzer.Close was called; create a new one with NewAnalyzer)", ErrClosed)
}

// closedClassifier stands for the classifier of a closed Analyzer: building its logits panics with
// ErrClosed (turned into the error of the call by call).
type closedClassifier struct{ Classifier }

func (c closedClassifier) Logits(*model.Scope, *graph.Node) *graph.Node {
	panic(errAnalyzerClosed())
}

// NewAnalyzer returns an Analyzer for clf on backend b.
func NewAnalyzer(b compute.Backend, clf Classifier) (*Analyzer, error) {
	if b == nil {
		return nil, fmt.Errorf("fisens: nil backend")
	}
	if clf == nil || clf.Store() == nil {
		return nil, fmt.Errorf("fisens: nil classifier or classifier without a variable store")
	}
	if clf.NumClasses() < 2 {
		return nil, fmt.Errorf("fisens: classifier has %d classes, need at least 2", clf.NumClasses())
	}
	return &Analyzer{backend: b, clf: clf, paramExec: map[string]*paramExec{}}, nil
}

// Backend returns the analyzer's backend.
func (a *Analyzer) Backend() compute.Backend { return a.backend }

// Classifier returns the analysed classifier.
func (a *Analyzer) Classifier() Classifier {
	if c, ok := a.clf.(closedClassifier); ok {
		return c.Classifier
	}
	return a.clf
}

// Batch is a batch of inputs: X is row-major with shape Shape = [N, ...per-example dims].
type Batch struct {
	X      []float32
	Shape  []int
	Labels []int // true labels (needed by true-label objectives; may be nil otherwise)
}

// N returns the number of examples.
func (b Batch) N() int {
	if len(b.Shape) == 0 {
		return 0
	}
	return b.Shape[0]
}

// perExample returns the number of input values of one example.
func (b Batch) perExample() int {
	p := 1
	for _, d := range b.Shape[1:] {
		p *= d
	}
	return p
}

// Validate checks that the batch has a valid shape [N, ...] with N ≥ 1, len(X) matching it, and, if
// Labels is set, one label in [0, K) per example.
func (b Batch) Validate(K int) error {
	if len(b.Shape) < 2 {
		return fmt.Errorf("batch shape %v: want [N, ...example dims]", b.Shape)
	}
	n := 1
	for _, d := range b.Shape {
		if d <= 0 {
			return fmt.Errorf("batch shape %v has a non-positive dimension", b.Shape)
		}
		n *= d
	}
	if b.Shape[0] == 0 {
		return fmt.Errorf("empty batch")
	}
	if len(b.X) != n {
		return fmt.Errorf("batch has %d values, shape %v needs %d", len(b.X), b.Shape, n)
	}
	if b.Labels != nil {
		if len(b.Labels) != b.Shape[0] {
			return fmt.Errorf("batch has %d labels for %d examples", len(b.Labels), b.Shape[0])
		}
		for i, y := range b.Labels {
			if y < 0 || y >= K {
				return fmt.Errorf("label %d of example %d out of range [0, %d)", y, i, K)
			}
		}
	}
	return nil
}

func (b Batch) label(i int) int {
	if b.Labels == nil {
		return -1
	}
	return b.Labels[i]
}

// call runs an Exec and converts GoMLX panics into errors. It consumes its arguments (tensor
// arguments are finalized: pass tensors made for the call) and returns host copies of the outputs,
// so that no buffer of the call stays on the backend. GoMLX frees a tensor's buffer only when the
// tensor is finalized (no garbage-collector cleanup; on ONNX Runtime an input is moved into a
// buffer ONNX Runtime owns), so each call leaked its input and outputs until this (three buffers per
// InputJacobian batch, the Jacobian's K·N·P floats among them).
func call(e *model.Exec, args ...any) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("fisens: graph execution failed: %w", e)
			} else {
				err = fmt.Errorf("fisens: graph execution failed: %v", r)
			}
		}
	}()
	if args, err = hostargs.Wrap(args); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	defer hostargs.Free(args...)
	res, err := e.Call(args...)
	if err != nil {
		if strings.Contains(err.Error(), "has been finalized") { // GoMLX's error for a finalized Exec
			return nil, fmt.Errorf("fisens: analyzer %w (Analyzer.Close freed this graph; create a new one with NewAnalyzer): %v", ErrClosed, err)
		}
		return nil, err
	}
	defer func() {
		for _, t := range res {
			_ = t.FinalizeAll()
		}
	}()
	out = make([]*tensors.Tensor, len(res))
	for i, t := range res {
		if out[i], err = t.LocalClone(); err != nil {
			return nil, fmt.Errorf("fisens: reading output %d: %w", i, err)
		}
	}
	return out, nil
}

func flat32(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }
func flat64(t *tensors.Tensor) []float64 { return tensors.MustCopyFlatData[float64](t) }

// classMask is a [1, K] constant with a one at class k, used to select a logit without Slice
// (whose gradient needs Pad, missing on ONNX Runtime).
func classMask(g *graph.Graph, dtype dtypes.DType, K, k int) *graph.Node {
	m := make([]float32, K)
	m[k] = 1
	return graph.ConvertDType(graph.Const(g, [][]float32{m}), dtype)
}

// Logits returns the model's logits [N, K] (inference mode).
func (a *Analyzer) Logits(b Batch) ([]float32, error) {
	K := a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	a.mu.Lock()
	if err := a.checkOpen(); err != nil {
		a.mu.Unlock()
		return nil, err
	}
	if a.logitsFn == nil {
		e, err := model.NewExec(a.backend, a.clf.Store(), func(scope *model.Scope, x *graph.Node) *graph.Node {
			return a.clf.Logits(scope, x)
		})
		if err != nil {
			a.mu.Unlock()
			return nil, err
		}
		a.logitsFn = e
	}
	e := a.logitsFn
	a.mu.Unlock()
	out, err := call(e, tensors.FromFlatDataAndDimensions(b.X, b.Shape...))
	if err != nil {
		return nil, err
	}
	z := flat32(out[0])
	if len(z) != b.N()*K {
		return nil, fmt.Errorf("fisens: model returned %d logits for %d examples and K = %d", len(z), b.N(), K)
	}
	return z, nil
}

// InputJacobian is the logit Jacobian of a batch with respect to its inputs.
type InputJacobian struct {
	N, K, P int       // examples, classes, input values per example
	Shape   []int     // the batch shape [N, ...]
	X       []float32 // the inputs (needed by the scaling form)
	Labels  []int     // true labels, or nil
	Logits  []float32 // [N, K]
	J       []float32 // [K, N, P]: J[(k*N+n)*P + q] = ∂z_k(x_n)/∂x_n[q]
}

// Row returns ∂z_k/∂x for example n (length P; shares memory).
func (j *InputJacobian) Row(n, k int) []float32 {
	off := (k*j.N + n) * j.P
	return j.J[off : off+j.P]
}

// LogitsOf returns example n's logits in float64.
func (j *InputJacobian) LogitsOf(n int) []float64 {
	z := make([]float64, j.K)
	for k := range z {
		z[k] = float64(j.Logits[n*j.K+k])
	}
	return z
}

// column returns the K-vector ∂z/∂x_q of example n in the given form.
func (j *InputJacobian) column(n, q int, form Form, dst []float64) {
	s := 1.0
	if form == Scaling {
		s = float64(j.X[n*j.P+q])
	}
	for k := 0; k < j.K; k++ {
		dst[k] = s * float64(j.J[(k*j.N+n)*j.P+q])
	}
}

// Gram returns M = J_S J_Sᵀ (K × K, float64) of example n for the input values cols (all values
// when cols is nil).
func (j *InputJacobian) Gram(n int, cols []int, form Form) []float64 {
	K := j.K
	M := make([]float64, K*K)
	col := make([]float64, K)
	add := func(q int) {
		j.column(n, q, form, col)
		for a := 0; a < K; a++ {
			ca := col[a]
			if ca == 0 {
				continue
			}
			for b := a; b < K; b++ {
				M[a*K+b] += ca * col[b]
			}
		}
	}
	if cols == nil {
		for q := 0; q < j.P; q++ {
			add(q)
		}
	} else {
		for _, q := range cols {
			add(q)
		}
	}
	for a := 0; a < K; a++ {
		for b := a + 1; b < K; b++ {
			M[b*K+a] = M[a*K+b]
		}
	}
	return M
}

// InputJacobian computes the logit Jacobian of every example of the batch with respect to its own
// input with K backward passes for the whole batch (inference mode, so examples do not interact).
func (a *Analyzer) InputJacobian(b Batch) (*InputJacobian, error) {
	K := a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	a.mu.Lock()
	if err := a.checkOpen(); err != nil {
		a.mu.Unlock()
		return nil, err
	}
	if a.inputJac == nil {
		e, err := model.NewExec(a.backend, a.clf.Store(), func(scope *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
			logits := a.clf.Logits(scope, x)
			g := x.Graph()
			grads := make([]*graph.Node, K)
			for k := 0; k < K; k++ {
				s := graph.ReduceAllSum(graph.Mul(logits, classMask(g, logits.DType(), K, k)))
				grads[k] = graph.Gradient(s, x)[0]
			}
			return logits, graph.Stack(grads, 0)
		})
		if err != nil {
			a.mu.Unlock()
			return nil, err
		}
		a.inputJac = e
	}
	e := a.inputJac
	a.mu.Unlock()
	out, err := call(e, tensors.FromFlatDataAndDimensions(b.X, b.Shape...))
	if err != nil {
		return nil, err
	}
	jac := &InputJacobian{N: b.N(), K: K, P: b.perExample(), Shape: append([]int(nil), b.Shape...),
		X: b.X, Labels: b.Labels, Logits: flat32(out[0]), J: flat32(out[1])}
	if len(jac.Logits) != jac.N*K || len(jac.J) != K*jac.N*jac.P {
		return nil, fmt.Errorf("fisens: model returned logits of %d values / Jacobian of %d for batch shape %v and K = %d",
			len(jac.Logits), len(jac.J), b.Shape, K)
	}
	return jac, nil
}

// InputFI returns whole-input FI (and the Jacobian norms) of every example of the batch.
func (a *Analyzer) InputFI(b Batch, form Form, opt Options) ([]Result, error) {
	if opt.Objective.Label == TrueLabel && b.Labels == nil {
		return nil, fmt.Errorf("fisens: objective %q needs the true labels (Batch.Labels is nil)", opt.Objective)
	}
	jac, err := a.InputJacobian(b)
	if err != nil {
		return nil, err
	}
	return jac.FI(nil, form, opt)
}

// FI computes, for every example, FI of the perturbation of the input values cols (all when nil).
func (j *InputJacobian) FI(cols []int, form Form, opt Options) ([]Result, error) {
	res := make([]Result, j.N)
	for n := 0; n < j.N; n++ {
		y := -1
		if j.Labels != nil {
			y = j.Labels[n]
		}
		r, err := FromGram(j.Gram(n, cols, form), j.LogitsOf(n), y, opt)
		if err != nil {
			return nil, fmt.Errorf("fisens: example %d: %w", n, err)
		}
		res[n] = r
	}
	return res, nil
}

// Layer is a group of trainable variables perturbed together: by default all trainable variables
// that share one scope (a conv kernel and its bias, a batch norm's gamma and beta).
type Layer struct {
	Index  int      // position in creation order
	Name   string   // the scope, e.g. "/stage2/block1/conv1", or a custom group name
	Kind   string   // "conv", "bn", "dense" or "other", from the scope's last element
	Vars   []string // variable paths
	Params int      // number of scalar parameters
}

// LayerKind classifies a scope by the prefix of its last path element.
func LayerKind(scope string) string {
	last := scope[strings.LastIndex(scope, "/")+1:]
	switch {
	case strings.HasPrefix(last, "conv"):
		return "conv"
	case strings.HasPrefix(last, "bn"), strings.HasPrefix(last, "batchnorm"), strings.HasPrefix(last, "batch_norm"):
		return "bn"
	case strings.HasPrefix(last, "dense"), strings.HasPrefix(last, "fc"):
		return "dense"
	}
	return "other"
}
