package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"gonum.org/v1/gonum/mat"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/fisens/condition"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
	"github.com/fisens/fisens/stats"
)

// The condition-number estimator (SPEC C, built from first principles; see the package documentation of fisens/condition
// for the derivation). For each model (AlexNet- and VGG-style chains, and the ResNet and DenseNet
// families as graphs with residual additions, concatenations and folded batch norms): per-layer
// operator norms and relative condition numbers, their recursion over the network into a bound on
// the relative change of the logits, the bound against measured changes under random and
// gradient-attack perturbations of the inputs and of the weights over several decades of magnitude,
// and the bound turned into a minimal bit-width, checked by rounding the weights (and activations)
// to b significant bits.

func init() {
	register(Experiment{
		Name:    "estimator",
		Title:   "Condition-number estimator: bound vs measured, and bit-width",
		Paper:   "Maheshwari et al. 2023",
		Order:   70,
		Summary: "per-layer operator norms and condition numbers, a network bound for input and weight perturbations (chains, residual and dense nets) checked against random and PGD perturbations, and a predicted minimal bit-width checked by rounding",
	}, DefaultEstimatorConfig, RunEstimator)
}

// EstimatorConfig configures the estimator experiment.
type EstimatorConfig struct {
	Models  []string // model references (alexnet-small, vgg-small, resnet and densenet families: see NetOf)
	Dataset string   // dataset of models that record none
	DataDir string

	Images             int       // test images for the condition numbers and the tightness study
	Magnitudes         []float64 // relative perturbation sizes ‖Δ‖/‖·‖ (several decades)
	Draws              int       // random draws per magnitude (inputs: one per image per draw; weights: one for all images)
	AttackImages       int       // images attacked on their input (FGSM + PGD), batched
	WeightAttackImages int       // images whose weights are attacked (one at a time)
	AttackSteps        int       // PGD steps after the FGSM start
	Bits               []int     // significand bit-widths checked by rounding
	BitImages          int       // test images for accuracy under rounding
	Tolerance          float64   // tolerated relative logit change for the predicted bit-width
	Tolerances         []float64 // tolerances of the predicted-vs-measured bit-width panel
	Norm               condition.NormOptions
	// PowerIters caps the power iterations per operator norm (overrides Norm.MaxIter when > 0; for
	// smoke runs: fewer iterations give slightly smaller norms).
	PowerIters int
}

// DefaultEstimatorConfig returns the settings of a scale (smaller on the pure-Go backend).
func DefaultEstimatorConfig(scale Scale, backendName string) EstimatorConfig {
	cfg := EstimatorConfig{
		Models: []string{models.ZooPrefix + "alexnet-small-mnist", models.ZooPrefix + "vgg-small-mnist",
			models.ZooPrefix + "resnet-small-mnist", models.ZooPrefix + "densenet-small-mnist"},
		Images:             100,
		Magnitudes:         []float64{1e-3, 1e-2, 1e-1, 1},
		Draws:              4,
		AttackImages:       30,
		WeightAttackImages: 3,
		AttackSteps:        4,
		Bits:               []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16},
		BitImages:          300,
		Tolerance:          1e-2,
		Tolerances:         []float64{0.3, 0.1, 0.03, 0.01, 0.003, 0.001},
		Norm:               condition.NormOptions{Tol: 1e-6, MaxIter: 3000, Seed: 1},
	}
	switch {
	case scale == Paper:
		cfg.Models = append(cfg.Models, paperPairRefs(datasets.MNIST)...) // ResNet50 and DenseNet121 as trained by the train experiment
		cfg.Images, cfg.Draws, cfg.AttackImages, cfg.WeightAttackImages, cfg.BitImages, cfg.AttackSteps = 1000, 10, 500, 20, 0, 10
		cfg.Magnitudes = []float64{1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}
		cfg.Bits = []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	case pureGoBackend(backendName):
		cfg.Models = cfg.Models[:1]
		cfg.Images, cfg.Draws, cfg.AttackImages, cfg.WeightAttackImages, cfg.BitImages, cfg.AttackSteps = 20, 2, 10, 1, 50, 3
		cfg.Magnitudes = []float64{1e-3, 1e-1, 1}
		cfg.Bits = []int{2, 4, 6, 8, 12, 16}
		cfg.Norm = condition.NormOptions{Tol: 1e-5, MaxIter: 1000, Seed: 1}
	}
	return cfg
}

func (cfg EstimatorConfig) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("estimator: Models is empty")
	case cfg.Images < 1 || cfg.Draws < 1 || cfg.AttackImages < 0 || cfg.WeightAttackImages < 0 || cfg.AttackSteps < 0 || cfg.BitImages < 0:
		return fmt.Errorf("estimator: Images %d, Draws %d (want ≥ 1); AttackImages %d, WeightAttackImages %d, AttackSteps %d, BitImages %d (want ≥ 0)",
			cfg.Images, cfg.Draws, cfg.AttackImages, cfg.WeightAttackImages, cfg.AttackSteps, cfg.BitImages)
	case len(cfg.Magnitudes) == 0:
		return errors.New("estimator: Magnitudes is empty")
	case cfg.PowerIters < 0:
		return fmt.Errorf("estimator: PowerIters %d, want ≥ 0", cfg.PowerIters)
	case !(cfg.Tolerance > 0):
		return fmt.Errorf("estimator: Tolerance %v, want > 0", cfg.Tolerance)
	}
	for _, m := range cfg.Magnitudes {
		if !(m > 0) || math.IsInf(m, 0) {
			return fmt.Errorf("estimator: magnitude %v, want finite > 0", m)
		}
	}
	for _, b := range cfg.Bits {
		if b < 1 || b > 23 {
			return fmt.Errorf("estimator: bit-width %d, want 1…23", b)
		}
	}
	for _, t := range cfg.Tolerances {
		if !(t > 0) {
			return fmt.Errorf("estimator: tolerance %v, want > 0", t)
		}
	}
	return nil
}

func (cfg EstimatorConfig) powerIters() int {
	if cfg.PowerIters > 0 {
		return cfg.PowerIters
	}
	return cfg.Norm.MaxIter
}

func (cfg EstimatorConfig) settings(c Common) map[string]string {
	return map[string]string{
		"scale":            string(c.Scale),
		"backend":          c.Backend,
		"seed":             strconv.FormatInt(c.Seed, 10),
		"models":           strings.Join(cfg.Models, ", "),
		"images":           fmt.Sprintf("%d test images (seeded subset) for the condition numbers and random perturbations", cfg.Images),
		"magnitudes":       fmt.Sprint(cfg.Magnitudes) + " (relative: ‖Δx‖/‖x‖, ‖ΔK_l‖_F/‖K_l‖_F and ‖Δb_l‖/‖b_l‖ for every layer at once)",
		"random draws":     strconv.Itoa(cfg.Draws) + " per magnitude (Gaussian directions)",
		"attacks":          fmt.Sprintf("FGSM (ℓ2, cross-entropy of the predicted class) then %d PGD steps on ‖Δz‖² (ℓ2 sphere); inputs of %d images, weights of %d images", cfg.AttackSteps, cfg.AttackImages, cfg.WeightAttackImages),
		"bit-widths":       fmt.Sprint(cfg.Bits) + " significant bits (unit round-off 2^−b), round to nearest",
		"bit-width images": sizeOrAll(cfg.BitImages) + " test images",
		"tolerance":        fmt.Sprintf("%g relative logit change ‖Δz‖/‖z‖, for every image (max over images)", cfg.Tolerance),
		"power iteration":  fmt.Sprintf("tolerance %g, at most %d iterations", cfg.Norm.Tol, cfg.powerIters()),
		"coverage":         "chains (conv/dense/ReLU/max pool) and graphs with residual additions, concatenations, strided convolutions, batch norms (folded into the preceding convolution, else diagonal layers) and average / global average pools (see the package documentation of fisens/condition)",
		"bit-width means":  "every stored parameter of the inference network after folding (folded kernels and biases, the scale and shift of batch norms that follow no convolution) and the input of every conv, dense and batch-norm layer, rounded to b significant bits",
	}
}

