package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/onnx-gomlx/onnx"
	"github.com/gomlx/onnx-gomlx/onnx/parser"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fisens/fisens/backend"
	// Must stay imported by this file: lets compute-onnx and onnx-gomlx, which both register
	// "onnx-ml.proto", be linked into one binary (see package protoconflict).
	_ "github.com/fisens/fisens/internal/protoconflict"
)

// ONNXArch is the Config.Arch of a model loaded from an ONNX file.
const ONNXArch = "onnx"

// ONNXSuffix is the file name suffix that makes Load treat a model reference as an ONNX file.
const ONNXSuffix = ".onnx"

// SidecarSuffix is appended to an ONNX file's path to name its optional sidecar (ONNXSidecar, JSON):
// model.onnx → model.onnx.json.
const SidecarSuffix = ".json"

// Output kinds of an ONNX classifier (ONNXOptions.Output, ONNXInfo.Output).
const (
	OutputLogits   = "logits"
	OutputLogProbs = "log-probabilities"
	OutputProbs    = "probabilities"
)

// Input layouts (ONNXOptions.Layout, ONNXInfo.Layout).
const (
	LayoutNCHW = "NCHW" // PyTorch
	LayoutNHWC = "NHWC" // Keras / TensorFlow
)

// ONNXOptions configure LoadONNX. Zero values mean: take it from the sidecar file (ONNXSidecar), else
// from the model, else the documented default.
type ONNXOptions struct {
	// Layout of the model's input, "NCHW" or "NHWC"; "" decides from the input shape (the axis of
	// size 1, 3 or 4 next to the batch axis is the channel axis). fisens always feeds images as
	// [B, H, W, C]; an NCHW model gets them transposed inside its graph.
	Layout string
	// Scale multiplies the raw 0–255 pixels (1/255 for torchvision's ToTensor, 1 for a model that
	// takes raw pixels); 0 → sidecar, else 1/255.
	Scale float64
	// Mean and Std normalise each channel after scaling: (x·Scale − Mean[c]) / Std[c]. nil → sidecar,
	// else 0 and 1 (no normalisation). One value applies to every channel.
	Mean, Std []float64
	// Output says what the model outputs: OutputLogits, OutputLogProbs or OutputProbs; "" detects it
	// (a final Softmax node → probabilities, LogSoftmax → log-probabilities, else logits).
	Output string
	// Height and Width fix the image size of a model whose input has dynamic spatial dimensions.
	Height, Width int
	// AllowUnverifiedOps loads a model whose data path uses operators that onnx-gomlx converts but
	// fisens has not verified (see ONNXOps); by default that is an error naming them.
	AllowUnverifiedOps bool
	// NoSidecar ignores PATH.json.
	NoSidecar bool
}

// ONNXSidecar is the optional JSON file next to an ONNX model (model.onnx.json) that records what the
// ONNX file cannot: preprocessing, dataset, class names. Every field is optional; ONNXOptions override it.
type ONNXSidecar struct {
	Format             int       `json:"format,omitempty"`
	Dataset            string    `json:"dataset,omitempty"` // dataset the model was trained on (datasets.Load name)
	SplitSeed          int64     `json:"split_seed,omitempty"`
	Layout             string    `json:"layout,omitempty"`
	Scale              float64   `json:"scale,omitempty"`
	Mean               []float64 `json:"mean,omitempty"`
	Std                []float64 `json:"std,omitempty"`
	Output             string    `json:"output,omitempty"`
	ClassNames         []string  `json:"class_names,omitempty"`
	AllowUnverifiedOps bool      `json:"allow_unverified_ops,omitempty"`
	Note               string    `json:"note,omitempty"`
	// Anything else (e.g. the accuracy measured by the exporting framework) is kept in Extra.
	Extra map[string]json.RawMessage `json:"-"`
}

// Preprocessing is what is applied to the raw 0–255 pixels before the network: (x·Scale − Mean[c]) / Std[c].
type Preprocessing struct {
	Scale  float64   `json:"scale"`
	Mean   []float64 `json:"mean"`
	Std    []float64 `json:"std"`
	Source string    `json:"source"` // where the values came from: options, the sidecar file, or the default
}

// ONNXLayer is one perturbation group of an ONNX model: the initializers consumed by one node (a
// conv kernel and bias, a batch norm's scale and shift with its running statistics, a dense kernel and
// its bias), stored as variables of one scope.
type ONNXLayer struct {
	Scope        string   `json:"scope"` // the variables' scope, e.g. "/conv_layer1.0.conv1"
	Kind         string   `json:"kind"`  // conv, bn, dense or other (fisens.LayerKind of Scope)
	Node         string   `json:"node"`  // the consuming ONNX node's name (or #index)
	Op           string   `json:"op"`
	Initializers []string `json:"initializers"` // ONNX initializer names, in Vars order
	Vars         []string `json:"vars"`         // variable paths
	Trainable    []bool   `json:"trainable"`    // per variable (running statistics are not)
}

// ONNXInfo records how an ONNX model was read; it is part of the model's Config (Config.ONNX), so
// everything that records a Config records it.
type ONNXInfo struct {
	File          string        `json:"file"`
	SHA256        string        `json:"sha256"`
	Producer      string        `json:"producer,omitempty"`
	Opset         int64         `json:"opset"`
	Input         string        `json:"input"`       // the ONNX input's name
	InputShape    []int         `json:"input_shape"` // as declared (-1: dynamic)
	Layout        string        `json:"layout"`
	LayoutSource  string        `json:"layout_source"`
	Preprocessing Preprocessing `json:"preprocessing"`
	Output        string        `json:"output"`        // what the model outputs (logits, log-probabilities, probabilities)
	OutputSource  string        `json:"output_source"` // detected (which node) or given
	OutputName    string        `json:"output_name"`   // the ONNX output used
	LogitsFrom    string        `json:"logits_from"`   // the ONNX tensor fisens uses, and how it becomes logits
	Ops           []string      `json:"ops"`           // operator types in the graph
	Layers        []ONNXLayer   `json:"layers"`        // perturbation groups
	Sidecar       string        `json:"sidecar,omitempty"`
	Dataset       string        `json:"dataset,omitempty"`
	ClassNames    []string      `json:"class_names,omitempty"`
	Notes         []string      `json:"notes,omitempty"` // rewrites and anything else a reader should know
	Unverified    []string      `json:"unverified_ops,omitempty"`
	SidecarNote   string        `json:"sidecar_note,omitempty"`
	sidecarExtra  map[string]json.RawMessage
	onnxModel     onnx.Model
	onnxMu        *sync.Mutex
	paramInputs   []paramInput
	outputConvert string
}

// SidecarExtra returns the sidecar's fields that fisens does not interpret (raw JSON), e.g. the accuracy
// the exporting framework measured.
func (i *ONNXInfo) SidecarExtra() map[string]json.RawMessage { return i.sidecarExtra }

