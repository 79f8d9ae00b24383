package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/results"
	"github.com/fisens/fisens/stats"
)

// Where FI is informative (beyond the papers; SPEC A.3). With f = log π_y, FI ≤ (1 − π_y)/π_y with
// equality when the Fisher metric has rank K − 1: any perturbation with p ≥ K − 1 generic directions
// (a whole image, a layer) gives the odds against the label, whatever the network. FI says something
// the confidence does not only where the rank is lower. This experiment gathers those cases and
// measures them side by side on the same images:
//
//   - input: every single pixel (p = 1), 3 × 3 patches clipped at a corner (p = 4) and at an edge
//     (p = 6), an interior 3 × 3 patch (p = 9 = K − 1, for contrast) and the whole image;
//   - parameters: per-filter and per-channel scaling (p = 1 each: channel c of a conv, dense or batch
//     norm layer's output scaled by ω_c, fisens.ChannelScaler) of a few layers, among them the
//     DenseNet's last bottleneck convolution; and every layer perturbed as a whole (Setup 2.2's
//     measure), listing the layers whose rank drops below K − 1;
//   - for each perturbation FI, its rank, the odds, the two Jacobian norms and Cook's local
//     influence (from the logit Jacobian, exact for these piecewise-linear perturbations; checked
//     against fisens.Cook's double backpropagation), and the rank correlations between the measures;
//   - the sensitivity of every "FI = odds" count to the rank cut (relative thresholds 1e-15 … 1e-8)
//     with the distribution of the eigenvalue gap λ_{K−1}/λ_1, so that the identity can be seen not
//     to be an artefact of the threshold.

func init() {
	register(Experiment{
		Name:     "informative",
		Title:    "Where FI is informative: low-rank perturbations, Cook and Jacobian norms, and the rank cut",
		Paper:    "Shu & Zhu 2019 (beyond the paper)",
		Order:    55,
		OneShard: true,
		Summary:  "single pixels, border patches, per-filter/per-channel scaling, layers whose rank drops; FI vs odds, Jacobian norms and Cook; rank-cut sensitivity",
	}, DefaultInformativeConfig, RunInformative)
}

// DefaultRankCuts are the relative eigenvalue thresholds of the rank-cut sensitivity.
var DefaultRankCuts = []float64{1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8}

// InformativeConfig configures the experiment.
type InformativeConfig struct {
	Models      []string  // model references
	Dataset     string    // "" → the dataset each model records
	Split       string    // split the images come from
	Images      int       // images (seeded subset of the split) for the input and channel perturbations
	LayerImages int       // of those, images for the per-layer FI (K backward passes per image and cut)
	Layers      []string  // layers for the channel-scaling perturbations; nil → chosen (first/last conv and BN, the last bottleneck)
	RankCuts    []float64 // relative thresholds of the rank-cut sensitivity
	CookChecks  int       // perturbations per model whose Cook curvature is checked by double backpropagation
}

// DefaultInformativeConfig returns the settings of a scale.
func DefaultInformativeConfig(scale Scale, backendName string) InformativeConfig {
	cfg := InformativeConfig{Models: quickPairRefs, Split: datasets.SplitTest, Images: 40, LayerImages: 8,
		RankCuts: DefaultRankCuts, CookChecks: 3}
	switch {
	case scale == Paper:
		cfg.Models = paperModelsWithCIFAR()
		cfg.Images, cfg.LayerImages = 200, 20
	case pureGoBackend(backendName):
		cfg.Images, cfg.LayerImages, cfg.CookChecks = 6, 2, 1
	}
	return cfg
}

func (cfg InformativeConfig) check() error {
	switch {
	case len(cfg.Models) == 0:
		return errors.New("informative: Models is empty, want at least one model reference")
	case cfg.Images < 1 || cfg.LayerImages < 0 || cfg.LayerImages > cfg.Images:
		return fmt.Errorf("informative: Images %d, LayerImages %d: want Images ≥ 1 and 0 ≤ LayerImages ≤ Images", cfg.Images, cfg.LayerImages)
	case len(cfg.RankCuts) == 0:
		return errors.New("informative: RankCuts is empty")
	case cfg.Split == "":
		return errors.New("informative: Split is empty")
	}
	for _, t := range cfg.RankCuts {
		if !(t > 0 && t < 1) {
			return fmt.Errorf("informative: rank cut %g, want a relative threshold in (0, 1)", t)
		}
	}
	return nil
}