// ChainSpecs maps the architectures the estimator covers to their layer specs: the plain conv nets
// of the AlexNet/VGG family (models.ConvNetSpec). Register another models.ConvNetBuilder net here
// to cover it.
var ChainSpecs = map[string]models.ConvNetSpec{
	"alexnet-small": models.AlexNetSmallSpec,
	"vgg-small":     models.VGGSmallSpec,
}

// ChainOf returns the condition.Chain of a plain conv net listed in ChainSpecs.
func ChainOf(m *models.Model) (condition.Chain, error) {
	spec, ok := ChainSpecs[m.Name()]
	if !ok {
		known := make([]string, 0, len(ChainSpecs))
		for k := range ChainSpecs {
			known = append(known, k)
		}
		sort.Strings(known)
		return condition.Chain{}, fmt.Errorf("estimator: %s is not a plain chain (%s); residual and dense nets are graphs: use NetOf", m.Name(), strings.Join(known, ", "))
	}
	cfg := m.Config()
	ch := condition.Chain{Input: []int{cfg.Height, cfg.Width, cfg.Channels}, InputScale: 1}
	if cfg.InputScale == "" || cfg.InputScale == "raw255" {
		ch.InputScale = 1.0 / 255
	}
	n := 0
	for _, c := range spec.Convs {
		n++
		ch.Layers = append(ch.Layers, condition.ChainLayer{Scope: fmt.Sprintf("/conv%d", n), Kind: condition.ChainConv, Padding: condition.PadSame, ReLU: true, MaxPool: c.Pool})
	}
	for range spec.Hidden {
		n++
		ch.Layers = append(ch.Layers, condition.ChainLayer{Scope: fmt.Sprintf("/fc%d", n), Kind: condition.ChainDense, ReLU: true})
	}
	n++
	ch.Layers = append(ch.Layers, condition.ChainLayer{Scope: fmt.Sprintf("/fc%d", n), Kind: condition.ChainDense})
	return ch, nil
}

// ResNetSpecs and DenseNetSpecs map the residual and dense architectures the estimator covers to
// their specs (NetOf builds their condition.Net from them).
var (
	ResNetSpecs = map[string]models.ResNetSpec{
		"resnet50":     models.ResNet50Spec,
		"resnet-small": models.ResNetSmallSpec,
	}
	DenseNetSpecs = map[string]models.DenseNetSpec{
		"densenet121":    models.DenseNet121Spec,
		"densenet-small": models.DenseNetSmallSpec,
	}
)

// NetOf returns the condition.Net of a model: the chain of a plain conv net (ChainOf), or the graph
// of a ResNet or DenseNet of ResNetSpecs / DenseNetSpecs, built as models/resnet.go and
// models/densenet.go build them (condition.NewNetEstimator checks it against the model's logits).
func NetOf(m *models.Model) (condition.Net, error) {
	cfg := m.Config()
	if _, ok := ChainSpecs[m.Name()]; ok {
		ch, err := ChainOf(m)
		return ch.Net(), err
	}
	in := []int{cfg.Height, cfg.Width, cfg.Channels}
	// ResNets and DenseNets take raw inputs (their first batch norm normalises): scale 1.
	probe := 255.0
	if cfg.InputScale == "unit" {
		probe = 1
	}
	if spec, ok := ResNetSpecs[m.Name()]; ok {
		n := ResNetNet(spec, in)
		n.ProbeMax = probe
		return n, nil
	}
	if spec, ok := DenseNetSpecs[m.Name()]; ok {
		n := DenseNetNet(spec, in)
		n.ProbeMax = probe
		return n, nil
	}
	var known []string
	for k := range ChainSpecs {
		known = append(known, k)
	}
	for k := range ResNetSpecs {
		known = append(known, k)
	}
	for k := range DenseNetSpecs {
		known = append(known, k)
	}
	sort.Strings(known)
	return condition.Net{}, fmt.Errorf("estimator: the estimator does not know the structure of %s (known: %s)", m.Name(), strings.Join(known, ", "))
}

// netBuilder appends nodes to a condition.Net.
type netBuilder struct{ n *condition.Net }

func (b netBuilder) add(nd condition.NetNode) int {
	b.n.Nodes = append(b.n.Nodes, nd)
	return len(b.n.Nodes) - 1
}

func (b netBuilder) conv(in int, scope, bn string, stride int, pad condition.ChainPadding) int {
	return b.add(condition.NetNode{Op: condition.OpConv, In: []int{in}, Scope: scope, BN: bn, Stride: stride, Padding: pad})
}

func (b netBuilder) op(op condition.Op, in ...int) int {
	return b.add(condition.NetNode{Op: op, In: in})
}

func (b netBuilder) bn(in int, scope string) int {
	return b.add(condition.NetNode{Op: condition.OpBatchNorm, In: []int{in}, Scope: scope})
}

// ResNetNet returns the condition.Net of models.ResNetBuilder(spec) on inputs in = [H, W, C]: every
// batch norm folded into the convolution before it; per block relu(F(x) + S(x)).
func ResNetNet(spec models.ResNetSpec, in []int) condition.Net {
	n := &condition.Net{Input: in, InputScale: 1}
	b := netBuilder{n}
	x := b.op(condition.OpReLU, b.conv(-1, "/stem/conv", "/stem/bn", max(1, spec.StemStride), condition.PadSame))
	for st, nb := range spec.Blocks {
		for bl := 0; bl < nb; bl++ {
			stride := 1
			if bl == 0 {
				stride = spec.Strides[st]
			}
			p := fmt.Sprintf("/stage%d/block%d/", st+2, bl+1)
			y := b.op(condition.OpReLU, b.conv(x, p+"conv1", p+"bn1", stride, condition.PadValid))
			y = b.op(condition.OpReLU, b.conv(y, p+"conv2", p+"bn2", 1, condition.PadSame))
			y = b.conv(y, p+"conv3", p+"bn3", 1, condition.PadValid)
			s := x
			if bl == 0 {
				s = b.conv(x, p+"conv_shortcut", p+"bn_shortcut", stride, condition.PadValid)
			}
			x = b.op(condition.OpReLU, b.op(condition.OpAdd, y, s))
		}
	}
	x = b.add(condition.NetNode{Op: condition.OpAvgPool, In: []int{x}, Window: 2, Stride: 2})
	b.add(condition.NetNode{Op: condition.OpDense, In: []int{x}, Scope: "/dense"})
	return *n
}

