package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	// Registers the ONNX protobuf descriptors ("onnx.ModelProto", …) that the dynamic messages
	// below are built from; it is also the importer the models are converted with.
	_ "github.com/gomlx/onnx-gomlx/onnx/parser"
)

// The ONNX file is read, checked and rewritten here through protobuf reflection on the descriptors
// onnx-gomlx registers (its generated Go types are internal to it). Only the fields fisens needs are
// touched; marshalling a dynamic message keeps every other field as it was.

// ONNX TensorProto.DataType values used here.
const (
	onnxFloat  = 1
	onnxInt64  = 7
	onnxDouble = 11
)

// ONNX AttributeProto.AttributeType values used here.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrFloats = 6
	attrInts   = 7
)

type pmsg = protoreflect.Message

func field(m pmsg, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("models: ONNX descriptor %s has no field %q", m.Descriptor().FullName(), name))
	}
	return fd
}

func getStr(m pmsg, name string) string { return m.Get(field(m, name)).String() }
func getInt(m pmsg, name string) int64  { return m.Get(field(m, name)).Int() }
func getMsg(m pmsg, name string) pmsg   { return m.Get(field(m, name)).Message() }
func has(m pmsg, name string) bool      { return m.Has(field(m, name)) }
func list(m pmsg, name string) protoreflect.List {
	return m.Get(field(m, name)).List()
}
func mutList(m pmsg, name string) protoreflect.List { return m.Mutable(field(m, name)).List() }

// removeNamed deletes the messages of a repeated field whose "name" is in drop, keeping the order.
func removeNamed(l protoreflect.List, drop map[string]bool) {
	var keep []protoreflect.Value
	for i := range l.Len() {
		if !drop[getStr(l.Get(i).Message(), "name")] {
			keep = append(keep, l.Get(i))
		}
	}
	l.Truncate(0)
	for _, v := range keep {
		l.Append(v)
	}
}

func setStr(m pmsg, name, v string) { m.Set(field(m, name), protoreflect.ValueOfString(v)) }

func strList(m pmsg, name string) []string {
	l := list(m, name)
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}

func setStrList(m pmsg, name string, vals []string) {
	m.Clear(field(m, name))
	l := mutList(m, name)
	for _, v := range vals {
		l.Append(protoreflect.ValueOfString(v))
	}
}

func intList(m pmsg, name string) []int64 {
	l := list(m, name)
	out := make([]int64, l.Len())
	for i := range out {
		out[i] = l.Get(i).Int()
	}
	return out
}

// newMsg returns an empty message of the named ONNX type ("onnx.NodeProto", …). The ONNX messages
// are registered under the protobuf package of whichever copy of onnx-ml.proto registered first
// ("protos" for onnx-gomlx's, "onnx" upstream): the package name is looked up, not assumed.
func newMsg(fullName string) (pmsg, error) {
	name := strings.TrimPrefix(fullName, "onnx.")
	var d protoreflect.Descriptor
	var err error
	for _, pkg := range []string{"protos", "onnx"} {
		if d, err = protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(pkg + "." + name)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ONNX protobuf descriptor %s not registered: %w", fullName, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("ONNX protobuf descriptor %s is not a message", fullName)
	}
	return dynamicpb.NewMessage(md), nil
}

// parseModelProto decodes an ONNX file's bytes into a dynamic onnx.ModelProto.
func parseModelProto(data []byte) (pmsg, error) {
	m, err := newMsg("onnx.ModelProto")
	if err != nil {
		return nil, err
	}
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, m.Interface()); err != nil {
		return nil, err
	}
	return m, nil
}

// onnxNode is a NodeProto with its fields read out.
type onnxNode struct {
	index   int
	name    string
	op      string
	domain  string
	inputs  []string
	outputs []string
	msg     pmsg
}

func (n *onnxNode) String() string {
	if n.name != "" {
		return fmt.Sprintf("%s node %q (#%d)", n.op, n.name, n.index)
	}
	return fmt.Sprintf("%s node #%d", n.op, n.index)
}

