// Package models holds the networks the experiments analyse: the ResNet and DenseNet families (the
// paper's ResNet50 and DenseNet121 for small images, SPEC A.5, plus small presets of the same
// families), small AlexNet- and VGG-style nets (SPEC B and C), their training, evaluation,
// checkpoints and a zoo of small trained checkpoints.
//
// # Architectures (registry names)
//
//	resnet50        the paper's ResNet50 for small images: 107 trainable layers (53 conv, 53 BN, 1 dense)
//	resnet-small    same bottleneck blocks, stride-2 stem (32), stages [1,1,1], filters (32,32,128), (64,64,256), (128,128,512)
//	densenet121     the paper's DenseNet121: 242 trainable layers (120 conv, 121 BN, 1 dense)
//	densenet-small  same dense layers and transitions, blocks [3,3,3], growth 12, stride-2 stem
//	alexnet-small   conv1–conv5, fc6–fc8, 2×2 max pools, dropout on fc6/fc7, no BN (≈0.43–0.55 M params)
//	vgg-small       conv1–conv6 (3×3, pairs then a max pool), fc7–fc8, no BN (≈0.58–0.81 M params)
//
// Every model runs forward and backward on both the pure-Go and the ONNX Runtime backends: they
// are built from package ops (batch norm from basic ops, pooling by Reshape + Reduce, stride 2 as a
// stride-1 convolution and an exact subsample, odd kernels only).
//
// # Layers and variable names (the fisens.Classifier layer contract)
//
// A layer is the set of trainable variables of one scope, numbered in creation order; the last
// element of the scope names the kind: "conv…", "bn…", "dense…" or "fc…". Variable names, in all
// families: "weights" and "biases" for convolution and dense kernels and biases; "gamma" and "beta"
// (trainable) then "mean" and "variance" (Trainable = false, the moving statistics) for batch norm.
// The store also holds the random-number state "/#rngState" (non-trainable).
//
//	ResNet:   /stem/conv, /stem/bn, /stage<s>/block<b>/{conv1,bn1,conv2,bn2,conv3,bn3[,conv_shortcut,bn_shortcut]}, /dense
//	          (stages numbered from 2, as in Keras; the projection shortcut comes after the main path)
//	DenseNet: /stem/conv, /stem/bn, /block<b>/layer<l>/{bn1,conv1,bn2,conv2}, /transition<b>/{bn,conv}, /final/bn, /dense
//	AlexNet:  /conv1 … /conv5, /fc6, /fc7, /fc8;  VGG-small: /conv1 … /conv6, /fc7, /fc8
//
// # Choices where the paper is silent or Keras has a default
//
//   - Convolutions carry biases in every family, as Keras' Conv2D does by default (before a BN the
//     bias is redundant and its training gradient is zero; it still counts as a parameter and can be
//     perturbed). Without them ResNet50 would have 53 × filters fewer parameters (23,582,282 instead
//     of 23,608,842 on 32×32×3).
//   - Kernels are initialised He-normal (GoMLX's default, Keras' ResNet50 choice), biases and BN
//     β at 0, γ at 1, moving mean 0 and variance 1; the draws are seeded by Config.Seed.
//   - Batch norm: Keras momentum 0.99 and epsilon 1e-3 (see package ops for the update rule).
//   - Dropout (Config.Dropout) follows every ReLU in ResNet, every convolution in DenseNet's dense
//     layers and transitions, and fc6/fc7 (AlexNet) or fc7 (VGG); it is off in inference mode.
//   - Pooling is Keras 'valid': 2×2 pools floor odd sizes (7 → 3).
//   - Inputs: Config.InputScale "raw255" (the paper's raw 0–255 pixels) or "unit". ResNet and
//     DenseNet take the input as it is (their stem BN absorbs the scale). AlexNet/VGG-small have no
//     BN, so with "raw255" they first multiply the input by the constant 1/255.
//   - The small presets put a stride of 2 earlier than the paper models (see ResNetSmallSpec and
//     DenseNetSmallSpec) so that they train on a 2-core CPU in minutes.
//
// # Training (fisens train, Train)
//
// Train (and `fisens train`) trains as the paper does by default (SPEC A.5): Adam, softmax
// cross-entropy plus Config.L2 · Σ w² over the conv/dense kernels (1e-4), batch 128
// (PaperBatchSize; the last partial batch of an epoch is dropped), training mode (dropout, batch
// statistics), and the learning rates 1e-3, 5e-4, 2.5e-4, 1e-4 (PaperLearningRates) over equal
// parts of the epochs (DefaultStepEpochs: 200 epochs step at 50, 100, 150). After every epoch it
// measures the validation accuracy in inference mode and keeps the best-validation model.
//
//	fisens train --arch resnet-small --data mnist --epochs 2 --out DIR --backend onnx:cpu
//
// Flags: --arch, --data (mnist, fashion-mnist, cifar10), --epochs (paper: 200 for MNIST, 500 for
// CIFAR-10), --out DIR, --batch (128), --lrs (1e-3,5e-4,2.5e-4,1e-4), --lr-steps (0-based epochs
// where stages 2, 3, … start; default equal parts), --dropout (0.2), --l2 (1e-4), --scale (raw255
// or unit), --seed (initialisation, dropout, shuffles), --split-seed (train/valid split),
// --max-steps (batches per epoch, for quick trials), --eval-batch, --backend (go, onnx:cpu,
// xla:cpu; default $GOMLX_BACKEND, else go), --data-dir, --quiet. DIR/best is the best-validation
// model (Load(DIR) and --model DIR load it; best/training.json records how it was trained), and
// DIR/last the latest state, Adam's moments included, written after every epoch. Ctrl-C (or
// SIGTERM) stops between two batches and saves the position inside the epoch; `fisens train --out
// DIR --resume` continues exactly there (the architecture, batch size and seed come from
// DIR/last; pass the same --data and --split-seed, and --epochs to change the planned length).
// Without --resume a DIR that holds a run is refused.
//
// # Evaluation (fisens eval, Evaluate)
//
// `fisens eval --model zoo:NAME|DIR` prints the model's Table 1 row: accuracy in inference mode on
// the training split, the validation split and the test set (Evaluate, Table1Row). --data and
// --split-seed default to what the model records (else mnist and 0), --splits picks a subset,
// --json prints fractions and example counts as JSON, --list lists the zoo with its recorded
// accuracies.
//
// # Freeing a model (Close)
//
// A model holds, per backend, its compiled inference graphs and its variables' device buffers.
// GoMLX frees neither when the garbage collector collects the model; on ONNX Runtime every compiled
// graph is a session that lives until the process ends. A program that loads models one after the
// other calls Model.Close (and fisens.Analyzer.Close on their analyzers) when done with each:
//
//	m, err := models.Load(ref)
//	...
//	defer m.Close()
//	an, err := fisens.NewAnalyzer(b, m)
//	...
//	defer an.Close()
//
// Close is idempotent; every later use of the model is an error wrapping ErrClosed. Clones are
// independent models: close each. experiments.ReleaseModels closes the models the experiments
// cached; `fisens reproduce --scale paper` calls it after each experiment.
//
// # Your own model: ONNX (LoadONNX)
//
// Load("path/model.onnx") (and every --model flag) loads an image classifier exported to ONNX by
// PyTorch, Keras/tf2onnx or any other framework, through github.com/gomlx/onnx-gomlx v0.5.2, as a
// *Model like the Go-defined ones (Config.Arch "onnx", Config.ONNX says how it was read; see LoadONNX
// and ONNXOptions). Images are fed as raw 0–255 pixels [B, H, W, C]; the recorded preprocessing
// ((x·scale − mean[c]) / std[c], from ONNXOptions, else the sidecar model.onnx.json, else pixels/255)
// and, for an NCHW model, the transpose run inside the graph, so every gradient is with respect to
// the raw pixels as for the zoo models. Layers for per-layer FI are the float initializers grouped
// by their consuming node, in scopes "/conv_NAME", "/bn_NAME", "/dense_NAME", "/other_NAME" (NAME from
// PyTorch's parameter names), with the variable names of this package ("weights", "biases", "gamma",
// "beta", non-trainable "mean" and "variance"), and in this package's layout: conv kernels
// [kh, kw, in, out] (ONNX: [out, in, kh, kw]) and Gemm(transB) kernels [in, out], the units on the
// last axis, transposed back inside the graph — so node knockout (fisens/weights) and per-channel
// scaling (fisens.ChannelScaler) address whole filters of an imported model as of a zoo model
// (TestONNXKernelsStoredUnitsLast, TestONNXNodeKnockoutWholeFilters). Before conversion the graph is adapted to the
// importer: Dropout and Identity nodes are removed, LeakyRelu becomes Max(x, α·x), PyTorch's computed
// pad sizes are folded into constants, an average pool that counts padding gets an explicit Pad,
// a final Softmax/LogSoftmax is cut off (its input is the logits), weights deduplicated by the
// exporter get their own copies. ONNX models cannot be saved or trained here (Save refuses).
//
// The fixtures in testdata/onnx (scripts/onnx-fixtures.sh: Debian's torch 1.13) cover the CNN
// operator set and channel-reduced torchvision ResNet, DenseNet, VGG and AlexNet members on 1×28×28
// and 3×32×32 inputs, with PyTorch float64 references (TestONNXImport*); mnist-cnn.onnx is a small
// CNN trained in PyTorch on MNIST (98.49 % test accuracy in PyTorch and here: TestONNXMNISTCNN*).
//
// # The zoo
//
// Small trained checkpoints are embedded in the package (directory models/zoo), so Load("zoo:NAME")
// (and --model zoo:NAME) works from any working directory. Each is a model directory
// models/zoo/NAME/ (model.json, the checkpoint, training.json) with an entry in
// models/zoo/manifest.json (ZooModel): name, arch, dataset, split_seed, input_scale, epochs,
// best_epoch, train_acc/valid_acc/test_acc (from `fisens eval`), params (trainable), command and
// eval_command (the exact commands), backend, train_seconds, train_cpu_seconds, dropout, machine
// and an optional note. To add a model:
//
//  1. fisens train --arch ARCH --data DATASET --epochs N --out DIR (note the wall and CPU time);
//  2. fisens eval --model DIR --json: the accuracies of DIR/best (its dataset and split seed come
//     from best/training.json);
//  3. copy DIR/best/ to models/zoo/NAME/;
//  4. add the manifest entry (eval_command as `fisens eval --model zoo:NAME --json`, which gives
//     the same row once the entry exists).
//
// TestZooManifest checks every entry without running a network (fields complete, the command
// trains --arch ARCH, the checkpoint loads as that architecture on the dataset's shape, parameter
// count, TrainedOn); TestZooSmoke runs each model on 100 MNIST test images with the pure-Go
// backend (skipped with -short); TestZooAccuracyONNX (build tag onnx) re-measures the test
// accuracy on all 10,000 test images with ONNX Runtime and allows 2 differing examples
// (TestZooAccuracy does it with the pure-Go backend when FISENS_ZOO_FULL=1).
package models
