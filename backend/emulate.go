package backend

import (
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
)

func goCapabilities() compute.Capabilities { return gobackend.GetBackend().Capabilities() }

// ---- small helpers on the inner function (errors are returned, never panicked) ----

func (f *function) shapeOf(v compute.Value) (shapes.Shape, error) { return f.Function.Shape(v) }

// scalar returns a scalar constant of dtype with value v (±Inf allowed for floats; for integers ±Inf
// become the lowest/highest value).
func (f *function) scalar(dtype dtypes.DType, v float64) (compute.Value, error) {
	switch dtype {
	case dtypes.Float32:
		return f.Function.Constant([]float32{float32(v)})
	case dtypes.Float64:
		return f.Function.Constant([]float64{v})
	}
	var val reflect.Value
	switch {
	case math.IsInf(v, -1):
		val = reflect.ValueOf(dtype.LowestValue())
	case math.IsInf(v, 1):
		val = reflect.ValueOf(dtype.HighestValue())
	default:
		goType := dtype.GoType()
		if goType == nil || !reflect.ValueOf(v).CanConvert(goType) {
			c, err := f.Function.Constant([]float64{v})
			if err != nil {
				return nil, err
			}
			return f.Function.ConvertDType(c, dtype)
		}
		val = reflect.ValueOf(v).Convert(goType)
	}
	s := reflect.MakeSlice(reflect.SliceOf(val.Type()), 1, 1)
	s.Index(0).Set(val)
	return f.Function.Constant(s.Interface())
}

// filled broadcasts the scalar value to dims.
func (f *function) filled(value compute.Value, dtype dtypes.DType, dims []int) (compute.Value, error) {
	return f.Function.BroadcastInDim(value, shapes.Make(dtype, dims...), nil)
}

// sliceAxis slices [start, end) of one axis.
func (f *function) sliceAxis(x compute.Value, dims []int, axis, start, end int) (compute.Value, error) {
	if start == 0 && end == dims[axis] {
		return x, nil
	}
	starts := make([]int, len(dims))
	limits := slices.Clone(dims)
	strides := make([]int, len(dims))
	for i := range strides {
		strides[i] = 1
	}
	starts[axis], limits[axis] = start, end
	return f.Function.Slice(x, starts, limits, strides)
}