// paramInput ties an ONNX initializer turned into a graph input to its variable.
type paramInput struct {
	onnxName string
	varPath  string
	perm     []int // the variable is the initializer transposed by perm (nil: as is)
}

// IsONNXRef reports whether a model reference names an ONNX file (by its suffix).
func IsONNXRef(ref string) bool { return strings.HasSuffix(strings.ToLower(ref), ONNXSuffix) }

// ONNX returns how the model was read from its ONNX file, or nil for a model defined in Go.
func (m *Model) ONNX() *ONNXInfo { return m.cfg.ONNX }

// verifiedOps are the operators fisens accepts on the data path (the tensors that depend on the
// image): the CNN operator set of issue 11, plus layout and elementwise helpers whose conversion is
// a single GoMLX op. Operators elsewhere (shape computations on constants) only need a converter.
var verifiedOps = map[string]bool{
	"Conv": true, "BatchNormalization": true, "Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true,
	"Clip": true, "MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "Gemm": true, "MatMul": true,
	"Add": true, "Mul": true, "Concat": true, "Flatten": true, "Reshape": true, "Pad": true, "Dropout": true,
	"Softmax": true, "LogSoftmax": true,
	// Helpers (single GoMLX ops).
	"Identity": true, "Transpose": true, "Sub": true, "Div": true, "Squeeze": true, "Unsqueeze": true, "ReduceMean": true,
}

// convertibleOps are the operators onnx-gomlx v0.5.2 converts (the switch of its
// internal/onnxgomlx/graph.go; TestONNXConvertibleOpsList checks the list against the module's
// source), plus the ones fisens rewrites before conversion.
var convertibleOps = map[string]bool{}

func init() {
	for _, op := range strings.Fields(`Add Sub Mul Div Mod Pow And Or Xor BitwiseAnd BitwiseOr BitwiseXor Equal Less
		LessOrEqual Greater GreaterOrEqual Sqrt Exp Log Erf Relu Gelu FastGelu Abs Neg Sign Ceil Floor Identity Not
		BitwiseNot Tanh Sin Cos Sigmoid HardSwish IsNaN Reciprocal MatMul Einsum Clip Where Min Max Constant Gather
		GatherElements GatherND Shape Size Concat Softmax Cast Transpose Gemm Flatten DequantizeLinear QuantizeLinear
		MatMulInteger QLinearMatMul Squeeze Unsqueeze Slice Reshape ReduceMean ReduceMax ReduceMin ReduceSum ReduceProd
		ReduceL2 NonZero ConstantOfShape Expand Tile Range CumSum LSTM Conv AveragePool MaxPool GlobalAveragePool Resize
		BatchNormalization LayerNormalization SimplifiedLayerNormalization RotaryEmbedding MultiHeadAttention
		GroupQueryAttention Pad DynamicQuantizeLinear Split Trilu ScatterND If TopK ArgMax ArgMin`) {
		convertibleOps[op] = true
	}
	// Rewritten by fisens before conversion (rewriteONNX).
	convertibleOps["Dropout"] = true
	convertibleOps["LeakyRelu"] = true
	convertibleOps["LogSoftmax"] = true
}

// ONNXOps returns the operators fisens accepts on an ONNX model's data path (verified) and the
// larger set onnx-gomlx converts (accepted only on constant sub-graphs, or everywhere with
// ONNXOptions.AllowUnverifiedOps), both sorted.
func ONNXOps() (verified, convertible []string) {
	for op := range verifiedOps {
		verified = append(verified, op)
	}
	for op := range convertibleOps {
		convertible = append(convertible, op)
	}
	sort.Strings(verified)
	sort.Strings(convertible)
	return verified, convertible
}

// onnxError prefixes every LoadONNX error with the file.
func onnxError(path, format string, args ...any) error {
	return fmt.Errorf("models: ONNX model %s: %s", path, fmt.Sprintf(format, args...))
}

