package backend

import (
	"os"
	"slices"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// dotGeneralVJP is GoMLX's DotGeneral gradient with the operands of each gradient's contraction in the
// order that keeps the large tensors in place. GoMLX v0.28.1 contracts v (the output's gradient)
// first for both inputs; for the rhs's gradient — the weight gradient of every dense layer and 1×1
// convolution, [B·H·W, C]ᵀ · [B·H·W, D] — XLA then copies v into a transposed layout before the GEMM
// (a transpose of the layer's whole output gradient), while lhsᵀ·v runs as a transposed-operand
// GEMM without a copy: 2–4× faster on XLA's CPU backend for the small ResNet's 1×1 weight gradients
// (batch 128; docs/performance.md). The lhs's gradient, v · rhsᵀ, is already in that order. Where
// GoMLX takes its broadcast-multiply branch (an operand without free axes) or converts dtypes, its
// own gradient is used, and everywhere with FISENS_DOT_VJP=gomlx in the environment (for A/B timings).
func dotGeneralVJP(orig VJP, node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
	if os.Getenv("FISENS_DOT_VJP") == "gomlx" {
		return orig(node, vjpOutputs, outputShape)
	}
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	v := vjpOutputs[0]
	lc, lb := intsField(node, "lhsContractingAxes"), intsField(node, "lhsBatchAxes")
	rc, rb := intsField(node, "rhsContractingAxes"), intsField(node, "rhsBatchAxes")
	cfg, err := nodeField(node, "config")
	if err != nil {
		panic(err)
	}
	if !cfg.IsZero() || lhs.DType() != v.DType() || rhs.DType() != v.DType() {
		return orig(node, vjpOutputs, outputShape)
	}
	lx, rx := crossAxes(lhs.Rank(), lc, lb), crossAxes(rhs.Rank(), rc, rb)
	if len(lx) == 0 || len(rx) == 0 {
		return orig(node, vjpOutputs, outputShape)
	}
	nb := len(lb)
	// v is [batch..., lhs free..., rhs free...].
	vb := iota(0, nb)
	vl := iota(nb, len(lx))
	vr := iota(nb+len(lx), len(rx))
	// lhs gradient: v · rhsᵀ, contracting the rhs's free axes: [batch, lhs free, rhs contracting
	// (in rhs axis order)].
	gl := DotGeneral(v, vr, vb, rhs, rx, rb)
	gl = TransposeAllAxes(gl, backPermutation(lhs.Rank(), lb, lx, lc, rc)...)
	// rhs gradient: lhsᵀ · v, contracting the lhs's free axes: [batch, lhs contracting (in lhs axis
	// order), rhs free].
	gr := DotGeneral(lhs, lx, lb, v, vl, vb)
	gr = TransposeAllAxes(gr, backPermutationFirst(rhs.Rank(), rb, rx, rc, lc)...)
	return []*Node{gl, gr}
}

// crossAxes returns the axes of a rank-r operand that are neither contracted nor batch axes.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

// backPermutation maps a gradient laid out as [batch, this free, other's contracting axes in the
// other operand's axis order] back to "this" operand's axes (this's contracting axes pair with the
// other's by position in the axis lists).
func backPermutation(rank int, batch, free, thisContracting, otherContracting []int) []int {
	perm := make([]int, rank)
	for i, a := range batch {
		perm[a] = i
	}
	for i, a := range free {
		perm[a] = len(batch) + i
	}
	sorted := slices.Sorted(slices.Values(otherContracting))
	for j, oa := range sorted {
		perm[thisContracting[slices.Index(otherContracting, oa)]] = len(batch) + len(free) + j
	}
	return perm
}

// backPermutationFirst is backPermutation for a gradient laid out as [batch, other's contracting axes
// in the other operand's axis order, this free].
func backPermutationFirst(rank int, batch, free, thisContracting, otherContracting []int) []int {
	perm := make([]int, rank)
	for i, a := range batch {
		perm[a] = i
	}
	sorted := slices.Sorted(slices.Values(otherContracting))
	for j, oa := range sorted {
		perm[thisContracting[slices.Index(otherContracting, oa)]] = len(batch) + j
	}
	for i, a := range free {
		perm[a] = len(batch) + len(sorted) + i
	}
	return perm
}
