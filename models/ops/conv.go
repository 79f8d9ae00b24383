package ops

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads better unqualified
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Padding is the spatial padding mode of a convolution.
type Padding int

const (
	// Same keeps ⌈n/stride⌉ outputs, padding as TensorFlow/Keras do ('same').
	Same Padding = iota
	// Valid uses no padding: ⌊(n−k)/stride⌋+1 outputs.
	Valid
)

// String returns "same" or "valid".
func (p Padding) String() string {
	if p == Valid {
		return "valid"
	}
	return "same"
}

// Conv2D is a 2-D convolution layer on x [B, H, W, Cin] with a square, odd kernel of size kernel,
// filters output channels, stride 1 or 2 and the given padding. It creates the variable "weights"
// [kernel, kernel, Cin, filters] (initialised by the scope's initializer: He normal by default) and,
// if bias, "biases" [filters] (zeros) in scope, and returns [B, H', W', filters].
func Conv2D(scope *model.Scope, x *Node, filters, kernel, stride int, padding Padding, bias bool) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("ops.Conv2D(%s): want x of shape [B, H, W, C], got %s", scope.Scope(), x.Shape())
	}
	cin := x.Shape().Dimensions[3]
	wv := scope.VariableWithShape("weights", shapes.Make(x.DType(), kernel, kernel, cin, filters))
	w := wv.NodeValue(x.Graph())
	var tap *Tap
	if recording(x.Graph()) {
		tap = &Tap{Kind: "conv", Vars: map[string]string{"kernel": wv.Path()}, Kernel: kernel, Padding: padding}
	}
	y := convolve2D(x, w, stride, padding, tap)
	if bias {
		bv := scope.VariableWithShape("biases", shapes.Make(x.DType(), filters))
		y = Add(y, Reshape(bv.NodeValue(x.Graph()), 1, 1, 1, filters))
		if tap != nil {
			tap.Vars["bias"] = bv.Path()
		}
	}
	if tap != nil {
		tap.Out = y
		addTap(x.Graph(), *tap)
	}
	return y
}

// Convolve2D convolves x [B, H, W, Cin] with the kernel w [k, k, Cin, Cout] (k odd) at stride 1 or 2,
// using only ops whose gradients work on both backends (see the package doc). Stride 2 follows
// TensorFlow's output size and phase for both paddings.
func Convolve2D(x, w *Node, stride int, padding Padding) *Node {
	return convolve2D(x, w, stride, padding, nil)
}

// convolve2D is Convolve2D; it fills tap's Input and KernelOut when tap is not nil.
func convolve2D(x, w *Node, stride int, padding Padding, tap *Tap) *Node {
	if x.Rank() != 4 || w.Rank() != 4 {
		exceptions.Panicf("ops.Convolve2D: want x [B,H,W,C] and w [k,k,Cin,Cout], got %s and %s", x.Shape(), w.Shape())
	}
	kh, kw := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	if kh%2 == 0 || kw%2 == 0 {
		exceptions.Panicf("ops.Convolve2D: kernel %dx%d: only odd kernel sizes are supported "+
			"(GoMLX v0.28.1 computes wrong input gradients for even kernels)", kh, kw)
	}
	if x.Shape().Dimensions[3] != w.Shape().Dimensions[2] {
		exceptions.Panicf("ops.Convolve2D: x has %d channels but the kernel expects %d", x.Shape().Dimensions[3], w.Shape().Dimensions[2])
	}
	if kh == 1 && kw == 1 {
		// A 1×1 convolution is a matrix product over channels (faster than Conv on both backends,
		// forward and backward); both paddings pick phase 0 at stride 2: subsample first.
		switch stride {
		case 1:
		case 2:
			x = Subsample2(x, 0, 0)
		default:
			exceptions.Panicf("ops.Convolve2D: stride %d not supported (1 or 2)", stride)
		}
		d := w.Shape().Dimensions
		y := Einsum("bhwc,cd->bhwd", x, Reshape(w, d[2], d[3]))
		if tap != nil {
			tap.Input, tap.KernelOut, tap.Padding, tap.Stride = x, y, Valid, 1
		}
		return y
	}
	if stride != 1 && stride != 2 {
		exceptions.Panicf("ops.Convolve2D: stride %d not supported (1 or 2)", stride)
	}
	// A strided convolution with TensorFlow's padding (every backend differentiates it: XLA natively,
	// pure Go and ONNX Runtime through the backend package's decorator). It replaced convolving at
	// stride 1 and keeping one phase (Subsample2), which costs 4× at stride 2 (docs/performance.md).
	h, wd := x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	var pads [2][2]int
	if padding == Same {
		pads = [2][2]int{SamePadding(h, kh, stride), SamePadding(wd, kw, stride)}
	}
	c := Convolve(x, w).PaddingPerDim(pads[:])
	if stride > 1 {
		c = c.StridePerAxis(stride, stride)
	}
	y := c.Done()
	if tap != nil {
		tap.Input, tap.KernelOut, tap.Stride, tap.Pads = x, y, stride, pads
	}
	return y
}