// LoadONNX loads an image classifier from an ONNX file (exported by PyTorch, Keras/tf2onnx, …) as a
// Model: the same kind of model as the Go-defined ones, usable by every measure of fisens.
//
// What it decides and records (Config().ONNX):
//   - the input layout from the input shape (NCHW or NHWC; ONNXOptions.Layout overrides), the image
//     size and channels from it, the number of classes from the output shape;
//   - the preprocessing applied to the raw 0–255 pixels inside the graph (options, else the sidecar
//     PATH.json, else pixels/255);
//   - what the output is: a final Softmax or LogSoftmax is detected and its input is used as the
//     logits (exactly the same probabilities); an output declared as probabilities without a final
//     Softmax becomes log-probabilities by a logarithm (noted: less accurate for tiny probabilities);
//   - the perturbation groups (layers): the float initializers a node consumes (conv kernel + bias,
//     batch norm scale + shift with its running statistics, dense kernel + bias), each group in its
//     own scope; running statistics are not trainable.
//
// Errors name the file and what was expected: not an ONNX model, not an image classifier (one image
// input of rank 4, one [batch, classes] output), an operator outside the verified set (naming it,
// its node and which backends can run it), a layout that gives an impossible channel count, a NaN
// or infinite weight, a model that does not convert.
func LoadONNX(path string, opts ONNXOptions) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("models: ONNX model: %w", err)
	}
	sum := sha256.Sum256(data)
	info := &ONNXInfo{File: path, SHA256: hex.EncodeToString(sum[:]), onnxMu: &sync.Mutex{}}

	// Sidecar.
	var side ONNXSidecar
	if !opts.NoSidecar {
		sp := path + SidecarSuffix
		if sd, err := os.ReadFile(sp); err == nil {
			if err := json.Unmarshal(sd, &side); err != nil {
				return nil, onnxError(path, "sidecar %s is not valid JSON: %v", sp, err)
			}
			var all map[string]json.RawMessage
			if json.Unmarshal(sd, &all) == nil {
				known := map[string]bool{"format": true, "dataset": true, "split_seed": true, "layout": true, "scale": true, "mean": true,
					"std": true, "output": true, "class_names": true, "allow_unverified_ops": true, "note": true}
				side.Extra = map[string]json.RawMessage{}
				for k, v := range all {
					if !known[k] {
						side.Extra[k] = v
					}
				}
			}
			info.Sidecar = sp
			info.Dataset = side.Dataset
			info.ClassNames = side.ClassNames
			info.SidecarNote = side.Note
			info.sidecarExtra = side.Extra
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, onnxError(path, "reading sidecar %s: %v", sp, err)
		}
	}

	mp, err := parseModelProto(data)
	if err != nil {
		return nil, onnxError(path, "not an ONNX model (expected an ONNX ModelProto as written by torch.onnx.export or tf2onnx; protobuf: %v)", err)
	}
	if getInt(mp, "ir_version") <= 0 || !has(mp, "graph") || list(getMsg(mp, "graph"), "node").Len() == 0 {
		return nil, onnxError(path, "not an ONNX model (expected an ONNX ModelProto with an ir_version and a graph of nodes, as written by torch.onnx.export or tf2onnx)")
	}
	info.Producer = strings.TrimSpace(getStr(mp, "producer_name") + " " + getStr(mp, "producer_version"))
	ol := list(mp, "opset_import")
	for i := range ol.Len() {
		o := ol.Get(i).Message()
		if d := getStr(o, "domain"); d == "" || d == "ai.onnx" {
			info.Opset = getInt(o, "version")
		}
	}
	g := mp.Mutable(field(mp, "graph")).Message()
	if list(g, "sparse_initializer").Len() > 0 {
		return nil, onnxError(path, "sparse initializers are not supported (expected dense weights)")
	}

	// Nodes, initializers, inputs, outputs.
	nl := list(g, "node")
	nodes := make([]*onnxNode, nl.Len())
	for i := range nodes {
		nodes[i] = readNode(i, nl.Get(i).Message())
	}
	inits := map[string]*onnxTensor{}
	il := list(g, "initializer")
	var initOrder []string
	for i := range il.Len() {
		t, err := readTensor(il.Get(i).Message())
		if err != nil {
			return nil, onnxError(path, "%v", err)
		}
		if t.external {
			return nil, onnxError(path, "initializer %q is stored in an external data file; fisens reads self-contained ONNX files (expected weights inside the .onnx; re-export without external data)", t.name)
		}
		if i, v := t.firstNonFinite(); i >= 0 {
			return nil, onnxError(path, "initializer %q (dimensions %v) has a non-finite value %v at flat index %d: expected finite weights (was the model diverged or the export broken?)", t.name, t.dims, v, i)
		}
		inits[t.name] = t
		initOrder = append(initOrder, t.name)
	}
	var inputs []valueInfo
	inl := list(g, "input")
	for i := range inl.Len() {
		vi, err := readValueInfo(inl.Get(i).Message())
		if err != nil {
			if _, isInit := inits[getStr(inl.Get(i).Message(), "name")]; isInit {
				continue
			}
			return nil, onnxError(path, "input %v: expected an image tensor input", err)
		}
		if _, isInit := inits[vi.name]; isInit { // older exports list initializers as inputs too
			continue
		}
		inputs = append(inputs, vi)
	}
	if len(inputs) != 1 {
		names := make([]string, len(inputs))
		for i, in := range inputs {
			names[i] = in.name
		}
		return nil, onnxError(path, "has %d inputs %q: expected an image classifier with exactly one image input", len(inputs), names)
	}
	in := inputs[0]
	info.Input, info.InputShape = in.name, append([]int(nil), in.dims...)
	if in.elemType != onnxFloat {
		return nil, onnxError(path, "input %q has element type %d: expected float32 (ONNX type 1); float64 and integer inputs are not supported", in.name, in.elemType)
	}
	if len(in.dims) != 4 {
		return nil, onnxError(path, "input %q has shape %s: expected an image batch [batch, C, H, W] (PyTorch) or [batch, H, W, C] (Keras) — is this an image classifier?", in.name, dimsString(in.dims))
	}
	outl := list(g, "output")
	if outl.Len() == 0 {
		return nil, onnxError(path, "the graph has no output: expected one [batch, classes] output")
	}
	out, err := readValueInfo(outl.Get(0).Message())
	if err != nil {
		return nil, onnxError(path, "output %v: expected a [batch, classes] tensor", err)
	}
	if outl.Len() > 1 {
		info.Notes = append(info.Notes, fmt.Sprintf("the model has %d outputs; the first, %q, is used as the classifier output", outl.Len(), out.name))
	}
	info.OutputName = out.name
	if len(out.dims) != 2 {
		return nil, onnxError(path, "output %q has shape %s: expected a classifier output [batch, classes] — is this an image classifier?", out.name, dimsString(out.dims))
	}

	// Layout and image size.
	layout, layoutSrc := opts.Layout, "ONNXOptions.Layout"
	if layout == "" && side.Layout != "" {
		layout, layoutSrc = side.Layout, "sidecar "+info.Sidecar
	}
	isCh := func(d int) bool { return d == 1 || d == 3 || d == 4 }
	if layout == "" {
		d1, d3 := in.dims[1], in.dims[3]
		switch {
		case isCh(d1) && !isCh(d3):
			layout = LayoutNCHW
		case isCh(d3) && !isCh(d1):
			layout = LayoutNHWC
		default:
			return nil, onnxError(path, "cannot tell the layout of input %q of shape %s (expected [batch, C, H, W] or [batch, H, W, C] with C = 1, 3 or 4): pass the layout (ONNXOptions.Layout or \"layout\" in %s)",
				in.name, dimsString(in.dims), path+SidecarSuffix)
		}
		layoutSrc = fmt.Sprintf("input shape %s", dimsString(in.dims))
	}
	layout = strings.ToUpper(layout)
	var h, w, c int
	switch layout {
	case LayoutNCHW:
		c, h, w = in.dims[1], in.dims[2], in.dims[3]
	case LayoutNHWC:
		h, w, c = in.dims[1], in.dims[2], in.dims[3]
	default:
		return nil, onnxError(path, "layout %q: expected NCHW or NHWC", layout)
	}
	if !isCh(c) {
		return nil, onnxError(path, "layout %s (%s) makes input %q of shape %s have %d channels: expected 1, 3 or 4 channels — wrong layout?",
			layout, layoutSrc, in.name, dimsString(in.dims), c)
	}
	if opts.Height > 0 || opts.Width > 0 {
		if (h > 0 && opts.Height > 0 && h != opts.Height) || (w > 0 && opts.Width > 0 && w != opts.Width) {
			return nil, onnxError(path, "input %q takes %dx%d images, options ask for %dx%d", in.name, h, w, opts.Height, opts.Width)
		}
		if opts.Height > 0 {
			h = opts.Height
		}
		if opts.Width > 0 {
			w = opts.Width
		}
	}
	if h <= 0 || w <= 0 {
		return nil, onnxError(path, "input %q of shape %s has a dynamic image size: pass ONNXOptions.Height and Width", in.name, dimsString(in.dims))
	}
	info.Layout, info.LayoutSource = layout, layoutSrc

	// Preprocessing.
	pre := Preprocessing{Scale: 1.0 / 255, Source: "default (pixels/255, no normalisation: torchvision's ToTensor)"}
	var srcs []string
	if side.Scale != 0 || side.Mean != nil || side.Std != nil {
		srcs = append(srcs, "sidecar "+info.Sidecar)
	}
	if side.Scale != 0 {
		pre.Scale = side.Scale
	}
	pre.Mean, pre.Std = side.Mean, side.Std
	if opts.Scale != 0 || opts.Mean != nil || opts.Std != nil {
		srcs = append(srcs, "ONNXOptions")
	}
	if opts.Scale != 0 {
		pre.Scale = opts.Scale
	}
	if opts.Mean != nil {
		pre.Mean = opts.Mean
	}
	if opts.Std != nil {
		pre.Std = opts.Std
	}
	if len(srcs) > 0 {
		pre.Source = strings.Join(srcs, ", then ")
	}
	expand := func(name string, v []float64, def float64) ([]float64, error) {
		switch len(v) {
		case 0:
			v = []float64{def}
			fallthrough
		case 1:
			out := make([]float64, c)
			for i := range out {
				out[i] = v[0]
			}
			return out, nil
		case c:
			return v, nil
		}
		return nil, onnxError(path, "preprocessing %s has %d values: expected 1 or one per channel (%d)", name, len(v), c)
	}
	if pre.Mean, err = expand("mean", pre.Mean, 0); err != nil {
		return nil, err
	}
	if pre.Std, err = expand("std", pre.Std, 1); err != nil {
		return nil, err
	}
	if !(pre.Scale > 0) || math.IsInf(pre.Scale, 0) {
		return nil, onnxError(path, "preprocessing scale %v: expected a finite positive number", pre.Scale)
	}
	for i, s := range pre.Std {
		if !(s > 0) || math.IsInf(s, 0) || math.IsNaN(pre.Mean[i]) || math.IsInf(pre.Mean[i], 0) {
			return nil, onnxError(path, "preprocessing channel %d: mean %v, std %v: expected finite values and std > 0", i, pre.Mean[i], pre.Std[i])
		}
	}
	info.Preprocessing = pre

	// Analysis: producers, consumers, data path.
	producer := map[string]*onnxNode{}
	consumers := map[string][]*onnxNode{}
	opSet := map[string]bool{}
	for _, n := range nodes {
		opSet[n.op] = true
		for _, o := range n.outputs {
			producer[o] = n
		}
		for _, i := range n.inputs {
			if i != "" {
				consumers[i] = append(consumers[i], n)
			}
		}
	}
	for op := range opSet {
		info.Ops = append(info.Ops, op)
	}
	sort.Strings(info.Ops)
	dataPath := map[string]bool{in.name: true}
	for _, n := range nodes {
		onPath := false
		for _, i := range n.inputs {
			onPath = onPath || dataPath[i]
		}
		if !onPath || n.op == "Shape" || n.op == "Size" { // a shape is known statically
			continue
		}
		for _, o := range n.outputs {
			dataPath[o] = true
		}
		if n.domain != "" && n.domain != "ai.onnx" {
			return nil, onnxError(path, "operator %s of domain %q (%s): custom operator domains are not supported; no backend can run it (expected standard ONNX operators)", n.op, n.domain, n)
		}
		if !convertibleOps[n.op] {
			return nil, onnxError(path, "operator %s (%s) is not supported: no backend can run it, because onnx-gomlx v0.5.2 (the ONNX importer) has no converter for it; fisens accepts %s",
				n.op, n, strings.Join(sortedKeys(verifiedOps), ", "))
		}
		if !verifiedOps[n.op] {
			if !slices.Contains(info.Unverified, n.op) {
				info.Unverified = append(info.Unverified, n.op)
			}
			if !opts.AllowUnverifiedOps && !side.AllowUnverifiedOps {
				return nil, onnxError(path, "operator %s (%s) is outside the operator set fisens verifies (%s): onnx-gomlx converts it to GoMLX ops, so the XLA backend (build tag xla) runs it with gradients; on the pure-Go (go) and ONNX Runtime (onnx:cpu) backends it is unverified and may lack a gradient. Load anyway with ONNXOptions.AllowUnverifiedOps or \"allow_unverified_ops\": true in %s",
					n.op, n, strings.Join(sortedKeys(verifiedOps), ", "), path+SidecarSuffix)
			}
		}
	}
	if !dataPath[out.name] {
		return nil, onnxError(path, "output %q does not depend on the input %q: expected a classifier", out.name, in.name)
	}
	if len(info.Unverified) > 0 {
		info.Notes = append(info.Notes, fmt.Sprintf("operators outside the verified set on the data path (loaded with AllowUnverifiedOps): %s", strings.Join(info.Unverified, ", ")))
	}

	// Output kind.
	outNode := producer[out.name]
	for outNode != nil && (outNode.op == "Identity" || outNode.op == "Dropout") && len(outNode.inputs) > 0 {
		outNode = producer[outNode.inputs[0]]
	}
	detected := OutputLogits
	if outNode != nil && outNode.op == "Softmax" {
		detected = OutputProbs
	} else if outNode != nil && outNode.op == "LogSoftmax" {
		detected = OutputLogProbs
	}
	kind, kindSrc := detected, "detected: "
	switch {
	case opts.Output != "":
		kind, kindSrc = opts.Output, "ONNXOptions.Output; detected "
	case side.Output != "":
		kind, kindSrc = side.Output, "sidecar; detected "
	}
	switch kind {
	case OutputLogits, OutputLogProbs, OutputProbs:
	default:
		return nil, onnxError(path, "output kind %q: expected %s, %s or %s", kind, OutputLogits, OutputLogProbs, OutputProbs)
	}
	if detected == OutputLogits {
		kindSrc += "the output is not produced by a Softmax or LogSoftmax node"
	} else {
		kindSrc += fmt.Sprintf("the output is produced by %s", outNode)
	}
	info.Output, info.OutputSource = kind, kindSrc
	usedOutput := out.name
	switch {
	case detected != OutputLogits && kind == detected:
		axis := outNode.intAttr("axis", -1)
		if info.Opset < 13 {
			axis = outNode.intAttr("axis", 1)
		}
		if axis != 1 && axis != -1 {
			return nil, onnxError(path, "final %s is over axis %d: expected the class axis (1) of a [batch, classes] output", outNode, axis)
		}
		usedOutput = outNode.inputs[0]
		info.LogitsFrom = fmt.Sprintf("%q, the input of the final %s: used as the logits (softmax of it is exactly the model's probabilities)", usedOutput, outNode)
	case kind == OutputProbs:
		info.outputConvert = "log"
		info.LogitsFrom = fmt.Sprintf("log of output %q (declared probabilities, no final Softmax found): log-probabilities serve as logits; NOTE: probabilities that underflow to 0 give −Inf, and small ones lose relative precision in float32", out.name)
	case kind == OutputLogProbs:
		info.LogitsFrom = fmt.Sprintf("output %q as it is (log-probabilities serve as logits: their softmax is the probabilities)", out.name)
	default:
		info.LogitsFrom = fmt.Sprintf("output %q as it is (logits)", out.name)
	}
	if detected != OutputLogits && kind != detected {
		info.Notes = append(info.Notes, fmt.Sprintf("the output was declared %s although %s ends the graph; the declared kind is used", kind, outNode))
	}

	// Rewrites for onnx-gomlx, then parameters become graph inputs.
	var added []string
	if err := rewriteONNX(g, nodes, inits, consumers, &usedOutput, info, &added); err != nil {
		return nil, onnxError(path, "%v", err)
	}
	initOrder = append(initOrder, added...)
	// The rewrite changed the node list: read it again.
	nl = list(g, "node")
	nodes = nodes[:0]
	for i := range nl.Len() {
		nodes = append(nodes, readNode(i, nl.Get(i).Message()))
	}
	consumers = map[string][]*onnxNode{}
	producer = map[string]*onnxNode{}
	for _, n := range nodes {
		for _, o := range n.outputs {
			producer[o] = n
		}
		for _, i := range n.inputs {
			if i != "" {
				consumers[i] = append(consumers[i], n)
			}
		}
	}
	groups, err := groupParams(nodes, inits, initOrder, consumers, producer, dataPath)
	if err != nil {
		return nil, onnxError(path, "%v", err)
	}
	// Move the parameters from the initializers to the graph inputs, and make the batch dynamic.
	isParam := map[string]bool{}
	for _, gr := range groups {
		for _, p := range gr.params {
			isParam[p.init] = true
		}
	}
	removeNamed(mutList(g, "initializer"), isParam)
	removeNamed(mutList(g, "input"), isParam)
	for _, gr := range groups {
		for _, p := range gr.params {
			vi, err := newTensorValueInfo(p.init, inits[p.init].dims)
			if err != nil {
				return nil, onnxError(path, "%v", err)
			}
			inl.Append(protoreflect.ValueOfMessage(vi))
		}
	}
	if in.dims[0] != -1 {
		info.Notes = append(info.Notes, fmt.Sprintf("input %q had a fixed batch size %d; made dynamic", in.name, in.dims[0]))
	}
	setDynamicDim(in, 0, "batch")
	rewritten, err := proto.Marshal(mp.Interface())
	if err != nil {
		return nil, onnxError(path, "re-encoding after the rewrite: %v", err)
	}
	var om onnx.Model
	err = catch(func() error {
		var err error
		om, err = parser.Parse(rewritten)
		return err
	})
	if err != nil {
		return nil, onnxError(path, "onnx-gomlx cannot parse it: %v", err)
	}
	om = om.WithBaseDir(filepath.Dir(path))
	info.onnxModel = om

	// Variables: parameters in their groups' scopes, constants in /ONNX (not trainable).
	store := model.NewStore()
	err = catch(func() error {
		if err := om.VariablesToScope(store.RootScope()); err != nil {
			return err
		}
		for v := range store.IterVariables() {
			v.SetTrainable(false)
		}
		for _, gr := range groups {
			l := ONNXLayer{Scope: gr.scope, Kind: gr.kind, Node: gr.node, Op: gr.op}
			for _, p := range gr.params {
				t := inits[p.init]
				vals := t.f32
				if t.dataType == onnxDouble {
					return fmt.Errorf("initializer %q is float64: expected a float32 model", t.name)
				}
				vals, dims := transposeFlat(vals, t.dims, p.perm)
				v := store.VariableWithValue(p.path, tensors.FromFlatDataAndDimensions(vals, dims...))
				v.SetTrainable(p.trainable)
				l.Initializers = append(l.Initializers, p.init)
				l.Vars = append(l.Vars, p.path)
				l.Trainable = append(l.Trainable, p.trainable)
				info.paramInputs = append(info.paramInputs, paramInput{onnxName: p.init, varPath: p.path, perm: p.perm})
			}
			info.Layers = append(info.Layers, l)
		}
		for _, pi := range info.paramInputs {
			if pi.perm != nil {
				info.Notes = append(info.Notes, "conv and Gemm(transB) kernels are stored with their units on the last axis ([kh, kw, in, out], [in, out]) like fisens' own models, and transposed back in the graph")
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, onnxError(path, "loading the weights: %v", err)
	}

	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	_ = name
	cfg := Config{Arch: ONNXArch, Height: h, Width: w, Channels: c, InputScale: "raw255", ONNX: info}
	m := &Model{cfg: cfg, store: store, build: buildONNX(info, usedOutput)}

	// Build the graph once (no execution) to catch conversion errors and read the number of classes.
	k, err := m.onnxClasses()
	if err != nil {
		return nil, onnxError(path, "converting the graph for a %dx%dx%d input (%s): %v", h, w, c, layout, err)
	}
	if out.dims[1] > 0 && out.dims[1] != k {
		return nil, onnxError(path, "output %q declares %d classes, the graph computes %d", out.name, out.dims[1], k)
	}
	if k < 2 {
		return nil, onnxError(path, "output %q has %d class(es): expected a classifier with at least 2 classes", out.name, k)
	}
	if len(info.ClassNames) > 0 && len(info.ClassNames) != k {
		return nil, onnxError(path, "sidecar names %d classes, the model has %d", len(info.ClassNames), k)
	}
	m.cfg.Classes = k
	return m, nil
}

// onnxClasses builds the inference graph once on the pure-Go backend (nothing is executed) and
// returns K from the logits' shape.
func (m *Model) onnxClasses() (int, error) {
	b, err := backend.New("go")
	if err != nil {
		return 0, err
	}
	k := 0
	err = catch(func() error {
		g := graph.NewGraph(b, "fisens_onnx_check")
		defer g.Finalize()
		model.SetStore(g, m.store)
		m.store.SetTraining(g, false)
		x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, m.cfg.Height, m.cfg.Width, m.cfg.Channels))
		logits := m.Logits(m.store.RootScope(), x)
		if s := logits.Shape(); s.Rank() != 2 || s.Dimensions[0] != 1 {
			return fmt.Errorf("the output has shape %s for one image: expected [1, classes]", s)
		}
		k = logits.Shape().Dimensions[1]
		return nil
	})
	return k, err
}