// DenseNetNet returns the condition.Net of models.DenseNetBuilder(spec) on inputs in = [H, W, C]:
// the stem's and each bottleneck's batch norm folded into the convolution before them; the
// pre-activation batch norms of the concatenated features (bn1, transition, final) are diagonal
// layers.
func DenseNetNet(spec models.DenseNetSpec, in []int) condition.Net {
	n := &condition.Net{Input: in, InputScale: 1}
	b := netBuilder{n}
	x := b.op(condition.OpReLU, b.conv(-1, "/stem/conv", "/stem/bn", max(1, spec.StemStride), condition.PadSame))
	for bi, nl := range spec.Blocks {
		for l := 0; l < nl; l++ {
			p := fmt.Sprintf("/block%d/layer%d/", bi+1, l+1)
			y := b.op(condition.OpReLU, b.bn(x, p+"bn1"))
			y = b.op(condition.OpReLU, b.conv(y, p+"conv1", p+"bn2", 1, condition.PadValid))
			y = b.conv(y, p+"conv2", "", 1, condition.PadSame)
			x = b.op(condition.OpConcat, x, y)
		}
		if bi < len(spec.Blocks)-1 {
			p := fmt.Sprintf("/transition%d/", bi+1)
			y := b.conv(b.op(condition.OpReLU, b.bn(x, p+"bn")), p+"conv", "", 1, condition.PadValid)
			x = b.add(condition.NetNode{Op: condition.OpAvgPool, In: []int{y}, Window: 2, Stride: 2})
		}
	}
	x = b.op(condition.OpGlobalAvgPool, b.op(condition.OpReLU, b.bn(x, "/final/bn")))
	b.add(condition.NetNode{Op: condition.OpDense, In: []int{x}, Scope: "/dense"})
	return *n
}

// Perturbation kinds of the tightness study.
const (
	EstInputRandom   = "input, random"
	EstInputFGSM     = "input, FGSM"
	EstInputPGD      = "input, PGD"
	EstWeightsRandom = "weights, random"
	EstWeightsFGSM   = "weights, FGSM"
	EstWeightsPGD    = "weights, PGD"
)

var estKinds = []string{EstInputRandom, EstInputFGSM, EstInputPGD, EstWeightsRandom, EstWeightsFGSM, EstWeightsPGD}

// EstPoint is one comparison of the bound with a measured relative logit change.
type EstPoint struct {
	Kind      string
	Magnitude float64
	Image     int
	Bound     float64 // upper bound of ‖Δz‖/‖z‖
	Measured  float64 // measured ‖Δz‖/‖z‖
	Flipped   bool    // the predicted class changed
}

// EstBits is the rounding study at one bit-width.
type EstBits struct {
	Bits int
	// Weights only, and weights + activations (the input of every linear map).
	BoundW, BoundWA       float64 // max over the images of the bound
	MaxW, MaxWA           float64 // max over the images of the measured ‖Δz‖/‖z‖
	MedianW, MedianWA     float64
	AccW, AccWA           float64 // top-1 accuracy
	FlippedW, FlippedWA   float64 // fraction of images whose prediction changed
	BoundMedW, BoundMedWA float64 // median over the images of the bound
}

// EstModel is one model's estimator result.
type EstModel struct {
	Ref, Name, Arch string
	Dataset         string
	Norms           []condition.LayerNorm
	CheckedDiff     float64   // net vs classifier logits, relative, on the random probe
	CheckedData     float64   // the same on the study's test images
	Lipschitz       []float64 // per node of Nodes: the Lipschitz constant the bound uses
	Nodes           []condition.NetNode
	LayerCond       []float64 // median over images of κ_l
	LayerCondMax    []float64
	InputCond       []float64 // κ_in per image
	// InputCondPlain is κ_in per image without carrying the batch norms before ReLUs across them
	// (LayerNorm.Pre; nil for nets without such batch norms).
	InputCondPlain []float64
	// LocalCond is the local (first-order exact) input condition number ‖J(x)‖₂‖x‖/‖z‖ per image,
	// J = ∂z/∂x the logit Jacobian: what the worst input perturbation achieves as its size → 0.
	LocalCond  []float64
	WeightCond [][]float64 // [layer][image] κ_W,l
	Points     []EstPoint
	Base       float64 // float32 top-1 accuracy on the bit-width images
	BitImages  int
	Bits       []EstBits
	PredBits   int // predicted minimal bits for Tolerance (weights + activations)
	PredBitsW  int // weights only
	// Predicted and measured minimal bits for each of Config.Tolerances (weights + activations).
	TolPred, TolMeas, TolPredW, TolMeasW []int
	Time                                 map[string]time.Duration
}

// EstimatorResult is what RunEstimator returns.
type EstimatorResult struct {
	Config  EstimatorConfig
	Models  []EstModel
	Skipped []string // zoo models of the configuration that the zoo does not hold
}

// RunEstimator runs the estimator study for every model.
func RunEstimator(ctx context.Context, c Common, cfg EstimatorConfig) (*EstimatorResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	b, err := backend.New(c.Backend)
	if err != nil {
		return nil, fmt.Errorf("estimator: %w", err)
	}
	refs, skipped := availableZooModels(cfg.Models)
	if len(refs) == 0 {
		return nil, fmt.Errorf("estimator: none of the models %v is available (the zoo holds none of them)", cfg.Models)
	}
	for _, s := range skipped {
		c.Logf("estimator: skipping %s: not in the zoo", s)
	}
	res := &EstimatorResult{Config: cfg, Skipped: skipped}
	for _, ref := range refs {
		em, err := runEstimatorModel(ctx, c, b, cfg, ref)
		if err != nil {
			return nil, fmt.Errorf("estimator: %s: %w", ref, err)
		}
		res.Models = append(res.Models, *em)
	}
	return res, nil
}

const (
	streamEstImages = 0xe571_0001
	streamEstBits   = 0xe571_0002
	streamEstRandom = 0xe571_0003
)