func anyAbove1(v []int) bool {
	for _, x := range v {
		if x > 1 {
			return true
		}
	}
	return false
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func orOnes(v []int, n int) []int {
	if len(v) == 0 {
		return ones(n)
	}
	return v
}

// ---- Pad ----

// Pad is the inner Pad where it exists; otherwise (ONNX Runtime) it is emulated per axis: interior
// padding by Reshape [.., n, 1, ..] + Concatenate with the fill value [.., n, interior, ..] + Reshape
// + Slice; negative edges by Slice; positive edges by Concatenate.
func (f *function) Pad(x, fill compute.Value, axesConfig ...compute.PadAxis) (compute.Value, error) {
	if !f.bld.b.force {
		negative := slices.ContainsFunc(axesConfig, func(a compute.PadAxis) bool { return a.Start < 0 || a.End < 0 })
		if !negative {
			v, err := f.Function.Pad(x, fill, axesConfig...)
			if err == nil || !compute.IsNotImplemented(err) {
				return v, err
			}
		} else if v, err := f.padThenCrop(x, fill, axesConfig); err == nil || !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	v, err := f.emulatePad(x, fill, axesConfig)
	if err != nil {
		return nil, fmt.Errorf("Pad (emulated by fisens/backend): %w", err)
	}
	return v, nil
}

// padThenCrop is the inner Pad with the negative edges taken out, followed by a Slice that removes them:
// the pure-Go backend's Pad panics at run time on negative edges (compute v0.1.0), which the gradients
// of padded mean pooling and of Pad itself produce.
func (f *function) padThenCrop(x, fill compute.Value, axesConfig []compute.PadAxis) (compute.Value, error) {
	pos := slices.Clone(axesConfig)
	for a := range pos {
		pos[a].Start, pos[a].End = max(0, pos[a].Start), max(0, pos[a].End)
	}
	v, err := f.Function.Pad(x, fill, pos...)
	if err != nil {
		return nil, err
	}
	sh, err := f.shapeOf(v)
	if err != nil {
		return nil, err
	}
	starts, limits := make([]int, sh.Rank()), slices.Clone(sh.Dimensions)
	for a, cfg := range axesConfig {
		starts[a] = max(0, -cfg.Start)
		limits[a] -= max(0, -cfg.End)
		if limits[a] < starts[a] {
			return nil, fmt.Errorf("Pad: negative padding (%d, %d) removes more than the %d elements of axis %d",
				cfg.Start, cfg.End, sh.Dimensions[a], a)
		}
	}
	return f.Function.Slice(v, starts, limits, ones(sh.Rank()))
}

func (f *function) emulatePad(x, fill compute.Value, axesConfig []compute.PadAxis) (compute.Value, error) {
	sh, err := f.shapeOf(x)
	if err != nil {
		return nil, err
	}
	if len(axesConfig) > sh.Rank() {
		return nil, fmt.Errorf("%d axes configured for a rank-%d operand", len(axesConfig), sh.Rank())
	}
	dtype := sh.DType
	dims := slices.Clone(sh.Dimensions)
	for axis, cfg := range axesConfig {
		if cfg.Interior < 0 {
			return nil, fmt.Errorf("negative interior padding %d on axis %d", cfg.Interior, axis)
		}
		if n := dims[axis]; cfg.Interior > 0 && n > 1 {
			// [.., n, ..] → [.., n, 1, ..] ++ fill [.., n, interior, ..] → [.., n*(1+interior), ..] → first n+(n-1)*interior.
			d1 := slices.Insert(slices.Clone(dims), axis+1, 1)
			xr, err := f.Function.Reshape(x, d1...)
			if err != nil {
				return nil, err
			}
			fd := slices.Clone(d1)
			fd[axis+1] = cfg.Interior
			fb, err := f.filled(fill, dtype, fd)
			if err != nil {
				return nil, err
			}
			c, err := f.Function.Concatenate(axis+1, xr, fb)
			if err != nil {
				return nil, err
			}
			dims[axis] = n * (1 + cfg.Interior)
			if x, err = f.Function.Reshape(c, dims...); err != nil {
				return nil, err
			}
			newN := n + (n-1)*cfg.Interior
			if x, err = f.sliceAxis(x, dims, axis, 0, newN); err != nil {
				return nil, err
			}
			dims[axis] = newN
		}
		if cfg.Start < 0 || cfg.End < 0 {
			start, end := max(0, -cfg.Start), dims[axis]-max(0, -cfg.End)
			if end < start {
				return nil, fmt.Errorf("negative padding (%d, %d) removes more than the %d elements of axis %d",
					cfg.Start, cfg.End, dims[axis], axis)
			}
			if x, err = f.sliceAxis(x, dims, axis, start, end); err != nil {
				return nil, err
			}
			dims[axis] = end - start
		}
		if cfg.Start > 0 || cfg.End > 0 {
			var parts []compute.Value
			for _, n := range []int{max(0, cfg.Start), -1, max(0, cfg.End)} {
				if n == -1 {
					parts = append(parts, x)
					continue
				}
				if n == 0 {
					continue
				}
				fd := slices.Clone(dims)
				fd[axis] = n
				fb, err := f.filled(fill, dtype, fd)
				if err != nil {
					return nil, err
				}
				parts = append(parts, fb)
			}
			if x, err = f.Function.Concatenate(axis, parts...); err != nil {
				return nil, err
			}
			dims[axis] += max(0, cfg.Start) + max(0, cfg.End)
		}
	}
	return x, nil
}

// ---- ConvGeneral ----

// ConvGeneral is the inner convolution, except where the inner one lacks a feature: input dilations
// (the gradient of a strided convolution; ONNX Conv has none) become an explicit zero-interleave with
// Pad before a plain convolution, and negative paddings (the kernel gradient of some strided
// convolutions; ONNX Conv needs pads ≥ 0) become a Slice of the input.
func (f *function) ConvGeneral(input, kernel compute.Value, axes compute.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (compute.Value, error) {
	negative := false
	for _, p := range paddings {
		negative = negative || p[0] < 0 || p[1] < 0
	}
	dilated := anyAbove1(inputDilations)
	if (!f.bld.b.onnx && !f.bld.b.force) || (!negative && !dilated) {
		v, err := f.Function.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
			channelGroupCount, batchGroupCount)
		if err == nil || !compute.IsNotImplemented(err) || (!negative && !dilated) {
			return v, f.opError("ConvGeneral", err)
		}
	}
	if dilated && !anyAbove1(strides) {
		v, ok, err := f.subPixelConv(input, kernel, axes, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
		if ok || err != nil {
			return v, err
		}
	}
	sh, err := f.shapeOf(input)
	if err != nil {
		return nil, err
	}
	zero, err := f.scalar(sh.DType, 0)
	if err != nil {
		return nil, err
	}
	padAxes := make([]compute.PadAxis, sh.Rank())
	newPaddings := make([][2]int, len(axes.InputSpatial))
	for i, axis := range axes.InputSpatial {
		if i < len(inputDilations) && inputDilations[i] > 1 {
			padAxes[axis].Interior = inputDilations[i] - 1
		}
		if i < len(paddings) {
			p := paddings[i]
			newPaddings[i] = [2]int{max(p[0], 0), max(p[1], 0)}
			padAxes[axis].Start, padAxes[axis].End = min(p[0], 0), min(p[1], 0)
		}
	}
	x, err := f.Pad(input, zero, padAxes...)
	if err != nil {
		return nil, err
	}
	v, err := f.Function.ConvGeneral(x, kernel, axes, strides, newPaddings, nil, kernelDilations, channelGroupCount, batchGroupCount)
	return v, f.opError("ConvGeneral", err)
}

// subPixelConv computes a stride-1 convolution of an input dilated by D (the input gradient of a
// convolution with strides D) without the zeros: output position i = q·D + r (phase r) only meets the
// kernel taps t with r + t·d − lo ≡ 0 (mod D), which read x[q + (r + t·d − lo)/D]. So each phase
// (per axis, D of them; ∏D in all) is a plain convolution of x with the strided sub-kernel of its
// taps (dilation δd/D, δ = D/gcd(d, D)), and the phases are interleaved (Reshape + Concatenate +
// Reshape + Slice per axis, after an end Pad to a common size). Multiply-adds: those of the direct
// transposed convolution, 1/∏D of the zero-interleaved one. ok is false (nothing emitted) where it
// does not apply (an output shorter than D).
func (f *function) subPixelConv(input, kernel compute.Value, axes compute.ConvolveAxesConfig, paddings [][2]int,
	inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (compute.Value, bool, error) {
	if batchGroupCount > 1 {
		return nil, false, nil
	}
	xs, err := f.shapeOf(input)
	if err != nil {
		return nil, false, err
	}
	ks, err := f.shapeOf(kernel)
	if err != nil {
		return nil, false, err
	}
	m := len(axes.InputSpatial)
	type phase struct {
		t0, count, c0 int // first tap, number of taps, x offset of the first tap
		q             int // outputs of this phase
	}
	type axisPlan struct {
		D, delta, nOut, qMax int
		phases               []phase
	}
	plans := make([]axisPlan, m)
	for i := range m {
		D := 1
		if i < len(inputDilations) && inputDilations[i] > 1 {
			D = inputDilations[i]
		}
		d := 1
		if i < len(kernelDilations) && kernelDilations[i] > 1 {
			d = kernelDilations[i]
		}
		var lo, hi int
		if i < len(paddings) {
			lo, hi = paddings[i][0], paddings[i][1]
		}
		n, k := xs.Dimensions[axes.InputSpatial[i]], ks.Dimensions[axes.KernelSpatial[i]]
		nOut := (n-1)*D + 1 + lo + hi - (k-1)*d
		if nOut < D {
			return nil, false, nil
		}
		g := gcd(d, D)
		p := axisPlan{D: D, delta: D / g, nOut: nOut, qMax: (nOut + D - 1) / D}
		for r := range D {
			ph := phase{t0: -1, q: (nOut - r + D - 1) / D}
			for t := range k {
				if mod(r+t*d-lo, D) == 0 {
					ph.t0 = t
					break
				}
			}
			if ph.t0 >= 0 {
				ph.count = (k-1-ph.t0)/p.delta + 1
				ph.c0 = (r + ph.t0*d - lo) / D
			}
			p.phases = append(p.phases, ph)
		}
		plans[i] = p
	}
	outShape := convOutShape(xs, ks, axes, m, func(i int) int { return plans[i].qMax })
	zero, err := f.scalar(xs.DType, 0)
	if err != nil {
		return nil, false, err
	}
	// One phase combination: its convolution, padded at the end to qMax on every spatial axis.
	sub := func(r []int) (compute.Value, error) {
		dims := slices.Clone(outShape.Dimensions)
		kStarts, kLimits, kStrides := make([]int, ks.Rank()), slices.Clone(ks.Dimensions), ones(ks.Rank())
		pads := make([][2]int, m)
		dils := make([]int, m)
		empty := false
		for i := range m {
			ph := plans[i].phases[r[i]]
			dims[axes.OutputSpatial[i]] = ph.q
			if ph.t0 < 0 {
				empty = true
				continue
			}
			ka := axes.KernelSpatial[i]
			kStarts[ka], kStrides[ka] = ph.t0, plans[i].delta
			kLimits[ka] = ph.t0 + (ph.count-1)*plans[i].delta + 1
			dils[i] = plans[i].delta * kernelDil(kernelDilations, i) / plans[i].D
			pads[i][0] = -ph.c0
			pads[i][1] = ph.q - xs.Dimensions[axes.InputSpatial[i]] - pads[i][0] + (ph.count-1)*dils[i]
		}
		var y compute.Value
		if empty {
			var err error
			if y, err = f.filled(zero, xs.DType, dims); err != nil {
				return nil, err
			}
		} else {
			kr, err := f.Function.Slice(kernel, kStarts, kLimits, kStrides)
			if err != nil {
				return nil, err
			}
			if y, err = f.ConvGeneral(input, kr, axes, nil, pads, nil, dils, channelGroupCount, batchGroupCount); err != nil {
				return nil, err
			}
		}
		endPad := make([]compute.PadAxis, len(dims))
		need := false
		for i := range m {
			a := axes.OutputSpatial[i]
			endPad[a].End = plans[i].qMax - dims[a]
			need = need || endPad[a].End != 0
		}
		if !need {
			return y, nil
		}
		return f.Pad(y, zero, endPad...)
	}
	dims := slices.Clone(outShape.Dimensions) // spatial dims: qMax, until interleaved to nOut
	var rec func(i int, r []int) (compute.Value, error)
	rec = func(i int, r []int) (compute.Value, error) {
		if i == m {
			return sub(r)
		}
		p := plans[i]
		parts := make([]compute.Value, p.D)
		for ri := range p.D {
			var err error
			if parts[ri], err = rec(i+1, append(slices.Clone(r), ri)); err != nil {
				return nil, err
			}
		}
		if p.D == 1 {
			return parts[0], nil
		}
		// The shape of each part: axes before i+1 at qMax, axes after i already at nOut.
		a := axes.OutputSpatial[i]
		pd := slices.Clone(dims)
		for j := range m {
			if j > i {
				pd[axes.OutputSpatial[j]] = plans[j].nOut
			}
		}
		withOne := slices.Insert(slices.Clone(pd), a+1, 1)
		for ri := range parts {
			var err error
			if parts[ri], err = f.Function.Reshape(parts[ri], withOne...); err != nil {
				return nil, err
			}
		}
		c, err := f.Function.Concatenate(a+1, parts...)
		if err != nil {
			return nil, err
		}
		merged := slices.Clone(pd)
		merged[a] = p.qMax * p.D
		if c, err = f.Function.Reshape(c, merged...); err != nil {
			return nil, err
		}
		return f.sliceAxis(c, merged, a, 0, p.nOut)
	}
	v, err := rec(0, nil)
	return v, err == nil, err
}

func kernelDil(kernelDilations []int, i int) int {
	if i < len(kernelDilations) && kernelDilations[i] > 1 {
		return kernelDilations[i]
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func mod(a, b int) int { return ((a % b) + b) % b }

// convOutShape is the output shape of a convolution of xs by ks (axes) with the given spatial output
// sizes: batch from the input, channels from the kernel's output channels.
func convOutShape(xs, ks shapes.Shape, axes compute.ConvolveAxesConfig, m int, size func(i int) int) shapes.Shape {
	dims := make([]int, xs.Rank())
	dims[axes.OutputBatch] = xs.Dimensions[axes.InputBatch]
	dims[axes.OutputChannels] = ks.Dimensions[axes.KernelOutputChannels]
	for i := range m {
		dims[axes.OutputSpatial[i]] = size(i)
	}
	return shapes.Make(xs.DType, dims...)
}

// ---- ReduceWindow ----

func reduceInit(t compute.ReduceOpType) (float64, error) {
	switch t {
	case compute.ReduceOpSum:
		return 0, nil
	case compute.ReduceOpProduct:
		return 1, nil
	case compute.ReduceOpMax:
		return math.Inf(-1), nil
	case compute.ReduceOpMin:
		return math.Inf(1), nil
	}
	return 0, fmt.Errorf("ReduceWindow: reduction %s not supported", t)
}

func (f *function) combine(t compute.ReduceOpType, a, b compute.Value) (compute.Value, error) {
	switch t {
	case compute.ReduceOpSum:
		return f.Function.Add(a, b)
	case compute.ReduceOpProduct:
		return f.Function.Mul(a, b)
	case compute.ReduceOpMax:
		return f.Function.Max(a, b)
	case compute.ReduceOpMin:
		return f.Function.Min(a, b)
	}
	return nil, fmt.Errorf("ReduceWindow: reduction %s not supported", t)
}

func (f *function) reduce(t compute.ReduceOpType, x compute.Value, axes ...int) (compute.Value, error) {
	switch t {
	case compute.ReduceOpSum:
		return f.Function.ReduceSum(x, axes...)
	case compute.ReduceOpProduct:
		return f.Function.ReduceProduct(x, axes...)
	case compute.ReduceOpMax:
		return f.Function.ReduceMax(x, axes...)
	case compute.ReduceOpMin:
		return f.Function.ReduceMin(x, axes...)
	}
	return nil, fmt.Errorf("ReduceWindow: reduction %s not supported", t)
}

// onnxPoolLayout returns the axis compute-onnx treats as channels for a pooling window, and whether its
// pooling ops (which drop strides, paddings and dilations of the batch and channel axes) apply.
func onnxPoolLayout(rank int, window, strides, windowDilations []int, paddings [][2]int) (int, bool) {
	if rank < 3 || len(window) != rank {
		return 0, false
	}
	var ch int
	switch {
	case window[0] == 1 && window[1] == 1:
		ch = 1
	case window[0] == 1 && window[rank-1] == 1:
		ch = rank - 1
	default:
		return 0, false
	}
	for _, a := range []int{0, ch} {
		if (len(strides) > a && strides[a] != 1) || (len(windowDilations) > a && windowDilations[a] != 1) ||
			(len(paddings) > a && paddings[a] != [2]int{}) {
			return 0, false
		}
	}
	for _, p := range paddings {
		if p[0] < 0 || p[1] < 0 {
			return 0, false
		}
	}
	return ch, true
}

// ReduceWindow is the inner one where it exists and is right. On ONNX Runtime (MaxPool/AveragePool)
// that is: Max without input dilations; Sum in float32 without dilations, with any padding applied
// first by an explicit zero Pad (AveragePool excludes padding from its count, so a padded Sum came out
// wrong at the borders). Everything else: Reshape + Reduce when windows tile the input (stride =
// window, no padding), else one strided Slice per window offset combined with Add/Max/Min/Mul.
func (f *function) ReduceWindow(x compute.Value, reductionType compute.ReduceOpType,
	windowDimensions, strides, inputDilations, windowDilations []int, paddings [][2]int) (compute.Value, error) {
	sh, err := f.shapeOf(x)
	if err != nil {
		return nil, err
	}
	if f.bld.b.force {
		// emulate
	} else if f.bld.b.onnx {
		if _, ok := onnxPoolLayout(sh.Rank(), windowDimensions, strides, windowDilations, paddings); ok && !anyAbove1(inputDilations) {
			switch {
			case reductionType == compute.ReduceOpMax:
				v, err := f.Function.ReduceWindow(x, reductionType, windowDimensions, strides, inputDilations, windowDilations, paddings)
				return v, f.opError("ReduceWindow", err)
			case reductionType == compute.ReduceOpSum && sh.DType == dtypes.Float32 && !anyAbove1(windowDilations):
				xp := x
				if slices.ContainsFunc(paddings, func(p [2]int) bool { return p != [2]int{} }) {
					zero, err := f.scalar(sh.DType, 0)
					if err != nil {
						return nil, err
					}
					padAxes := make([]compute.PadAxis, len(paddings))
					for a, p := range paddings {
						padAxes[a] = compute.PadAxis{Start: p[0], End: p[1]}
					}
					if xp, err = f.Pad(x, zero, padAxes...); err != nil {
						return nil, err
					}
				}
				v, err := f.Function.ReduceWindow(xp, reductionType, windowDimensions, strides, nil, nil, nil)
				return v, f.opError("ReduceWindow", err)
			}
		}
	} else {
		v, err := f.Function.ReduceWindow(x, reductionType, windowDimensions, strides, inputDilations, windowDilations, paddings)
		if err == nil || !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	v, err := f.emulateReduceWindow(x, sh, reductionType, windowDimensions, strides, inputDilations, windowDilations, paddings)
	if err != nil {
		return nil, fmt.Errorf("ReduceWindow (emulated by fisens/backend): %w", err)
	}
	return v, nil
}

// window describes a window sweep over a (padded, dilated) operand.
type window struct {
	rank                     int
	dims, strides, dilations []int // window dims, strides, window dilations
	padded, out              []int // the padded operand's dims, the output's dims
}

func newWindow(dims []int, windowDimensions, strides, inputDilations, windowDilations []int, paddings [][2]int) (*window, []compute.PadAxis, error) {
	rank := len(dims)
	if len(windowDimensions) != rank {
		return nil, nil, fmt.Errorf("%d window dimensions for rank %d", len(windowDimensions), rank)
	}
	w := &window{rank: rank, dims: windowDimensions, strides: strides, dilations: orOnes(windowDilations, rank)}
	if len(w.strides) == 0 {
		w.strides = windowDimensions
	}
	inDil := orOnes(inputDilations, rank)
	padAxes := make([]compute.PadAxis, rank)
	w.padded = make([]int, rank)
	w.out = make([]int, rank)
	for a := range rank {
		if a < len(paddings) {
			padAxes[a].Start, padAxes[a].End = paddings[a][0], paddings[a][1]
		}
		padAxes[a].Interior = inDil[a] - 1
		n := dims[a]
		if n > 0 {
			n += (n - 1) * padAxes[a].Interior
		}
		w.padded[a] = n + padAxes[a].Start + padAxes[a].End
		eff := (w.dims[a]-1)*w.dilations[a] + 1
		if w.padded[a] < eff {
			return nil, nil, fmt.Errorf("axis %d: window %d (dilated) larger than the padded size %d", a, eff, w.padded[a])
		}
		w.out[a] = (w.padded[a]-eff)/w.strides[a] + 1
	}
	return w, padAxes, nil
}

// offsets calls fn for every offset inside the window, in row-major order.
func (w *window) offsets(fn func(k []int) error) error {
	k := make([]int, w.rank)
	for {
		if err := fn(k); err != nil {
			return err
		}
		a := w.rank - 1
		for ; a >= 0; a-- {
			k[a]++
			if k[a] < w.dims[a] {
				break
			}
			k[a] = 0
		}
		if a < 0 {
			return nil
		}
	}
}

// sliceAt returns the values of the padded operand at window offset k for every output position.
func (f *function) sliceAt(xp compute.Value, w *window, k []int) (compute.Value, error) {
	starts, limits := make([]int, w.rank), make([]int, w.rank)
	for a := range w.rank {
		starts[a] = k[a] * w.dilations[a]
		limits[a] = starts[a] + (w.out[a]-1)*w.strides[a] + 1
	}
	return f.Function.Slice(xp, starts, limits, w.strides)
}

func isZeroPad(p []compute.PadAxis) bool {
	for _, a := range p {
		if a != (compute.PadAxis{}) {
			return false
		}
	}
	return true
}

// tiles reports whether the windows tile the operand: stride = window, no dilations.
func (w *window) tiles(padAxes []compute.PadAxis) bool {
	return isZeroPad(padAxes) && slices.Equal(w.strides, w.dims) && !anyAbove1(w.dilations)
}

func (f *function) emulateReduceWindow(x compute.Value, sh shapes.Shape, t compute.ReduceOpType,
	windowDimensions, strides, inputDilations, windowDilations []int, paddings [][2]int) (compute.Value, error) {
	init, err := reduceInit(t)
	if err != nil {
		return nil, err
	}
	w, padAxes, err := newWindow(sh.Dimensions, windowDimensions, strides, inputDilations, windowDilations, paddings)
	if err != nil {
		return nil, err
	}
	if w.tiles(padAxes) {
		// Crop to whole windows, Reshape [.., out, window, ..], reduce the window axes.
		x, err := f.cropTo(x, sh.Dimensions, w)
		if err != nil {
			return nil, err
		}
		var split, redAxes []int
		for a := range w.rank {
			split = append(split, w.out[a], w.dims[a])
			redAxes = append(redAxes, 2*a+1)
		}
		xr, err := f.Function.Reshape(x, split...)
		if err != nil {
			return nil, err
		}
		return f.reduce(t, xr, redAxes...)
	}
	xp := x
	if !isZeroPad(padAxes) {
		fill, err := f.scalar(sh.DType, init)
		if err != nil {
			return nil, err
		}
		if xp, err = f.Pad(x, fill, padAxes...); err != nil {
			return nil, err
		}
	}
	var acc compute.Value
	err = w.offsets(func(k []int) error {
		s, err := f.sliceAt(xp, w, k)
		if err != nil {
			return err
		}
		if acc == nil {
			acc = s
			return nil
		}
		acc, err = f.combine(t, acc, s)
		return err
	})
	return acc, err
}

// cropTo slices x (dims) to the whole windows out[a]*window[a] of each axis.
func (f *function) cropTo(x compute.Value, dims []int, w *window) (compute.Value, error) {
	limits := make([]int, w.rank)
	crop := false
	for a := range w.rank {
		limits[a] = w.out[a] * w.dims[a]
		crop = crop || limits[a] != dims[a]
	}
	if !crop {
		return x, nil
	}
	return f.Function.Slice(x, make([]int, w.rank), limits, ones(w.rank))
}

// ---- SelectAndScatter ----

// SelectAndScatterMax is the gradient of max pooling: each source value goes to the position of its
// window's maximum (the first one, on ties), summed where windows overlap.
func (f *function) SelectAndScatterMax(operand, source compute.Value, windowDimensions, windowStrides []int, paddings [][2]int) (compute.Value, error) {
	return f.selectAndScatter(true, operand, source, windowDimensions, windowStrides, paddings)
}

// SelectAndScatterMin is SelectAndScatterMax for min pooling.
func (f *function) SelectAndScatterMin(operand, source compute.Value, windowDimensions, windowStrides []int, paddings [][2]int) (compute.Value, error) {
	return f.selectAndScatter(false, operand, source, windowDimensions, windowStrides, paddings)
}

// selectAndScatter uses the inner op where it exists and is right. compute-onnx's (MaxPool indices +
// ScatterElements without reduction, a float32 zero constant) is right only for float32 windows that
// do not overlap; the pure-Go backend has none. The emulation: one strided Slice per window offset,
// the running maximum, masks of the first offset reaching it (Equal, And-Not), Where(mask, source, 0),
// and the masked sources put back in place by Reshape/Transpose (windows that tile the operand) or by
// an interior + edge Pad per offset, summed.
func (f *function) selectAndScatter(isMax bool, operand, source compute.Value, windowDimensions, windowStrides []int, paddings [][2]int) (compute.Value, error) {
	op := "SelectAndScatterMin"
	if isMax {
		op = "SelectAndScatterMax"
	}
	sh, err := f.shapeOf(operand)
	if err != nil {
		return nil, err
	}
	useInner := true
	if f.bld.b.onnx {
		_, ok := onnxPoolLayout(sh.Rank(), windowDimensions, windowStrides, nil, paddings)
		overlap := false
		for a := range windowDimensions {
			if a < len(windowStrides) && windowStrides[a] < windowDimensions[a] {
				overlap = true
			}
		}
		useInner = isMax && ok && !overlap && sh.DType == dtypes.Float32
	}
	if useInner && !f.bld.b.force {
		var v compute.Value
		if isMax {
			v, err = f.Function.SelectAndScatterMax(operand, source, windowDimensions, windowStrides, paddings)
		} else {
			v, err = f.Function.SelectAndScatterMin(operand, source, windowDimensions, windowStrides, paddings)
		}
		if err == nil || !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	v, err := f.emulateSelectAndScatter(isMax, operand, sh, source, windowDimensions, windowStrides, paddings)
	if err != nil {
		return nil, fmt.Errorf("%s (emulated by fisens/backend): %w", op, err)
	}
	return v, nil
}

func (f *function) emulateSelectAndScatter(isMax bool, operand compute.Value, sh shapes.Shape, source compute.Value,
	windowDimensions, windowStrides []int, paddings [][2]int) (compute.Value, error) {
	t := compute.ReduceOpMin
	if isMax {
		t = compute.ReduceOpMax
	}
	init, _ := reduceInit(t)
	w, padAxes, err := newWindow(sh.Dimensions, windowDimensions, windowStrides, nil, nil, paddings)
	if err != nil {
		return nil, err
	}
	srcShape, err := f.shapeOf(source)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(srcShape.Dimensions, w.out) {
		return nil, fmt.Errorf("source shape %s, but the windows give %v", srcShape, w.out)
	}
	xp := operand
	if !isZeroPad(padAxes) {
		fill, err := f.scalar(sh.DType, init)
		if err != nil {
			return nil, err
		}
		if xp, err = f.Pad(operand, fill, padAxes...); err != nil {
			return nil, err
		}
	}
	// The values at every offset, and their running max (min).
	var offsets [][]int
	var vals []compute.Value
	var best compute.Value
	err = w.offsets(func(k []int) error {
		s, err := f.sliceAt(xp, w, k)
		if err != nil {
			return err
		}
		offsets = append(offsets, slices.Clone(k))
		vals = append(vals, s)
		if best == nil {
			best = s
			return nil
		}
		best, err = f.combine(t, best, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	zero, err := f.scalar(srcShape.DType, 0)
	if err != nil {
		return nil, err
	}
	zeros, err := f.filled(zero, srcShape.DType, w.out)
	if err != nil {
		return nil, err
	}
	// contribution of each offset: the source where this offset is the first to reach the max.
	var taken compute.Value
	contrib := make([]compute.Value, len(vals))
	for i, s := range vals {
		m, err := f.Function.Equal(s, best)
		if err != nil {
			return nil, err
		}
		if taken != nil {
			notTaken, err := f.Function.LogicalNot(taken)
			if err != nil {
				return nil, err
			}
			if m, err = f.Function.LogicalAnd(m, notTaken); err != nil {
				return nil, err
			}
		}
		if i < len(vals)-1 {
			if taken == nil {
				taken = m
			} else if taken, err = f.Function.LogicalOr(taken, m); err != nil {
				return nil, err
			}
		}
		if contrib[i], err = f.Function.Where(m, source, zeros); err != nil {
			return nil, err
		}
	}
	if w.tiles(padAxes) {
		return f.untile(contrib, sh, w)
	}
	return f.placeByPhases(contrib, offsets, sh, w, padAxes)
}

// placeByPhases sums the per-offset contributions c_k (each on the output grid) into the operand: offset
// k = q·s + r of output o lands at padded position (o + q)·s + r. Per phase r the contributions are
// shifted by q on the output grid (edge Pads of the pooled size) and summed; the phases are then
// interleaved (Reshape + Concatenate + Reshape per axis) and the operand's padding is cropped.
func (f *function) placeByPhases(contrib []compute.Value, offsets [][]int, sh shapes.Shape, w *window, padAxes []compute.PadAxis) (compute.Value, error) {
	r := w.rank
	q := make([]int, r)    // shifts per axis: ⌈window/stride⌉
	grid := make([]int, r) // output grid + shifts
	for a := range r {
		q[a] = (w.dims[a] + w.strides[a] - 1) / w.strides[a]
		grid[a] = w.out[a] + q[a] - 1
	}
	zero, err := f.scalar(sh.DType, 0)
	if err != nil {
		return nil, err
	}
	// Sum of the shifted contributions of each phase combination (keyed by its flat index).
	sums := map[int]compute.Value{}
	for i, c := range contrib {
		k := offsets[i]
		key := 0
		shift := make([]compute.PadAxis, r)
		for a := range r {
			key = key*w.strides[a] + k[a]%w.strides[a]
			qa := k[a] / w.strides[a]
			shift[a] = compute.PadAxis{Start: qa, End: q[a] - 1 - qa}
		}
		p := c
		if !isZeroPad(shift) {
			if p, err = f.Pad(c, zero, shift...); err != nil {
				return nil, err
			}
		}
		if prev, ok := sums[key]; ok {
			if p, err = f.Function.Add(prev, p); err != nil {
				return nil, err
			}
		}
		sums[key] = p
	}
	var zeros compute.Value
	var rec func(a, key int, dims []int) (compute.Value, error)
	rec = func(a, key int, dims []int) (compute.Value, error) {
		if a == r {
			if v, ok := sums[key]; ok {
				return v, nil
			}
			if zeros == nil {
				if zeros, err = f.filled(zero, sh.DType, grid); err != nil {
					return nil, err
				}
			}
			return zeros, nil
		}
		s := w.strides[a]
		parts := make([]compute.Value, s)
		for ra := range s {
			var err error
			if parts[ra], err = rec(a+1, key*s+ra, dims); err != nil {
				return nil, err
			}
		}
		if s == 1 {
			return parts[0], nil
		}
		// Parts: axes < a at grid size, axes > a already interleaved (grid·stride).
		pd := slices.Clone(grid)
		for b := a + 1; b < r; b++ {
			pd[b] = grid[b] * w.strides[b]
		}
		withOne := slices.Insert(slices.Clone(pd), a+1, 1)
		for i := range parts {
			var err error
			if parts[i], err = f.Function.Reshape(parts[i], withOne...); err != nil {
				return nil, err
			}
		}
		c, err := f.Function.Concatenate(a+1, parts...)
		if err != nil {
			return nil, err
		}
		pd[a] *= s
		return f.Function.Reshape(c, pd...)
	}
	v, err := rec(0, 0, nil)
	if err != nil {
		return nil, err
	}
	// Interleaved positions 0 .. grid·stride of the padded operand → the operand.
	crop := make([]compute.PadAxis, r)
	for a := range r {
		crop[a] = compute.PadAxis{Start: -padAxes[a].Start, End: sh.Dimensions[a] + padAxes[a].Start - grid[a]*w.strides[a]}
	}
	if isZeroPad(crop) {
		return v, nil
	}
	return f.Pad(v, zero, crop...)
}

// untile puts the per-offset contributions of windows that tile the operand back in place: stack them on
// a last axis, split it into the window axes, interleave each with its output axis, merge, and pad the
// uncovered end of each axis with zeros.
func (f *function) untile(contrib []compute.Value, sh shapes.Shape, w *window) (compute.Value, error) {
	r := w.rank
	withOne := append(slices.Clone(w.out), 1)
	parts := make([]compute.Value, len(contrib))
	for i, c := range contrib {
		var err error
		if parts[i], err = f.Function.Reshape(c, withOne...); err != nil {
			return nil, err
		}
	}
	stacked := parts[0]
	var err error
	if len(parts) > 1 {
		if stacked, err = f.Function.Concatenate(r, parts...); err != nil {
			return nil, err
		}
	}
	// [out_0..out_{r-1}, w_0..w_{r-1}] → transpose to [out_0, w_0, out_1, w_1, ...] → [out_a*w_a ...].
	split := append(slices.Clone(w.out), w.dims...)
	if stacked, err = f.Function.Reshape(stacked, split...); err != nil {
		return nil, err
	}
	perm := make([]int, 0, 2*r)
	merged := make([]int, r)
	for a := range r {
		perm = append(perm, a, r+a)
		merged[a] = w.out[a] * w.dims[a]
	}
	if stacked, err = f.Function.Transpose(stacked, perm...); err != nil {
		return nil, err
	}
	if stacked, err = f.Function.Reshape(stacked, merged...); err != nil {
		return nil, err
	}
	if slices.Equal(merged, sh.Dimensions) {
		return stacked, nil
	}
	zero, err := f.scalar(sh.DType, 0)
	if err != nil {
		return nil, err
	}
	pads := make([]compute.PadAxis, r)
	for a := range r {
		pads[a].End = sh.Dimensions[a] - merged[a]
	}
	return f.Pad(stacked, zero, pads...)
}

// ---- Clamp ----

// Clamp is the inner Clamp, or Min(Max(x, lo), hi) (ONNX Runtime has no Clamp).
func (f *function) Clamp(lo, x, hi compute.Value) (compute.Value, error) {
	if !f.bld.b.force {
		v, err := f.Function.Clamp(lo, x, hi)
		if err == nil || !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	xs, err := f.shapeOf(x)
	if err != nil {
		return nil, err
	}
	bcast := func(b compute.Value) (compute.Value, error) {
		bs, err := f.shapeOf(b)
		if err != nil || bs.Rank() == xs.Rank() {
			return b, err
		}
		return f.Function.BroadcastInDim(b, xs, nil)
	}
	if lo, err = bcast(lo); err != nil {
		return nil, err
	}
	if hi, err = bcast(hi); err != nil {
		return nil, err
	}
	m, err := f.Function.Max(x, lo)
	if err != nil {
		return nil, err
	}
	return f.Function.Min(m, hi)
}

// ---- Rsqrt ----

// Rsqrt is the inner Rsqrt, or 1/Sqrt(x) (ONNX Runtime has no Rsqrt).
func (f *function) Rsqrt(x compute.Value) (compute.Value, error) {
	if !f.bld.b.force {
		v, err := f.Function.Rsqrt(x)
		if err == nil || !compute.IsNotImplemented(err) {
			return v, err
		}
	}
	sh, err := f.shapeOf(x)
	if err != nil {
		return nil, err
	}
	s, err := f.Function.Sqrt(x)
	if err != nil {
		return nil, err
	}
	one, err := f.scalar(sh.DType, 1)
	if err != nil {
		return nil, err
	}
	if one, err = f.filled(one, sh.DType, sh.Dimensions); err != nil {
		return nil, err
	}
	return f.Function.Div(one, s)
}