// buildONNX returns the Builder of an ONNX model: preprocessing, layout, the converted graph, and
// the conversion of its output to logits.
func buildONNX(info *ONNXInfo, usedOutput string) Builder {
	return func(cfg Config, scope *model.Scope, x *graph.Node) *graph.Node {
		g := x.Graph()
		store := scope.Store()
		pre := info.Preprocessing
		if x.DType() != dtypes.Float32 {
			x = graph.ConvertDType(x, dtypes.Float32)
		}
		if pre.Scale != 1 {
			x = graph.MulScalar(x, pre.Scale)
		}
		c := cfg.Channels
		mean, inv := make([]float32, c), make([]float32, c)
		trivial := true
		for i := range c {
			mean[i], inv[i] = float32(pre.Mean[i]), float32(1/pre.Std[i])
			trivial = trivial && pre.Mean[i] == 0 && pre.Std[i] == 1
		}
		if !trivial {
			x = graph.Mul(graph.Sub(x, graph.Reshape(graph.Const(g, mean), 1, 1, 1, c)), graph.Reshape(graph.Const(g, inv), 1, 1, 1, c))
		}
		if cfg.ONNX.Layout == LayoutNCHW {
			x = graph.TransposeAllAxes(x, 0, 3, 1, 2)
		}
		inputs := map[string]*graph.Node{info.Input: x}
		for _, p := range info.paramInputs {
			v := store.GetVariable(p.varPath)
			if v == nil {
				panic(fmt.Errorf("models: ONNX model %s: variable %s (initializer %q) is missing from the store", info.File, p.varPath, p.onnxName))
			}
			val := v.NodeValue(g)
			if p.perm != nil {
				val = graph.TransposeAllAxes(val, inversePerm(p.perm)...)
			}
			inputs[p.onnxName] = val
		}
		info.onnxMu.Lock()
		out := info.onnxModel.CallGraph(store.RootScope(), g, inputs, usedOutput)[0]
		info.onnxMu.Unlock()
		if out.DType() != dtypes.Float32 {
			out = graph.ConvertDType(out, dtypes.Float32)
		}
		if out.Rank() != 2 {
			out = graph.Reshape(out, out.Shape().Dimensions[0], -1)
		}
		if info.outputConvert == "log" {
			out = graph.Log(out)
		}
		return out
	}
}

