package backend

import (
	"fmt"
	"reflect"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// GoMLX v0.28.1 defines no gradient for four operations of the common CNN operator set: Pad (ONNX
// Pad, and every model that pads explicitly), Clamp (graph.Clip with tensor bounds, ONNX Clip with
// min/max inputs), Rsqrt (batch normalization written as (x-μ)·rsqrt(σ²+ε)) and Identity (ONNX
// Identity, Dropout in inference; StopGradient nodes stay excluded). GoMLX looks gradients
// up in the exported table graph.VJPRegistration, so this package, which every backend path imports,
// registers them there: a process-wide, graph-level addition that serves every backend.
//
// It also corrects the input gradient of convolutions with an even kernel size, which GoMLX v0.28.1
// computes with the kernel shifted by one position (convVJPWrtX pads the reverse convolution with
// (k−1)/2 twice where k−1 is due); odd kernels keep GoMLX's own gradient unchanged. And it orders the
// operands of DotGeneral's gradients so that XLA needs no transpose of the output gradient
// (vjp_dot.go: the weight gradients of dense layers and 1×1 convolutions, 3× faster on XLA).
func init() {
	for t, vjp := range map[NodeType]VJP{
		NodeTypePad:   padVJP,
		NodeTypeClamp: clampVJP,
		NodeTypeRsqrt: rsqrtVJP,
		NodeTypeIdentity: func(_ *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
			return []*Node{vjpOutputs[0]}
		},
		// Reverse is its own adjoint; a conv's input gradient reverses the kernel, so second
		// derivatives with respect to the kernel pass through it.
		NodeTypeReverse: func(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
			return []*Node{Reverse(vjpOutputs[0], intsField(node, "axes")...)}
		},
	} {
		if _, ok := VJPRegistration[t]; !ok {
			VJPRegistration[t] = vjp
		}
	}
	if orig, ok := VJPRegistration[NodeTypeDotGeneral]; ok {
		VJPRegistration[NodeTypeDotGeneral] = func(node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
			return dotGeneralVJP(orig, node, vjpOutputs, outputShape)
		}
	}
	if orig, ok := VJPRegistration[NodeTypeConvGeneral]; ok {
		VJPRegistration[NodeTypeConvGeneral] = func(node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
			return convVJP(orig, node, vjpOutputs, outputShape)
		}
	}
}

// nodeField reads the unexported parameter field of a node's inputs (GoMLX keeps the static
// parameters of an op, e.g. Pad's axes configuration, in an unexported struct).
func nodeField(node *Node, field string) (reflect.Value, error) {
	v := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !v.IsValid() || v.IsNil() {
		return reflect.Value{}, fmt.Errorf("node %s: no inputs field", node)
	}
	v = v.Elem()
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	f := v.FieldByName(field)
	if !f.IsValid() {
		return reflect.Value{}, fmt.Errorf("node %s: no parameter %q", node, field)
	}
	return f, nil
}

// padAxesOf returns the axes configuration of a Pad node.
func padAxesOf(node *Node) []compute.PadAxis {
	f, err := nodeField(node, "axesConfig")
	if err != nil {
		panic(err)
	}
	axes := make([]compute.PadAxis, f.Len())
	for i := range axes {
		e := f.Index(i)
		axes[i] = compute.PadAxis{Start: int(e.FieldByName("Start").Int()), End: int(e.FieldByName("End").Int()),
			Interior: int(e.FieldByName("Interior").Int())}
	}
	return axes
}

// padVJP: the gradient of x is v with the edges removed (a Pad with the negated edges, which also
// restores cropped ones as zeros) and the interior dropped (a strided Slice); the fill value gets the
// rest of v's sum.
func padVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	v := vjpOutputs[0]
	x, fill := node.Inputs()[0], node.Inputs()[1]
	axes := padAxesOf(node)
	g := node.Graph()
	unpad := make([]compute.PadAxis, len(axes))
	var specs []SliceAxisSpec
	needUnpad, needSlice := false, false
	for a, cfg := range axes {
		unpad[a] = compute.PadAxis{Start: -cfg.Start, End: -cfg.End}
		needUnpad = needUnpad || cfg.Start != 0 || cfg.End != 0
		spec := AxisRange()
		if cfg.Interior > 0 {
			spec = spec.Stride(cfg.Interior + 1)
			needSlice = true
		}
		specs = append(specs, spec)
	}
	gx := v
	if needUnpad {
		gx = Pad(gx, ScalarZero(g, v.DType()), unpad...)
	}
	if needSlice {
		gx = Slice(gx, specs...)
	}
	if !gx.Shape().Equal(x.Shape()) {
		panic(fmt.Errorf("Pad gradient: got shape %s for an operand of shape %s", gx.Shape(), x.Shape()))
	}
	gFill := Sub(ReduceAllSum(v), ReduceAllSum(gx))
	return []*Node{gx, ConvertDType(Reshape(gFill, fill.Shape().Dimensions...), fill.DType())}
}

