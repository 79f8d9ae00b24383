package models

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/models/ops"
)

// ConvNetSpec describes a plain convolutional net in the style of AlexNet or VGG (for SPEC B and C):
// 3×3-or-larger 'same' convolutions with biases and ReLU, 2×2 max pools after some of them, then
// fully connected layers with ReLU and dropout (Config.Dropout), and a final dense(K). No batch norm.
//
// Layers are named as in Cheney et al.: "conv1", "conv2", … then "fc<n>" continuing the numbering
// (AlexNet: conv1–conv5, fc6–fc8). With Config.InputScale "raw255" the net multiplies its input by
// the constant 1/255 first (it has no BN to absorb the scale).
type ConvNetSpec struct {
	Convs   []ConvSpec // the convolutional layers, in order
	Hidden  []int      // units of the hidden fully connected layers
	Bias    bool       // every conv/fc layer carries biases
	Dropout bool       // dropout (Config.Dropout) after each hidden fully connected layer
}

// ConvSpec is one convolutional layer of a ConvNetSpec.
type ConvSpec struct {
	Filters, Kernel int  // output channels and (odd) kernel size
	Pool            bool // 2×2 max pool ('valid', Keras) after the ReLU
}

// AlexNetSmallSpec is "alexnet-small": AlexNet's layout (five convolutions, max pools after conv1,
// conv2 and conv5, three fully connected layers with dropout) at a size for 28×28 or 32×32 inputs.
var AlexNetSmallSpec = ConvNetSpec{
	Convs: []ConvSpec{
		{Filters: 32, Kernel: 5, Pool: true},
		{Filters: 64, Kernel: 3, Pool: true},
		{Filters: 96, Kernel: 3},
		{Filters: 96, Kernel: 3},
		{Filters: 64, Kernel: 3, Pool: true},
	},
	Hidden:  []int{256, 256},
	Bias:    true,
	Dropout: true,
}

func init() {
	Register("alexnet-small", "small AlexNet-style net: conv1-conv5 (32,64,96,96,64; max pools after 1, 2, 5), fc6-fc7 (256, dropout), fc8; no BN",
		ConvNetBuilder(AlexNetSmallSpec))
}

// ConvNetBuilder returns the Builder of the plain conv net described by spec.
func ConvNetBuilder(spec ConvNetSpec) Builder {
	return func(cfg Config, scope *model.Scope, x *Node) *Node {
		x = prepareInput(cfg, scope, x, true)
		n := 0
		for _, c := range spec.Convs {
			n++
			x = ops.ReLU(ops.Conv2D(scope.In("conv%d", n), x, c.Filters, c.Kernel, 1, ops.Same, spec.Bias))
			if c.Pool {
				x = ops.MaxPool2(x)
			}
		}
		x = ops.Flatten(x)
		for _, units := range spec.Hidden {
			n++
			x = ops.ReLU(ops.Dense(scope.In("fc%d", n), x, units, spec.Bias))
			if spec.Dropout {
				x = ops.Dropout(scope, x, cfg.Dropout)
			}
		}
		n++
		return ops.Dense(scope.In("fc%d", n), x, cfg.Classes, spec.Bias)
	}
}
