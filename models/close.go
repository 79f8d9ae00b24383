package models

import (
	"errors"
	"fmt"
)

// ErrClosed is wrapped by the error of every use of a model after Close.
var ErrClosed = errors.New("the model was closed")

// Close frees what the model holds on its backends: its compiled inference graphs (one per backend
// and input shape; on ONNX Runtime each is a session that lives until it is finalized, whatever
// the garbage collector does) and the values of its variables (the buffers they occupy on the
// device). A process that loads many models one after the other (a loop over checkpoints, every
// experiment of `fisens reproduce`, a notebook) should close each when done with it: nothing else
// frees these on ONNX Runtime, and such a process grew to 19–22 GB at paper scale.
//
// Close is idempotent and safe to call on a nil model. Afterwards every use of the model — Predict,
// Accuracy, Clone, Save, UseBackend, building its logits (e.g. by a fisens.Analyzer or a training
// step) — fails with an error wrapping ErrClosed. Close the fisens.Analyzer of a model as well
// (Analyzer.Close): it holds compiled graphs of its own. Clones are independent models: close each.
func (m *Model) Close() error {
	if m == nil || m.closed.Swap(true) {
		return nil
	}
	m.inference.mu.Lock()
	execs := m.inference.execs
	m.inference.execs = nil
	m.inference.mu.Unlock()
	for _, e := range execs {
		e.Finalize()
	}
	if m.store == nil {
		return nil
	}
	if err := catch(func() error { m.store.Finalize(); return nil }); err != nil {
		return fmt.Errorf("models: %s: Close: freeing the variables: %w", m.displayName(), err)
	}
	return nil
}

// Closed reports whether Close was called.
func (m *Model) Closed() bool { return m != nil && m.closed.Load() }

// checkOpen returns an error wrapping ErrClosed if the model was closed.
func (m *Model) checkOpen() error {
	if m.closed.Load() {
		return fmt.Errorf("models: %s: %w (Model.Close was called; load it again to use it)", m.displayName(), ErrClosed)
	}
	return nil
}