// Perturbation kinds of the experiment, in table order.
const (
	KindPixel    = "single pixel"
	KindCorner   = "3×3 at a corner"
	KindEdge     = "3×3 at an edge"
	KindInterior = "3×3 interior"
	KindImage    = "whole image"
	KindChannel  = "channel scaling"
	KindLayer    = "whole layer"
)

// InformativePoint is one perturbation of one image.
type InformativePoint struct {
	Kind    string
	Where   string // pixel "(r,c)", layer name + channel, …
	Image   int    // index in the split
	P       int
	FI      float64
	Rank    int
	Odds    float64
	Jac     float64 // ‖∂ log π_y/∂ω‖₂
	SoftJac float64 // ‖∂π/∂ω‖_F
	Cook    float64 // Cook's C_max (NaN where not computed: whole image, whole layers)
}

// InformativeModel is one model's measurements.
type InformativeModel struct {
	Name, Dataset string
	K             int
	Points        []InformativePoint
	Layers        []string // the channel-scaling layers
	// Gap[i] is λ_{K−1}/λ_1 of image i's whole-image Fisher spectrum; LayerGap the same for every
	// layer of the per-layer images (layers of rank < K − 1 at the default cut included).
	Gap, LayerGap []float64
	// Noise[i] is |λ_K|/λ_1 of image i: Q's null direction √π, i.e. the rounding noise the cut must reject.
	Noise []float64
	// AtBound[kind][t] is the number of perturbations of that kind whose FI equals the odds (rank K − 1)
	// at RankCuts[t]; Total[kind] how many there are.
	AtBound map[string][]int
	Total   map[string]int
	// LowRankLayers counts, per layer, the per-layer images at which its rank is below K − 1 (default cut).
	LowRankLayers map[string]int
	LayerParams   map[string]int
	LayerOrder    []string
	CookCheck     []float64 // relative differences |C_jac − C_cook|/C_cook of the double-backpropagation checks
	CookCheckErr  string    // why the check could not run on this backend ("" when it did)
}

// firstLine returns s up to its first newline, at most 300 characters.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// InformativeResult is what the experiment computed.
type InformativeResult struct {
	Config InformativeConfig
	Models []InformativeModel
}

// RunInformative computes the experiment (a few images: no resumable file; with --shard only
// shard 0 works).
func RunInformative(ctx context.Context, c Common, cfg InformativeConfig) (*InformativeResult, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	res := &InformativeResult{Config: cfg}
	for _, ref := range cfg.Models {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lm, err := LoadModel(c, ref, cfg.Dataset)
		if err != nil {
			return nil, fmt.Errorf("informative: %w", err)
		}
		m, err := informativeModel(ctx, c, cfg, lm)
		if err != nil {
			return nil, fmt.Errorf("informative: %s: %w", lm.Name, err)
		}
		res.Models = append(res.Models, m)
	}
	return res, nil
}

