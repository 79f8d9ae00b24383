package backend

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/images"
)

// opCase is one operation of the common CNN operator set (the ONNX names of issue 11) as GoMLX emits
// it: fn maps the inputs to an output y; the tests differentiate L = Σ r⊙y (r fixed, random) with
// respect to every input.
type opCase struct {
	name   string
	inputs [][]int
	fn     func(in []*Node) *Node
	pos    []bool // inputs that must be positive (variances)
}

func conv(x, k *Node) *ConvolutionBuilder { return Convolve(x, k) }

func opCases() []opCase {
	cf := images.ChannelsFirst
	return []opCase{
		// Conv: strides 1/2/3, paddings (symmetric, asymmetric, none), dilations, groups, both layouts,
		// odd and even sizes.
		{name: "conv3_s1_same", inputs: [][]int{{2, 5, 6, 3}, {3, 3, 3, 4}}, fn: func(in []*Node) *Node { return conv(in[0], in[1]).PadSame().Done() }},
		{name: "conv3_s2_pad1_even", inputs: [][]int{{2, 8, 8, 3}, {3, 3, 3, 4}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{name: "conv3_s2_pad1_odd", inputs: [][]int{{2, 7, 9, 2}, {3, 3, 2, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{name: "conv3_s2_keras_same_even", inputs: [][]int{{1, 8, 6, 2}, {3, 3, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{0, 1}, {0, 1}}).Done()
		}},
		{name: "conv3_s3_valid", inputs: [][]int{{1, 10, 11, 2}, {3, 3, 2, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(3, 3).NoPadding().Done()
		}},
		{name: "conv1_s2_odd", inputs: [][]int{{2, 7, 7, 3}, {1, 1, 3, 4}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).NoPadding().Done()
		}},
		{name: "conv3_dil2", inputs: [][]int{{1, 9, 8, 2}, {3, 3, 2, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).DilationPerAxis(2, 2).PaddingPerDim([][2]int{{2, 2}, {2, 2}}).Done()
		}},
		{name: "conv3_dil2_asym", inputs: [][]int{{1, 11, 10, 2}, {3, 3, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).DilationPerAxis(2, 3).PaddingPerDim([][2]int{{1, 2}, {2, 1}}).Done()
		}},
		{name: "conv3_s2_groups2", inputs: [][]int{{2, 7, 8, 4}, {3, 3, 2, 6}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).ChannelGroupCount(2).Done()
		}},
		{name: "conv3_depthwise_s1", inputs: [][]int{{2, 6, 5, 3}, {3, 3, 1, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).PadSame().ChannelGroupCount(3).Done()
		}},
		{name: "conv7_s2_pad3_nchw", inputs: [][]int{{1, 1, 12, 11}, {4, 1, 7, 7}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).ChannelsAxis(cf).StridePerAxis(2, 2).PaddingPerDim([][2]int{{3, 3}, {3, 3}}).Done()
		}},
		{name: "conv3_s2_pad1_nchw_groups3", inputs: [][]int{{2, 6, 7, 6}, {3, 2, 3, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).ChannelsAxis(cf).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).ChannelGroupCount(3).Done()
		}},
		{name: "conv2_s2_even_kernel", inputs: [][]int{{1, 6, 7, 2}, {2, 2, 2, 3}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 2).NoPadding().Done()
		}},
		{name: "conv4_s1_pad_even_kernel", inputs: [][]int{{1, 6, 5, 2}, {4, 2, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).PaddingPerDim([][2]int{{1, 2}, {0, 1}}).Done()
		}},
		{name: "conv2_s2_groups2_nchw_even_kernel", inputs: [][]int{{2, 4, 7, 6}, {4, 2, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).ChannelsAxis(cf).StridePerAxis(2, 2).PaddingPerDim([][2]int{{1, 0}, {0, 1}}).ChannelGroupCount(2).Done()
		}},
		{name: "conv2_dil2_even_kernel", inputs: [][]int{{1, 7, 6, 2}, {2, 2, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).DilationPerAxis(2, 2).PaddingPerDim([][2]int{{1, 0}, {0, 1}}).Done()
		}},
		{name: "convgeneral3_s2_dil2", inputs: [][]int{{1, 12, 11, 2}, {3, 3, 2, 2}}, fn: func(in []*Node) *Node {
			axes := compute.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
				KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
				OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
			return ConvGeneral(in[0], in[1], axes, []int{2, 3}, [][2]int{{1, 2}, {2, 0}}, nil, []int{2, 2}, 1, 1)
		}},
		// Input dilation: the input gradient of a strided convolution, differentiated again by second
		// derivatives (Cook's double backpropagation through the models' stride-2 convolutions).
		{name: "convgeneral3_input_dil2", inputs: [][]int{{2, 5, 4, 2}, {3, 3, 2, 3}}, fn: func(in []*Node) *Node {
			axes := compute.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
				KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
				OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
			return ConvGeneral(in[0], in[1], axes, nil, [][2]int{{2, 1}, {1, 2}}, []int{2, 2}, nil, 1, 1)
		}},
		{name: "conv3_s2_second_order", inputs: [][]int{{1, 6, 7, 2}, {3, 3, 2, 2}}, fn: func(in []*Node) *Node {
			// y = ∂/∂x Σ (conv_s2(x, k))² : its gradient is a second derivative through the strided conv.
			c := conv(in[0], in[1]).StridePerAxis(2, 2).PaddingPerDim([][2]int{{0, 1}, {1, 1}}).Done()
			return Gradient(ReduceAllSum(Mul(c, c)), in[0])[0]
		}},
		{name: "conv3_s2x1_mixed", inputs: [][]int{{1, 7, 6, 2}, {3, 3, 2, 2}}, fn: func(in []*Node) *Node {
			return conv(in[0], in[1]).StridePerAxis(2, 1).PaddingPerDim([][2]int{{1, 1}, {0, 2}}).Done()
		}},

		// MaxPool: overlapping (ResNet's 3×3/2 pad 1), tiling, odd sizes, stride 1 'same', NCHW.
		{name: "maxpool3_s2_pad1_even", inputs: [][]int{{2, 8, 8, 3}}, fn: func(in []*Node) *Node {
			return MaxPool(in[0]).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{name: "maxpool3_s2_pad1_odd", inputs: [][]int{{2, 7, 9, 2}}, fn: func(in []*Node) *Node {
			return MaxPool(in[0]).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{name: "maxpool2_s2_even", inputs: [][]int{{2, 6, 8, 3}}, fn: func(in []*Node) *Node { return MaxPool(in[0]).Window(2).Done() }},
		{name: "maxpool2_s2_odd", inputs: [][]int{{2, 7, 5, 2}}, fn: func(in []*Node) *Node { return MaxPool(in[0]).Window(2).Done() }},
		{name: "maxpool3_s1_same", inputs: [][]int{{1, 5, 6, 2}}, fn: func(in []*Node) *Node { return MaxPool(in[0]).Window(3).PadSame().Done() }},
		{name: "maxpool3_s3_nchw", inputs: [][]int{{2, 3, 9, 7}}, fn: func(in []*Node) *Node {
			return MaxPool(in[0]).ChannelsAxis(cf).Window(3).Done()
		}},
		{name: "maxpool3_s2_nchw_overlap", inputs: [][]int{{1, 2, 9, 8}}, fn: func(in []*Node) *Node {
			return MaxPool(in[0]).ChannelsAxis(cf).Window(3).Strides(2).Done()
		}},
		{name: "maxpool_relu_ties", inputs: [][]int{{1, 6, 6, 2}}, fn: func(in []*Node) *Node {
			// ReLU before the pool: many windows are all zeros (ties); the gradient goes to one of them.
			return MaxPool(Max(in[0], ZerosLike(in[0]))).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},

		// AveragePool (MeanPool: padding excluded from the count), sum pooling, global average pool.
		{name: "avgpool2_s2_even", inputs: [][]int{{2, 6, 8, 3}}, fn: func(in []*Node) *Node { return MeanPool(in[0]).Window(2).Done() }},
		{name: "avgpool2_s2_odd", inputs: [][]int{{2, 7, 5, 2}}, fn: func(in []*Node) *Node { return MeanPool(in[0]).Window(2).Done() }},
		{name: "avgpool3_s2_pad1", inputs: [][]int{{2, 7, 8, 2}}, fn: func(in []*Node) *Node {
			return MeanPool(in[0]).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}},
		{name: "avgpool3_s1_same", inputs: [][]int{{1, 5, 6, 2}}, fn: func(in []*Node) *Node { return MeanPool(in[0]).Window(3).PadSame().Done() }},
		{name: "avgpool3_s2_nchw", inputs: [][]int{{2, 3, 7, 7}}, fn: func(in []*Node) *Node {
			return MeanPool(in[0]).ChannelsAxis(cf).Window(3).Strides(2).Done()
		}},
		{name: "sumpool2_s1_pad", inputs: [][]int{{1, 5, 4, 2}}, fn: func(in []*Node) *Node {
			return SumPool(in[0]).Window(2).Strides(1).PaddingPerDim([][2]int{{1, 0}, {0, 1}}).Done()
		}},
		{name: "globalavgpool", inputs: [][]int{{2, 5, 6, 3}}, fn: func(in []*Node) *Node { return ReduceMean(in[0], 1, 2) }},

		// BatchNormalization as GoMLX layers emit it (UseBackendInference(false)): batch statistics
		// (training) and given statistics (inference).
		{name: "batchnorm_train", inputs: [][]int{{4, 3, 3, 3}, {3}, {3}}, fn: func(in []*Node) *Node {
			x := in[0]
			mean := ReduceAndKeep(x, ReduceMean, 0, 1, 2)
			c := Sub(x, mean)
			variance := ReduceAndKeep(Square(c), ReduceMean, 0, 1, 2)
			return Add(Mul(Div(c, Sqrt(AddScalar(variance, 1e-3))), Reshape(in[1], 1, 1, 1, 3)), Reshape(in[2], 1, 1, 1, 3))
		}},
		{name: "batchnorm_infer_nchw", inputs: [][]int{{2, 3, 4, 4}, {3}, {3}, {3}, {3}}, pos: []bool{false, false, false, false, true}, fn: func(in []*Node) *Node {
			r := func(v *Node) *Node { return Reshape(v, 1, 3, 1, 1) }
			inv := Rsqrt(AddScalar(r(in[4]), 1e-5))
			return Add(Mul(Mul(Sub(in[0], r(in[3])), inv), r(in[1])), r(in[2]))
		}},

		// Activations.
		{name: "relu", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node { return Max(in[0], ZerosLike(in[0])) }},
		{name: "leakyrelu", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node {
			return Where(GreaterOrEqual(in[0], ZerosLike(in[0])), in[0], MulScalar(in[0], 0.1))
		}},
		{name: "sigmoid", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node { return Sigmoid(in[0]) }},
		{name: "tanh", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node { return Tanh(in[0]) }},
		{name: "clip_scalar", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node { return ClipScalar(in[0], -0.5, 0.7) }},
		{name: "clip_nodes", inputs: [][]int{{3, 7}}, fn: func(in []*Node) *Node {
			g := in[0].Graph()
			return Clip(in[0], Scalar(g, in[0].DType(), -0.5), Scalar(g, in[0].DType(), 0.7))
		}},

		// Gemm, MatMul, Add, Mul (broadcasting), Concat, Flatten/Reshape, Pad, Slice, Softmax, LogSoftmax.
		{name: "gemm", inputs: [][]int{{3, 5}, {5, 4}, {4}}, fn: func(in []*Node) *Node {
			return Add(MatMul(in[0], in[1]), ExpandAxes(in[2], 0))
		}},
		{name: "gemm_transB", inputs: [][]int{{3, 5}, {4, 5}}, fn: func(in []*Node) *Node { return MatMul(in[0], Transpose(in[1], 0, 1)) }},
		{name: "matmul_batched", inputs: [][]int{{2, 3, 4}, {4, 5}}, fn: func(in []*Node) *Node { return MatMul(in[0], in[1]) }},
		// DotGeneral as the 1×1 convolution and the per-example gradients emit it (vjp_dot.go orders
		// the operands of both gradients): free axes on both sides, batch axes, contracting axes listed
		// out of axis order.
		{name: "einsum_1x1conv", inputs: [][]int{{2, 3, 4, 5}, {5, 3}}, fn: func(in []*Node) *Node { return Einsum("bhwc,cd->bhwd", in[0], in[1]) }},
		{name: "dotgeneral_batch_permuted", inputs: [][]int{{3, 2, 4, 5}, {5, 6, 2, 3}}, fn: func(in []*Node) *Node {
			return DotGeneral(in[0], []int{3, 1}, []int{0}, in[1], []int{0, 2}, []int{3})
		}},
		{name: "dotgeneral_two_free", inputs: [][]int{{4, 2, 3}, {3, 5, 2, 2}}, fn: func(in []*Node) *Node {
			return DotGeneral(in[0], []int{2, 1}, nil, in[1], []int{0, 3}, nil)
		}},
		{name: "add_mul_broadcast", inputs: [][]int{{2, 3, 4}, {1, 3, 1}, {4}}, fn: func(in []*Node) *Node {
			return Mul(Add(in[0], in[1]), Reshape(in[2], 1, 1, 4))
		}},
		{name: "concat_channels", inputs: [][]int{{2, 3, 3, 2}, {2, 3, 3, 3}}, fn: func(in []*Node) *Node {
			return Concatenate([]*Node{in[0], Tanh(in[1])}, -1)
		}},
		{name: "flatten_reshape", inputs: [][]int{{2, 3, 4, 2}}, fn: func(in []*Node) *Node { return Reshape(Tanh(in[0]), 2, -1) }},
		{name: "pad_edges", inputs: [][]int{{2, 3, 4}}, fn: func(in []*Node) *Node {
			return Pad(in[0], ScalarZero(in[0].Graph(), in[0].DType()), compute.PadAxis{}, compute.PadAxis{Start: 1, End: 2}, compute.PadAxis{Start: 2})
		}},
		{name: "pad_interior_negative", inputs: [][]int{{2, 5, 4}}, fn: func(in []*Node) *Node {
			fill := Scalar(in[0].Graph(), in[0].DType(), 0.25)
			return Pad(in[0], fill, compute.PadAxis{End: 1}, compute.PadAxis{Start: -1, End: 2, Interior: 2}, compute.PadAxis{Start: 1, End: -2, Interior: 1})
		}},
		{name: "slice_strided", inputs: [][]int{{3, 8, 7}}, fn: func(in []*Node) *Node {
			return Slice(in[0], AxisRange(1, 3), AxisRange(1, 8).Stride(2), AxisRange(0, 7).Stride(3))
		}},
		{name: "identity_dropout", inputs: [][]int{{3, 5}}, fn: func(in []*Node) *Node { return Tanh(Identity(in[0])) }},
		{name: "softmax", inputs: [][]int{{3, 6}}, fn: func(in []*Node) *Node { return Softmax(in[0]) }},
		{name: "logsoftmax", inputs: [][]int{{3, 6}}, fn: func(in []*Node) *Node { return LogSoftmax(in[0]) }},
	}
}

// runCase returns y and dL/d(inputs), L = Σ r⊙y, flattened as float64, on backend b in dtype.
func runCase(b compute.Backend, c opCase, dtype dtypes.DType, inputs [][]float64) (out [][]float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	args := make([]any, len(inputs))
	for i, v := range inputs {
		args[i] = toTensor(v, c.inputs[i], dtype)
	}
	res, err := ExecOnceN(b, func(in []*Node) []*Node {
		y := c.fn(in)
		r := Const(y.Graph(), weights(y.Shape().Size()))
		r = ConvertDType(Reshape(r, y.Shape().Dimensions...), y.DType())
		l := ReduceAllSum(Mul(y, r))
		return append([]*Node{y}, Gradient(l, in...)...)
	}, args...)
	if err != nil {
		return nil, err
	}
	for _, t := range res {
		out = append(out, flat64(t))
	}
	return out, nil
}

// lossFn compiles L(inputs) on b (float64) for finite differences.
func lossFn(t *testing.T, b compute.Backend, c opCase) func(inputs [][]float64) float64 {
	e := MustNewExec(b, func(in []*Node) *Node {
		y := c.fn(in)
		r := Reshape(Const(y.Graph(), weights(y.Shape().Size())), y.Shape().Dimensions...)
		return ReduceAllSum(Mul(y, r))
	})
	return func(inputs [][]float64) float64 {
		args := make([]any, len(inputs))
		for i, v := range inputs {
			args[i] = toTensor(v, c.inputs[i], dtypes.Float64)
		}
		res, err := e.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return flat64(res[0])[0]
	}
}

func weights(n int) []float64 {
	rng := rand.New(rand.NewSource(int64(7 + n)))
	w := make([]float64, n)
	for i := range w {
		w[i] = rng.Float64()*2 - 1
	}
	return w
}

func toTensor(v []float64, dims []int, dtype dtypes.DType) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...)
}

func flat64(t *tensors.Tensor) []float64 {
	switch t.DType() {
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out
	default:
		return tensors.MustCopyFlatData[float64](t)
	}
}

// caseInputs draws the inputs of a case: N(0, 1), |·|+0.5 where it must be positive.
func caseInputs(c opCase, seed int64) [][]float64 {
	rng := rand.New(rand.NewSource(seed))
	var in [][]float64
	for i, dims := range c.inputs {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float64, n)
		for j := range v {
			v[j] = rng.NormFloat64()
			if i < len(c.pos) && c.pos[i] {
				v[j] = math.Abs(v[j]) + 0.5
			}
		}
		in = append(in, v)
	}
	return in
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}

// maxRelErr is max |a-b| / max(1, max|b|).
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	scale := max(1, maxAbs(b))
	m := 0.0
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m / scale
}

// TestOpsGradientsFiniteDifferencesGo checks forward and gradients of every case on the pure-Go
// backend in float64: the gradients against central finite differences, and the decorator's
// emulations (forced) against the inner Go ops.
func TestOpsGradientsFiniteDifferencesGo(t *testing.T) {
	b := Must("go")
	forced := Decorate(b.(*Decorated).Inner(), "go")
	forced.force = true
	worstFD, worstEmu := 0.0, 0.0
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			in := caseInputs(c, 1)
			got, err := runCase(b, c, dtypes.Float64, in)
			if err != nil {
				t.Fatal(err)
			}
			emu, err := runCase(forced, c, dtypes.Float64, in)
			if err != nil {
				t.Fatalf("forced emulation: %v", err)
			}
			for i := range got {
				if e := maxRelErr(emu[i], got[i]); e > 1e-12 {
					t.Errorf("output %d: emulation differs from the inner Go op by %.3g", i, e)
				} else {
					worstEmu = max(worstEmu, e)
				}
			}
			loss := lossFn(t, b, c)
			const h = 1e-6
			for i := range in {
				fd := make([]float64, len(in[i]))
				for j := range in[i] {
					x0 := in[i][j]
					in[i][j] = x0 + h
					lp := loss(in)
					in[i][j] = x0 - h
					lm := loss(in)
					in[i][j] = x0
					fd[j] = (lp - lm) / (2 * h)
				}
				e := maxRelErr(got[1+i], fd)
				worstFD = max(worstFD, e)
				if e > 1e-6 {
					t.Errorf("input %d: gradient differs from finite differences by %.3g\n got %v\nwant %v", i, e, got[1+i], fd)
				}
			}
		})
	}
	t.Logf("float64, pure Go: max relative error vs finite differences %.2g; forced emulation vs inner ops %.2g", worstFD, worstEmu)
}