func readNode(i int, m pmsg) *onnxNode {
	return &onnxNode{index: i, name: getStr(m, "name"), op: getStr(m, "op_type"), domain: getStr(m, "domain"),
		inputs: strList(m, "input"), outputs: strList(m, "output"), msg: m}
}

// attribute returns the node's attribute message named name, or nil.
func (n *onnxNode) attribute(name string) pmsg {
	l := list(n.msg, "attribute")
	for i := range l.Len() {
		a := l.Get(i).Message()
		if getStr(a, "name") == name {
			return a
		}
	}
	return nil
}

func (n *onnxNode) intAttr(name string, def int64) int64 {
	if a := n.attribute(name); a != nil {
		return getInt(a, "i")
	}
	return def
}

func (n *onnxNode) floatAttr(name string, def float64) float64 {
	if a := n.attribute(name); a != nil {
		return a.Get(field(a, "f")).Float()
	}
	return def
}

func (n *onnxNode) intsAttr(name string) []int64 {
	if a := n.attribute(name); a != nil {
		return intList(a, "ints")
	}
	return nil
}

// removeAttribute drops an attribute from the node (no-op if absent).
func (n *onnxNode) removeAttribute(name string) {
	l := mutList(n.msg, "attribute")
	var keep []protoreflect.Value
	for i := range l.Len() {
		if getStr(l.Get(i).Message(), "name") != name {
			keep = append(keep, l.Get(i))
		}
	}
	l.Truncate(0)
	for _, v := range keep {
		l.Append(v)
	}
}

// setIntsAttr sets (replacing) an INTS attribute.
func (n *onnxNode) setIntsAttr(name string, vals []int64) error {
	n.removeAttribute(name)
	a, err := newMsg("onnx.AttributeProto")
	if err != nil {
		return err
	}
	setStr(a, "name", name)
	a.Set(field(a, "type"), protoreflect.ValueOfEnum(attrInts))
	l := mutList(a, "ints")
	for _, v := range vals {
		l.Append(protoreflect.ValueOfInt64(v))
	}
	mutList(n.msg, "attribute").Append(protoreflect.ValueOfMessage(a))
	return nil
}

// newNode builds a NodeProto.
func newNode(op, name string, inputs, outputs []string) (pmsg, error) {
	m, err := newMsg("onnx.NodeProto")
	if err != nil {
		return nil, err
	}
	setStr(m, "op_type", op)
	setStr(m, "name", name)
	setStrList(m, "input", inputs)
	setStrList(m, "output", outputs)
	return m, nil
}

// onnxTensor is an initializer read out of a TensorProto.
type onnxTensor struct {
	name     string
	dims     []int
	dataType int64
	external bool
	f32      []float32 // float tensors
	f64      []float64 // double tensors
	msg      pmsg
}

func (t *onnxTensor) size() int {
	s := 1
	for _, d := range t.dims {
		s *= d
	}
	return s
}

func (t *onnxTensor) isFloat() bool { return t.dataType == onnxFloat || t.dataType == onnxDouble }