// paramSpec is one initializer that becomes a variable.
type paramSpec struct {
	init      string
	path      string
	trainable bool
	perm      []int // stored = Transpose(ONNX value, perm); nil: stored as in the file (unitsLastPerm)
}

type paramGroup struct {
	scope, kind, node, op string
	params                []paramSpec
}

// groupParams decides which float initializers are parameters (consumed as weights by Conv,
// BatchNormalization, Gemm, MatMul, or as a non-scalar operand of an elementwise op on the data
// path) and groups them by their first consuming node; a bias Add right after a MatMul joins the
// MatMul's group. Other initializers (shapes, pads, clip bounds, scalars) stay constants.
func groupParams(nodes []*onnxNode, inits map[string]*onnxTensor, order []string, consumers map[string][]*onnxNode,
	producer map[string]*onnxNode, dataPath map[string]bool) ([]*paramGroup, error) {
	type role struct {
		node      *onnxNode
		varName   string
		trainable bool
		perm      []int
	}
	roles := map[string]role{}
	isFloatInit := func(name string) bool {
		t, ok := inits[name]
		return ok && t.isFloat() && t.size() > 1
	}
	assign := func(name string, n *onnxNode, varName string, trainable bool) {
		if _, done := roles[name]; done || !isFloatInit(name) {
			return
		}
		roles[name] = role{n, varName, trainable, unitsLastPerm(n, name, len(inits[name].dims))}
	}
	mergedInto := map[*onnxNode]*onnxNode{}
	for _, n := range nodes {
		switch n.op {
		case "Conv", "ConvTranspose":
			for i, vn := range []string{"", "weights", "biases"} {
				if i > 0 && i < len(n.inputs) {
					assign(n.inputs[i], n, vn, true)
				}
			}
		case "BatchNormalization":
			for i, vn := range []string{"", "gamma", "beta", "mean", "variance"} {
				if i > 0 && i < len(n.inputs) {
					assign(n.inputs[i], n, vn, i <= 2)
				}
			}
		case "Gemm":
			for i, vn := range []string{"weights", "weights", "biases"} {
				if i < len(n.inputs) {
					assign(n.inputs[i], n, vn, true)
				}
			}
		case "MatMul":
			for _, i := range n.inputs {
				assign(i, n, "weights", true)
			}
		case "Add", "Sub", "Mul", "Div", "PRelu":
			// A non-scalar float initializer combined with a data-path tensor is a parameter.
			hasData := false
			for _, i := range n.inputs {
				hasData = hasData || dataPath[i]
			}
			if !hasData {
				continue
			}
			for _, i := range n.inputs {
				if !isFloatInit(i) {
					continue
				}
				vn := "param"
				if n.op == "Add" {
					// Bias of a MatMul whose only consumer is this Add.
					for _, j := range n.inputs {
						if p := producer[j]; p != nil && p.op == "MatMul" && len(consumers[j]) == 1 {
							mergedInto[n] = p
							vn = "biases"
						}
					}
				}
				assign(i, n, vn, true)
			}
		}
	}
	byNode := map[*onnxNode]*paramGroup{}
	var groups []*paramGroup
	used := map[string]int{}
	for _, name := range order {
		r, ok := roles[name]
		if !ok {
			continue
		}
		n := r.node
		if m := mergedInto[n]; m != nil && r.varName == "biases" {
			n = m
		}
		gr := byNode[n]
		if gr == nil {
			kind := "other"
			switch n.op {
			case "Conv", "ConvTranspose":
				kind = "conv"
			case "BatchNormalization":
				kind = "bn"
			case "Gemm", "MatMul":
				kind = "dense"
			}
			base := groupBase(n, inits, roles)
			scope := "/" + kind + "_" + base
			used[scope]++
			if used[scope] > 1 {
				scope = fmt.Sprintf("%s_%d", scope, used[scope])
			}
			nodeName := n.name
			if nodeName == "" {
				nodeName = fmt.Sprintf("#%d", n.index)
			}
			gr = &paramGroup{scope: scope, kind: kind, node: nodeName, op: n.op}
			byNode[n] = gr
			groups = append(groups, gr)
		}
		vn := r.varName
		if vn == "param" {
			vn = sanitizeScopeName(name)
		}
		p := gr.scope + "/" + vn
		for _, q := range gr.params {
			if q.path == p {
				p = gr.scope + "/" + sanitizeScopeName(name)
			}
		}
		gr.params = append(gr.params, paramSpec{init: name, path: p, trainable: r.trainable, perm: r.perm})
	}
	// Order groups by their node's position (the order of the network), and variables inside a
	// group by role.
	sort.SliceStable(groups, func(i, j int) bool { return nodeIndex(groups[i], byNode) < nodeIndex(groups[j], byNode) })
	return groups, nil
}