func runEstimatorModel(ctx context.Context, c Common, b compute.Backend, cfg EstimatorConfig, ref string) (*EstModel, error) {
	lm, err := LoadModel(c, ref, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	m, dataset := lm.Model, lm.Dataset
	net, err := NetOf(m)
	if err != nil {
		return nil, err
	}
	test, err := lm.Set(datasets.SplitTest, dataOptions(c, cfg.DataDir)...)
	if err != nil {
		return nil, err
	}
	scale := lm.Scale
	em := &EstModel{Ref: ref, Name: ModelName(ref), Arch: m.Name(), Dataset: dataset, Time: map[string]time.Duration{}}
	K := m.NumClasses()
	t0 := time.Now()
	nopt := cfg.Norm
	if cfg.PowerIters > 0 {
		nopt.MaxIter = cfg.PowerIters
	}
	est, err := condition.NewNetEstimator(b, m, net, nopt)
	if err != nil {
		return nil, err
	}
	em.Norms, em.CheckedDiff = est.Norms(), est.CheckedDiff()
	em.Lipschitz, em.Nodes = est.Lipschitz(), est.Net().Nodes
	em.Time["operator norms"] = time.Since(t0)

	// Condition numbers on the image subset.
	idx := datasets.SampleIndices(test.Len(), cfg.Images, c.Seed, streamEstImages)
	batch, err := ReadBatch(test, idx, scale, 0)
	if err != nil {
		return nil, err
	}
	if em.CheckedData, err = est.Check(batch); err != nil {
		return nil, err
	}
	c.Logf("estimator %s: %d layers, operator norms in %s (the net matches the model's logits to %.1e on a random probe, %.1e on the images)",
		em.Name, est.NumLayers(), em.Time["operator norms"].Round(time.Millisecond), em.CheckedDiff, em.CheckedData)
	conds, err := est.Conditions(batch)
	if err != nil {
		return nil, err
	}
	L := est.NumLayers()
	em.LayerCond, em.LayerCondMax = make([]float64, L), make([]float64, L)
	em.WeightCond = make([][]float64, L)
	for l := 0; l < L; l++ {
		v := make([]float64, len(conds))
		for i, cd := range conds {
			v[i] = cd.Layer[l]
			em.WeightCond[l] = append(em.WeightCond[l], cd.Weight[l])
		}
		em.LayerCond[l], _ = stats.Median(v)
		em.LayerCondMax[l] = estMax(v)
	}
	for _, cd := range conds {
		em.InputCond = append(em.InputCond, cd.Input)
		pre := false
		for _, v := range cd.Pre {
			pre = pre || v > 0
		}
		if pre {
			plain := cd
			plain.Pre = make([]float64, len(cd.Pre))
			em.InputCondPlain = append(em.InputCondPlain, plain.Bound(condition.PerturbSizes{Input: 1}))
		}
	}
	if em.LocalCond, err = estLocalConditions(b, m, batch); err != nil {
		return nil, err
	}
	w0 := est.Weights()
	f0, err := est.Run(batch, w0, 0)
	if err != nil {
		return nil, err
	}
	pred0 := models.Argmax(f0.Logits, K)
	P := batch.X
	per := len(P) / batch.N()
	rng := rand.New(rand.NewPCG(uint64(c.Seed), streamEstRandom))
	addPoints := func(kind string, mag float64, imgs []int, z, zRef []float32, bounds []float64, predRef []int) {
		rc := condition.RelChange(z, zRef, K)
		pr := models.Argmax(z, K)
		for j := range rc {
			em.Points = append(em.Points, EstPoint{Kind: kind, Magnitude: mag, Image: imgs[j], Bound: bounds[j], Measured: rc[j], Flipped: pr[j] != predRef[j]})
		}
	}
	all := make([]int, batch.N())
	for i := range all {
		all[i] = i
	}

	// Random input perturbations.
	t0 = time.Now()
	bar := progress.New(c.Progress, "estimator "+em.Name+" random", len(cfg.Magnitudes)*cfg.Draws*2)
	for _, mag := range cfg.Magnitudes {
		bounds := make([]float64, len(conds))
		for i, cd := range conds {
			bounds[i] = cd.Bound(condition.PerturbSizes{Input: mag})
		}
		for d := 0; d < cfg.Draws; d++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			x := append([]float32(nil), P...)
			for n := 0; n < batch.N(); n++ {
				dir := estGaussian(rng, per)
				estScaleTo(dir, mag*condition.Norm(P[n*per:(n+1)*per]))
				for i := range dir {
					x[n*per+i] += dir[i]
				}
			}
			f, err := est.Run(fisens.Batch{X: x, Shape: batch.Shape}, w0, 0)
			if err != nil {
				return nil, err
			}
			addPoints(EstInputRandom, mag, all, f.Logits, f0.Logits, bounds, pred0)
			bar.Add(1)
		}
	}
	// Random weight perturbations: one Gaussian direction per draw and layer, whose operator norm is
	// measured once and scaled with the magnitude (‖εD‖ = ε‖D‖).
	for d := 0; d < cfg.Draws; d++ {
		dir := condition.Weights{Kernels: make([][]float32, L), Biases: make([][]float32, L)}
		opRel := make([]float64, L) // ‖ΔA_l‖/‖A_l‖ for magnitude 1
		biasN := make([]float64, L)
		for l := 0; l < L; l++ {
			k := estGaussian(rng, len(w0.Kernels[l]))
			estScaleTo(k, condition.Norm(w0.Kernels[l]))
			op, err := est.OpNorm(l, k)
			if err != nil {
				return nil, err
			}
			dir.Kernels[l], opRel[l] = k, op/em.Norms[l].Op
			if w0.Biases[l] != nil {
				bb := estGaussian(rng, len(w0.Biases[l]))
				estScaleTo(bb, condition.Norm(w0.Biases[l]))
				dir.Biases[l], biasN[l] = bb, condition.Norm(w0.Biases[l])
			}
		}
		for _, mag := range cfg.Magnitudes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			sz := condition.PerturbSizes{Weight: make([]float64, L), Bias: make([]float64, L)}
			for l := 0; l < L; l++ {
				sz.Weight[l], sz.Bias[l] = mag*opRel[l], mag*biasN[l]
			}
			f, err := est.Run(batch, condition.AddWeights(w0, estScaled(dir, mag)), 0)
			if err != nil {
				return nil, err
			}
			bounds := make([]float64, len(conds))
			for i, cd := range conds {
				bounds[i] = cd.Bound(sz)
			}
			addPoints(EstWeightsRandom, mag, all, f.Logits, f0.Logits, bounds, pred0)
			bar.Add(1)
		}
	}
	bar.Done()
	em.Time["random perturbations"] = time.Since(t0)

	// Input attacks (batched).
	t0 = time.Now()
	if cfg.AttackImages > 0 {
		na := min(cfg.AttackImages, batch.N())
		sub := fisens.Batch{X: P[:na*per], Shape: append([]int{na}, batch.Shape[1:]...), Labels: batch.Labels[:na]}
		bar := progress.New(c.Progress, "estimator "+em.Name+" input attacks", len(cfg.Magnitudes))
		for _, mag := range cfg.Magnitudes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fg, pg, err := est.AttackInput(sub, mag, cfg.AttackSteps)
			if err != nil {
				return nil, err
			}
			bounds := make([]float64, na)
			for i := range bounds {
				bounds[i] = conds[i].Bound(condition.PerturbSizes{Input: mag})
			}
			for _, kd := range []struct {
				kind  string
				delta []float32
			}{{EstInputFGSM, fg}, {EstInputPGD, pg}} {
				x := append([]float32(nil), sub.X...)
				for i := range x {
					x[i] += kd.delta[i]
				}
				f, err := est.Run(fisens.Batch{X: x, Shape: sub.Shape}, w0, 0)
				if err != nil {
					return nil, err
				}
				addPoints(kd.kind, mag, all[:na], f.Logits, f0.Logits[:na*K], bounds, pred0[:na])
			}
			bar.Add(1)
		}
		bar.Done()
	}
	em.Time["input attacks"] = time.Since(t0)

	// Weight attacks (one image at a time).
	t0 = time.Now()
	if cfg.WeightAttackImages > 0 {
		nw := min(cfg.WeightAttackImages, batch.N())
		bar := progress.New(c.Progress, "estimator "+em.Name+" weight attacks", nw*len(cfg.Magnitudes))
		for n := 0; n < nw; n++ {
			one := fisens.Batch{X: P[n*per : (n+1)*per], Shape: append([]int{1}, batch.Shape[1:]...)}
			for _, mag := range cfg.Magnitudes {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				fg, pg, err := est.AttackWeights(one, mag, cfg.AttackSteps)
				if err != nil {
					return nil, err
				}
				for _, kd := range []struct {
					kind  string
					delta condition.Weights
				}{{EstWeightsFGSM, fg}, {EstWeightsPGD, pg}} {
					sz := condition.PerturbSizes{Weight: make([]float64, L), Bias: make([]float64, L)}
					for l := 0; l < L; l++ {
						op, err := est.OpNorm(l, kd.delta.Kernels[l])
						if err != nil {
							return nil, err
						}
						sz.Weight[l] = op / em.Norms[l].Op
						sz.Bias[l] = condition.Norm(kd.delta.Biases[l])
					}
					f, err := est.Run(one, condition.AddWeights(w0, kd.delta), 0)
					if err != nil {
						return nil, err
					}
					addPoints(kd.kind, mag, []int{n}, f.Logits, f0.Logits[n*K:(n+1)*K], []float64{conds[n].Bound(sz)}, pred0[n:n+1])
				}
				bar.Add(1)
			}
		}
		bar.Done()
	}
	em.Time["weight attacks"] = time.Since(t0)

	// Bit-widths.
	t0 = time.Now()
	bidx := datasets.SampleIndices(test.Len(), cfg.BitImages, c.Seed, streamEstBits)
	bb, err := ReadBatch(test, bidx, scale, 0)
	if err != nil {
		return nil, err
	}
	if err := estBits(ctx, c, est, cfg, bb, em); err != nil {
		return nil, err
	}
	em.Time["bit-widths"] = time.Since(t0)
	return em, nil
}