// readTensor reads a TensorProto; float and double values are decoded (raw_data or the typed
// fields), other types only described.
func readTensor(m pmsg) (*onnxTensor, error) {
	t := &onnxTensor{name: getStr(m, "name"), dataType: m.Get(field(m, "data_type")).Int(), msg: m}
	for _, d := range intList(m, "dims") {
		if d < 0 {
			return nil, fmt.Errorf("initializer %q has a negative dimension %d", t.name, d)
		}
		t.dims = append(t.dims, int(d))
	}
	if m.Get(field(m, "data_location")).Enum() == 1 || list(m, "external_data").Len() > 0 {
		t.external = true
		return t, nil
	}
	n := t.size()
	raw := m.Get(field(m, "raw_data")).Bytes()
	switch t.dataType {
	case onnxFloat:
		if len(raw) > 0 {
			if len(raw) != 4*n {
				return nil, fmt.Errorf("initializer %q: %d bytes of raw data for %d float32 values", t.name, len(raw), n)
			}
			t.f32 = make([]float32, n)
			for i := range t.f32 {
				t.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			l := list(m, "float_data")
			if l.Len() != n {
				return nil, fmt.Errorf("initializer %q: %d float values for dimensions %v", t.name, l.Len(), t.dims)
			}
			t.f32 = make([]float32, n)
			for i := range t.f32 {
				t.f32[i] = float32(l.Get(i).Float())
			}
		}
	case onnxDouble:
		if len(raw) > 0 {
			if len(raw) != 8*n {
				return nil, fmt.Errorf("initializer %q: %d bytes of raw data for %d float64 values", t.name, len(raw), n)
			}
			t.f64 = make([]float64, n)
			for i := range t.f64 {
				t.f64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			l := list(m, "double_data")
			if l.Len() != n {
				return nil, fmt.Errorf("initializer %q: %d double values for dimensions %v", t.name, l.Len(), t.dims)
			}
			t.f64 = make([]float64, n)
			for i := range t.f64 {
				t.f64[i] = l.Get(i).Float()
			}
		}
	}
	return t, nil
}

// firstNonFinite returns the index of the first NaN or ±Inf value of a float tensor, or -1.
func (t *onnxTensor) firstNonFinite() (int, float64) {
	for i, v := range t.f32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i, float64(v)
		}
	}
	for i, v := range t.f64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return i, v
		}
	}
	return -1, 0
}

// newScalarInitializer builds a float32 scalar TensorProto.
func newScalarInitializer(name string, v float32) (pmsg, error) {
	m, err := newMsg("onnx.TensorProto")
	if err != nil {
		return nil, err
	}
	setStr(m, "name", name)
	m.Set(field(m, "data_type"), protoreflect.ValueOfInt32(onnxFloat))
	raw := make([]byte, 4)
	binary.LittleEndian.PutUint32(raw, math.Float32bits(v))
	m.Set(field(m, "raw_data"), protoreflect.ValueOfBytes(raw))
	return m, nil
}

// newInt64Initializer builds a 1-D int64 TensorProto.
func newInt64Initializer(name string, vals []int64) (pmsg, error) {
	m, err := newMsg("onnx.TensorProto")
	if err != nil {
		return nil, err
	}
	setStr(m, "name", name)
	m.Set(field(m, "data_type"), protoreflect.ValueOfInt32(onnxInt64))
	mutList(m, "dims").Append(protoreflect.ValueOfInt64(int64(len(vals))))
	raw := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	m.Set(field(m, "raw_data"), protoreflect.ValueOfBytes(raw))
	return m, nil
}

// valueInfo describes a graph input or output: name, element type and dimensions (-1 for a
// dynamic dimension, with its symbolic name in params).
type valueInfo struct {
	name     string
	elemType int64
	dims     []int
	params   []string
	msg      pmsg
}

func readValueInfo(m pmsg) (valueInfo, error) {
	vi := valueInfo{name: getStr(m, "name"), msg: m}
	typ := getMsg(m, "type")
	if !has(typ, "tensor_type") {
		return vi, fmt.Errorf("%q is not a tensor", vi.name)
	}
	tt := getMsg(typ, "tensor_type")
	vi.elemType = tt.Get(field(tt, "elem_type")).Int()
	if !has(tt, "shape") {
		return vi, fmt.Errorf("%q has no shape", vi.name)
	}
	dl := list(getMsg(tt, "shape"), "dim")
	for i := range dl.Len() {
		d := dl.Get(i).Message()
		if has(d, "dim_value") && getInt(d, "dim_value") > 0 {
			vi.dims = append(vi.dims, int(getInt(d, "dim_value")))
			vi.params = append(vi.params, "")
		} else {
			vi.dims = append(vi.dims, -1)
			vi.params = append(vi.params, getStr(d, "dim_param"))
		}
	}
	return vi, nil
}

// setDynamicDim makes dimension i of a value info dynamic (dim_param = name).
func setDynamicDim(vi valueInfo, i int, name string) {
	tt := getMsg(getMsg(vi.msg, "type"), "tensor_type")
	d := list(getMsg(tt, "shape"), "dim").Get(i).Message()
	d.Clear(field(d, "dim_value"))
	setStr(d, "dim_param", name)
}