// chooseChannelLayers picks the channel-scaling layers: the first and the last conv and BN layers, the
// middle conv, and the last bottleneck (a 1×1 "conv1" of a dense block) when there is one.
func chooseChannelLayers(layers []fisens.Layer) []string {
	var convs, bns []string
	bottleneck := ""
	for _, l := range layers {
		switch l.Kind {
		case "conv":
			convs = append(convs, l.Name)
			if strings.Contains(l.Name, "/block") && strings.HasSuffix(l.Name, "/conv1") && strings.Contains(l.Name, "/layer") {
				bottleneck = l.Name
			}
		case "bn":
			bns = append(bns, l.Name)
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(convs) > 0 {
		add(convs[0])
		add(convs[len(convs)/2])
		add(convs[len(convs)-1])
	}
	add(bottleneck)
	if len(bns) > 0 {
		add(bns[0])
		add(bns[len(bns)-1])
	}
	return out
}

func informativeModel(ctx context.Context, c Common, cfg InformativeConfig, lm *LoadedModel) (InformativeModel, error) {
	set, err := lm.Set(cfg.Split)
	if err != nil {
		return InformativeModel{}, err
	}
	h, w, ch := set.Dims()
	K := lm.K()
	m := InformativeModel{Name: lm.Name, Dataset: lm.Dataset, K: K, AtBound: map[string][]int{}, Total: map[string]int{},
		LowRankLayers: map[string]int{}, LayerParams: map[string]int{}}
	idx := datasets.SampleIndices(set.Len(), cfg.Images, c.Seed, streamExamples)
	opt := fisens.Options{} // f = log π_(true label), exact, default cut
	an := lm.Analyzer
	count := func(kind string, M, z []float64, y int) error {
		if m.AtBound[kind] == nil {
			m.AtBound[kind] = make([]int, len(cfg.RankCuts))
		}
		m.Total[kind]++
		for t, cut := range cfg.RankCuts {
			r, err := fisens.FromGram(M, z, y, fisens.Options{RelTol: cut})
			if err != nil {
				return err
			}
			if r.Rank == K-1 && AtBound(r) {
				m.AtBound[kind][t]++
			}
		}
		return nil
	}
	// Input perturbations, a batch at a time.
	type patch struct {
		kind, where string
		cols        []int
	}
	var patches []patch
	for _, rc := range [][2]int{{0, 0}, {0, w - 1}, {h - 1, 0}, {h - 1, w - 1}} {
		patches = append(patches, patch{KindCorner, fmt.Sprintf("(%d,%d)", rc[0], rc[1]), fisens.PatchColumns(h, w, ch, rc[0], rc[1], 0, 3)})
	}
	for _, rc := range [][2]int{{0, w / 2}, {h / 2, 0}, {h - 1, w / 2}, {h / 2, w - 1}} {
		patches = append(patches, patch{KindEdge, fmt.Sprintf("(%d,%d)", rc[0], rc[1]), fisens.PatchColumns(h, w, ch, rc[0], rc[1], 0, 3)})
	}
	patches = append(patches, patch{KindInterior, fmt.Sprintf("(%d,%d)", h/2, w/2), fisens.PatchColumns(h, w, ch, h/2, w/2, 0, 3)})
	const batch = 16
	P := h * w * ch
	for lo := 0; lo < len(idx); lo += batch {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		part := idx[lo:min(lo+batch, len(idx))]
		bt, err := ReadBatch(set, part, lm.Scale, batch)
		if err != nil {
			return m, err
		}
		jac, err := an.InputJacobian(bt)
		if err != nil {
			return m, err
		}
		for n, i := range part {
			z, y := jac.LogitsOf(n), set.Label(i)
			cols := func(cs []int) []float64 {
				J := make([]float64, K*len(cs))
				for k := 0; k < K; k++ {
					row := jac.Row(n, k)
					for j, q := range cs {
						J[k*len(cs)+j] = float64(row[q])
					}
				}
				return J
			}
			add := func(kind, where string, cs []int, withCook bool) error {
				J := cols(cs)
				cr, err := fisens.CookFromJacobian(J, z, y, opt)
				if err != nil {
					return err
				}
				r := cr.FI
				cook := cr.Curvature
				if !withCook {
					cook = math.NaN()
				}
				m.Points = append(m.Points, InformativePoint{Kind: kind, Where: where, Image: i, P: len(cs), FI: r.FI, Rank: r.Rank, Odds: r.Bound,
					Jac: r.JacNorm, SoftJac: r.SoftmaxJacNorm, Cook: cook})
				return count(kind, jac.Gram(n, cs, fisens.Additive), z, y)
			}
			for q := 0; q < P; q += ch { // single pixels (first channel of colour images)
				if err := add(KindPixel, fmt.Sprintf("(%d,%d)", q/ch/w, q/ch%w), []int{q}, true); err != nil {
					return m, err
				}
			}
			for _, pt := range patches {
				if err := add(pt.kind, pt.where, pt.cols, true); err != nil {
					return m, err
				}
			}
			M := jac.Gram(n, nil, fisens.Additive)
			r, err := fisens.FromGram(M, z, y, opt)
			if err != nil {
				return m, err
			}
			m.Points = append(m.Points, InformativePoint{Kind: KindImage, Where: "all", Image: i, P: P, FI: r.FI, Rank: r.Rank, Odds: r.Bound,
				Jac: r.JacNorm, SoftJac: r.SoftmaxJacNorm, Cook: math.NaN()})
			if err := count(KindImage, M, z, y); err != nil {
				return m, err
			}
			spec, err := fisens.FisherSpectrum(M, z)
			if err != nil {
				return m, err
			}
			m.Gap = append(m.Gap, spec[K-2]/spec[0])
			m.Noise = append(m.Noise, math.Abs(spec[K-1])/spec[0])
		}
	}
	// Cook's curvature from the Jacobian against double backpropagation.
	if cfg.CookChecks > 0 {
		bt, err := ReadBatch(set, idx[:1], lm.Scale, 1)
		if err != nil {
			return m, err
		}
		bt.Labels = []int{set.Label(idx[0])}
		checks := []patch{{KindPixel, "", []int{(h/2*w + w/2) * ch}}, patches[0], patches[4]}
		for _, pt := range checks[:min(cfg.CookChecks, len(checks))] {
			want, err := an.Cook(bt, fisens.Perturbation{InputCols: pt.cols}, opt)
			if err != nil { // e.g. ONNX Runtime lacks an op of the second-order graph
				m.CookCheckErr = firstLine(err.Error())
				break
			}
			for _, p := range m.Points {
				if p.Image == idx[0] && p.Kind == pt.kind && p.P == len(pt.cols) && (pt.where == "" && p.Where == fmt.Sprintf("(%d,%d)", h/2, w/2) || p.Where == pt.where) {
					m.CookCheck = append(m.CookCheck, math.Abs(p.Cook-want.Curvature)/math.Max(want.Curvature, 1e-300))
					break
				}
			}
		}
	}
	// Channel scaling of a few layers.
	bt0, err := ReadBatch(set, idx[:1], lm.Scale, 1)
	if err != nil {
		return m, err
	}
	if _, err := an.Logits(bt0); err != nil {
		return m, err
	}
	allLayers, err := an.Layers(nil)
	if err != nil {
		return m, err
	}
	m.Layers = cfg.Layers
	if m.Layers == nil {
		m.Layers = chooseChannelLayers(allLayers)
	}
	for _, name := range m.Layers {
		cs, err := fisens.NewChannelScaler(an, name)
		if err != nil {
			return m, err
		}
		for _, i := range idx {
			if err := ctx.Err(); err != nil {
				return m, err
			}
			bt, err := ReadBatch(set, []int{i}, lm.Scale, 1)
			if err != nil {
				return m, err
			}
			z, J, err := cs.Jacobian(bt)
			if err != nil {
				return m, fmt.Errorf("layer %s: %w", name, err)
			}
			y, C := set.Label(i), cs.Channels
			for cc := 0; cc < C; cc++ {
				col := make([]float64, K)
				for k := 0; k < K; k++ {
					col[k] = J[k*C+cc]
				}
				cr, err := fisens.CookFromJacobian(col, z, y, opt)
				if err != nil {
					return m, err
				}
				r := cr.FI
				m.Points = append(m.Points, InformativePoint{Kind: KindChannel, Where: fmt.Sprintf("%s[%d]", name, cc), Image: i, P: 1, FI: r.FI, Rank: r.Rank,
					Odds: r.Bound, Jac: r.JacNorm, SoftJac: r.SoftmaxJacNorm, Cook: cr.Curvature})
				M := make([]float64, K*K)
				for a := 0; a < K; a++ {
					for b := 0; b < K; b++ {
						M[a*K+b] = col[a] * col[b]
					}
				}
				if err := count(KindChannel, M, z, y); err != nil {
					return m, err
				}
			}
		}
	}
	// Whole layers (Setup 2.2's perturbation) on the first LayerImages images, at every cut.
	for _, l := range allLayers {
		m.LayerOrder = append(m.LayerOrder, l.Name)
		m.LayerParams[l.Name] = l.Params
	}
	// ParamFIBatch: K backward passes per chunk of images; every cut from the same Grams
	// (ParamResult.WithOptions).
	layerIdx := idx[:cfg.LayerImages]
	for lo := 0; lo < len(layerIdx); lo += fisens.ParamBatchChunk {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		chunk := layerIdx[lo:min(lo+fisens.ParamBatchChunk, len(layerIdx))]
		bt, err := ReadBatch(set, chunk, lm.Scale, 0)
		if err != nil {
			return m, err
		}
		prs, err := an.ParamFIBatch(bt, fisens.ParamOptions{})
		if err != nil {
			return m, err
		}
		for j, i := range chunk {
			for t, cut := range cfg.RankCuts {
				pr, err := prs[j].WithOptions(fisens.Options{RelTol: cut})
				if err != nil {
					return m, err
				}
				if m.AtBound[KindLayer] == nil {
					m.AtBound[KindLayer] = make([]int, len(cfg.RankCuts))
				}
				for g, r := range pr.PerGroup {
					if r.Rank == K-1 && AtBound(r) {
						m.AtBound[KindLayer][t]++
					}
					if t == 0 {
						m.Total[KindLayer]++
					}
					if cut == fisens.DefaultRelTol || (t == 0 && !containsF(cfg.RankCuts, fisens.DefaultRelTol)) {
						name := pr.Groups[g].Name
						if r.Rank < K-1 {
							m.LowRankLayers[name]++
						}
						m.Points = append(m.Points, InformativePoint{Kind: KindLayer, Where: name, Image: i, P: pr.Groups[g].Params, FI: r.FI, Rank: r.Rank,
							Odds: r.Bound, Jac: r.JacNorm, SoftJac: r.SoftmaxJacNorm, Cook: math.NaN()})
					}
				}
			}
		}
	}
	return m, nil
}

func containsF(v []float64, x float64) bool {
	for _, u := range v {
		if u == x {
			return true
		}
	}
	return false
}

// points returns the model's points of one kind.
func (m InformativeModel) points(kind string) []InformativePoint {
	var out []InformativePoint
	for _, p := range m.Points {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// InformativeKinds are the perturbation kinds in table order.
var InformativeKinds = []string{KindPixel, KindCorner, KindEdge, KindInterior, KindImage, KindChannel, KindLayer}

// kindSummary summarises the points of one kind.
type kindSummary struct {
	N, AtBound            int
	MedRatio, Q10, Q90    float64 // FI/odds
	RhoFIJac, RhoFICook   float64 // Spearman over all points of the kind
	RhoJacCook, RhoFISoft float64
	RhoFIOdds             float64 // pooled over all points (across images)
	Within                bool    // the other ρ are medians of within-image (and within-layer) correlations
}

func summarizeKind(ps []InformativePoint, K int) kindSummary {
	s := kindSummary{N: len(ps), RhoFICook: math.NaN(), RhoJacCook: math.NaN()}
	var ratio, fi, jac, soft, odds, cfi, cjac, cook []float64
	for _, p := range ps {
		if p.Rank == K-1 && AtBound(fisens.Result{FI: p.FI, Bound: p.Odds, Rank: p.Rank}) {
			s.AtBound++
		}
		if p.Odds > 0 {
			ratio = append(ratio, p.FI/p.Odds)
		}
		fi, jac, soft, odds = append(fi, p.FI), append(jac, p.Jac), append(soft, p.SoftJac), append(odds, p.Odds)
		if !math.IsNaN(p.Cook) {
			cfi, cjac, cook = append(cfi, p.FI), append(cjac, p.Jac), append(cook, p.Cook)
		}
	}
	q, err := stats.Quantiles(ratio, []float64{0.1, 0.5, 0.9})
	if err == nil {
		s.Q10, s.MedRatio, s.Q90 = q[0], q[1], q[2]
	}
	sp := func(x, y []float64) float64 {
		if len(x) < 3 {
			return math.NaN()
		}
		r, err := stats.Spearman(x, y)
		if err != nil {
			return math.NaN()
		}
		return r
	}
	s.RhoFIOdds = sp(fi, odds)
	// The other correlations rank perturbations WITHIN one image (and one layer): pooled over images
	// they would mostly rank the images by confidence. Median over the groups of ≥ 5 perturbations;
	// pooled over all points when no group is that large (a few border patches per image).
	groups := map[string][]InformativePoint{}
	var order []string
	for _, p := range ps {
		key := strconv.Itoa(p.Image)
		if i := strings.IndexByte(p.Where, '['); i >= 0 {
			key += " " + p.Where[:i]
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], p)
	}
	var rFJ, rFS, rFC, rJC []float64
	for _, key := range order {
		g := groups[key]
		if len(g) < 5 {
			continue
		}
		var gf, gj, gs, gcf, gcj, gc []float64
		for _, p := range g {
			gf, gj, gs = append(gf, p.FI), append(gj, p.Jac), append(gs, p.SoftJac)
			if !math.IsNaN(p.Cook) {
				gcf, gcj, gc = append(gcf, p.FI), append(gcj, p.Jac), append(gc, p.Cook)
			}
		}
		add := func(dst *[]float64, v float64) {
			if !math.IsNaN(v) {
				*dst = append(*dst, v)
			}
		}
		add(&rFJ, sp(gf, gj))
		add(&rFS, sp(gf, gs))
		if len(gc) > 0 {
			add(&rFC, sp(gcf, gc))
			add(&rJC, sp(gcj, gc))
		}
	}
	med := func(v []float64) float64 {
		m, err := stats.Median(v)
		if err != nil {
			return math.NaN()
		}
		return m
	}
	if len(rFJ) > 0 {
		s.Within = true
		s.RhoFIJac, s.RhoFISoft, s.RhoFICook, s.RhoJacCook = med(rFJ), med(rFS), med(rFC), med(rJC)
		return s
	}
	s.RhoFIJac, s.RhoFISoft = sp(fi, jac), sp(fi, soft)
	if len(cook) > 0 {
		s.RhoFICook, s.RhoJacCook = sp(cfi, cook), sp(cjac, cook)
	}
	return s
}

// Table is one row per model and kind.
func (r *InformativeResult) Table() ResultTable {
	header := []string{"model", "kind", "perturbations", "p", "at_bound", "fi_over_odds_q10", "fi_over_odds_median", "fi_over_odds_q90",
		"spearman_fi_jacnorm", "spearman_fi_softmaxjac", "spearman_fi_cook", "spearman_jacnorm_cook", "spearman_fi_odds"}
	var data [][]string
	for _, m := range r.Models {
		for _, kind := range InformativeKinds {
			ps := m.points(kind)
			if len(ps) == 0 {
				continue
			}
			s := summarizeKind(ps, m.K)
			pr := strconv.Itoa(ps[0].P)
			if kind == KindLayer {
				pr = "layer size"
			}
			data = append(data, []string{m.Name, kind, strconv.Itoa(s.N), pr, strconv.Itoa(s.AtBound), results.FormatFloat(s.Q10), results.FormatFloat(s.MedRatio), results.FormatFloat(s.Q90),
				results.FormatFloat(s.RhoFIJac), results.FormatFloat(s.RhoFISoft), results.FormatFloat(s.RhoFICook), results.FormatFloat(s.RhoJacCook), results.FormatFloat(s.RhoFIOdds)})
		}
	}
	return ResultTable{Header: header, Rows: data, Ref: TableRef{Name: "informative/summary.csv", Title: "Where FI is informative: per perturbation kind",
		Caption: "per model and perturbation kind: how many perturbations sit at the odds bound (rank K−1), FI/odds quantiles, Spearman rank correlations of FI with the Jacobian norms and Cook's curvature (median of the within-image, within-layer correlations where an image has ≥ 5 perturbations of the kind, else pooled) and with the odds (pooled across images)"}}
}

// RankCutTable lists the "FI = odds" counts at every cut.
func (r *InformativeResult) RankCutTable() ResultTable {
	header := []string{"model", "kind", "rel_threshold", "at_bound", "total"}
	var data [][]string
	for _, m := range r.Models {
		for _, kind := range InformativeKinds {
			ab := m.AtBound[kind]
			for t, cut := range r.Config.RankCuts {
				if ab == nil {
					continue
				}
				data = append(data, []string{m.Name, kind, results.FormatFloat(cut), strconv.Itoa(ab[t]), strconv.Itoa(m.Total[kind])})
			}
		}
	}
	return ResultTable{Header: header, Rows: data, Ref: TableRef{Name: "informative/rankcut.csv", Title: "Rank-cut sensitivity of the FI = odds counts",
		Caption: "perturbations whose FI equals the odds (rank K−1) at each relative eigenvalue threshold"}}
}

// Findings returns the computed statements.
func (r *InformativeResult) Findings() []string {
	var out []string
	for _, m := range r.Models {
		var parts []string
		for _, kind := range InformativeKinds {
			ps := m.points(kind)
			if len(ps) == 0 {
				continue
			}
			s := summarizeKind(ps, m.K)
			txt := fmt.Sprintf("%s: %s at the odds, FI/odds median %.3g", kind, pctOf(s.AtBound, s.N), s.MedRatio)
			if !math.IsNaN(s.RhoFICook) && kind != KindImage {
				how := "pooled"
				if s.Within {
					how = "median within-image"
				}
				txt += fmt.Sprintf(", %s ρ(FI, Jacobian norm) %.2f, ρ(FI, Cook) %.2f, ρ(Jacobian norm, Cook) %.2f", how, s.RhoFIJac, s.RhoFICook, s.RhoJacCook)
			}
			txt += fmt.Sprintf(", ρ(FI, odds) %.2f", s.RhoFIOdds)
			parts = append(parts, txt)
		}
		out = append(out, fmt.Sprintf("%s (%d %s images): %s", m.Name, len(m.Gap), r.Config.Split, strings.Join(parts, "; ")))
		// Rank cut.
		var cuts []string
		for _, kind := range []string{KindImage, KindLayer, KindChannel, KindInterior} {
			ab := m.AtBound[kind]
			if ab == nil {
				continue
			}
			lo, hi := ab[0], ab[0]
			for _, v := range ab {
				lo, hi = min(lo, v), max(hi, v)
			}
			cuts = append(cuts, fmt.Sprintf("%s %d–%d of %d", kind, lo, hi, m.Total[kind]))
		}
		gq, _ := stats.Quantiles(m.Gap, []float64{0, 0.5, 1})
		nq, _ := stats.Quantiles(m.Noise, []float64{0.5, 1})
		out = append(out, fmt.Sprintf("%s: FI = odds counts over relative cuts %g … %g: %s; whole-image eigenvalue gap λ_{K−1}/λ_1 min %.2g, median %.2g, max %.2g; "+
			"the null (noise) eigenvalue |λ_K|/λ_1 median %.2g, max %.2g",
			m.Name, r.Config.RankCuts[0], r.Config.RankCuts[len(r.Config.RankCuts)-1], strings.Join(cuts, ", "), gq[0], gq[1], gq[2], nq[0], nq[1]))
		// Layers whose rank drops.
		var low []string
		for _, name := range m.LayerOrder {
			if n := m.LowRankLayers[name]; n > 0 {
				low = append(low, fmt.Sprintf("%s (%d params, %d/%d images)", name, m.LayerParams[name], n, r.Config.LayerImages))
			}
		}
		if r.Config.LayerImages > 0 {
			if len(low) == 0 {
				low = []string{"none"}
			}
			out = append(out, fmt.Sprintf("%s: layers whose rank falls below K−1 = %d at the default cut: %s", m.Name, m.K-1, strings.Join(low, "; ")))
		}
		if m.CookCheckErr != "" {
			out = append(out, fmt.Sprintf("%s: the double-backpropagation check of Cook's curvature could not run on this backend (%s); Cook here rests on the "+
				"piecewise-linear premise, checked on the test networks", m.Name, m.CookCheckErr))
		}
		if len(m.CookCheck) > 0 {
			mx := 0.0
			for _, v := range m.CookCheck {
				mx = math.Max(mx, v)
			}
			out = append(out, fmt.Sprintf("%s: Cook's curvature from the logit Jacobian agrees with double backpropagation (fisens.Cook) to a relative %.1g on %d perturbations",
				m.Name, mx, len(m.CookCheck)))
		}
	}
	return out
}

// Figures: FI/odds by kind, the rank correlations, and the rank-cut sensitivity with the gap.
func (r *InformativeResult) Figures() ([]ResultFigure, error) {
	var kinds []string
	for _, kind := range InformativeKinds {
		for _, m := range r.Models {
			if len(m.points(kind)) > 0 {
				kinds = append(kinds, kind)
				break
			}
		}
	}
	var share, med []figures.BarSeries
	for _, m := range r.Models {
		sh := figures.BarSeries{Name: m.Name}
		md := figures.BarSeries{Name: m.Name}
		for _, kind := range kinds {
			s := summarizeKind(m.points(kind), m.K)
			sh.Values = append(sh.Values, float64(s.AtBound)/math.Max(float64(s.N), 1))
			md.Values = append(md.Values, s.MedRatio)
		}
		share, med = append(share, sh), append(med, md)
	}
	f1, err := figures.Bars("share of perturbations at the odds bound (rank K−1)", "share", kinds, share)
	if err != nil {
		return nil, err
	}
	f2, err := figures.Bars("median FI / odds", "FI / (1−π_y)/π_y", kinds, med)
	if err != nil {
		return nil, err
	}
	bound, err := figures.Panels("Where FI is informative: FI against the odds bound, by perturbation", 2, f1, f2)
	if err != nil {
		return nil, err
	}
	// Rank correlations of the low-dimensional perturbations.
	pairs := []string{"FI ~ Jacobian norm", "FI ~ softmax Jacobian", "FI ~ Cook", "Jacobian norm ~ Cook", "FI ~ odds"}
	var rho []figures.BarSeries
	for _, m := range r.Models {
		for _, kind := range []string{KindPixel, KindChannel} {
			ps := m.points(kind)
			if len(ps) == 0 {
				continue
			}
			s := summarizeKind(ps, m.K)
			rho = append(rho, figures.BarSeries{Name: m.Name + ", " + kind, Values: []float64{nan0(s.RhoFIJac), nan0(s.RhoFISoft), nan0(s.RhoFICook), nan0(s.RhoJacCook), nan0(s.RhoFIOdds)}})
		}
	}
	corr, err := figures.Bars("Spearman ρ between the measures, p = 1 perturbations (median within an image; odds: across images)", "ρ", pairs, rho)
	if err != nil {
		return nil, err
	}
	// Rank cut and gap.
	var cutSeries []figures.Series
	for _, m := range r.Models {
		for _, kind := range []string{KindImage, KindLayer, KindInterior} {
			ab := m.AtBound[kind]
			if ab == nil || m.Total[kind] == 0 {
				continue
			}
			s := figures.Series{Name: m.Name + ", " + kind}
			for t, cut := range r.Config.RankCuts {
				s.X = append(s.X, cut)
				s.Y = append(s.Y, float64(ab[t])/float64(m.Total[kind]))
			}
			cutSeries = append(cutSeries, s)
		}
	}
	fc, err := figures.Curves("share at the odds bound vs the relative rank cut", "relative eigenvalue threshold", "share at the bound", cutSeries,
		figures.XYOptions{LogX: true, YLim: [2]float64{0, 1.05}, RefLines: []figures.RefLine{{Value: fisens.DefaultRelTol, Vertical: true, Label: "default cut"}}})
	if err != nil {
		return nil, err
	}
	var gapSeries []figures.Series
	for _, m := range r.Models {
		g := append([]float64(nil), m.Gap...)
		sort.Float64s(g)
		s := figures.Series{Name: m.Name + ", whole image"}
		for i, v := range g {
			s.X = append(s.X, math.Max(v, 1e-30))
			s.Y = append(s.Y, float64(i+1)/float64(len(g)))
		}
		gapSeries = append(gapSeries, s)
	}
	var refs []figures.RefLine
	for _, cut := range []float64{r.Config.RankCuts[0], r.Config.RankCuts[len(r.Config.RankCuts)-1]} {
		refs = append(refs, figures.RefLine{Value: cut, Vertical: true, Label: fmt.Sprintf("cut %g", cut)})
	}
	fg, err := figures.Curves("eigenvalue gap λ_{K−1}/λ_1 (cumulative share of images)", "λ_{K−1}/λ_1", "share of images", gapSeries,
		figures.XYOptions{LogX: true, RefLines: refs})
	if err != nil {
		return nil, err
	}
	cut, err := figures.Panels("The FI = odds identity is not an artefact of the rank cut", 2, fc, fg)
	if err != nil {
		return nil, err
	}
	finding := strings.Join(r.Findings(), "; ")
	return []ResultFigure{
		{Figure: bound, Ref: FigureRef{Name: "informative/bound", Title: "Where FI is informative: FI against the odds by perturbation",
			Caption: "Left: the share of perturbations whose FI equals the odds (1−π_y)/π_y (rank K−1); right: the median of FI/odds. " +
				"Single pixels (p = 1), 3×3 patches clipped at a corner (p = 4) or an edge (p = 6), an interior 3×3 patch (p = 9 = K−1), the whole image, " +
				"per-filter/per-channel scaling of a few layers (p = 1) and every layer as a whole; f = log π_(true label).",
			Claim:   "FI carries information beyond the confidence only for perturbations of rank < K−1 (SPEC A.3).",
			Finding: finding}},
		{Figure: corr, Ref: FigureRef{Name: "informative/correlations", Title: "Where FI is informative: rank correlations between the measures",
			Caption: "Spearman ρ between FI and the authors' Jacobian norm ‖∂log π_y/∂ω‖₂, Novak et al.'s ‖∂π/∂ω‖_F and Cook's local influence, " +
				"ranking the pixels of one image (or the channels of one layer at one image): the median over images (and layers); " +
				"FI ~ odds: across all perturbations of all images (how much of FI's ranking is the image's confidence).",
			Claim:   "FI is a different measure from the Jacobian norms and Cook's curvature where it is informative.",
			Finding: finding}},
		{Figure: cut, Ref: FigureRef{Name: "informative/rankcut", Title: "Rank-cut sensitivity of the FI = odds counts",
			Caption: "Left: the share of whole-image, whole-layer and interior-3×3 perturbations at the odds bound for relative eigenvalue thresholds " +
				"1e-15 … 1e-8 (default 1e-13); right: the distribution of the whole-image eigenvalue gap λ_{K−1}/λ_1 of the Fisher metric.",
			Claim:   "The identity FI = odds for full-rank perturbations does not depend on the threshold.",
			Finding: finding}},
	}, nil
}

func nan0(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// Report saves the figures and the tables and states the findings.
func (r *InformativeResult) Report(c Common) (*Report, error) {
	rep := newReport(c, "informative", "Where FI is informative: low-rank perturbations, Cook and Jacobian norms, and the rank cut", r.Config)
	return saveResult(c, rep, r, r.Table(), r.RankCutTable())
}

// resultOfPoint is the fisens.Result view of a point (for AtBound).
func resultOfPoint(p InformativePoint) fisens.Result {
	return fisens.Result{FI: p.FI, Bound: p.Odds, Rank: p.Rank}
}