// estLocalConditions returns ‖J(x)‖₂‖x‖/‖z‖ for every example, J = ∂z/∂x (largest eigenvalue of the
// K × K Gram matrix J Jᵀ, in float64).
func estLocalConditions(b compute.Backend, m *models.Model, batch fisens.Batch) ([]float64, error) {
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return nil, err
	}
	defer an.Close()
	out := make([]float64, 0, batch.N())
	per := len(batch.X) / batch.N()
	const chunk = 100
	for s := 0; s < batch.N(); s += chunk {
		e := min(s+chunk, batch.N())
		sub := fisens.Batch{X: batch.X[s*per : e*per], Shape: append([]int{e - s}, batch.Shape[1:]...)}
		jac, err := an.InputJacobian(sub)
		if err != nil {
			return nil, err
		}
		K := jac.K
		for n := 0; n < jac.N; n++ {
			var eig mat.EigenSym
			if !eig.Factorize(mat.NewSymDense(K, jac.Gram(n, nil, fisens.Additive)), false) {
				return nil, fmt.Errorf("eigen-decomposition of the input Gram matrix of image %d failed", s+n)
			}
			vals := eig.Values(nil)
			lmax := vals[len(vals)-1]
			var zn float64
			for _, v := range jac.LogitsOf(n) {
				zn += v * v
			}
			out = append(out, math.Sqrt(math.Max(lmax, 0))*condition.Norm(sub.X[n*per:(n+1)*per])/math.Sqrt(zn))
		}
	}
	return out, nil
}

// estBits rounds weights (and activations) to each bit-width and compares with the bound.
func estBits(ctx context.Context, c Common, est *condition.Estimator, cfg EstimatorConfig, bb fisens.Batch, em *EstModel) error {
	K := est.Norms()[len(est.Norms())-1].OutShape[0]
	w0 := est.Weights()
	const chunk = 500
	type runOut struct {
		z     []float32
		conds []condition.Condition
	}
	run := func(w condition.Weights, bits int) (*runOut, error) {
		out := &runOut{}
		per := len(bb.X) / bb.N()
		for s := 0; s < bb.N(); s += chunk {
			e := min(s+chunk, bb.N())
			f, err := est.Run(fisens.Batch{X: bb.X[s*per : e*per], Shape: append([]int{e - s}, bb.Shape[1:]...)}, w, bits)
			if err != nil {
				return nil, err
			}
			out.z = append(out.z, f.Logits...)
			out.conds = append(out.conds, est.ConditionsOf(f)...)
		}
		return out, nil
	}
	ref, err := run(w0, 0)
	if err != nil {
		return err
	}
	conds := ref.conds
	acc := func(z []float32) float64 {
		pred := models.Argmax(z, K)
		ok := 0
		for i, p := range pred {
			if p == bb.Labels[i] {
				ok++
			}
		}
		return float64(ok) / float64(len(pred))
	}
	pred0 := models.Argmax(ref.z, K)
	flipped := func(z []float32) float64 {
		n := 0
		for i, p := range models.Argmax(z, K) {
			if p != pred0[i] {
				n++
			}
		}
		return float64(n) / float64(len(pred0))
	}
	em.Base, em.BitImages = acc(ref.z), bb.N()
	bar := progress.New(c.Progress, "estimator "+em.Name+" bit-widths", len(cfg.Bits))
	defer bar.Done()
	for _, bits := range cfg.Bits {
		if err := ctx.Err(); err != nil {
			return err
		}
		wr, err := condition.RoundWeights(w0, bits)
		if err != nil {
			return err
		}
		ow, err := run(wr, 0)
		if err != nil {
			return err
		}
		owa, err := run(wr, bits)
		if err != nil {
			return err
		}
		eb := EstBits{Bits: bits}
		bw := make([]float64, len(conds))
		bwa := make([]float64, len(conds))
		pw, pwa := est.RoundingPerturbation(bits, true, false), est.RoundingPerturbation(bits, true, true)
		for i, cd := range conds {
			bw[i], bwa[i] = cd.Bound(pw), cd.Bound(pwa)
		}
		rw, rwa := condition.RelChange(ow.z, ref.z, K), condition.RelChange(owa.z, ref.z, K)
		eb.BoundW, eb.BoundWA, eb.MaxW, eb.MaxWA = estMax(bw), estMax(bwa), estMax(rw), estMax(rwa)
		eb.BoundMedW, _ = stats.Median(bw)
		eb.BoundMedWA, _ = stats.Median(bwa)
		eb.MedianW, _ = stats.Median(rw)
		eb.MedianWA, _ = stats.Median(rwa)
		eb.AccW, eb.AccWA = acc(ow.z), acc(owa.z)
		eb.FlippedW, eb.FlippedWA = flipped(ow.z), flipped(owa.z)
		em.Bits = append(em.Bits, eb)
		bar.Add(1)
	}
	var err2 error
	em.PredBits, _, err2 = est.PredictBits(conds, cfg.Tolerance, true, true, 1, estMaxPredBits)
	if err2 != nil {
		return err2
	}
	em.PredBitsW, _, _ = est.PredictBits(conds, cfg.Tolerance, true, false, 1, estMaxPredBits)
	for _, tol := range cfg.Tolerances {
		p, _, _ := est.PredictBits(conds, tol, true, true, 1, estMaxPredBits)
		pw, _, _ := est.PredictBits(conds, tol, true, false, 1, estMaxPredBits)
		em.TolPred = append(em.TolPred, p)
		em.TolPredW = append(em.TolPredW, pw)
		em.TolMeas = append(em.TolMeas, estMeasuredBits(em.Bits, tol, true))
		em.TolMeasW = append(em.TolMeasW, estMeasuredBits(em.Bits, tol, false))
	}
	return nil
}

// estMaxPredBits is the largest bit-width a prediction may name (float64's significand).
const estMaxPredBits = 53

// estMeasuredBits returns the smallest checked bit-width from which on the measured max relative
// change stays ≤ tol (−1 if none; the smallest checked width if all do).
func estMeasuredBits(bits []EstBits, tol float64, acts bool) int {
	best := -1
	for i := len(bits) - 1; i >= 0; i-- {
		v := bits[i].MaxW
		if acts {
			v = bits[i].MaxWA
		}
		if v > tol {
			break
		}
		best = bits[i].Bits
	}
	return best
}