// SamePadding returns TensorFlow's 'same' zero padding (start, end) of an axis of size n for an
// odd kernel size k at the given stride: ⌈n/s⌉ outputs, total = max(0, (⌈n/s⌉−1)·s + k − n) split
// as ⌊total/2⌋ before and the rest after (at stride 1: (k−1)/2 on both sides; at stride 2 on an
// even size: one less before than after, the phase SamePhase describes).
func SamePadding(n, k, stride int) [2]int {
	out := (n + stride - 1) / stride
	total := max(0, (out-1)*stride+k-n)
	return [2]int{total / 2, total - total/2}
}

// SamePhase returns which of the stride-1 'same' outputs (0 or 1 modulo 2) TensorFlow's stride-2
// 'same' convolution keeps, for an axis of size n and an odd kernel size k:
// (k−1)/2 − ⌊max(0, (⌈n/2⌉−1)·2 + k − n)/2⌋.
func SamePhase(n, k int) int {
	out := (n + 1) / 2
	total := max(0, (out-1)*2+k-n)
	return (k-1)/2 - total/2
}

// Subsample2 keeps every second row and column of x [B, H, W, C], starting at row phaseH and column
// phaseW (each 0 or 1): ⌈H/2⌉ rows for phase 0, H/2 for phase 1 (H even). It is exact, and its
// gradient uses only Reshape, Mul, ReduceSum and (for odd sizes) Concatenate, which both backends
// differentiate.
func Subsample2(x *Node, phaseH, phaseW int) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("ops.Subsample2: want x [B,H,W,C], got %s", x.Shape())
	}
	if phaseH < 0 || phaseH > 1 || phaseW < 0 || phaseW > 1 {
		exceptions.Panicf("ops.Subsample2: phases must be 0 or 1, got %d, %d", phaseH, phaseW)
	}
	x = padOddToEven(x, 1, phaseH)
	x = padOddToEven(x, 2, phaseW)
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	x = Reshape(x, b, h/2, 2, w/2, 2, c)
	mask := make([]float64, 4)
	mask[phaseH*2+phaseW] = 1
	m := Reshape(ConstAsDType(x.Graph(), x.DType(), mask), 1, 1, 2, 1, 2, 1)
	return ReduceSum(Mul(x, m), 2, 4)
}

// padOddToEven appends a zero slice along axis when its size is odd (phase 0 only).
func padOddToEven(x *Node, axis, phase int) *Node {
	n := x.Shape().Dimensions[axis]
	if n%2 == 0 {
		return x
	}
	if phase == 1 {
		exceptions.Panicf("ops.Subsample2: phase 1 on an odd axis of size %d is not supported", n)
	}
	zd := x.Shape().Clone()
	zd.Dimensions[axis] = 1
	return Concatenate([]*Node{x, Zeros(x.Graph(), zd)}, axis)
}
