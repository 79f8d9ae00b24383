// Package ops holds the portable building blocks of the model families: layers whose forward pass
// AND gradients work on both the pure-Go backend and the ONNX Runtime backend of GoMLX v0.28.1.
//
// Why this package exists (see STACK.md): neither backend has the fused batch-norm ops; the pure-Go
// backend has no gradient through MaxPool; ONNX Runtime has no Pad (so no gradient through Slice,
// MeanPool or strided convolutions); and GoMLX v0.28.1 computes wrong input gradients for
// convolutions with EVEN kernel sizes. So everything here is built from ops that differentiate on
// both backends: convolutions with odd kernels (strided ones through the backend package's
// decorator), Reshape, Reduce{Sum,Mean,Max}, Concatenate, elementwise arithmetic and DotGeneral.
//
// Naming contract (fisens.Classifier): every layer creates its variables in the scope it is given,
// with these variable names, in this order:
//
//	Conv2D, Dense:  "weights" (kernel; [k, k, Cin, Cout] or [in, out]), then "biases" ([Cout]) if enabled
//	BatchNorm:      "gamma", "beta" (trainable), then "mean", "variance" (Trainable = false)
//
// The caller names the scope so that its last path element says the kind of layer: "conv…", "bn…",
// "dense…" or "fc…".
//
// Like every GoMLX graph-building function, these panic on misuse (a wrong rank, an even kernel, an
// unsupported stride) with a message that says what was expected; model.Exec and graph.Exec turn
// such a panic into the error they return.
//
// # Strided convolution
//
// Stride 2 (kernel > 1) is a strided convolution (graph.Convolve with strides) padded as
// TensorFlow/Keras pad 'same' (SamePadding: ⌊total/2⌋ before, the rest after, so at stride 2 on an
// even size one less before than after). XLA differentiates it natively; on pure Go and ONNX Runtime
// the backend package's decorator supplies its input gradient (package backend). It used to be a
// stride-1 convolution followed by an exact 2×2 subsample at the TensorFlow phase (SamePhase), which
// computed 4× the outputs; the two agree bit for bit on the zoo's checkpoints (TestConvolve2DMatchesBuiltin
// compares both with the built-in convolution; docs/performance.md has the timings). 1×1 kernels at
// stride 2 subsample first (Subsample2: Reshape to [B, H/2, 2, W/2, 2, C], a constant one-hot mask
// that picks phase 0, ReduceSum over the two size-2 axes; odd sizes get a zero row/column appended)
// and then run as a matrix product over channels (Einsum), which all backends run and differentiate
// faster than a convolution.
//
// # Batch normalization
//
// BatchNorm follows Keras (momentum 0.99, epsilon 1e-3). In training mode (scope.IsTraining(g)) it
// normalises with the batch mean and (biased) variance over batch and spatial axes, differentiating
// through them, and writes the new moving averages into the non-trainable "mean"/"variance"
// variables with moving = momentum·moving + (1−momentum)·batch, where the batch variance used for the
// moving average carries Bessel's correction n/(n−1) as TensorFlow's fused kernel does. The GoMLX
// trainer (train.NewTrainer) picks up these variable updates like any other variable change. In
// inference mode it uses the moving averages: y = x·a + b with a = γ/√(var+ε), b = β − mean·a.
//
// # Regularisation
//
// L2(scope, g) returns Σ w² over every trainable variable named "weights" (conv and dense kernels,
// not biases nor batch-norm parameters) under scope that graph g uses. A trainer adds
// Config.L2 · L2(...) to the loss, which is exactly Keras' kernel_regularizer=l2(Config.L2).
package ops
