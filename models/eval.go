package models

import (
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/internal/progress"
)

// DefaultEvalBatch is the batch size of Predict and Accuracy when the caller passes batch <= 0.
const DefaultEvalBatch = 256

// inferenceCache holds a model's compiled inference executors, one per backend. A model.Exec
// compiles one graph per input shape and reads the variables' CURRENT values at every call, so code
// that changes variable values between calls (weight perturbations) needs no recompilation.
type inferenceCache struct {
	mu    sync.Mutex
	execs map[compute.Backend]*model.Exec
}

// EvalOption configures Predict and Accuracy.
type EvalOption func(*evalOptions)

type evalOptions struct {
	progress io.Writer
	label    string
}

// WithProgress reports the pass to w with a progress bar (nil: silent, the default).
func WithProgress(w io.Writer) EvalOption { return func(o *evalOptions) { o.progress = w } }

// WithLabel sets the label of the progress bar (default "predict <set>").
func WithLabel(label string) EvalOption { return func(o *evalOptions) { o.label = label } }

// InputScale returns the scale (datasets.Raw255 or datasets.Unit) the model expects its inputs on,
// from Config.InputScale.
func (m *Model) InputScale() (datasets.Scale, error) {
	s, err := datasets.ParseScale(m.cfg.InputScale)
	if err != nil {
		return "", fmt.Errorf("models: %s: %w", m.cfg.Arch, err)
	}
	return s, nil
}

// CheckData reports whether set s fits the model: same image shape, and no more classes than the
// model has.
func (m *Model) CheckData(s *datasets.Set) error {
	if s == nil {
		return fmt.Errorf("models: %s: nil dataset", m.cfg.Arch)
	}
	h, w, c := s.Dims()
	if h != m.cfg.Height || w != m.cfg.Width || c != m.cfg.Channels {
		return fmt.Errorf("models: %s takes %dx%dx%d images (HxWxC), dataset %s has %dx%dx%d",
			m.displayName(), m.cfg.Height, m.cfg.Width, m.cfg.Channels, s.Name(), h, w, c)
	}
	if s.NumClasses() > m.cfg.Classes {
		return fmt.Errorf("models: %s has %d classes, dataset %s has %d", m.displayName(), m.cfg.Classes, s.Name(), s.NumClasses())
	}
	return nil
}

// UseBackend prepares the model's variables for backend b: values held on another backend's device
// (after running the model there) are moved to host memory, since GoMLX cannot feed one backend's
// buffers to another. Predict and Train call it; call it yourself before running the model's
// variables in your own graphs on a backend other than the one that last ran them.
func (m *Model) UseBackend(b compute.Backend) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	return catch(func() error {
		for v := range m.store.IterVariables() {
			if !v.HasValue() {
				continue
			}
			t, err := v.Value()
			if err != nil {
				return err
			}
			if !t.IsOnAnyDevice() {
				continue
			}
			if tb, err := t.Backend(); err == nil && tb == b {
				continue
			}
			if err := t.ToLocal(); err != nil {
				return fmt.Errorf("moving variable %s to host memory: %w", v.Path(), err)
			}
		}
		return nil
	})
}

// inferenceExec returns the model's inference executor for backend b (created once).
func (m *Model) inferenceExec(b compute.Backend) (*model.Exec, error) {
	// The caller holds m.inference.mu.
	if err := m.checkOpen(); err != nil {
		return nil, err
	}
	if e, ok := m.inference.execs[b]; ok {
		return e, nil
	}
	e, err := model.NewExec(b, m.store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		scope.Store().SetTraining(x.Graph(), false)
		return m.Logits(scope, x)
	})
	if err != nil {
		return nil, fmt.Errorf("models: %s: creating the inference executor: %w", m.cfg.Arch, err)
	}
	if m.inference.execs == nil {
		m.inference.execs = map[compute.Backend]*model.Exec{}
	}
	m.inference.execs[b] = e
	return e, nil
}

