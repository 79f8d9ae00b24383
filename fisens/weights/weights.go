// Package weights applies the weight perturbations of Cheney, Schrimpf & Kreiman (2017), "On the
// Robustness of Convolutional Neural Networks to Internal Architecture and Weight Perturbations"
// (SPEC B), as plain, seeded, restorable operations on one layer of a GoMLX variable store:
//
//   - synapse knockout: ⌊q·n⌋ of the n entries of a variable, drawn without replacement, are set to 0;
//   - node knockout: ⌊q·U⌋ of the U units of a layer (conv filters, dense units, batch-norm channels:
//     the last axis of the kernel), drawn without replacement, lose their kernel slice and bias entry;
//   - Gaussian noise: w ← w + N(0, (q·σ)²) for every entry, σ the population standard deviation of
//     that variable's values (a variable with σ = 0 is left unchanged, as in the authors' code);
//   - draw: ⌊q·n⌋ entries of a variable, drawn without replacement, are replaced by ⌊q·n⌋ values drawn
//     without replacement from the variable's own values (its empirical distribution): the authors'
//     "draw" perturbation (perturb_weights.py, __draw).
//
// As in the authors' code (kreimanlab/neural_net_robustness, perturb_weights.py) the kernel and the
// bias of a layer are perturbed separately — each with its own draw and its own σ — and by default
// both are perturbed in the same trial (Target KernelAndBias); KernelOnly and BiasOnly perturb one of
// them. Node knockout always removes a unit's kernel slice and bias together.
package weights

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Kind is one of Cheney et al.'s weight perturbations.
type Kind int

const (
	// SynapseKnockout zeroes a random fraction q of a variable's entries.
	SynapseKnockout Kind = iota
	// NodeKnockout zeroes a random fraction q of a layer's units (kernel slice and bias together).
	NodeKnockout
	// GaussianNoise adds N(0, (q·σ)²) noise, σ the standard deviation of the variable's values.
	GaussianNoise
	// Draw replaces a random fraction q of a variable's entries by values drawn from its own entries.
	Draw
)