func estMax(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

func estGaussian(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// estScaleTo rescales v in place to Euclidean norm r.
func estScaleTo(v []float32, r float64) {
	n := condition.Norm(v)
	if n == 0 {
		return
	}
	f := r / n
	for i := range v {
		v[i] = float32(f * float64(v[i]))
	}
}

func estScaled(w condition.Weights, s float64) condition.Weights {
	out := w.Clone()
	for _, k := range out.Kernels {
		for i := range k {
			k[i] = float32(s * float64(k[i]))
		}
	}
	for _, b := range out.Biases {
		for i := range b {
			b[i] = float32(s * float64(b[i]))
		}
	}
	return out
}

// ---- figures and report -----------------------------------------------------------------------

// measuredFinite reports whether the perturbed logits gave a finite measured change.
func (p EstPoint) measuredFinite() bool { return !math.IsNaN(p.Measured) && !math.IsInf(p.Measured, 0) }

// violations counts points whose measurement exceeds the bound (beyond float32 round-off) among
// the total whose perturbed logits were finite; nonFinite counts the others (a large weight
// perturbation of a badly conditioned or barely trained net can overflow float32: Inf or NaN
// logits, where no comparison with the bound is possible).
func (m EstModel) violations() (n, total, nonFinite int) {
	for _, p := range m.Points {
		if !p.measuredFinite() {
			nonFinite++
			continue
		}
		total++
		if p.Measured > p.Bound*(1+1e-4)+1e-6 {
			n++
		}
	}
	return n, total, nonFinite
}

// netSummary describes the net: nodes, layers, folded batch norms, residual additions and
// concatenations.
func (m EstModel) netSummary() string {
	count := map[condition.Op]int{}
	folded := 0
	for _, n := range m.Nodes {
		count[n.Op]++
		if n.BN != "" {
			folded++
		}
	}
	s := fmt.Sprintf("%d nodes, %d layers", len(m.Nodes), len(m.Norms))
	if folded > 0 {
		s += fmt.Sprintf(", %d batch norms folded into convolutions", folded)
	}
	if c := count[condition.OpBatchNorm]; c > 0 {
		s += fmt.Sprintf(", %d batch norms as diagonal layers", c)
	}
	if c := count[condition.OpAdd]; c > 0 {
		s += fmt.Sprintf(", %d residual additions", c)
	}
	if c := count[condition.OpConcat]; c > 0 {
		s += fmt.Sprintf(", %d concatenations", c)
	}
	return s
}

// localRatios returns, per image, the local input condition number over the bound's.
func (m EstModel) localRatios() []float64 {
	var out []float64
	for i := range m.LocalCond {
		if i < len(m.InputCond) && m.InputCond[i] > 0 {
			out = append(out, m.LocalCond[i]/m.InputCond[i])
		}
	}
	return out
}

// pgdVsLocal returns, for the input PGD points at magnitude mag, measured / (local κ · mag).
func (m EstModel) pgdVsLocal(mag float64) []float64 {
	var out []float64
	for _, p := range m.Points {
		if p.Kind == EstInputPGD && p.Magnitude == mag && p.Image < len(m.LocalCond) && m.LocalCond[p.Image] > 0 {
			out = append(out, p.Measured/(m.LocalCond[p.Image]*mag))
		}
	}
	return out
}

// ratios returns measured/bound of a kind at a magnitude.
func (m EstModel) ratios(kind string, mag float64) []float64 {
	var out []float64
	for _, p := range m.Points {
		if p.Kind == kind && p.Magnitude == mag && p.Bound > 0 && p.measuredFinite() {
			out = append(out, p.Measured/p.Bound)
		}
	}
	return out
}

// TightnessFigure returns the log-log scatter of bound vs measured (left) and the median ratio
// measured/bound against the magnitude (right).
func (m EstModel) TightnessFigure(cfg EstimatorConfig) (*figures.Figure, error) {
	var scatter, curves []figures.Series
	for _, kind := range estKinds {
		s := figures.Series{Name: kind}
		count := map[float64]int{}
		for _, p := range m.Points {
			if p.Kind != kind || !(p.Bound > 0) || !(p.Measured > 0) || math.IsInf(p.Bound, 0) || math.IsInf(p.Measured, 0) {
				continue
			}
			if count[p.Magnitude] >= 60 { // at most 60 points per (kind, magnitude) keep the plot readable
				continue
			}
			count[p.Magnitude]++
			s.X = append(s.X, p.Bound)
			s.Y = append(s.Y, p.Measured)
		}
		if len(s.X) > 0 {
			scatter = append(scatter, s)
		}
		cs := figures.Series{Name: kind}
		for _, mag := range cfg.Magnitudes {
			r := m.ratios(kind, mag)
			if len(r) == 0 {
				continue
			}
			med, _ := stats.Median(r)
			if med <= 0 {
				continue
			}
			cs.X = append(cs.X, mag)
			cs.Y = append(cs.Y, med)
		}
		if len(cs.X) > 0 {
			curves = append(curves, cs)
		}
	}
	if len(scatter) == 0 {
		return nil, errors.New("estimator: no points to plot")
	}
	left, err := figures.Scatter("bound vs measured", "bound on ‖Δz‖/‖z‖", "measured ‖Δz‖/‖z‖", scatter,
		figures.XYOptions{LogX: true, LogY: true, Identity: true, Legend: figures.LegendTopLeft, Width: 5.2 * 72, Height: 4.4 * 72})
	if err != nil {
		return nil, err
	}
	opts := figures.XYOptions{LogX: true, LogY: true, Legend: figures.LegendOutside, Width: 6.4 * 72, Height: 4.4 * 72}
	if r := m.localRatios(); len(r) > 0 {
		med, _ := stats.Median(r)
		opts.RefLines = []figures.RefLine{{Value: med, Label: "input: local κ / bound κ_in (median)"}}
	}
	right, err := figures.Curves("tightness", "relative perturbation size", "median measured / bound", curves, opts)
	if err != nil {
		return nil, err
	}
	return figures.Panels(fmt.Sprintf("%s: the condition-number bound against measured logit changes", m.Name), 2, left, right)
}

// BitsFigure returns three panels: relative logit change vs bits (bound and measured), top-1
// accuracy vs bits, and predicted vs measured minimal bit-width over the tolerances.
func (m EstModel) BitsFigure(cfg EstimatorConfig) (*figures.Figure, error) {
	var bx []float64
	mk := func(name string, f func(EstBits) float64) figures.Series {
		s := figures.Series{Name: name}
		for _, b := range m.Bits {
			if v := f(b); v > 0 {
				s.X = append(s.X, float64(b.Bits))
				s.Y = append(s.Y, v)
			}
		}
		return s
	}
	for _, b := range m.Bits {
		bx = append(bx, float64(b.Bits))
	}
	var ch []figures.Series
	for _, s := range []figures.Series{
		mk("bound, weights (max)", func(b EstBits) float64 { return b.BoundW }),
		mk("bound, weights+acts (max)", func(b EstBits) float64 { return b.BoundWA }),
		mk("measured, weights (max)", func(b EstBits) float64 { return b.MaxW }),
		mk("measured, weights+acts (max)", func(b EstBits) float64 { return b.MaxWA }),
		mk("measured, weights+acts (median)", func(b EstBits) float64 { return b.MedianWA }),
	} {
		if len(s.X) > 0 {
			ch = append(ch, s)
		}
	}
	maxChecked := 0
	for _, b := range m.Bits {
		maxChecked = max(maxChecked, b.Bits)
	}
	refs := []figures.RefLine{{Value: cfg.Tolerance, Label: fmt.Sprintf("tolerance %g", cfg.Tolerance)}}
	var accRefs []figures.RefLine
	if m.PredBits <= maxChecked {
		refs = append(refs, figures.RefLine{Value: float64(m.PredBits), Vertical: true, Label: fmt.Sprintf("predicted b = %d", m.PredBits)})
		accRefs = append(accRefs, figures.RefLine{Value: float64(m.PredBits), Vertical: true, Label: "predicted b"})
	}
	p1, err := figures.Curves("relative logit change", "significant bits b", "‖Δz‖/‖z‖", ch, figures.XYOptions{LogY: true,
		RefLines: refs, Legend: figures.LegendTopRight, Width: 5 * 72, Height: 4.2 * 72,
		Caption: fmt.Sprintf("predicted b for τ = %g: %s (weights + activations), %s (weights only)", cfg.Tolerance, estPredStr(m.PredBits), estPredStr(m.PredBitsW))})
	if err != nil {
		return nil, err
	}
	acc := []figures.Series{
		{Name: "weights rounded", X: bx, Y: estPluck(m.Bits, func(b EstBits) float64 { return b.AccW })},
		{Name: "weights + activations", X: bx, Y: estPluck(m.Bits, func(b EstBits) float64 { return b.AccWA })},
	}
	lo, hi := m.Base, m.Base
	for _, b := range m.Bits {
		lo, hi = math.Min(lo, math.Min(b.AccW, b.AccWA)), math.Max(hi, math.Max(b.AccW, b.AccWA))
	}
	p2, err := figures.Curves("accuracy", "significant bits b", "top-1 accuracy", acc, figures.XYOptions{
		YLim:     [2]float64{math.Max(0, lo-0.02), math.Min(1.005, hi+0.01)},
		RefLines: append([]figures.RefLine{{Value: m.Base, Label: fmt.Sprintf("float32 %.4f", m.Base)}}, accRefs...),
		Legend:   figures.LegendBottomRight, Width: 5 * 72, Height: 4.2 * 72})
	if err != nil {
		return nil, err
	}
	var pv []figures.Series
	for _, s := range []struct {
		name string
		bits []int
	}{{"predicted, weights + acts", m.TolPred}, {"predicted, weights", m.TolPredW}, {"measured, weights + acts", m.TolMeas}, {"measured, weights", m.TolMeasW}} {
		ser := figures.Series{Name: s.name}
		for i, b := range s.bits {
			if b > 0 && b <= estMaxPredBits {
				ser.X = append(ser.X, cfg.Tolerances[i])
				ser.Y = append(ser.Y, float64(b))
			}
		}
		if len(ser.X) > 0 {
			pv = append(pv, ser)
		}
	}
	panels := []*figures.Figure{p1, p2}
	if len(pv) > 0 {
		p3, err := figures.Curves("minimal bit-width vs tolerance", "tolerated ‖Δz‖/‖z‖ (every image)", "minimal significant bits b", pv,
			figures.XYOptions{LogX: true, Legend: figures.LegendOutside, Width: 6.6 * 72, Height: 4.2 * 72,
				Caption: fmt.Sprintf("measured: smallest checked b (%d…%d) from which on every image stays within τ", m.Bits[0].Bits, maxChecked)})
		if err != nil {
			return nil, err
		}
		panels = append(panels, p3)
	}
	return figures.Panels(fmt.Sprintf("%s: rounding weights (and activations) to b significant bits, %d test images", m.Name, m.BitImages), len(panels), panels...)
}

func estPluck(bits []EstBits, f func(EstBits) float64) []float64 {
	out := make([]float64, len(bits))
	for i, b := range bits {
		out[i] = f(b)
	}
	return out
}

// NormTable returns the per-layer table of a model.
func (m EstModel) NormTable() ([]string, [][]string) {
	header := []string{"model", "layer", "kind", "in", "out", "params", "op_norm", "abs_op_norm", "bias_norm", "power_iters", "median_kappa", "max_kappa", "median_kappa_W"}
	var out [][]string
	for l, n := range m.Norms {
		medW, _ := stats.Median(m.WeightCond[l])
		kind := n.Kind.String()
		if n.Stride > 1 {
			kind += fmt.Sprintf("/%d", n.Stride)
		}
		if n.BN != "" {
			kind += "+bn"
		}
		out = append(out, []string{m.Name, strings.TrimPrefix(n.Scope, "/"), kind, fmt.Sprint(n.InShape), fmt.Sprint(n.OutShape), strconv.Itoa(n.Params),
			fmt.Sprintf("%.4g", n.Op), fmt.Sprintf("%.4g", n.AbsOp), fmt.Sprintf("%.4g", n.Bias), strconv.Itoa(n.Iters),
			fmt.Sprintf("%.3g", m.LayerCond[l]), fmt.Sprintf("%.3g", m.LayerCondMax[l]), fmt.Sprintf("%.3g", medW)})
	}
	return header, out
}

// Report saves the figures and tables and states the computed findings.
func (res *EstimatorResult) Report(c Common) (*Report, error) {
	cfg := res.Config
	rep := &Report{Experiment: "estimator", Title: "Condition-number estimator (built from first principles; Maheshwari et al. 2023 give only the idea)", Settings: cfg.settings(c)}
	if len(res.Skipped) > 0 {
		rep.Findings = append(rep.Findings, fmt.Sprintf("skipped (not in the zoo): %s", strings.Join(res.Skipped, ", ")))
	}
	var tableRows [][]string
	var header []string
	for _, m := range res.Models {
		var parts []string
		for _, k := range []string{"operator norms", "random perturbations", "input attacks", "weight attacks", "bit-widths"} {
			parts = append(parts, fmt.Sprintf("%s %s", k, m.Time[k].Round(100*time.Millisecond)))
		}
		rep.Settings["timing "+m.Name] = strings.Join(parts, ", ")
		viol, total, nonFinite := m.violations()
		kin, _ := stats.Median(m.InputCond)
		var kl []string
		lo, hi := 0, 0
		for l, n := range m.Norms {
			kl = append(kl, fmt.Sprintf("%s %.2g", strings.TrimPrefix(n.Scope, "/"), m.LayerCond[l]))
			if m.LayerCond[l] < m.LayerCond[lo] {
				lo = l
			}
			if m.LayerCond[l] > m.LayerCond[hi] {
				hi = l
			}
		}
		klStr := strings.Join(kl, ", ")
		if len(kl) > 10 {
			klStr = fmt.Sprintf("%d layers, from %s to %s", len(kl), kl[lo], kl[hi])
		}
		kloc, _ := stats.Median(m.LocalCond)
		lr, _ := stats.Median(m.localRatios())
		f1 := fmt.Sprintf("%s: the bound held in %d of %d comparisons (violations: %d); median network condition number κ_in = %.3g (max %.3g over %d images; the bound's relative logit change per relative input change), "+
			"while the local one ‖J(x)‖₂‖x‖/‖z‖ has median %.3g (the bound overestimates it by a median factor %.3g); median per-layer κ_l: %s",
			m.Name, total-viol, total, viol, kin, estMax(m.InputCond), len(m.InputCond), kloc, 1/lr, klStr)
		if nonFinite > 0 {
			f1 += fmt.Sprintf("; %d further perturbations gave non-finite logits (float32 overflow) and are not compared", nonFinite)
		}
		if len(m.InputCondPlain) > 0 {
			kp, _ := stats.Median(m.InputCondPlain)
			f1 += fmt.Sprintf("; carrying the batch norms before ReLUs across them into the next layer's norm (‖A·diag(a)‖, per concatenated part, instead of ‖A‖·max|a|) lowers the median κ_in from %.3g to %.3g", kp, kin)
		}
		rep.Findings = append(rep.Findings, f1)
		var tight []string
		for _, kind := range estKinds {
			best := 0.0
			var at []string
			for _, mag := range cfg.Magnitudes {
				r := m.ratios(kind, mag)
				if len(r) == 0 {
					continue
				}
				med, _ := stats.Median(r)
				at = append(at, fmt.Sprintf("%.1e", med))
				best = math.Max(best, estMax(r))
			}
			if len(at) > 0 {
				tight = append(tight, fmt.Sprintf("%s: median measured/bound %s (largest %.2g)", kind, strings.Join(at, " / "), best))
			}
		}
		f2 := fmt.Sprintf("%s, tightness over magnitudes %v — %s", m.Name, cfg.Magnitudes, strings.Join(tight, "; "))
		if r := m.pgdVsLocal(cfg.Magnitudes[0]); len(r) > 0 {
			med, _ := stats.Median(r)
			f2 += fmt.Sprintf("; at ε = %g input PGD reaches a median %.2f of the first-order optimum ‖J(x)‖₂‖x‖ε/‖z‖, so the slack is in the bound's products of norms, not in the attack", cfg.Magnitudes[0], med)
		}
		rep.Findings = append(rep.Findings, f2)
		measWA, measW := estMeasuredBits(m.Bits, cfg.Tolerance, true), estMeasuredBits(m.Bits, cfg.Tolerance, false)
		accAt := func(bits int, acts bool) string {
			for _, b := range m.Bits {
				if b.Bits == bits {
					if acts {
						return fmt.Sprintf("%.4f", b.AccWA)
					}
					return fmt.Sprintf("%.4f", b.AccW)
				}
			}
			return "not measured (outside the checked widths)"
		}
		accBits := -1
		for i := len(m.Bits) - 1; i >= 0; i-- {
			if m.Base-m.Bits[i].AccWA > 0.005 {
				break
			}
			accBits = m.Bits[i].Bits
		}
		f3 := fmt.Sprintf("%s, bit-width for a tolerated relative logit change of %g on every one of %d images: predicted b = %s (weights + activations; %s for weights only), measured minimal b = %s (%s); "+
			"top-1 at the predicted b: %s (float32 %.4f); accuracy stays within 0.5 points of float32 from b = %s on",
			m.Name, cfg.Tolerance, m.BitImages, estPredStr(m.PredBits), estPredStr(m.PredBitsW), estBitStr(measWA), estBitStr(measW)+" for weights only", accAt(m.PredBits, true), m.Base, estBitStr(accBits))
		rep.Findings = append(rep.Findings, f3)
		rep.Findings = append(rep.Findings, fmt.Sprintf("%s: the net (condition.Net: %s) reproduces the model's logits to %.1e relative on a random probe and %.1e on the %d images",
			m.Name, m.netSummary(), m.CheckedDiff, m.CheckedData, len(m.InputCond)))

		fig, err := m.TightnessFigure(cfg)
		if err != nil {
			return nil, err
		}
		if err := rep.SaveFigure(c, fig, FigureRef{Name: "estimator/tightness-" + m.Name, Title: fmt.Sprintf("Estimator: bound vs measured (%s)", m.Name),
			Caption: fmt.Sprintf("Left: each point is one image and one perturbation (at most 60 per kind and magnitude shown); x = the condition-number bound on ‖Δz‖/‖z‖, y = the measured relative change of the logits; "+
				"the line is y = x (no point may lie above it). Right: median of measured/bound per magnitude. Random: Gaussian directions; FGSM: one ℓ2 step along the gradient of the cross-entropy of the predicted class; "+
				"PGD: %d projected steps maximising ‖Δz‖² from the FGSM point. Weight perturbations act on every layer at once with ‖ΔK_l‖_F = ε‖K_l‖_F and ‖Δb_l‖ = ε‖b_l‖; the bound uses each layer's measured ‖ΔA_l‖₂ (a Frobenius budget lets an attack concentrate ΔK into one direction, so ‖ΔA_l‖₂ can exceed ‖A_l‖₂ at ε = 1, hence the huge changes there). "+
				"%d images for random perturbations, %d for input attacks, %d for weight attacks; inputs are not clipped to the pixel range. "+
				"Dotted: the median ratio of the local input condition number ‖J(x)‖₂‖x‖/‖z‖ to the bound's κ_in, the best any input perturbation can reach as its size → 0.", cfg.AttackSteps, cfg.Images, min(cfg.AttackImages, cfg.Images), min(cfg.WeightAttackImages, cfg.Images)),
			Claim:   "The estimator (\"roughly a condition number for the whole network\") bounds the output change; its tightness is checked with random perturbations and adversarial attacks",
			Finding: f1 + ". " + f2}); err != nil {
			return nil, err
		}
		bfig, err := m.BitsFigure(cfg)
		if err != nil {
			return nil, err
		}
		if err := rep.SaveFigure(c, bfig, FigureRef{Name: "estimator/bits-" + m.Name, Title: fmt.Sprintf("Estimator: bit-width (%s)", m.Name),
			Caption: fmt.Sprintf("Every kernel and bias entry rounded to b significant bits (unit round-off u = 2^−b; weights), and in addition the input of every linear map (the scaled image and every hidden activation; weights+acts). "+
				"Left: the bound (max over %d images) and the measured relative logit change (max and median); the predicted b is the smallest b whose bound is ≤ the tolerance for every image. "+
				"Middle: top-1 accuracy. Right: predicted vs measured minimal b for several tolerances τ (points below the identity line would be unsafe predictions).", m.BitImages),
			Claim:   "The estimator picks a minimal safe bit-width",
			Finding: f3}); err != nil {
			return nil, err
		}
		h, rows := m.NormTable()
		header = h
		tableRows = append(tableRows, rows...)
	}
	if len(tableRows) > 0 {
		if err := rep.SaveTable(c, header, tableRows, TableRef{Name: "estimator/layers.csv", Title: "per-layer operator norms and condition numbers",
			Caption: "‖A_l‖₂ (power iteration for convolutions, SVD for dense layers, max |a| for batch norms), ‖|A_l|‖₂, ‖b_l‖, and the median / max over the images of κ_l = ‖A_l‖‖x_l‖/‖y_l‖ and of κ_W,l"}); err != nil {
			return nil, err
		}
		tfig, err := figures.QuantileTable("Per-layer operator norms ‖A_l‖₂, ‖|A_l|‖₂ and relative condition numbers κ_l (median / max over the images)", header, tableRows)
		if err != nil {
			return nil, err
		}
		if err := rep.SaveFigure(c, tfig, FigureRef{Name: "estimator/layers", Title: "Estimator: per-layer norms and condition numbers",
			Caption: "κ_l = ‖A_l‖‖x_l‖/‖y_l‖ (relative condition number of layer l at an image: x_l its input, y_l its output after the ReLU and max pool that follow it alone); κ_W,l = relative logit change per relative change of A_l (for a chain Π_{m≥l} κ_m, whose product over all layers is the network's κ_in). Kinds: conv/2 = stride 2, +bn = batch norm folded in, bn = a batch norm as a diagonal layer.",
			Claim:   "A network-level condition number is built from per-layer relative condition numbers",
			Finding: "see the findings above"}); err != nil {
			return nil, err
		}
		var pts [][]string
		for _, m := range res.Models {
			for _, p := range m.Points {
				pts = append(pts, []string{m.Name, p.Kind, results.FormatFloat(p.Magnitude), strconv.Itoa(p.Image), results.FormatFloat(p.Bound), results.FormatFloat(p.Measured), strconv.FormatBool(p.Flipped)})
			}
		}
		if err := rep.SaveTable(c, []string{"model", "kind", "magnitude", "image", "bound", "measured", "flipped"}, pts,
			TableRef{Name: "estimator/points.csv", Title: "bound vs measured", Caption: "every comparison of the tightness study"}); err != nil {
			return nil, err
		}
		var bits [][]string
		for _, m := range res.Models {
			for _, b := range m.Bits {
				bits = append(bits, []string{m.Name, strconv.Itoa(b.Bits), results.FormatFloat(b.BoundW), results.FormatFloat(b.MaxW), results.FormatFloat(b.MedianW), results.FormatFloat(b.AccW), results.FormatFloat(b.FlippedW),
					results.FormatFloat(b.BoundWA), results.FormatFloat(b.MaxWA), results.FormatFloat(b.MedianWA), results.FormatFloat(b.AccWA), results.FormatFloat(b.FlippedWA)})
			}
		}
		if err := rep.SaveTable(c, []string{"model", "bits", "bound_w_max", "measured_w_max", "measured_w_median", "acc_w", "flipped_w",
			"bound_wa_max", "measured_wa_max", "measured_wa_median", "acc_wa", "flipped_wa"}, bits,
			TableRef{Name: "estimator/bits.csv", Title: "rounding to b bits", Caption: "bound and measured relative logit change, accuracy and prediction flips; w = weights rounded, wa = weights and activations"}); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func estPredStr(b int) string {
	if b > estMaxPredBits {
		return fmt.Sprintf("> %d", estMaxPredBits)
	}
	return strconv.Itoa(b)
}

func estBitStr(b int) string {
	if b < 0 {
		return "none of the checked widths"
	}
	return strconv.Itoa(b)
}