// otherBackends returns the compiled-in and installed backends besides pure Go: ONNX Runtime and XLA.
func otherBackends(t *testing.T) map[string]compute.Backend {
	out := map[string]compute.Backend{}
	if Available("onnx") {
		if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
			t.Log("ONNX Runtime compiled in but absent: run scripts/install-onnxruntime.sh (its comparison is skipped)")
		} else {
			out["onnx:cpu"] = Must("onnx:cpu")
		}
	} else {
		t.Log("ONNX Runtime not compiled in (-tags onnx): its comparison is skipped")
	}
	if Available("xla") {
		if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
			t.Log("XLA compiled in but no plugin: run scripts/install-xla.sh (its comparison is skipped)")
		} else {
			out["xla:cpu"] = Must("xla:cpu")
		}
	} else {
		t.Log("XLA not compiled in (-tags xla): its comparison is skipped")
	}
	return out
}

// TestOpsAgreeAcrossBackends compares forward and gradients of every case in float32 between pure Go,
// ONNX Runtime and XLA (whichever are compiled in and installed; XLA is the reference when present).
func TestOpsAgreeAcrossBackends(t *testing.T) {
	others := otherBackends(t)
	if len(others) == 0 {
		t.Skip("no second backend: build with -tags onnx and/or xla and install them (this test was skipped, not passed)")
	}
	names := []string{"go"}
	bks := []compute.Backend{Must("go")}
	for _, n := range []string{"onnx:cpu", "xla:cpu"} {
		if b, ok := others[n]; ok {
			names = append(names, n)
			bks = append(bks, b)
		}
	}
	ref := 0
	if _, ok := others["xla:cpu"]; ok {
		ref = len(names) - 1
	}
	worst := map[string]float64{}
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			in := caseInputs(c, 2)
			res := make([][][]float64, len(bks))
			for i, b := range bks {
				var err error
				if res[i], err = runCase(b, c, dtypes.Float32, in); err != nil {
					t.Fatalf("%s: %v", names[i], err)
				}
			}
			for i := range bks {
				if i == ref {
					continue
				}
				for j := range res[i] {
					e := maxRelErr(res[i][j], res[ref][j])
					worst[names[i]] = max(worst[names[i]], e)
					if e > 2e-5 {
						what := "forward"
						if j > 0 {
							what = fmt.Sprintf("gradient %d", j-1)
						}
						t.Errorf("%s vs %s, %s: max relative error %.3g\n got %v\nwant %v", names[i], names[ref], what, e, res[i][j], res[ref][j])
					}
				}
			}
		})
	}
	var sb strings.Builder
	for n, e := range worst {
		fmt.Fprintf(&sb, " %s %.2g;", n, e)
	}
	t.Logf("float32, reference %s: max relative error (forward and gradients):%s", names[ref], sb.String())
}
