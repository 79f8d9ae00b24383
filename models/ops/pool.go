package ops

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"
)

// MaxPool2 is 2×2 max pooling with stride 2 and Keras 'valid' padding on x [B, H, W, C]: an odd
// trailing row/column is dropped (⌊H/2⌋ × ⌊W/2⌋ outputs). It is a Reshape to [B, H/2, 2, W/2, 2, C]
// and a ReduceMax, which both backends differentiate.
func MaxPool2(x *Node) *Node {
	x = cropEven(x)
	d := x.Shape().Dimensions
	return ReduceMax(Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
}

// AvgPool2 is 2×2 average pooling with stride 2 and Keras 'valid' padding on x [B, H, W, C] (an odd
// trailing row/column is dropped).
func AvgPool2(x *Node) *Node {
	x = cropEven(x)
	d := x.Shape().Dimensions
	return ReduceMean(Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
}

// GlobalAvgPool averages x [B, H, W, C] over its spatial axes: [B, C].
func GlobalAvgPool(x *Node) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("ops.GlobalAvgPool: want x [B,H,W,C], got %s", x.Shape())
	}
	return ReduceMean(x, 1, 2)
}

// Flatten reshapes x [B, ...] to [B, prod(...)].
func Flatten(x *Node) *Node {
	d := x.Shape().Dimensions
	n := 1
	for _, v := range d[1:] {
		n *= v
	}
	return Reshape(x, d[0], n)
}

// cropEven drops the last row and/or column of x [B, H, W, C] where H or W is odd. Slice has no
// gradient on ONNX Runtime (no Pad op), so the crop is a product with a constant 0/1 selection
// matrix (DotGeneral), whose gradient works on both backends.
func cropEven(x *Node) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("ops: 2x2 pooling wants x [B,H,W,C], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	if d[1] < 2 || d[2] < 2 {
		exceptions.Panicf("ops: 2x2 pooling needs H, W >= 2, got %s", x.Shape())
	}
	if d[1]%2 == 1 {
		x = Einsum("bhwc,hk->bkwc", x, selection(x, d[1]))
	}
	if d[2]%2 == 1 {
		x = Einsum("bhwc,wk->bhkc", x, selection(x, d[2]))
	}
	return x
}

// selection returns the constant [n, n−1] matrix that keeps the first n−1 of n entries.
func selection(x *Node, n int) *Node {
	s := make([]float64, n*(n-1))
	for i := 0; i < n-1; i++ {
		s[i*(n-1)+i] = 1
	}
	return Reshape(ConstAsDType(x.Graph(), x.DType(), s), n, n-1)
}
