// Package models holds the networks the experiments analyse: the ResNet and DenseNet families (the
// paper's ResNet50 and DenseNet121 for small images, SPEC A.5, plus small presets of the same
// families), small AlexNet- and VGG-style nets (SPEC B and C), their training, evaluation,
// checkpoints and a zoo of small trained checkpoints.
package models