// clampVJP: Clamp(min, x, max) passes v to x where min ≤ x ≤ max, to min where x < min, to max where
// x > max (bounds of rank 0 are broadcast: their gradient is summed).
func clampVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	v := vjpOutputs[0]
	lo, x, hi := node.Inputs()[0], node.Inputs()[1], node.Inputs()[2]
	zeros := ZerosLike(v)
	bcast := func(b *Node) *Node {
		if b.Rank() == x.Rank() {
			return b
		}
		return BroadcastToShape(b, x.Shape())
	}
	below := LessThan(x, bcast(lo))
	above := GreaterThan(x, bcast(hi))
	inside := LogicalNot(LogicalOr(below, above))
	reduce := func(gv, b *Node) *Node {
		if b.Rank() == x.Rank() {
			return gv
		}
		return Reshape(ReduceAllSum(gv), b.Shape().Dimensions...)
	}
	return []*Node{
		reduce(Where(below, v, zeros), lo),
		Where(inside, v, zeros),
		reduce(Where(above, v, zeros), hi),
	}
}

// rsqrtVJP: d rsqrt(x)/dx = -rsqrt(x)³/2.
func rsqrtVJP(node *Node, vjpOutputs []*Node, _ shapes.Shape) []*Node {
	y := node
	return []*Node{Mul(vjpOutputs[0], MulScalar(Mul(y, Square(y)), -0.5))}
}