// String returns "synapse-knockout", "node-knockout" or "gaussian-noise".
func (k Kind) String() string {
	switch k {
	case SynapseKnockout:
		return "synapse-knockout"
	case NodeKnockout:
		return "node-knockout"
	case GaussianNoise:
		return "gaussian-noise"
	case Draw:
		return "draw"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses the names String returns.
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{SynapseKnockout, NodeKnockout, GaussianNoise, Draw} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("weights: weight perturbation %q: want synapse-knockout, node-knockout, gaussian-noise or draw", s)
}

// Target selects which variables of a layer a synapse knockout or Gaussian noise perturbs.
type Target int

const (
	// KernelAndBias perturbs both, each with its own draw and statistics (the authors' code).
	KernelAndBias Target = iota
	// KernelOnly perturbs the kernel ("weights", or batch norm's "gamma") only.
	KernelOnly
	// BiasOnly perturbs the bias ("biases", or batch norm's "beta") only.
	BiasOnly
)

// String returns "kernel+bias", "kernel" or "bias".
func (t Target) String() string {
	switch t {
	case KernelAndBias:
		return "kernel+bias"
	case KernelOnly:
		return "kernel"
	case BiasOnly:
		return "bias"
	}
	return fmt.Sprintf("Target(%d)", int(t))
}

// Perturbation is one random weight perturbation of one layer.
type Perturbation struct {
	Kind Kind
	// Q is the fraction of entries or units knocked out (in [0, 1]) or, for GaussianNoise, the noise
	// standard deviation in units of the variable's standard deviation (≥ 0).
	Q      float64
	Target Target // ignored by NodeKnockout (kernel slice and bias go together)
	Seed   uint64 // the same seed, layer and settings give the same perturbation
}

func (p Perturbation) validate() error {
	if math.IsNaN(p.Q) || math.IsInf(p.Q, 0) || p.Q < 0 {
		return fmt.Errorf("weights: weight perturbation %s: q = %v, want a finite q ≥ 0", p.Kind, p.Q)
	}
	switch p.Kind {
	case SynapseKnockout, NodeKnockout, Draw:
		if p.Q > 1 {
			return fmt.Errorf("weights: %s: q = %v is a fraction, want 0 ≤ q ≤ 1", p.Kind, p.Q)
		}
	case GaussianNoise:
	default:
		return fmt.Errorf("weights: unknown weight perturbation kind %d", int(p.Kind))
	}
	switch p.Target {
	case KernelAndBias, KernelOnly, BiasOnly:
	default:
		return fmt.Errorf("weights: unknown weight target %d", int(p.Target))
	}
	return nil
}

// Variable names recognised as a layer's kernel and bias.
var (
	kernelNames = []string{"weights", "kernel", "gamma", "scale"}
	biasNames   = []string{"biases", "bias", "beta", "offset"}
)

// Layer are the perturbable variables of one layer.
type Layer struct {
	Scope  string          // the layer's scope, e.g. "/conv1"
	Kernel *model.Variable // "weights" (conv [k, k, Cin, Cout], dense [in, out]) or batch norm's "gamma" [C]
	Bias   *model.Variable // "biases" or "beta" [units]; nil if the layer has none
	Units  int             // filters / units / channels: the last axis of the kernel
}

// FindLayer returns the kernel and bias of the layer whose trainable variables live directly
// in scope (e.g. "/conv1"). The kernel must be float32 with the units on its last axis and the
// bias a float32 vector of that length.
func FindLayer(store *model.Store, scope string) (*Layer, error) {
	if store == nil {
		return nil, errors.New("weights: FindLayer: nil store")
	}
	lp := &Layer{Scope: scope}
	var names []string
	for v := range store.IterVariables() {
		if !v.Trainable || v.Scope() != scope {
			continue
		}
		names = append(names, v.Name())
		switch {
		case slices.Contains(kernelNames, v.Name()):
			if lp.Kernel != nil {
				return nil, fmt.Errorf("weights: layer %q has two kernel variables (%s, %s)", scope, lp.Kernel.Name(), v.Name())
			}
			lp.Kernel = v
		case slices.Contains(biasNames, v.Name()):
			if lp.Bias != nil {
				return nil, fmt.Errorf("weights: layer %q has two bias variables (%s, %s)", scope, lp.Bias.Name(), v.Name())
			}
			lp.Bias = v
		}
	}
	if lp.Kernel == nil {
		if len(names) == 0 {
			return nil, fmt.Errorf("weights: no trainable variable in scope %q (known layers: %s)", scope, strings.Join(scopesOf(store), ", "))
		}
		return nil, fmt.Errorf("weights: layer %q has no kernel variable (want one of %v, it has %v)", scope, kernelNames, names)
	}
	ks := lp.Kernel.Shape()
	if ks.DType != dtypes.Float32 || ks.Rank() < 1 {
		return nil, fmt.Errorf("weights: layer %q: kernel %s is %s, want float32 of rank ≥ 1", scope, lp.Kernel.Name(), ks)
	}
	lp.Units = ks.Dimensions[ks.Rank()-1]
	if lp.Bias != nil {
		bs := lp.Bias.Shape()
		if bs.DType != dtypes.Float32 || bs.Rank() != 1 || bs.Dimensions[0] != lp.Units {
			return nil, fmt.Errorf("weights: layer %q: bias %s is %s, want float32 [%d] (the kernel's last axis)", scope, lp.Bias.Name(), bs, lp.Units)
		}
	}
	return lp, nil
}

// Layers lists the scopes of the store that hold a kernel variable (conv, dense or batch-norm
// layers), in variable creation order.
func Layers(store *model.Store) []string {
	var out []string
	seen := map[string]bool{}
	for v := range store.IterVariables() {
		if !v.Trainable || !slices.Contains(kernelNames, v.Name()) || seen[v.Scope()] {
			continue
		}
		seen[v.Scope()] = true
		out = append(out, v.Scope())
	}
	return out
}

func scopesOf(store *model.Store) []string {
	seen := map[string]bool{}
	var out []string
	for v := range store.IterVariables() {
		if v.Trainable && !seen[v.Scope()] {
			seen[v.Scope()] = true
			out = append(out, v.Scope())
		}
	}
	sort.Strings(out)
	return out
}

// Snapshot holds copies of variable values, to undo a perturbation.
type Snapshot struct {
	vars   []*model.Variable
	values [][]float32
	dims   [][]int
}

// snapshot copies the current values of vars.
func snapshot(vars ...*model.Variable) (*Snapshot, error) {
	s := &Snapshot{}
	for _, v := range vars {
		if v == nil {
			continue
		}
		vals, err := Values(v)
		if err != nil {
			return nil, err
		}
		s.vars = append(s.vars, v)
		s.values = append(s.values, vals)
		s.dims = append(s.dims, append([]int(nil), v.Shape().Dimensions...))
	}
	return s, nil
}

// Restore puts the saved values back (it may be called more than once).
func (s *Snapshot) Restore() error {
	if s == nil {
		return nil
	}
	for i, v := range s.vars {
		vals := append([]float32(nil), s.values[i]...)
		if err := setVariableValues(v, vals, s.dims[i]); err != nil {
			return err
		}
	}
	return nil
}

// Values returns a copy of a float32 variable's values.
func Values(v *model.Variable) (out []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("weights: reading variable %s: %v", v.Path(), r)
		}
	}()
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("weights: variable %s has no value (initialise or load the model first): %w", v.Path(), err)
	}
	if t.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("weights: variable %s is %s, want float32", v.Path(), t.DType())
	}
	return tensors.MustCopyFlatData[float32](t), nil
}

// setVariableValues replaces a variable's value by a new host tensor.
func setVariableValues(v *model.Variable, vals []float32, dims []int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("weights: setting variable %s: %v", v.Path(), r)
		}
	}()
	if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, dims...)); err != nil {
		return fmt.Errorf("weights: setting variable %s: %w", v.Path(), err)
	}
	return nil
}

