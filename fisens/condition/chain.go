package condition

// ChainKind is the linear map of a chain layer.
type ChainKind int

const (
	// ChainConv is a stride-1 2-D convolution with an odd square kernel [k, k, Cin, Cout] on
	// channels-last inputs [H, W, Cin].
	ChainConv ChainKind = iota
	// ChainDense is x ↦ x·W with W [in, out]; a rank-3 input is flattened row-major first.
	ChainDense
)

// String returns "conv" or "dense".
func (k ChainKind) String() string {
	if k == ChainDense {
		return "dense"
	}
	return "conv"
}

// ChainPadding is the spatial padding of a convolution.
type ChainPadding int

const (
	// PadSame pads as TensorFlow's 'same' does ((k−1)/2 on every side at stride 1 for odd k).
	PadSame ChainPadding = iota
	// PadValid uses no padding.
	PadValid
)

// ChainLayer is one layer x_l = pool(relu(A_l x_{l−1} + b_l)) of a feed-forward chain. Its
// variables are Scope+"/weights" (the kernel) and, optionally, Scope+"/biases".
type ChainLayer struct {
	Scope   string       // e.g. "/conv1"
	Kind    ChainKind    // ChainConv or ChainDense
	Padding ChainPadding // convolutions only
	ReLU    bool         // ReLU after the affine map
	MaxPool bool         // 2×2, stride-2 'valid' max pool after the ReLU (convolutions only; an odd trailing row/column is dropped)
}

// Chain describes a plain feed-forward classifier (AlexNet- or VGG-style: convolutions, dense
// layers, ReLU, non-overlapping max pools; dropout is the identity in inference) as a sequence of
// affine layers. It is the special case of a Net whose nodes each take the previous one (Net).
type Chain struct {
	Input      []int   // one example's input shape, [H, W, C]
	InputScale float64 // the network multiplies its input by this constant first (1/255 for raw-pixel models); 0 means 1
	Layers     []ChainLayer
}

// Net returns the chain as a Net: per layer a conv or dense node, then a ReLU and a 2×2 max pool
// node where the layer has them, each node taking the previous one.
func (c Chain) Net() Net {
	n := Net{Input: append([]int(nil), c.Input...), InputScale: c.InputScale}
	for _, l := range c.Layers {
		op := OpConv
		if l.Kind == ChainDense {
			op = OpDense
		}
		n.Nodes = append(n.Nodes, NetNode{Op: op, Scope: l.Scope, Padding: l.Padding})
		if l.ReLU {
			n.Nodes = append(n.Nodes, NetNode{Op: OpReLU})
		}
		if l.MaxPool {
			n.Nodes = append(n.Nodes, NetNode{Op: OpMaxPool, Window: 2, Stride: 2})
		}
	}
	return n
}