func nodeIndex(gr *paramGroup, byNode map[*onnxNode]*paramGroup) int {
	for n, g := range byNode {
		if g == gr {
			return n.index
		}
	}
	return 0
}

// groupBase names a group: the common stem of its PyTorch-style initializer names
// ("layer1.0.conv1.weight" → "layer1.0.conv1"), else the node's name, else its index.
func groupBase(n *onnxNode, inits map[string]*onnxTensor, roles any) string {
	var names []string
	for _, i := range n.inputs {
		if _, ok := inits[i]; ok {
			names = append(names, i)
		}
	}
	stem := ""
	for _, nm := range names {
		if k := strings.LastIndex(nm, "."); k > 0 && !strings.HasPrefix(nm, "onnx::") {
			s := nm[:k]
			if stem == "" || stem == s {
				stem = s
				continue
			}
		}
		stem = ""
		break
	}
	if stem == "" {
		stem = n.name
	}
	if stem == "" {
		stem = fmt.Sprintf("%s%d", strings.ToLower(n.op), n.index)
	}
	return sanitizeScopeName(strings.TrimPrefix(stem, "/"))
}

// sanitizeScopeName makes a string usable as one scope element (no separator).
func sanitizeScopeName(s string) string {
	s = strings.ReplaceAll(s, model.ScopeSeparator, ".")
	s = strings.ReplaceAll(s, "::", "_")
	if s == "" {
		s = "_"
	}
	return s
}

