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
package models
