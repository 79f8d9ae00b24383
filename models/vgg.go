package models

// VGGSmallSpec is "vgg-small": VGG's layout (stacks of two 3×3 convolutions then a max pool, widths
// doubling) with three stacks and two fully connected layers.
var VGGSmallSpec = ConvNetSpec{
	Convs: []ConvSpec{
		{Filters: 32, Kernel: 3}, {Filters: 32, Kernel: 3, Pool: true},
		{Filters: 64, Kernel: 3}, {Filters: 64, Kernel: 3, Pool: true},
		{Filters: 128, Kernel: 3}, {Filters: 128, Kernel: 3, Pool: true},
	},
	Hidden:  []int{256},
	Bias:    true,
	Dropout: true,
}

func init() {
	Register("vgg-small", "small VGG-style net: conv1-conv6 (3x3; 32,32,64,64,128,128; max pool after each pair), fc7 (256, dropout), fc8; no BN",
		ConvNetBuilder(VGGSmallSpec))
}