// rewriteONNX adapts the graph to onnx-gomlx v0.5.2: Dropout → Identity (inference), LeakyRelu →
// Max(x, α·x) (Min for α > 1), a final LogSoftmax/Softmax is cut off by choosing its input as the
// output (nothing to rewrite), attributes that do not matter at inference are dropped (batch norm's
// momentum, a max pool's unit dilations, an average pool's count_include_pad when it has no padding),
// and an average pool that counts padding gets an explicit zero Pad node in front.
func rewriteONNX(g pmsg, nodes []*onnxNode, inits map[string]*onnxTensor, consumers map[string][]*onnxNode, usedOutput *string, info *ONNXInfo, added *[]string) error {
	var out []protoreflect.Value
	var newInits []pmsg
	counts := map[string]int{}
	producer := map[string]*onnxNode{}
	for _, n := range nodes {
		for _, o := range n.outputs {
			producer[o] = n
		}
	}
	intInits := map[string]pmsg{}
	for name, t := range inits {
		if !t.isFloat() {
			intInits[name] = t.msg
		}
	}
	memo := map[string]intConst{}
	alias := map[string]string{}
	for _, n := range nodes {
		// Inputs renamed by removed nodes.
		renamed := false
		for i, in := range n.inputs {
			for alias[in] != "" {
				in, renamed = alias[in], true
			}
			n.inputs[i] = in
		}
		if renamed {
			setStrList(n.msg, "input", n.inputs)
		}
		switch n.op {
		case "Identity":
			if _, isInit := inits[n.inputs[0]]; !isInit && len(n.outputs) == 1 {
				alias[n.outputs[0]] = n.inputs[0]
				counts["Identity removed"]++
				continue
			}
			// PyTorch deduplicates equal parameters (e.g. two zero biases) into one initializer and
			// Identity nodes: give each its own copy, so that each is its own parameter as in PyTorch.
			if t, ok := inits[n.inputs[0]]; ok && t.isFloat() && len(n.outputs) == 1 {
				cp := proto.Clone(t.msg.Interface()).ProtoReflect()
				setStr(cp, "name", n.outputs[0])
				ct, err := readTensor(cp)
				if err != nil {
					return err
				}
				inits[ct.name] = ct
				*added = append(*added, ct.name)
				newInits = append(newInits, cp)
				counts["Identity of a weight → its own copy"]++
				continue
			}
		case "Pad":
			// Fold computed pads into a constant (see foldInt64), drop an empty constant-value input.
			if len(n.inputs) > 1 && n.inputs[1] != "" {
				if _, isInit := inits[n.inputs[1]]; !isInit {
					c, ok := foldInt64(n.inputs[1], producer, intInits, memo)
					if !ok {
						return fmt.Errorf("%s: its pads %q are not a constant fisens can evaluate: expected constant padding", n, n.inputs[1])
					}
					pName := fmt.Sprintf("fisens_pads_%d", n.index)
					t, err := newInt64Initializer(pName, c.vals)
					if err != nil {
						return err
					}
					newInits = append(newInits, t)
					n.inputs[1] = pName
					counts["Pad with computed pads → constant pads"]++
				}
			}
			ins := n.inputs
			for len(ins) > 0 && ins[len(ins)-1] == "" {
				ins = ins[:len(ins)-1]
			}
			setStrList(n.msg, "input", ins)
		case "Dropout":
			for _, o := range n.outputs[1:] {
				if o != "" && len(consumers[o]) > 0 {
					return fmt.Errorf("%s: its mask output %q is used; expected Dropout only as an inference no-op", n, o)
				}
			}
			// Inference: the identity. Removed, its consumers read its input (GoMLX v0.28.1 has no
			// gradient for an Identity node).
			alias[n.outputs[0]] = n.inputs[0]
			counts["Dropout removed (inference)"]++
			continue
		case "LeakyRelu":
			alpha := n.floatAttr("alpha", 0.01)
			aName := fmt.Sprintf("fisens_leakyrelu_alpha_%d", n.index)
			t, err := newScalarInitializer(aName, float32(alpha))
			if err != nil {
				return err
			}
			newInits = append(newInits, t)
			scaled := fmt.Sprintf("fisens_leakyrelu_scaled_%d", n.index)
			mul, err := newNode("Mul", n.name+"_fisens_mul", []string{n.inputs[0], aName}, []string{scaled})
			if err != nil {
				return err
			}
			op := "Max"
			if alpha > 1 {
				op = "Min"
			}
			mx, err := newNode(op, n.name+"_fisens_max", []string{n.inputs[0], scaled}, n.outputs[:1])
			if err != nil {
				return err
			}
			out = append(out, protoreflect.ValueOfMessage(mul), protoreflect.ValueOfMessage(mx))
			counts["LeakyRelu → Max(x, α·x)"]++
			continue
		case "LogSoftmax":
			if n.outputs[0] != *usedOutput && !slices.Contains(n.inputs, *usedOutput) {
				// Not the final node (whose input is used directly as the logits).
				return fmt.Errorf("%s is not the final node: LogSoftmax is supported only as the classifier's last operation (expected logits or log-probabilities at the output)", n)
			}
		case "BatchNormalization":
			if len(n.outputs) > 1 {
				for _, o := range n.outputs[1:] {
					if o != "" {
						return fmt.Errorf("%s has training outputs (running mean/variance): expected a model exported in inference mode", n)
					}
				}
			}
			if n.intAttr("training_mode", 0) != 0 {
				return fmt.Errorf("%s is in training mode: expected a model exported in inference mode (model.eval())", n)
			}
			if n.attribute("momentum") != nil {
				n.removeAttribute("momentum")
			}
		case "MaxPool":
			if d := n.intsAttr("dilations"); d != nil {
				for _, v := range d {
					if v != 1 {
						return fmt.Errorf("%s has dilations %v: dilated max pooling is not supported by onnx-gomlx v0.5.2 (no backend can run it)", n, d)
					}
				}
				n.removeAttribute("dilations")
			}
			if len(n.outputs) > 1 && n.outputs[1] != "" && len(consumers[n.outputs[1]]) > 0 {
				return fmt.Errorf("%s: its indices output is used: expected a plain max pool", n)
			}
			if n.intAttr("ceil_mode", 0) != 0 {
				return fmt.Errorf("%s uses ceil_mode = 1, which onnx-gomlx v0.5.2 does not convert (no backend can run it): export with ceil_mode=False", n)
			}
			setStrList(n.msg, "output", n.outputs[:1])
		case "AveragePool":
			if n.intAttr("ceil_mode", 0) != 0 {
				return fmt.Errorf("%s uses ceil_mode = 1, which onnx-gomlx v0.5.2 does not convert (no backend can run it): export with ceil_mode=False", n)
			}
			if n.attribute("count_include_pad") != nil {
				pads := n.intsAttr("pads")
				nonzero := false
				for _, p := range pads {
					nonzero = nonzero || p != 0
				}
				include := n.intAttr("count_include_pad", 0) != 0
				n.removeAttribute("count_include_pad")
				if include && nonzero {
					// Explicit zero padding, then an unpadded pool: the padded zeros count.
					full := make([]int64, 0, 2*(len(pads)/2+2))
					half := len(pads) / 2
					full = append(full, 0, 0)
					full = append(full, pads[:half]...)
					full = append(full, 0, 0)
					full = append(full, pads[half:]...)
					pName := fmt.Sprintf("fisens_avgpool_pads_%d", n.index)
					t, err := newInt64Initializer(pName, full)
					if err != nil {
						return err
					}
					newInits = append(newInits, t)
					padded := fmt.Sprintf("fisens_avgpool_padded_%d", n.index)
					pad, err := newNode("Pad", n.name+"_fisens_pad", []string{n.inputs[0], pName}, []string{padded})
					if err != nil {
						return err
					}
					out = append(out, protoreflect.ValueOfMessage(pad))
					setStrList(n.msg, "input", []string{padded})
					n.removeAttribute("pads")
					counts["AveragePool counting padding → Pad + AveragePool"]++
				}
			}
		}
		out = append(out, protoreflect.ValueOfMessage(n.msg))
	}
	for alias[*usedOutput] != "" {
		*usedOutput = alias[*usedOutput]
	}
	nl := mutList(g, "node")
	nl.Truncate(0)
	for _, v := range out {
		nl.Append(v)
	}
	il := mutList(g, "initializer")
	for _, t := range newInits {
		il.Append(protoreflect.ValueOfMessage(t))
	}
	var notes []string
	for what, n := range counts {
		notes = append(notes, fmt.Sprintf("%s (%d node(s))", what, n))
	}
	sort.Strings(notes)
	if len(notes) > 0 {
		info.Notes = append(info.Notes, "rewritten for the importer: "+strings.Join(notes, "; "))
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dimsString(d []int) string {
	parts := make([]string, len(d))
	for i, v := range d {
		if v < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// onnxSidecar reads the sidecar of an ONNX reference (nil when there is none).
func onnxSidecar(ref string) *ONNXSidecar {
	data, err := os.ReadFile(ref + SidecarSuffix)
	if err != nil {
		return nil
	}
	var s ONNXSidecar
	if json.Unmarshal(data, &s) != nil {
		return nil
	}
	return &s
}

// Provenance returns what a result computed with the model must record beyond its reference, as
// string settings (for results.Settings): for an ONNX model the file's SHA-256, the layout, the
// preprocessing and how the output became logits; nothing for a Go-defined model (its reference
// and checkpoint say it all). A resumed run whose model file or sidecar changed then differs.
func (m *Model) Provenance() map[string]string {
	info := m.cfg.ONNX
	if info == nil {
		return nil
	}
	p := info.Preprocessing
	return map[string]string{
		"onnx_sha256":        info.SHA256,
		"onnx_layout":        info.Layout,
		"onnx_preprocessing": fmt.Sprintf("x*%.17g, mean %v, std %v (%s)", p.Scale, p.Mean, p.Std, p.Source),
		"onnx_output":        info.Output + ": " + info.LogitsFrom,
	}
}

// displayName names the model in messages: the architecture, or "ONNX model FILE".
func (m *Model) displayName() string {
	if m.cfg.ONNX != nil {
		return "ONNX model " + m.cfg.ONNX.File
	}
	return m.cfg.Arch
}

// unitsLastPerm returns how the initializer name, consumed by node n, is transposed when it is
// stored as a variable, so that every kernel of an imported model follows the convention of the
// rest of fisens: the layer's units (output channels, dense outputs) on the last axis, which is
// what node knockout (fisens/weights) and per-channel scaling (fisens.ChannelScaler) index. ONNX
// stores a Conv kernel as [out, in, spatial…] (stored here as [spatial…, in, out]), a
// ConvTranspose kernel as [in, out, spatial…] (stored as [spatial…, in, out]) and a Gemm's B with
// transB = 1 as [out, in] (stored as [in, out]). The graph transposes the variable back, so the
// network computes exactly what the file says; FI over a layer is invariant to the order of its
// parameters. nil: stored as in the file.
func unitsLastPerm(n *onnxNode, name string, rank int) []int {
	idx := slices.Index(n.inputs, name)
	switch {
	case (n.op == "Conv" || n.op == "ConvTranspose") && idx == 1 && rank >= 3:
		perm := make([]int, 0, rank)
		for a := 2; a < rank; a++ {
			perm = append(perm, a)
		}
		if n.op == "Conv" {
			return append(perm, 1, 0)
		}
		return append(perm, 0, 1)
	case n.op == "Gemm" && idx == 1 && rank == 2 && n.intAttr("transB", 0) != 0:
		return []int{1, 0}
	}
	return nil
}

// transposeFlat returns a copy of the row-major values of dims transposed by perm
// (out.dims[i] = dims[perm[i]]); a nil perm returns a plain copy.
func transposeFlat(vals []float32, dims, perm []int) ([]float32, []int) {
	if perm == nil {
		return slices.Clone(vals), slices.Clone(dims)
	}
	r := len(dims)
	out := make([]float32, len(vals))
	odims := make([]int, r)
	for i, p := range perm {
		odims[i] = dims[p]
	}
	inStride := make([]int, r) // stride in the input of each input axis
	s := 1
	for a := r - 1; a >= 0; a-- {
		inStride[a] = s
		s *= dims[a]
	}
	idx := make([]int, r) // index in the output
	for o := range out {
		off := 0
		for i := range r {
			off += idx[i] * inStride[perm[i]]
		}
		out[o] = vals[off]
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < odims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, odims
}

// inversePerm returns q with q[perm[i]] = i.
func inversePerm(perm []int) []int {
	q := make([]int, len(perm))
	for i, p := range perm {
		q[p] = i
	}
	return q
}