// newTensorValueInfo builds a ValueInfoProto for a float32 tensor of static dimensions.
func newTensorValueInfo(name string, dims []int) (pmsg, error) {
	vi, err := newMsg("onnx.ValueInfoProto")
	if err != nil {
		return nil, err
	}
	setStr(vi, "name", name)
	typ := vi.Mutable(field(vi, "type")).Message()
	tt := typ.Mutable(field(typ, "tensor_type")).Message()
	tt.Set(field(tt, "elem_type"), protoreflect.ValueOfInt32(onnxFloat))
	shape := tt.Mutable(field(tt, "shape")).Message()
	dl := mutList(shape, "dim")
	for _, d := range dims {
		dm := dl.NewElement().Message()
		dm.Set(field(dm, "dim_value"), protoreflect.ValueOfInt64(int64(d)))
		dl.Append(protoreflect.ValueOfMessage(dm))
	}
	return vi, nil
}

var errNotONNX = errors.New("not an ONNX model")

// intConst is a small integer tensor folded from a constant sub-graph.
type intConst struct {
	vals []int64
	dims []int
}

// int64sOfTensor decodes an integer TensorProto (int64 or int32).
func int64sOfTensor(m pmsg) (intConst, bool) {
	var c intConst
	for _, d := range intList(m, "dims") {
		c.dims = append(c.dims, int(d))
	}
	n := 1
	for _, d := range c.dims {
		n *= d
	}
	raw := m.Get(field(m, "raw_data")).Bytes()
	switch m.Get(field(m, "data_type")).Int() {
	case onnxInt64:
		if len(raw) > 0 {
			if len(raw) != 8*n {
				return c, false
			}
			for i := range n {
				c.vals = append(c.vals, int64(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		} else {
			c.vals = intList(m, "int64_data")
		}
	case 6: // int32
		if len(raw) > 0 {
			if len(raw) != 4*n {
				return c, false
			}
			for i := range n {
				c.vals = append(c.vals, int64(int32(binary.LittleEndian.Uint32(raw[4*i:]))))
			}
		} else {
			c.vals = intList(m, "int32_data")
		}
	default:
		return c, false
	}
	return c, len(c.vals) == n
}

// foldInt64 evaluates the integer constant sub-graph that produces name (Constant, ConstantOfShape,
// Concat, Reshape, Slice, Transpose, Cast, Unsqueeze, Squeeze over integer initializers and constants).
// PyTorch computes the pads of F.pad this way; onnx-gomlx v0.5.2 evaluates the reversing Slice in it
// wrongly (the pads come out as no padding), so fisens folds such inputs itself.
func foldInt64(name string, producer map[string]*onnxNode, inits map[string]pmsg, memo map[string]intConst) (intConst, bool) {
	if c, ok := memo[name]; ok {
		return c, true
	}
	if t, ok := inits[name]; ok {
		c, ok := int64sOfTensor(t)
		if ok {
			memo[name] = c
		}
		return c, ok
	}
	n := producer[name]
	if n == nil {
		return intConst{}, false
	}
	arg := func(i int) (intConst, bool) {
		if i >= len(n.inputs) || n.inputs[i] == "" {
			return intConst{}, false
		}
		return foldInt64(n.inputs[i], producer, inits, memo)
	}
	var c intConst
	ok := false
	switch n.op {
	case "Constant":
		if a := n.attribute("value"); a != nil {
			c, ok = int64sOfTensor(getMsg(a, "t"))
		} else if a := n.attribute("value_ints"); a != nil {
			c, ok = intConst{vals: intList(a, "ints"), dims: []int{len(intList(a, "ints"))}}, true
		}
	case "ConstantOfShape":
		shape, sok := arg(0)
		v := intConst{vals: []int64{0}}
		vok := true
		if a := n.attribute("value"); a != nil {
			v, vok = int64sOfTensor(getMsg(a, "t"))
		}
		if sok && vok && len(v.vals) == 1 {
			size := 1
			for _, d := range shape.vals {
				size *= int(d)
				c.dims = append(c.dims, int(d))
			}
			c.vals = make([]int64, size)
			for i := range c.vals {
				c.vals[i] = v.vals[0]
			}
			ok = true
		}
	case "Concat":
		if n.intAttr("axis", 0) == 0 {
			ok = true
			for i := range n.inputs {
				a, aok := arg(i)
				if !aok || len(a.dims) != 1 {
					ok = false
					break
				}
				c.vals = append(c.vals, a.vals...)
			}
			c.dims = []int{len(c.vals)}
		}
	case "Reshape":
		a, aok := arg(0)
		s, sok := arg(1)
		if aok && sok {
			c.vals = a.vals
			known, neg := 1, -1
			for i, d := range s.vals {
				switch {
				case d == -1:
					neg = i
					c.dims = append(c.dims, -1)
				case d == 0 && i < len(a.dims):
					c.dims = append(c.dims, a.dims[i])
					known *= a.dims[i]
				default:
					c.dims = append(c.dims, int(d))
					known *= int(d)
				}
			}
			if neg >= 0 && known > 0 {
				c.dims[neg] = len(a.vals) / known
			}
			ok = true
		}
	case "Cast", "Identity":
		c, ok = arg(0)
	case "Unsqueeze", "Squeeze":
		a, aok := arg(0)
		if aok && len(a.dims) <= 1 {
			c, ok = intConst{vals: a.vals, dims: []int{len(a.vals)}}, true
		}
	case "Transpose":
		a, aok := arg(0)
		perm := n.intsAttr("perm")
		if aok && len(a.dims) == 2 && (perm == nil || (perm[0] == 1 && perm[1] == 0)) {
			r, k := a.dims[0], a.dims[1]
			c.dims = []int{k, r}
			c.vals = make([]int64, r*k)
			for i := range r {
				for j := range k {
					c.vals[j*r+i] = a.vals[i*k+j]
				}
			}
			ok = true
		}
	case "Slice":
		a, aok := arg(0)
		starts, sok := arg(1)
		ends, eok := arg(2)
		if aok && sok && eok {
			axes := make([]int64, len(starts.vals))
			for i := range axes {
				axes[i] = int64(i)
			}
			if ax, ok := arg(3); ok {
				axes = ax.vals
			}
			steps := make([]int64, len(starts.vals))
			for i := range steps {
				steps[i] = 1
			}
			if st, ok := arg(4); ok {
				steps = st.vals
			}
			c, ok = sliceInt(a, starts.vals, ends.vals, axes, steps)
		}
	}
	if ok {
		memo[name] = c
	}
	return c, ok
}

// sliceInt implements ONNX Slice on a small integer tensor.
func sliceInt(a intConst, starts, ends, axes, steps []int64) (intConst, bool) {
	r := len(a.dims)
	lo, step, cnt := make([]int, r), make([]int, r), make([]int, r)
	for i := range r {
		lo[i], step[i], cnt[i] = 0, 1, a.dims[i]
	}
	for i, ax := range axes {
		if ax < 0 {
			ax += int64(r)
		}
		if ax < 0 || int(ax) >= r || steps[i] == 0 {
			return intConst{}, false
		}
		d := int64(a.dims[ax])
		s, e, st := starts[i], ends[i], steps[i]
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		if st > 0 {
			s, e = max(0, min(s, d)), max(0, min(e, d))
			cnt[ax] = int(max(0, (e-s+st-1)/st))
		} else {
			s, e = max(-1, min(s, d-1)), max(-1, min(e, d-1))
			cnt[ax] = int(max(0, (s-e-st-1)/(-st)))
		}
		lo[ax], step[ax] = int(s), int(st)
	}
	var out intConst
	out.dims = cnt
	total := 1
	for _, n := range cnt {
		total *= n
	}
	idx := make([]int, r)
	for range total {
		flat, mul := 0, 1
		for ax := r - 1; ax >= 0; ax-- {
			flat += (lo[ax] + idx[ax]*step[ax]) * mul
			mul *= a.dims[ax]
		}
		out.vals = append(out.vals, a.vals[flat])
		for ax := r - 1; ax >= 0; ax-- {
			idx[ax]++
			if idx[ax] < cnt[ax] {
				break
			}
			idx[ax] = 0
		}
	}
	return out, true
}
