package backend

//go:generate go run ./internal/genops -skip Pad,ConvGeneral,ReduceWindow,SelectAndScatterMax,SelectAndScatterMin,Clamp,Rsqrt -o gen_ops.go

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
)

// Decorated is the backend New returns for "go" and "onnx:cpu": it wraps the inner backend and
// supplies the operations the inner one lacks (or gets wrong) from operations it has, so that every
// graph — fisens's own models and imported ONNX models alike — gets its gradients. Where the inner
// operation exists and is correct it is called unchanged, so results are bit-identical to the inner
// backend's. See the package documentation for the list of operations and their cost.
type Decorated struct {
	compute.Backend // the inner backend
	config          string
	onnx            bool // the inner backend is ONNX Runtime (compute-onnx)
	force           bool // tests: emulate Pad, ReduceWindow, SelectAndScatter, Clamp, Rsqrt and input-dilated convolutions even where the inner backend has them
}

var _ compute.Backend = (*Decorated)(nil)

// Decorate wraps inner (created from config, e.g. "onnx:cpu") in the decorator.
func Decorate(inner compute.Backend, config string) *Decorated {
	name := inner.Name()
	return &Decorated{Backend: inner, config: config, onnx: name == "onnxruntime" || name == "onnx"}
}

// Inner returns the wrapped backend.
func (b *Decorated) Inner() compute.Backend { return b.Backend }

// Capabilities are the inner backend's, plus the operations the decorator supplies.
func (b *Decorated) Capabilities() compute.Capabilities {
	c := b.Backend.Capabilities().Clone()
	for _, op := range []compute.OpType{compute.OpTypePad, compute.OpTypeConvGeneral, compute.OpTypeReduceWindow,
		compute.OpTypeSelectAndScatterMax, compute.OpTypeSelectAndScatterMin, compute.OpTypeClamp, compute.OpTypeRsqrt} {
		c.Operations[op] = true
	}
	return c
}

// Builder implements compute.Backend.
func (b *Decorated) Builder(name string) compute.Builder {
	return &builder{Builder: b.Backend.Builder(name), b: b, fns: map[compute.Function]*function{}}
}

// BufferFromFlatData implements compute.DataInterface.
func (b *Decorated) BufferFromFlatData(deviceNum compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	buf, err := b.Backend.BufferFromFlatData(deviceNum, flat, shape)
	return b.wrapBuffer(buf), err
}

// NewSharedBuffer implements compute.DataInterface.
func (b *Decorated) NewSharedBuffer(deviceNum compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	buf, flat, err := b.Backend.NewSharedBuffer(deviceNum, shape)
	return b.wrapBuffer(buf), flat, err
}

// buffer is an inner buffer that reports the decorator as its backend (GoMLX tensors check that a
// buffer's backend is the one executing the graph).
type buffer struct {
	compute.Buffer
	b *Decorated
}

func (b *Decorated) wrapBuffer(buf compute.Buffer) compute.Buffer {
	if buf == nil {
		return nil
	}
	if w, ok := buf.(*buffer); ok {
		return w
	}
	return &buffer{Buffer: buf, b: b}
}

func unwrapBuffer(buf compute.Buffer) compute.Buffer {
	if w, ok := buf.(*buffer); ok {
		return w.Buffer
	}
	return buf
}

func (x *buffer) Backend() compute.Backend { return x.b }

func (x *buffer) CopyToDevice(deviceNum compute.DeviceNum) (compute.Buffer, error) {
	buf, err := x.Buffer.CopyToDevice(deviceNum)
	return x.b.wrapBuffer(buf), err
}

type executable struct {
	compute.Executable
	b *Decorated
}

func (e *executable) Execute(inputs []compute.Buffer, donate []bool, defaultDevice compute.DeviceNum) ([]compute.Buffer, error) {
	in := make([]compute.Buffer, len(inputs))
	for i, buf := range inputs {
		in[i] = unwrapBuffer(buf)
	}
	out, err := e.Executable.Execute(in, donate, defaultDevice)
	for i := range out {
		out[i] = e.b.wrapBuffer(out[i])
	}
	return out, err
}

type builder struct {
	compute.Builder
	b   *Decorated
	fns map[compute.Function]*function
}

