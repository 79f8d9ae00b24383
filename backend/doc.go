// Package backend selects the GoMLX compute backend from one switch: the --backend flag where a
// command has one, else $GOMLX_BACKEND, else the embedded pure-Go backend ("go").
//
// The pure-Go backend is always compiled in. ONNX Runtime ("onnx:cpu") is compiled in with the
// build tag `onnx` and needs libonnxruntime (scripts/install-onnxruntime.sh installs it from the npm
// registry). XLA ("xla:cpu", "xla:cuda") is compiled in with the build tag `xla` and needs a PJRT
// plugin: scripts/install-xla.sh installs XLA's CPU plugin from PyPI (CUDA: the user provides one).
//
// # The decorator: gradients for the common CNN operator set on both CPU backends
//
// For "go" and "onnx:cpu", New returns a [Decorated] backend: it wraps the inner backend (and its
// builders, functions, closures, executables and buffers, so that tensors and the function arguments
// of Call/While/If/Sort keep working) and supplies the operations the inner backend lacks or gets
// wrong from operations it has. Every graph goes through it — fisens's own models and imported ONNX
// models alike. Where the inner operation exists and is right it is called unchanged, so results are
// bit-identical to the inner backend's (the forced emulations agree with pure Go's own ops to 0 in
// float64). XLA runs every operation and is not wrapped. An operation that neither the inner backend
// nor the decorator provides is an error naming it and the backends that run it (XLA runs all; "go" where
// its capability table lists it) — never a panic. Measured against finite differences in float64 and
// across go / onnx:cpu / xla:cpu in float32 by ops_test.go (see "Tests" below).
//
// What was missing, found by reading compute v0.1.0, compute-onnx (the pseudo-version gomlx v0.28.1
// pins) and gomlx v0.28.1, and confirmed by running it; how each gap is filled; what it costs:
//
//   - Pad. ONNX Runtime: none (so no gradient through Slice, mean pooling, Pad, and no forward of
//     explicitly padded models such as DenseNet's average-pool transitions). Pure Go: has Pad, but
//     panics at run time ("slice bounds out of range") on negative edges, which the gradients of
//     padded mean pooling and of Pad produce. Filled: pure Go pads the positive part and Slices the
//     negative edges off; ONNX Runtime builds it per axis — interior padding by Reshape [.., n, 1, ..]
//     ++ the fill value [.., n, i, ..] (Concatenate) + Reshape + Slice, negative edges by Slice,
//     positive edges by Concatenate with the broadcast fill value. Cost: one copy of the tensor per
//     padded axis (two with interior padding); no arithmetic.
//   - ConvGeneral with input dilations: the input gradient of every strided convolution. ONNX Conv has
//     none ("input dilations > 1 not supported"). Filled by sub-pixel phases (subPixelConv): output
//     position q·s + r of the stride-1 convolution of the s-dilated v only meets the kernel taps t with
//     r + t·d − p ≡ 0 (mod s), so each phase (s per axis) is a plain convolution of v with the strided
//     sub-kernel of its taps, and the phases are interleaved (Reshape + Concatenate + Reshape + Slice
//     per axis). The multiply-adds are those of a direct transposed convolution (1/s² of zero-
//     interleaving v with Pad and convolving, which remains the fallback for strided input-dilated
//     convolutions). Negative paddings (the kernel gradient of some strided convolutions; ONNX Conv
//     needs pads ≥ 0): the input is Sliced first.
//     Speed (BenchmarkStridedConvGradient: forward + both gradients of a 3×3 stride-2 'same' conv,
//     [32, 32, 32, 16] → [32, 16, 16, 32], alternating with the 4×-mask workaround of models/ops,
//     medians of 10–20 rounds; machine shared, load average 25–30 on 2 cores, so ratios vary run to
//     run): ONNX Runtime 1.9×, 4.6× and 6.9× faster than the mask workaround in three runs (16–78 ms
//     against 110–150 ms; zero-interleaving instead of phases: 2.8×), XLA (native) 3.2–4.6×.
//   - ReduceWindow on ONNX Runtime (compute-onnx maps it to MaxPool/AveragePool): Sum became
//     AveragePool without count_include_pad times the window size, so padded sums were wrong at the
//     borders (a 3×3 window with padding 1 on a 4×4 image gave 54 at a corner where the sum is 24; the
//     gradient of padded mean pooling uses exactly this op); window dilations were dropped (ONNX
//     Runtime then failed at run time with a shape mismatch); the scale constant is float32, so float64
//     sums fail. Filled: Max goes to MaxPool unchanged; a float32 Sum without dilations goes to
//     AveragePool after an explicit zero Pad; everything else — and anything the inner backend lacks on
//     pure Go — is emulated: Reshape [.., out, window, ..] + ReduceSum/Max when the windows tile the
//     input (stride = window, no padding), else one strided Slice per window offset (∏ window of them)
//     combined with Add/Max/Min/Mul. Pure Go's own ReduceWindow is right and is used.
//   - SelectAndScatterMax/Min: the gradient of max (min) pooling. Pure Go: none (no MaxPool gradient at
//     all). ONNX Runtime: MaxPool indices + ScatterElements without reduction, so where windows overlap
//     (ResNet's 3×3/2 pool) the last write wins instead of the sum (a maximum shared by four 3×3 windows
//     got 1 instead of 4), and its zeros are a float32 constant of the operand's size. Filled: ONNX
//     Runtime keeps its op for non-overlapping float32 windows; otherwise one strided Slice of the
//     (−∞-padded) operand per window offset, their running maximum, masks of the first offset that
//     reaches it (Equal, LogicalAnd/Not: ties go to the first, as in XLA), Where(mask, source, 0); the
//     masked sources go back in place by Concatenate/Reshape/Transpose when windows tile the operand,
//     else by phases: offset k = q·s + r of output o lands at padded position (o + q)·s + r, so the
//     sources of each phase r are shifted by q on the pooled grid (edge Pads of the pooled size),
//     summed, and the s phases per axis interleaved (Reshape + Concatenate + Reshape), then the padding
//     is cropped. Cost: ∏ window slices, compares, selects, shifts and adds of the pooled size (a 3×3/2
//     pool: 9 of a quarter of the input each) plus one interleave of the input's size.
//     BenchmarkMaxPoolGradient (ResNet's 3×3/2 pool with padding 1, forward + gradient,
//     [32, 32, 32, 16], same load as above): ONNX Runtime 11–35 ms (131 ms with one interior Pad per
//     offset, the first version), XLA (native) 62–69 ms, pure Go 389–577 ms.
//   - Clamp and Rsqrt: ONNX Runtime has neither; Min(Max(x, lo), hi) and 1/Sqrt(x).
//
// Graph-level gaps (GoMLX v0.28.1, not a backend's), filled in graph.VJPRegistration by this package's
// init (vjp.go), so they serve every backend, XLA included:
//
//   - no gradient at all for Pad, Clamp (graph.Clip with tensor bounds; ONNX Clip with min/max inputs),
//     Rsqrt (batch normalization as (x−μ)·rsqrt(σ²+ε)) and Identity (ONNX Identity and Dropout).
//     Pad: the gradient is v with the edges removed (Pad with the negated edges) and the interior
//     dropped (strided Slice), the fill value gets the rest of v's sum; Clamp: v where lo ≤ x ≤ hi,
//     to the bounds elsewhere; Rsqrt: −y³/2; Identity: v.
//   - DotGeneral's gradient (not a gap, a cost): GoMLX contracts v (the output's gradient) first for
//     both inputs, so XLA transposes the whole v before the weight-gradient GEMM of every dense layer
//     and 1×1 convolution; vjp_dot.go contracts the other operand first (xᵀ·v): 3.2× faster on XLA,
//     1.3× on ONNX Runtime (BenchmarkDotWeightGradient; FISENS_DOT_VJP=gomlx restores GoMLX's).
//   - convolutions with an even kernel size: GoMLX's input gradient is shifted by one position (its
//     reverse convolution pads (k−1)/2 twice where k−1 is due) and panics for some paddings; strided
//     convolutions with kernel dilations: GoMLX's gradient panics (its Convolve builder refuses the
//     pair). These get both gradients from vjp.go (input: transposed convolution with start padding
//     K−1−p and end padding N+p−(O−1)s−1; kernel: x convolved with v); all others keep GoMLX's.
//   - convolutions with input dilations (the input gradient of a strided convolution, so every second
//     derivative through one: Cook's double backpropagation since the models use real stride-2
//     convolutions): GoMLX panics; here the convolution of Pad(x, interior D−1) is differentiated and
//     Pad's adjoint (every D-th position) applied (one channel group); Reverse (the kernel flip inside
//     an input gradient) gets its own adjoint.
//
// Not covered: batch-grouped convolutions on ONNX Runtime (batchGroupCount > 1: the VJP of a grouped
// convolution does not emit them); gradients of channel-grouped input-dilated convolutions; strides
// together with kernel dilations through graph.Convolve (GoMLX's builder refuses the pair forward;
// graph.ConvGeneral takes it, and its gradient works). The node-level error of an imported model (which
// ONNX node) is the importer's: this package names the operation.
//
// # Tests
//
// ops_test.go runs 53 cases of the operator set (Conv at strides 1/2/3, symmetric, asymmetric and
// no padding, dilations (also with strides), groups and depthwise, NHWC and NCHW, odd and even sizes
// and kernels;
// overlapping, tiling and 'same' max and average pools; batch norm in training and inference; ReLU,
// LeakyReLU, Sigmoid, Tanh, Clip; Gemm, MatMul, broadcasting Add/Mul, Concat, Flatten, Pad with interior
// and negative edges, strided Slice, Softmax, LogSoftmax): forward and gradients of Σ r⊙y against
// central finite differences on pure Go in float64 (largest relative error 2.9e-9), forced emulations
// against pure Go's own ops (difference 0), and go / onnx:cpu against xla:cpu in float32 (largest
// relative error 3.7e-7 / 2.5e-7). onnx_test.go checks the three compute-onnx bugs above on exact
// values; decorator_test.go runs While/If/Sort closures through the decorator. Run: go test ./backend/; with the other backends: source the exports of
// scripts/install-onnxruntime.sh and scripts/install-xla.sh, then go test -tags onnx,xla ./backend/.
//
// # XLA on CPU
//
// scripts/install-xla.sh takes XLA's CPU PJRT plugin from PyPI: lammps-jax-pjrt-cpu 0.11.2 (wheel
// SHA-256 1319390d…d9ad1, plugin .so ad1309ac…8c9c2), built from the XLA of jaxlib 0.11.2. It
// reports PJRT C API 0.115 and StableHLO 1.20.0 (minimum 0.9.0); go-xla v0.4.0 carries API 0.104 and
// runs on it, except that go-xla always passes the GPU client option "preallocate", which this plugin
// rejects ("Unexpected option name passed to PJRT_Client_Create: preallocate"): the script builds a
// 60-line shim (scripts/xla-pjrt-shim.c, needs a C compiler) that go-xla loads instead and that drops
// the GPU-only options before calling the real plugin. The other wheel, xla-cpu-pjrt 0.0.1 (SHA-256
// 55837b6b…0decc), reports PJRT C API 0.81 — older than go-xla's 0.104 — accepts the option and ran a
// strided convolution and its gradient correctly, but is not used. All cross-backend tests of models/ops,
// models and fisens pass with xla:cpu in place of onnx:cpu.
package backend