func intsField(node *Node, name string) []int {
	f, err := nodeField(node, name)
	if err != nil {
		panic(err)
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out
}

// convParams are the static parameters of a ConvGeneral node.
type convParams struct {
	axes                                     compute.ConvolveAxesConfig
	strides, inputDilations, kernelDilations []int
	paddings                                 [][2]int
	channelGroupCount, batchGroupCount       int
}

func convParamsOf(node *Node) convParams {
	var p convParams
	a, err := nodeField(node, "axes")
	if err != nil {
		panic(err)
	}
	ints := func(v reflect.Value) []int {
		out := make([]int, v.Len())
		for i := range out {
			out[i] = int(v.Index(i).Int())
		}
		return out
	}
	p.axes = compute.ConvolveAxesConfig{
		InputBatch: int(a.FieldByName("InputBatch").Int()), InputChannels: int(a.FieldByName("InputChannels").Int()),
		InputSpatial:        ints(a.FieldByName("InputSpatial")),
		KernelInputChannels: int(a.FieldByName("KernelInputChannels").Int()), KernelOutputChannels: int(a.FieldByName("KernelOutputChannels").Int()),
		KernelSpatial: ints(a.FieldByName("KernelSpatial")),
		OutputBatch:   int(a.FieldByName("OutputBatch").Int()), OutputChannels: int(a.FieldByName("OutputChannels").Int()),
		OutputSpatial: ints(a.FieldByName("OutputSpatial")),
	}
	p.strides = intsField(node, "strides")
	p.inputDilations = intsField(node, "inputDilations")
	p.kernelDilations = intsField(node, "kernelDilations")
	f, err := nodeField(node, "paddings")
	if err != nil {
		panic(err)
	}
	p.paddings = make([][2]int, f.Len())
	for i := range p.paddings {
		p.paddings[i] = [2]int{int(f.Index(i).Index(0).Int()), int(f.Index(i).Index(1).Int())}
	}
	for name, dst := range map[string]*int{"channelGroupCount": &p.channelGroupCount, "batchGroupCount": &p.batchGroupCount} {
		f, err := nodeField(node, name)
		if err != nil {
			panic(err)
		}
		*dst = int(f.Int())
	}
	return p
}

// convVJP is GoMLX's convolution gradient, except when a kernel spatial size is even or strides come
// with kernel dilations (and there is no batch grouping or input dilation, which GoMLX does not
// differentiate): then both gradients are computed here (GoMLX's input gradient is wrong for even
// kernels, and it panics for some paddings and for strided atrous convolutions).
func convVJP(orig VJP, node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
	x, kernel := node.Inputs()[0], node.Inputs()[1]
	p := convParamsOf(node)
	even := false
	for _, a := range p.axes.KernelSpatial {
		even = even || kernel.Shape().Dimensions[a]%2 == 0
	}
	// GoMLX's gradient also refuses strides together with kernel dilations (its builder panics).
	stridedAtrous := anyAbove1(p.strides) && anyAbove1(p.kernelDilations)
	v := vjpOutputs[0]
	groups := max(p.channelGroupCount, 1)
	if anyAbove1(p.inputDilations) && groups == 1 && p.batchGroupCount <= 1 {
		return inputDilatedConvVJP(x, kernel, v, p)
	}
	if (!even && !stridedAtrous) || p.batchGroupCount > 1 || anyAbove1(p.inputDilations) {
		return orig(node, vjpOutputs, outputShape)
	}
	if groups == 1 {
		return []*Node{convInputGrad(x, kernel, v, p), convKernelGrad(x, kernel, v, p)}
	}
	vs := Split(v, p.axes.OutputChannels, groups)
	xs := Split(x, p.axes.InputChannels, groups)
	ks := Split(kernel, p.axes.KernelOutputChannels, groups)
	gx := make([]*Node, groups)
	gk := make([]*Node, groups)
	for i := range groups {
		gx[i] = convInputGrad(x, ks[i], vs[i], p)
		gk[i] = convKernelGrad(xs[i], ks[i], vs[i], p)
	}
	return []*Node{Concatenate(gx, p.axes.InputChannels), Concatenate(gk, p.axes.KernelOutputChannels)}
}

// spatial returns, for spatial axis i, the kernel size k, kernel dilation d, stride s and padding
// (defaults 1, 1 and 0 where the parameters are shorter), and the input and output sizes.
func (p convParams) spatial(i int, x, kernel, v *Node) (k, d, s int, pad [2]int, nIn, nOut int) {
	k = kernel.Shape().Dimensions[p.axes.KernelSpatial[i]]
	d, s = 1, 1
	if i < len(p.kernelDilations) {
		d = p.kernelDilations[i]
	}
	if i < len(p.strides) {
		s = p.strides[i]
	}
	if i < len(p.paddings) {
		pad = p.paddings[i]
	}
	return k, d, s, pad, x.Shape().Dimensions[p.axes.InputSpatial[i]], v.Shape().Dimensions[p.axes.OutputSpatial[i]]
}

// convKernelGrad is the kernel gradient of one channel group: x convolved with v as the kernel (the batch
// axis contracted, x's channels as the batch), v dilated by the strides, strided by the kernel
// dilations, padded p_lo at the start and so that exactly the kernel size comes out at the end.
func convKernelGrad(x, kernel, v *Node, p convParams) *Node {
	n := len(p.axes.InputSpatial)
	var axes compute.ConvolveAxesConfig
	axes.InputBatch, axes.InputChannels, axes.InputSpatial = p.axes.InputChannels, p.axes.InputBatch, p.axes.InputSpatial
	axes.KernelInputChannels, axes.KernelOutputChannels, axes.KernelSpatial = p.axes.OutputBatch, p.axes.OutputChannels, p.axes.OutputSpatial
	axes.OutputBatch, axes.OutputChannels, axes.OutputSpatial = p.axes.KernelInputChannels, p.axes.KernelOutputChannels, p.axes.KernelSpatial
	pads := make([][2]int, n)
	dil := make([]int, n)
	strides := make([]int, n)
	for i := range n {
		k, d, s, pad, nIn, nOut := p.spatial(i, x, kernel, v)
		pads[i] = [2]int{pad[0], (k-1)*d + (nOut-1)*s + 1 - nIn - pad[0]}
		dil[i], strides[i] = s, d
	}
	return ConvGeneral(x, v, axes, strides, pads, nil, dil, 1, 1)
}

// convInputGrad is the input gradient of one channel group: the transposed convolution of v with the
// spatially reversed kernel (input and output channel axes swapped), the strides as input dilations,
// start padding K−1−p_lo and end padding N+p_lo−(O−1)s−1 per spatial axis (K the dilated kernel size,
// N the input size, O the output size).
func convInputGrad(x, kernel, v *Node, p convParams) *Node {
	n := len(p.axes.InputSpatial)
	rev := Reverse(kernel, p.axes.KernelSpatial...)
	axes := p.axes
	axes.KernelInputChannels, axes.KernelOutputChannels = p.axes.KernelOutputChannels, p.axes.KernelInputChannels
	// The gradient's layout is the input's: output axes of the transposed conv = input axes.
	axes.InputBatch, axes.InputChannels, axes.InputSpatial = p.axes.OutputBatch, p.axes.OutputChannels, p.axes.OutputSpatial
	axes.OutputBatch, axes.OutputChannels, axes.OutputSpatial = p.axes.InputBatch, p.axes.InputChannels, p.axes.InputSpatial
	pads := make([][2]int, n)
	dil := make([]int, n)
	strides := make([]int, n)
	for i := range n {
		k, d, s, pad, nIn, nOut := p.spatial(i, x, kernel, v)
		kEff := (k-1)*d + 1
		pads[i] = [2]int{kEff - 1 - pad[0], nIn + pad[0] - (nOut-1)*s - 1}
		dil[i], strides[i] = d, s
	}
	c := Convolve(v, rev).AxesConfig(axes).PaddingPerDim(pads).DilationPerAxis(dil...)
	if anyAbove1(strides) {
		c = c.InputDilationPerAxis(strides...)
	}
	return c.Done()
}

// inputDilatedConvVJP differentiates a convolution with input dilations — the input gradient of a
// strided convolution, so this is what a second derivative through a strided convolution needs
// (Cook's curvature by double backpropagation, the Hessian-vector products of any user; GoMLX
// panics: "gradient of Convolve with input dilation not defined"). Dilating the input by D is
// Pad(x, interior D−1) followed by the same convolution without input dilation; the gradients are
// those of that convolution (convInputGrad, convKernelGrad) and, for x, Pad's adjoint: the padded
// gradient taken at every D-th position.
func inputDilatedConvVJP(x, kernel, v *Node, p convParams) []*Node {
	pads := make([]compute.PadAxis, x.Rank())
	strides := make([]int, x.Rank())
	for a := range strides {
		strides[a] = 1
	}
	for i, a := range p.axes.InputSpatial {
		if i < len(p.inputDilations) && p.inputDilations[i] > 1 {
			pads[a].Interior = p.inputDilations[i] - 1
			strides[a] = p.inputDilations[i]
		}
	}
	xd := Pad(x, ScalarZero(x.Graph(), x.DType()), pads...)
	q := p
	q.inputDilations = nil
	gxd := convInputGrad(xd, kernel, v, q)
	spec := make([]SliceAxisSpec, x.Rank())
	for a := range spec {
		spec[a] = AxisRange().Stride(strides[a])
	}
	return []*Node{Slice(gxd, spec...), convKernelGrad(xd, kernel, v, q)}
}