// Predict returns the logits of every example of s, row-major [N, K], computed in inference mode
// (dropout off, batch norm on its moving statistics) with the variables' current values. Examples
// go through in batches of batch (<= 0: DefaultEvalBatch); the last partial batch is padded so that
// only one graph is compiled per batch size.
func Predict(b compute.Backend, m *Model, s *datasets.Set, batch int, opts ...EvalOption) ([]float32, error) {
	if b == nil {
		return nil, fmt.Errorf("models: Predict: nil backend")
	}
	if m == nil {
		return nil, fmt.Errorf("models: Predict: nil model")
	}
	if err := m.CheckData(s); err != nil {
		return nil, err
	}
	scale, err := m.InputScale()
	if err != nil {
		return nil, err
	}
	o := evalOptions{label: "predict " + s.Name()}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	n, k := s.Len(), m.cfg.Classes
	if n == 0 {
		return []float32{}, nil
	}
	if batch <= 0 {
		batch = DefaultEvalBatch
	}
	if batch > n {
		batch = n
	}
	h, w, c := s.Dims()
	size := h * w * c

	m.inference.mu.Lock()
	defer m.inference.mu.Unlock()
	if err := m.UseBackend(b); err != nil {
		return nil, fmt.Errorf("models: %s: %w", m.cfg.Arch, err)
	}
	exec, err := m.inferenceExec(b)
	if err != nil {
		return nil, err
	}
	logits := make([]float32, n*k)
	bar := progress.New(o.progress, o.label, n)
	defer bar.Done()
	for start := 0; start < n; start += batch {
		idx := s.Range(start, start+batch)
		x, err := s.ReadBatch(idx, scale)
		if err != nil {
			return nil, err
		}
		if len(idx) < batch { // pad with zero images: same shape, same compiled graph
			x = append(x, make([]float32, (batch-len(idx))*size)...)
		}
		err = catch(func() error {
			in := tensors.FromFlatDataAndDimensions(x, batch, h, w, c)
			// Free the input's buffer too (no garbage-collector cleanup; on ONNX Runtime it leaked per batch).
			defer in.FinalizeAll()
			out, err := exec.Call(in)
			if err != nil {
				return err
			}
			defer func() {
				for _, t := range out {
					t.MustFinalizeAll()
				}
			}()
			if len(out) != 1 || !sameDims(out[0].Shape().Dimensions, batch, k) {
				return fmt.Errorf("the model returned %d outputs, first %s; want one [%d, %d]", len(out), out[0].Shape(), batch, k)
			}
			return tensors.ConstFlatData(out[0], func(flat []float32) {
				copy(logits[start*k:], flat[:len(idx)*k])
			})
		})
		if err != nil {
			return nil, fmt.Errorf("models: %s: predicting %s examples %d..%d: %w", m.cfg.Arch, s.Name(), start, start+len(idx)-1, err)
		}
		bar.Add(len(idx))
	}
	return logits, nil
}

func sameDims(got []int, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Argmax returns the predicted class of each row of logits [N, k] (the first maximum; NaN rows give
// -1, which is never a correct label).
func Argmax(logits []float32, k int) []int {
	n := len(logits) / k
	pred := make([]int, n)
	for i := range n {
		row := logits[i*k : (i+1)*k]
		best, arg := float32(math.Inf(-1)), -1
		for j, v := range row {
			if v > best {
				best, arg = v, j
			}
		}
		pred[i] = arg
	}
	return pred
}

// Accuracy returns the fraction of examples of s whose largest logit is the true label (inference
// mode, current variable values; see Predict).
func Accuracy(b compute.Backend, m *Model, s *datasets.Set, batch int, opts ...EvalOption) (float64, error) {
	logits, err := Predict(b, m, s, batch, opts...)
	if err != nil {
		return 0, err
	}
	if s.Len() == 0 {
		return 0, fmt.Errorf("models: accuracy on empty dataset %s", s.Name())
	}
	pred := Argmax(logits, m.cfg.Classes)
	correct := 0
	for i, p := range pred {
		if p == s.Label(i) {
			correct++
		}
	}
	return float64(correct) / float64(len(pred)), nil
}

// Table1Row is the paper's Table 1 row for a model: accuracy on the training, validation and test
// splits (inference mode).
type Table1Row struct {
	Model   string  `json:"model"`   // model reference or architecture name
	Dataset string  `json:"dataset"` // dataset name
	Train   float64 `json:"train"`   // accuracy on the training split
	Valid   float64 `json:"valid"`   // accuracy on the validation split
	Test    float64 `json:"test"`    // accuracy on the test set
	NTrain  int     `json:"n_train"` // examples in each split
	NValid  int     `json:"n_valid"`
	NTest   int     `json:"n_test"`
}

// Evaluate measures the Table 1 row of m on the three splits (each may be nil, then skipped and
// reported as NaN).
func Evaluate(b compute.Backend, m *Model, train, valid, test *datasets.Set, batch int, opts ...EvalOption) (Table1Row, error) {
	row := Table1Row{Model: m.cfg.Arch, Train: math.NaN(), Valid: math.NaN(), Test: math.NaN()}
	for _, sp := range []struct {
		s   *datasets.Set
		acc *float64
		n   *int
	}{{train, &row.Train, &row.NTrain}, {valid, &row.Valid, &row.NValid}, {test, &row.Test, &row.NTest}} {
		if sp.s == nil {
			continue
		}
		acc, err := Accuracy(b, m, sp.s, batch, append(opts, WithLabel("accuracy "+sp.s.Name()))...)
		if err != nil {
			return row, err
		}
		*sp.acc, *sp.n = acc, sp.s.Len()
	}
	return row, nil
}