// wrap returns the decorator of an inner function (the same one for the same inner function).
func (bld *builder) wrap(f compute.Function) compute.Function {
	if f == nil {
		return nil
	}
	if w, ok := f.(*function); ok {
		return w
	}
	if w, ok := bld.fns[f]; ok {
		return w
	}
	w := &function{Function: f, bld: bld}
	bld.fns[f] = w
	return w
}

func unwrapFunction(f compute.Function) compute.Function {
	if w, ok := f.(*function); ok {
		return w.Function
	}
	return f
}

func (bld *builder) Main() compute.Function { return bld.wrap(bld.Builder.Main()) }

func (bld *builder) NewFunction(name string) (compute.Function, error) {
	f, err := bld.Builder.NewFunction(name)
	if err != nil {
		return nil, err
	}
	return bld.wrap(f), nil
}

func (bld *builder) Compile() (compute.Executable, error) {
	e, err := bld.Builder.Compile()
	if err != nil {
		return nil, err
	}
	return &executable{Executable: e, b: bld.b}, nil
}

// function decorates an inner compute.Function: the operations of gen_ops.go forward to it, the
// ones in emulate.go supply what it lacks.
type function struct {
	compute.Function
	bld *builder
}

func (f *function) Builder() compute.Builder { return f.bld }

func (f *function) Parent() compute.Function {
	p := f.Function.Parent()
	if p == nil {
		return nil
	}
	return f.bld.wrap(p)
}

func (f *function) Closure() (compute.Function, error) {
	c, err := f.Function.Closure()
	if err != nil {
		return nil, f.opError("Closure", err)
	}
	return f.bld.wrap(c), nil
}

func (f *function) Call(fn compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	out, err := f.Function.Call(unwrapFunction(fn), inputs...)
	return out, f.opError("Call", err)
}

func (f *function) Sort(comparator compute.Function, axis int, isStable bool, inputs ...compute.Value) ([]compute.Value, error) {
	out, err := f.Function.Sort(unwrapFunction(comparator), axis, isStable, inputs...)
	return out, f.opError("Sort", err)
}

func (f *function) While(cond, body compute.Function, initialState ...compute.Value) ([]compute.Value, error) {
	out, err := f.Function.While(unwrapFunction(cond), unwrapFunction(body), initialState...)
	return out, f.opError("While", err)
}

func (f *function) If(pred compute.Value, trueBranch, falseBranch compute.Function) ([]compute.Value, error) {
	out, err := f.Function.If(pred, unwrapFunction(trueBranch), unwrapFunction(falseBranch))
	return out, f.opError("If", err)
}

// notImplementedError is the error of an operation neither the inner backend nor the decorator
// provides. It wraps the inner error, so compute.IsNotImplemented still reports it.
type notImplementedError struct {
	op, backend string
	goHas       bool
	err         error
}

func (e *notImplementedError) Error() string {
	runs := "xla:cpu (XLA runs every operation: -tags xla, scripts/install-xla.sh)"
	if e.goHas && e.backend != "go" {
		runs = "go, " + runs
	}
	return fmt.Sprintf("operation %s is not supported on backend %q (neither by it nor emulated by fisens/backend); "+
		"backends that run it: %s [%v]", e.op, e.backend, runs, e.err)
}

func (e *notImplementedError) Unwrap() error { return e.err }

// opError turns the inner backend's "not implemented" error of op into one naming the operation and
// the backends that run it; other errors (and nil) pass unchanged.
func (f *function) opError(op string, err error) error {
	if err == nil || !compute.IsNotImplemented(err) {
		return err
	}
	if _, ok := err.(*notImplementedError); ok {
		return err
	}
	return &notImplementedError{op: op, backend: f.bld.b.config, goHas: goHas(op), err: err}
}

// goHas reports whether the pure-Go backend (with this decorator) runs op, from its capability table.
func goHas(op string) bool {
	switch op {
	case "Pad", "ConvGeneral", "ReduceWindow", "SelectAndScatterMax", "SelectAndScatterMin", "Clamp", "Rsqrt":
		return true
	}
	caps := goCapabilities()
	for t, ok := range caps.Operations {
		if ok && strings.EqualFold(t.String(), op) {
			return true
		}
	}
	return false
}