// PerturbLayer applies p to the layer in scope of store (see FindLayer) and returns a
// Snapshot that restores the layer's original values. The values are changed in the store, so any
// executor that reads the variables (models.Predict, an Analyzer) sees the perturbed network until
// Restore is called.
func PerturbLayer(store *model.Store, scope string, p Perturbation) (*Snapshot, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	lp, err := FindLayer(store, scope)
	if err != nil {
		return nil, err
	}
	snap, err := snapshot(lp.Kernel, lp.Bias)
	if err != nil {
		return nil, err
	}
	kernel := append([]float32(nil), snap.values[0]...)
	var bias []float32
	if lp.Bias != nil {
		bias = append([]float32(nil), snap.values[1]...)
	}
	changedK, changedB, err := PerturbValues(kernel, bias, lp.Units, scope, p)
	if err != nil {
		return nil, err
	}
	if changedK {
		if err := setVariableValues(lp.Kernel, kernel, snap.dims[0]); err != nil {
			return nil, err
		}
	}
	if changedB {
		if err := setVariableValues(lp.Bias, bias, snap.dims[1]); err != nil {
			_ = snap.Restore()
			return nil, err
		}
	}
	return snap, nil
}

// PerturbValues applies p in place to a layer's kernel values (row-major, units on the last axis,
// len(kernel) a multiple of units) and bias values (nil or length units). name seeds the draw
// together with p.Seed, so different layers get independent draws from one seed. It reports which
// of the two slices it changed.
func PerturbValues(kernel, bias []float32, units int, name string, p Perturbation) (changedKernel, changedBias bool, err error) {
	if err := p.validate(); err != nil {
		return false, false, err
	}
	if units <= 0 || len(kernel) == 0 || len(kernel)%units != 0 {
		return false, false, fmt.Errorf("weights: layer %q: kernel of %d values with %d units: want a positive multiple", name, len(kernel), units)
	}
	if bias != nil && len(bias) != units {
		return false, false, fmt.Errorf("weights: layer %q: bias has %d values, want %d (units)", name, len(bias), units)
	}
	rngK := seededRand(p.Seed, name, p.Kind.String(), "kernel")
	rngB := seededRand(p.Seed, name, p.Kind.String(), "bias")
	doK := p.Target != BiasOnly
	doB := p.Target != KernelOnly && bias != nil
	// Each variable gets its own draw (and, for noise, its own σ).
	var perturb func(v []float32, q float64, rng *rand.Rand)
	switch p.Kind {
	case SynapseKnockout:
		perturb = knockout
	case Draw:
		perturb = drawOwn
	case GaussianNoise:
		perturb = addNoise
	case NodeKnockout:
		idx := sampleWithoutReplacement(units, int(math.Floor(p.Q*float64(units))), rngK)
		for _, u := range idx {
			for i := u; i < len(kernel); i += units {
				kernel[i] = 0
			}
			if bias != nil {
				bias[u] = 0
			}
		}
		return true, bias != nil, nil
	default:
		return false, false, fmt.Errorf("weights: unknown weight perturbation kind %d", int(p.Kind))
	}
	if doK {
		perturb(kernel, p.Q, rngK)
	}
	if doB {
		perturb(bias, p.Q, rngB)
	}
	return doK, doB, nil
}

// seededRand derives an independent PCG stream from a seed and labels.
func seededRand(seed uint64, labels ...string) *rand.Rand {
	h := fnv.New64a()
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// sampleWithoutReplacement returns k distinct indices of [0, n) (a partial Fisher–Yates shuffle).
func sampleWithoutReplacement(n, k int, rng *rand.Rand) []int {
	k = min(max(k, 0), n)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := 0; i < k; i++ {
		j := i + rng.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:k]
}

// knockout zeroes ⌊q·n⌋ entries drawn without replacement.
func knockout(v []float32, q float64, rng *rand.Rand) {
	for _, i := range sampleWithoutReplacement(len(v), int(math.Floor(q*float64(len(v)))), rng) {
		v[i] = 0
	}
}

// drawOwn replaces ⌊q·n⌋ entries, drawn without replacement, by ⌊q·n⌋ of the variable's values
// drawn without replacement (before any is replaced), as the authors' __draw does.
func drawOwn(v []float32, q float64, rng *rand.Rand) {
	k := int(math.Floor(q * float64(len(v))))
	dst := sampleWithoutReplacement(len(v), k, rng)
	src := sampleWithoutReplacement(len(v), k, rng)
	vals := make([]float32, len(src))
	for i, j := range src {
		vals[i] = v[j]
	}
	for i, j := range dst {
		v[j] = vals[i]
	}
}

// addNoise adds N(0, (q·σ)²) to every entry, σ the population standard deviation of v.
func addNoise(v []float32, q float64, rng *rand.Rand) {
	_, sd := meanStd32(v)
	s := q * sd
	if s <= 0 {
		return
	}
	for i := range v {
		v[i] = float32(float64(v[i]) + s*rng.NormFloat64())
	}
}

// meanStd32 returns the mean and population standard deviation (numpy's np.std) of v.
func meanStd32(v []float32) (mean, std float64) {
	if len(v) == 0 {
		return 0, 0
	}
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		d := float64(x) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(v)))
}
