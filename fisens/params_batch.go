package fisens

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/models/ops"
)

// ParamBatchChunk is the largest number of examples ParamFIBatch puts in one graph call: the
// per-example gradients of all selected parameters take K·chunk times their size in float32
// (the small ResNet: 8 · 10 · 517,066 · 4 bytes = 165 MB). Larger models get smaller chunks
// (paramBatchBytes), down to one example per call.
const ParamBatchChunk = 8

// paramBatchBytes bounds the per-example gradients of one chunk (float32, K per example):
// ResNet50's 23.6 M parameters take 0.94 GB per example at K = 10, so they go one at a time.
const paramBatchBytes = 1 << 30

// ParamFIBatch is ParamFI for every example of a batch. For classifiers built from the layers of
// models/ops (Conv2D, Dense, BatchNorm: every model of this module) it costs K backward passes per
// chunk of up to ParamBatchChunk examples instead of K per example: the backward passes give every
// layer's output signal δ_k = ∂z_k/∂(layer output) for the whole batch (inference mode, so
// examples do not interact), and each example's parameter gradients follow from δ and the layer's
// recorded input (ops.Tap), as per-sample-gradient libraries compute them: a dense kernel's is
// inputᵀδ, a convolution kernel's the correlation of its input patches with δ, a batch norm's γ
// gradient Σ δ·x̂, a bias's Σ δ. Where it is cheaper (few output positions, wide layers: useGhost), a
// kernel's Gram comes straight from its input and δ without forming the gradients (ghostGram;
// FISENS_PARAM_GHOST=off|all overrides the choice). Other classifiers (a variable no tap covers) fall
// back to ParamFI per example. The results equal ParamFI's up to float32 rounding of the gradients.
func (a *Analyzer) ParamFIBatch(b Batch, opt ParamOptions) ([]*ParamResult, error) {
	K := a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	if opt.Objective.Label == TrueLabel && b.Labels == nil {
		return nil, fmt.Errorf("fisens: objective %q needs the true labels (Batch.Labels is nil)", opt.Objective)
	}
	p := b.perExample()
	chunk, err := a.paramChunk(b, opt, K)
	if err != nil {
		return nil, err
	}
	out := make([]*ParamResult, 0, b.N())
	for lo := 0; lo < b.N(); lo += chunk {
		hi := min(lo+chunk, b.N())
		sub := Batch{X: b.X[lo*p : hi*p], Shape: append([]int{hi - lo}, b.Shape[1:]...)}
		if b.Labels != nil {
			sub.Labels = b.Labels[lo:hi]
		}
		res, err := a.paramFIChunk(sub, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// paramChunk returns how many examples go into one graph call: ParamBatchChunk, halved while the
// chunk's per-example gradients (K float32 per selected parameter and example, and per input value
// with WithInput) exceed paramBatchBytes.
func (a *Analyzer) paramChunk(b Batch, opt ParamOptions, K int) (int, error) {
	if a.clf.Store().NumVariables() == 0 {
		// Create the variables with one forward pass of one example so the groups can be listed.
		one := Batch{X: b.X[:b.perExample()], Shape: append([]int{1}, b.Shape[1:]...)}
		if _, err := a.Logits(one); err != nil {
			return 0, err
		}
	}
	all, err := a.Layers(opt.Group)
	if err != nil {
		return 0, err
	}
	groups, err := selectGroups(all, opt.Only)
	if err != nil {
		return 0, err
	}
	params := 0
	for _, l := range groups {
		params += l.Params
	}
	if opt.WithInput {
		params += b.perExample()
	}
	chunk := ParamBatchChunk
	for chunk > 1 && chunk*K*params*4 > paramBatchBytes {
		chunk /= 2
	}
	return chunk, nil
}

// paramFIChunk runs the batched graph on one chunk, or ParamFI per example when the classifier's
// layers are not all tapped.
func (a *Analyzer) paramFIChunk(b Batch, opt ParamOptions) ([]*ParamResult, error) {
	K := a.clf.NumClasses()
	pe, err := a.paramExecFor(b, opt, true)
	if err != nil {
		return nil, err
	}
	n0 := b.N()
	if !pe.untapped && pe.full > n0 {
		// Pad to the compiled size: the last examples' results are dropped below.
		p := b.perExample()
		x := make([]float32, pe.full*p)
		copy(x, b.X)
		for i := n0; i < pe.full; i++ {
			copy(x[i*p:(i+1)*p], b.X[(n0-1)*p:n0*p])
		}
		padded := Batch{X: x, Shape: append([]int{pe.full}, b.Shape[1:]...)}
		if b.Labels != nil {
			padded.Labels = make([]int, pe.full)
			copy(padded.Labels, b.Labels)
			for i := n0; i < pe.full; i++ {
				padded.Labels[i] = b.Labels[n0-1]
			}
		}
		b = padded
	}
	var out []*tensors.Tensor
	if !pe.untapped {
		if out, err = call(pe.exec, tensors.FromFlatDataAndDimensions(b.X, b.Shape...)); err != nil {
			return nil, err
		}
		pe.full = max(pe.full, b.N())
	}
	if pe.untapped { // known only after the first graph build
		res := make([]*ParamResult, b.N())
		p := b.perExample()
		for i := range res {
			one := Batch{X: b.X[i*p : (i+1)*p], Shape: append([]int{1}, b.Shape[1:]...)}
			if b.Labels != nil {
				one.Labels = b.Labels[i : i+1]
			}
			if res[i], err = a.ParamFI(one, opt); err != nil {
				return nil, fmt.Errorf("fisens: example %d: %w", i, err)
			}
		}
		return res, nil
	}
	z32 := flat32(out[0]) // [N, K]
	N := b.N()
	if len(z32) != N*K {
		return nil, fmt.Errorf("fisens: batched parameter graph returned %d logits for %d examples", len(z32), N)
	}
	nGram := len(pe.groups)
	if opt.WithInput {
		nGram++
	}
	KK := K * K
	grams := make([][]float64, N)
	if pe.gramsInGraph {
		all := flat64(out[1]) // [N, nGram, K, K]
		if len(all) != N*nGram*KK {
			return nil, fmt.Errorf("fisens: batched parameter graph returned %d Gram entries for %d examples", len(all), N)
		}
		for n := range grams {
			grams[n] = all[n*nGram*KK : (n+1)*nGram*KK]
		}
	} else {
		// out[1+i] = [N, K, ...] float32 per-example gradients of pe.vars[i] (then the input's):
		// the Gram matrices are accumulated here in float64 (ONNX Runtime's float64 Einsum ran at
		// ~0.3 GFLOP/s, 20x slower than this loop).
		grads := make([][]float32, len(out)-1)
		ghost := make([][]float64, len(out)-1)
		for i := range grads {
			if i < len(pe.varGram) && pe.varGram[i] {
				ghost[i] = flat64(out[1+i])
			} else {
				grads[i] = flat32(out[1+i])
			}
		}
		parallelFor(N, func(n int) {
			M := make([]float64, nGram*KK)
			for gi, vars := range pe.groupVars {
				for _, vi := range vars {
					if pe.varGram[vi] { // already a Gram [N, K, K]
						Mg := M[gi*KK : (gi+1)*KK]
						for j, v := range ghost[vi][n*KK : (n+1)*KK] {
							Mg[j] += v
						}
						continue
					}
					p := len(grads[vi]) / (N * K)
					gramAddF32Blocked(M[gi*KK:(gi+1)*KK], grads[vi][n*K*p:(n+1)*K*p], K, p)
				}
			}
			if opt.WithInput {
				gi, vi := len(pe.groups), len(grads)-1
				p := len(grads[vi]) / (N * K)
				gramAddF32Blocked(M[gi*KK:(gi+1)*KK], grads[vi][n*K*p:(n+1)*K*p], K, p)
			}
			grams[n] = M
		})
	}
	res := make([]*ParamResult, N)
	for n := 0; n < N; n++ {
		z := make([]float64, K)
		for k := range z {
			z[k] = float64(z32[n*K+k])
		}
		r, err := paramResultFromGrams(pe.groups, grams[n], z, b.label(n), opt)
		if err != nil {
			return nil, fmt.Errorf("fisens: example %d: %w", n, err)
		}
		res[n] = r
	}
	return res[:n0], nil
}

// gramAddF32 adds J Jᵀ to M (K × K) for J = rows [K, p] (float32, row-major), in float64.
func gramAddF32(M []float64, rows []float32, K, p int) {
	const block = 512
	var buf [16][block]float64
	if K > len(buf) {
		for a := 0; a < K; a++ {
			for b := a; b < K; b++ {
				var s float64
				ra, rb := rows[a*p:(a+1)*p], rows[b*p:(b+1)*p]
				for q := range ra {
					s += float64(ra[q]) * float64(rb[q])
				}
				M[a*K+b] += s
				if b != a {
					M[b*K+a] += s
				}
			}
		}
		return
	}
	var acc [16 * 16]float64
	for lo := 0; lo < p; lo += block {
		hi := min(lo+block, p)
		w := hi - lo
		for a := 0; a < K; a++ {
			widen(buf[a][:w], rows[a*p+lo:a*p+hi])
		}
		for a := 0; a < K; a++ {
			ra := buf[a][:w]
			for b := a; b < K; b++ {
				rb := buf[b][:w]
				var s0, s1, s2, s3 float64
				q := 0
				for ; q+4 <= w; q += 4 {
					s0 += ra[q] * rb[q]
					s1 += ra[q+1] * rb[q+1]
					s2 += ra[q+2] * rb[q+2]
					s3 += ra[q+3] * rb[q+3]
				}
				for ; q < w; q++ {
					s0 += ra[q] * rb[q]
				}
				acc[a*K+b] += (s0 + s1) + (s2 + s3)
			}
		}
	}
	addUpperSymmetric(M, acc[:], K)
}

// parallelFor runs f(0..n-1) on GOMAXPROCS goroutines.
func parallelFor(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// batchedParamGraph builds logits [N, K] and, for every selected variable (pe.groupVars says which
// belong to which group) and then the input (WithInput), the per-example gradients [N, K, ...] computed
// from the layers' taps. It sets pe.untapped (and returns only the logits) when a selected variable
// is not covered by any tap.
func (a *Analyzer) batchedParamGraph(pe *paramExec, form Form, withInput bool) func(scope *model.Scope, x *graph.Node) []*graph.Node {
	K := a.clf.NumClasses()
	groups := pe.groups
	return func(scope *model.Scope, x *graph.Node) []*graph.Node {
		g := x.Graph()
		stop := ops.RecordTaps(g)
		logits := a.clf.Logits(scope, x)
		taps := stop()
		store := scope.Store()

		// Which tap node carries each variable's output signal, and how to turn it into gradients.
		type use struct {
			tap  int
			role string
		}
		uses := map[string][]use{}
		for ti, t := range taps {
			for role, path := range t.Vars {
				uses[path] = append(uses[path], use{ti, role})
			}
		}
		for _, l := range groups {
			for _, path := range l.Vars {
				if len(uses[path]) == 0 {
					pe.untapped = true
				}
			}
		}
		if pe.untapped {
			return []*graph.Node{logits}
		}
		// The nodes whose output signals are needed: KernelOut for kernels, Out for the rest.
		var wrt []*graph.Node
		nodeIndex := map[*graph.Node]int{}
		need := func(n *graph.Node) {
			if _, ok := nodeIndex[n]; !ok {
				nodeIndex[n] = len(wrt)
				wrt = append(wrt, n)
			}
		}
		for _, l := range groups {
			for _, path := range l.Vars {
				for _, u := range uses[path] {
					if u.role == "kernel" {
						need(taps[u.tap].KernelOut)
					} else {
						need(taps[u.tap].Out)
					}
				}
			}
		}
		if withInput {
			need(x)
		}
		// K backward passes for the whole batch: deltas[i] = [N, ..., K, C] for wrt[i] = [N, ..., C]:
		// the class axis next to the channels, so that the per-example products below read δ as
		// [N, positions, K·C] without a transposed copy.
		perClass := make([][]*graph.Node, K)
		for k := 0; k < K; k++ {
			s := graph.ReduceAllSum(graph.Mul(logits, classMask(g, logits.DType(), K, k)))
			perClass[k] = graph.Gradient(s, wrt...)
		}
		deltas := make([]*graph.Node, len(wrt))
		for i := range wrt {
			d := make([]*graph.Node, K)
			for k := 0; k < K; k++ {
				d[k] = perClass[k][i]
			}
			deltas[i] = graph.Stack(d, d[0].Rank()-1)
		}
		// perExample returns [N, K, p] (float32) of one variable's gradient at every example.
		perExample := func(path string) *graph.Node {
			var sum *graph.Node
			for _, u := range uses[path] {
				t := taps[u.tap]
				var gr *graph.Node
				switch {
				case u.role == "kernel":
					gr = kernelGrads(t, deltas[nodeIndex[t.KernelOut]])
				case u.role == "gamma":
					gr = channelSums(deltas[nodeIndex[t.Out]], t.Input)
				default: // bias, beta
					gr = channelSums(deltas[nodeIndex[t.Out]], nil)
				}
				if sum == nil {
					sum = gr
				} else {
					sum = graph.Add(sum, gr)
				}
			}
			// [N, K, ...]: left unflattened (the Gram loop only needs the [N, K] prefix; a Reshape
			// of a graph output is a copy in ONNX Runtime: 0.66 of 2 s per chunk).
			return sum
		}
		outs := []*graph.Node{logits}
		varIndex := map[string]int{}
		pe.groupVars = make([][]int, len(groups))
		pe.varGram = nil
		mode := ghostMode()
		for gi, l := range groups {
			for _, path := range l.Vars {
				vi, ok := varIndex[path]
				if !ok {
					var gr *graph.Node
					isGram := false
					// A kernel used once, in the additive form: its Gram straight from the layer's
					// input and output signal when that is cheaper (ghostGram).
					if us := uses[path]; form == Additive && len(us) == 1 && us[0].role == "kernel" {
						t := taps[us[0].tap]
						d := deltas[nodeIndex[t.KernelOut]]
						if useGhost(mode, t, d) {
							gr, isGram = ghostGram(t, d), true
						}
					}
					if gr == nil {
						gr = perExample(path)
					}
					if form == Scaling {
						v := store.GetVariable(path).NodeValue(g)
						gr = graph.Mul(gr, graph.Reshape(v, append([]int{1, 1}, gr.Shape().Dimensions[2:]...)...))
					}
					vi = len(outs) - 1
					varIndex[path] = vi
					outs = append(outs, gr)
					pe.varGram = append(pe.varGram, isGram)
				}
				pe.groupVars[gi] = append(pe.groupVars[gi], vi)
			}
		}
		if withInput {
			d := deltas[nodeIndex[x]] // [N, ..., K, C]
			r := d.Rank()
			perm := []int{0, r - 2}
			for i := 1; i < r-2; i++ {
				perm = append(perm, i)
			}
			perm = append(perm, r-1)
			dims := d.Shape().Dimensions
			outs = append(outs, graph.Reshape(graph.TransposeAllDims(d, perm...), dims[0], dims[r-2], -1))
		}
		if !pe.gramsInGraph {
			return outs
		}
		// The Grams in the graph, float64 (the float32 gradients' products are exact in float64):
		// gram(J) = J Jᵀ per example, J = [N, K, p].
		gram := func(j *graph.Node) *graph.Node {
			d := j.Shape().Dimensions
			j = graph.ConvertDType(graph.Reshape(j, d[0], d[1], -1), dtypes.Float64)
			return graph.DotGeneral(j, []int{2}, []int{0}, j, []int{2}, []int{0}) // [N, K, K]
		}
		var grams []*graph.Node
		for _, vars := range pe.groupVars {
			var M *graph.Node
			for _, vi := range vars {
				Mi := outs[1+vi]
				if !pe.varGram[vi] {
					Mi = gram(Mi)
				}
				if M == nil {
					M = Mi
				} else {
					M = graph.Add(M, Mi)
				}
			}
			grams = append(grams, M)
		}
		if withInput {
			grams = append(grams, gram(outs[len(outs)-1]))
		}
		return []*graph.Node{logits, graph.Stack(grams, 1)} // [N, nGram, K, K]
	}
}

// gramsInGraph reports whether ParamFIBatch forms the Grams inside the graph on backend b: on XLA,
// whose float64 GEMMs are vectorised (the per-example gradients then never leave the graph); ONNX
// Runtime's float64 Einsum has no BLAS behind it (~0.3 GFLOP/s) and pure Go is no faster than the Go
// loop, so there the float32 gradients come out and the Grams are formed in Go. FISENS_PARAM_GRAMS=go
// or =graph forces either (for A/B timings).
func gramsInGraph(b compute.Backend) bool {
	switch os.Getenv("FISENS_PARAM_GRAMS") {
	case "go":
		return false
	case "graph":
		return true
	}
	return strings.HasPrefix(b.Name(), "xla")
}

// kernelGrads returns the per-example kernel gradients [N, K, ...kernel dims] of a conv or dense
// tap from the output signal d = [N, ..., K, D] at its KernelOut.
func kernelGrads(t ops.Tap, d *graph.Node) *graph.Node {
	a := t.Input
	if t.Kind == "dense" {
		return graph.Einsum("ni,nkj->nkij", a, d)
	}
	k := t.Kernel
	if k == 1 {
		return graph.Einsum("nhwc,nhwkd->nkcd", a, d)
	}
	p := convPatches(t, d) // [N, Ho, Wo, k·k, Cin]
	return graph.Einsum("nhwpc,nhwkd->nkpcd", p, d)
}

// convPatches returns the patches [N, Ho, Wo, k·k, Cin] of a k×k conv tap's zero-padded input at the
// convolution's stride: patch (dy, dx) holds the input values that kernel tap (dy, dx) multiplied into
// each output position (d = [N, Ho, Wo, K, D], the output signal, gives Ho and Wo).
func convPatches(t ops.Tap, d *graph.Node) *graph.Node {
	a, k := t.Input, t.Kernel
	ho, wo := d.Shape().Dimensions[1], d.Shape().Dimensions[2]
	s := max(t.Stride, 1)
	a = zeroPad(a, 1, t.Pads[0][0], t.Pads[0][1])
	a = zeroPad(a, 2, t.Pads[1][0], t.Pads[1][1])
	patches := make([]*graph.Node, 0, k*k)
	for dy := 0; dy < k; dy++ {
		for dx := 0; dx < k; dx++ {
			patches = append(patches, graph.Slice(a, graph.AxisRange(),
				graph.AxisRange(dy, dy+(ho-1)*s+1).Stride(s), graph.AxisRange(dx, dx+(wo-1)*s+1).Stride(s)))
		}
	}
	return graph.Stack(patches, 3)
}

// ghostMode returns FISENS_PARAM_GHOST: "auto" (the default: ghostGram where the cost model says it is
// cheaper), "off" (never) or "all" (every kernel it applies to; for tests and A/B timings).
func ghostMode() string {
	switch m := os.Getenv("FISENS_PARAM_GHOST"); m {
	case "off", "all":
		return m
	}
	return "auto"
}

// kernelShape returns a conv or dense tap's output positions T, patch length Din (k·k·Cin) and
// output channels Dout, for the output signal d = [N, ..., K, Dout].
func kernelShape(t ops.Tap, d *graph.Node) (T, Din, Dout int) {
	dd := d.Shape().Dimensions
	Dout = dd[len(dd)-1]
	T = 1
	for _, v := range dd[1 : len(dd)-2] {
		T *= v
	}
	in := t.Input.Shape().Dimensions
	Din = in[len(in)-1] * max(t.Kernel, 1) * max(t.Kernel, 1)
	if t.Kind == "dense" {
		Din = in[len(in)-1]
	}
	return T, Din, Dout
}

// useGhost reports whether a kernel's Gram is cheaper from ghostGram than from its per-example
// gradients. Per example, the per-example gradient costs K·T·Din·Dout float32 multiply-adds and its
// Gram K²·Din·Dout float64 ones, against T²·Din + K·T²·Dout float32 ones and K²·T·Dout float64 ones
// for ghostGram; a float64 one counts as ghostF64Cost float32 ones (XLA's float64 GEMMs of these
// shapes ran 2.5–4.5× slower than float32 ones here). So ghostGram wins where a layer has few
// output positions T against its inputs per position Din: on the small ResNet every convolution
// of the two stride-2 stages (7 × 7 and 4 × 4 positions) and the dense layer; the stem and the
// 14 × 14 stage keep the per-example gradients.
func useGhost(mode string, t ops.Tap, d *graph.Node) bool {
	switch mode {
	case "off":
		return false
	case "all":
		return true
	}
	K := d.Shape().Dimensions[d.Rank()-2]
	T, Din, Dout := kernelShape(t, d)
	w := ghostF64Cost
	direct := K*T*Din*Dout + w*K*K*Din*Dout
	ghost := T*T*Din + K*T*T*Dout + w*K*K*T*Dout
	return ghost < direct
}

// ghostF64Cost is the cost of a float64 multiply-add in units of float32 ones for useGhost.
const ghostF64Cost = 4

// ghostGram returns the per-example Grams [N, K, K] (float64) of a conv or dense kernel's gradient
// without forming the gradients ("ghost norm"): the kernel gradient of class k at example n is
// Σ_p x_p ⊗ δ_{k,p} over the output positions p (x_p: the input patch that position p reads, δ_{k,p}:
// the output signal there), so its Gram is
//
//	G_kl = Σ_{p,q} (x_p·x_q) (δ_{k,p}·δ_{l,q}) = Σ_p δ_{k,p} · E_{l,p},   E_{l,p} = Σ_q A_pq δ_{l,q},
//
// with A = the T × T Gram of the patches. A and E are float32 (sums over a patch and over the
// positions, like the per-example gradients' own sums), the last contraction is float64, and the
// result is symmetrised. The symmetrisation matters: the solver reads one triangle of Q = W M Wᵀ,
// and an asymmetric M (float32 rounding makes G_kl ≠ G_lk at 1e-7) loses Q's exact null vector √π —
// rank 5 of K = 5 in the test net. Symmetrised, the rounding is a symmetric S with vᵀδ = 0 ⇒ vᵀSv = 0
// for every exact null direction v of the output signal, so null eigenvalues move only at second
// order (as for J Jᵀ of rounded gradients) and the 1e-13 rank threshold keeps the per-example ranks
// (TestParamFIBatchGhostGrams checks rank, FI and every Gram entry against the per-example path).
func ghostGram(t ops.Tap, d *graph.Node) *graph.Node {
	dd := d.Shape().Dimensions
	N, K := dd[0], dd[len(dd)-2]
	T, _, Dout := kernelShape(t, d)
	x := kernelRows(t, d)                                                // [N, T, Din]
	A := graph.DotGeneral(x, []int{2}, []int{0}, x, []int{2}, []int{0})  // [N, T, T]
	dl := graph.Reshape(d, N, T, K, Dout)                                // [N, T, K, D]
	E := graph.DotGeneral(A, []int{2}, []int{0}, dl, []int{1}, []int{0}) // [N, T, K, D]
	d64, E64 := graph.ConvertDType(dl, dtypes.Float64), graph.ConvertDType(E, dtypes.Float64)
	G := graph.DotGeneral(d64, []int{1, 3}, []int{0}, E64, []int{1, 3}, []int{0}) // [N, K, K]
	return graph.MulScalar(graph.Add(G, graph.TransposeAllDims(G, 0, 2, 1)), 0.5)
}

// kernelRows returns the rows [N, T, Din] whose outer products with the output signal give a conv or
// dense tap's kernel gradient: the input (dense, 1×1 conv) or the input patches (k×k conv).
func kernelRows(t ops.Tap, d *graph.Node) *graph.Node {
	a := t.Input
	N := a.Shape().Dimensions[0]
	T, Din, _ := kernelShape(t, d)
	if t.Kind == "dense" || t.Kernel == 1 {
		return graph.Reshape(a, N, T, Din)
	}
	return graph.Reshape(convPatches(t, d), N, T, Din)
}

// zeroPad puts lo zeros before and hi after axis (Concatenate: no Pad needed on any backend).
func zeroPad(x *graph.Node, axis, lo, hi int) *graph.Node {
	zeros := func(r int) *graph.Node {
		zs := x.Shape().Clone()
		zs.Dimensions[axis] = r
		return graph.Zeros(x.Graph(), zs)
	}
	list := []*graph.Node{}
	if lo > 0 {
		list = append(list, zeros(lo))
	}
	list = append(list, x)
	if hi > 0 {
		list = append(list, zeros(hi))
	}
	if len(list) == 1 {
		return x
	}
	return graph.Concatenate(list, axis)
}

// channelSums returns [N, K, C]: Σ over the positions of d [N, ..., K, C], weighted by in
// [N, ..., C] when in is not nil (a batch norm's γ gradient).
func channelSums(d, in *graph.Node) *graph.Node {
	if in != nil {
		d = graph.Mul(d, graph.BroadcastToDims(graph.InsertAxes(in, in.Rank()-1), d.Shape().Dimensions...))
	}
	if r := d.Rank(); r > 3 {
		axes := make([]int, 0, r-3)
		for i := 1; i < r-2; i++ {
			axes = append(axes, i)
		}
		d = graph.ReduceSum(d, axes...)
	}
	return d
}

// paramResultFromGrams turns one example's group Grams (and the input's, last, with WithInput) into
// a ParamResult.
func paramResultFromGrams(groups []Layer, grams []float64, z []float64, y int, opt ParamOptions) (*ParamResult, error) {
	K := len(z)
	KK := K * K
	res := &ParamResult{Groups: groups, PerGroup: make([]Result, len(groups)), grams: grams, z: z, y: y}
	all := make([]float64, KK)
	for i, l := range groups {
		M := grams[i*KK : (i+1)*KK]
		r, err := FromGram(M, z, y, opt.Options)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		res.PerGroup[i] = r
		for j := range all {
			all[j] += M[j]
		}
	}
	var err error
	if res.All, err = FromGram(all, z, y, opt.Options); err != nil {
		return nil, fmt.Errorf("all parameters: %w", err)
	}
	if opt.WithInput {
		Min := grams[len(groups)*KK : (len(groups)+1)*KK]
		in, err := FromGram(Min, z, y, opt.Options)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		joint := make([]float64, KK)
		for j := range joint {
			joint[j] = all[j] + Min[j]
		}
		jr, err := FromGram(joint, z, y, opt.Options)
		if err != nil {
			return nil, fmt.Errorf("input and parameters: %w", err)
		}
		res.Input, res.Joint = &in, &jr
	}
	return res, nil
}

// paramKey identifies a compiled parameter graph.
func paramKey(opt ParamOptions, groups []Layer, batched bool) string {
	var key strings.Builder
	fmt.Fprintf(&key, "%v|%v|%v|", opt.Form, opt.WithInput, batched)
	for _, l := range groups {
		key.WriteString(l.Name + "=" + strings.Join(l.Vars, ",") + ";")
	}
	return key.String()
}
