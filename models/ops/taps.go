package ops

import (
	"sync"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// A Tap records one parametrised layer of a graph that asked for it (RecordTaps): the layer's
// input and output nodes, from which per-example parameter gradients follow without one backward
// pass per example (as per-sample-gradient libraries do): for an output signal δ = ∂f/∂Out, a
// dense kernel's gradient is Inputᵀδ, a convolution kernel's the correlation of Input with δ, a
// batch norm's γ gradient Σ δ·Input (Input = the normalised x̂) and every bias's Σ δ.
type Tap struct {
	Kind string // "conv", "dense" or "bn"
	// Vars maps a role to the variable's path: "kernel" and optionally "bias" (conv, dense),
	// "gamma" and "beta" (bn).
	Vars map[string]string
	// Input: conv — the convolution's input ([B, H, W, Cin]; for a 1×1 kernel at stride 2 the
	// subsampled input); dense — [B, in]; bn — the normalised input x̂ [B, ..., C].
	Input *Node
	// KernelOut: conv — the convolution's output before the bias; dense — the product before the
	// bias. Out: the layer's output after the bias (conv, dense) or the batch norm's output.
	KernelOut, Out *Node
	Kernel         int     // conv kernel size
	Padding        Padding // conv padding mode
	// Stride and Pads: conv — the stride (1 or 2) of the convolution that produced KernelOut from
	// Input, and its zero padding (start, end) of the H and W axes.
	Stride int
	Pads   [2][2]int
}

var (
	tapsMu sync.Mutex
	taps   = map[*Graph]*[]Tap{}
)

// RecordTaps makes the layers of this package record a Tap for every parametrised layer built in
// g from now on (inference-mode batch norms only), until the returned function is called; it
// returns the taps recorded so far.
func RecordTaps(g *Graph) (stop func() []Tap) {
	tapsMu.Lock()
	defer tapsMu.Unlock()
	list := &[]Tap{}
	taps[g] = list
	return func() []Tap {
		tapsMu.Lock()
		defer tapsMu.Unlock()
		delete(taps, g)
		return *list
	}
}

// recording reports whether g records taps.
func recording(g *Graph) bool {
	tapsMu.Lock()
	defer tapsMu.Unlock()
	return taps[g] != nil
}

func addTap(g *Graph, t Tap) {
	tapsMu.Lock()
	defer tapsMu.Unlock()
	if l := taps[g]; l != nil {
		*l = append(*l, t)
	}
}
