package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/figures"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
)

func init() {
	register(command{name: "maps", summary: "multi-scale FI patch maps (k = 1, 3, 5, 7, per channel) of one image: CSV and figures", run: runMaps})
}

// mapsSettings is written next to the maps: everything needed to trace the numbers.
type mapsSettings struct {
	Model       string         `json:"model"`
	ModelConfig models.Config  `json:"model_config"` // includes the ONNX preprocessing and output handling
	Image       string         `json:"image,omitempty"`
	Data        string         `json:"data,omitempty"`
	Split       string         `json:"split,omitempty"`
	Index       int            `json:"index"`
	Resize      bool           `json:"resize"`
	Objective   string         `json:"objective"`
	Label       int            `json:"label"`
	Scales      []int          `json:"scales"`
	Backend     string         `json:"backend"`
	Whole       fisens.Result  `json:"whole_image"` // whole-image FI (the odds identity)
	PerScale    []mapsPerScale `json:"per_scale"`
}

type mapsPerScale struct {
	K       int     `json:"k"`
	Channel int     `json:"channel"`
	MaxFI   float64 `json:"max_fi"`
	MaxAt   [2]int  `json:"max_at"` // row, col
	AtBound float64 `json:"share_at_bound"`
	FullRk  float64 `json:"share_rank_k_minus_1"`
}

func runMaps(args []string) error {
	fs := flag.NewFlagSet("maps", flag.ContinueOnError)
	modelRef := fs.String("model", "zoo:resnet-small-mnist", "model: zoo:NAME, a checkpoint directory or an ONNX file (.onnx)")
	imagePath := fs.String("image", "", "a PNG or JPEG image (else --data/--split/--index)")
	resize := fs.Bool("resize", false, "resize --image to the model's input size (bilinear); without it a different size is an error")
	data := fs.String("data", "", "dataset (mnist, fashion-mnist, cifar10, an image folder); default: the model's")
	split := fs.String("split", "test", "split of --data")
	index := fs.Int("index", 0, "example index in --data/--split")
	objective := fs.String("objective", "pred", "objective log π_y with y = pred (Setup 4) or true (needs --label with --image)")
	label := fs.Int("label", -1, "true label of --image (for --objective true)")
	scalesFlag := fs.String("scales", "1,3,5,7", "odd patch sizes")
	out := fs.String("out", "maps", "output folder")
	name := fs.String("name", "", "file name prefix (default: the image's name or DATA-SPLIT-INDEX)")
	logScale := fs.Bool("log-scale", false, "colour the FI maps on a log scale")
	backendFlag := fs.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND or go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var scales []int
	for _, s := range strings.Split(*scalesFlag, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 || k%2 == 0 {
			return fmt.Errorf("--scales %q: want odd positive sizes such as 1,3,5,7", *scalesFlag)
		}
		scales = append(scales, k)
	}
	opt := fisens.Options{Objective: fisens.LogProbPred}
	switch *objective {
	case "pred":
	case "true":
		opt.Objective = fisens.LogProbTrue
	default:
		return fmt.Errorf("--objective %q: want pred or true", *objective)
	}
	m, err := models.Load(*modelRef)
	if err != nil {
		return err
	}
	H, W, C := m.InputDims()
	scale, err := m.InputScale()
	if err != nil {
		return err
	}
	var pix []uint8
	y := *label
	prefix := *name
	settings := mapsSettings{Model: *modelRef, ModelConfig: m.Config(), Resize: *resize, Objective: opt.Objective.String(),
		Scales: scales, Backend: backend.Name(*backendFlag), Index: *index}
	if *imagePath != "" {
		var h, w, c int
		pix, h, w, c, err = datasets.ReadImageFile(*imagePath, datasets.ImageOptions{Height: H, Width: W, Channels: C, Resize: *resize})
		if err != nil {
			return err
		}
		if h != H || w != W || c != C {
			return fmt.Errorf("image %s is %dx%dx%d, model %s takes %dx%dx%d", *imagePath, h, w, c, *modelRef, H, W, C)
		}
		if prefix == "" {
			prefix = strings.TrimSuffix(filepath.Base(*imagePath), filepath.Ext(*imagePath))
		}
		settings.Image = *imagePath
	} else {
		set, err := loadModelData(m, *modelRef, data, *split, "--image or --data")
		if err != nil {
			return err
		}
		if *index < 0 || *index >= set.Len() {
			return fmt.Errorf("--index %d out of range: %s has %d examples", *index, set.Name(), set.Len())
		}
		if pix, err = set.ReadImage(*index); err != nil {
			return err
		}
		if y < 0 {
			y = set.Label(*index)
		}
		if prefix == "" {
			prefix = fmt.Sprintf("%s-%s-%d", strings.NewReplacer("/", "_", ":", "_", " ", "_").Replace(filepath.Base(*data)), *split, *index)
		}
		settings.Data, settings.Split = *data, *split
	}
	if opt.Objective.Label == fisens.TrueLabel && (y < 0 || y >= m.NumClasses()) {
		return fmt.Errorf("--objective true needs a label in [0, %d): pass --label", m.NumClasses())
	}
	if y < 0 {
		y = 0 // unused by the predicted-label objective
	}
	settings.Label = y
	b, err := backend.New(*backendFlag)
	if err != nil {
		return err
	}
	an, err := fisens.NewAnalyzer(b, m)
	if err != nil {
		return err
	}
	x := make([]float32, len(pix))
	for i, v := range pix {
		x[i] = float32(v) * scale.Factor()
	}
	bt := fisens.Batch{X: x, Shape: []int{1, H, W, C}, Labels: []int{y}}
	jac, err := an.InputJacobian(bt)
	if err != nil {
		return err
	}
	wholeAll, err := jac.FI(nil, fisens.Additive, opt)
	if err != nil {
		return err
	}
	whole := wholeAll[0]
	settings.Whole = whole
	pm, err := jac.PatchMaps(0, scales, fisens.Additive, opt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(*out, prefix)

	// CSV: one row per scale, channel and pixel.
	f, err := os.Create(base + "-maps.csv")
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"k", "channel", "row", "col", "fi", "rank", "bound", "jacnorm", "softmax_jacnorm"})
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	K := m.NumClasses()
	for s, k := range pm.Scales {
		for c := range C {
			ps := mapsPerScale{K: k, Channel: c}
			atBound, full := 0, 0
			for i, r := range pm.Maps[s][c] {
				cw.Write([]string{strconv.Itoa(k), strconv.Itoa(c), strconv.Itoa(i / W), strconv.Itoa(i % W), ff(r.FI), strconv.Itoa(r.Rank),
					ff(r.Bound), ff(r.JacNorm), ff(r.SoftmaxJacNorm)})
				if r.FI > ps.MaxFI {
					ps.MaxFI, ps.MaxAt = r.FI, [2]int{i / W, i % W}
				}
				if r.Bound > 0 && r.FI >= r.Bound*(1-1e-6) {
					atBound++
				}
				if r.Rank == K-1 {
					full++
				}
			}
			ps.AtBound = float64(atBound) / float64(H*W)
			ps.FullRk = float64(full) / float64(H*W)
			settings.PerScale = append(settings.PerScale, ps)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	// Figures: the image with its prediction; FI maps (shared scale); rank maps.
	className := func(k int) string {
		if info := m.ONNX(); info != nil && k < len(info.ClassNames) {
			return info.ClassNames[k]
		}
		return strconv.Itoa(k)
	}
	caption := fmt.Sprintf("pred %s (π=%.3g), y=%s\nodds (1−π_y)/π_y=%.3g, FI=%.3g rank %d", className(pm.Pred), softmaxProb(jac.LogitsOf(0), pm.Pred),
		className(pm.Label), pm.Bound, whole.FI, whole.Rank)
	imgFig, err := figures.ImageGrid(prefix, []figures.Image{{Pix: pix, H: H, W: W, C: C, Caption: caption}}, 1)
	if err != nil {
		return err
	}
	if err := imgFig.Save(base + "-image"); err != nil {
		return err
	}
	var fiMaps, rankMaps []figures.HeatMap
	for c := range C {
		for s, k := range pm.Scales {
			ranks := make([]float64, H*W)
			for i, r := range pm.Maps[s][c] {
				ranks[i] = float64(r.Rank)
			}
			ps := settings.PerScale[s*C+c]
			ch := ""
			if C > 1 {
				ch = fmt.Sprintf(" ch %d", c)
			}
			fiMaps = append(fiMaps, figures.HeatMap{Values: pm.FI(s, c), H: H, W: W,
				Title: fmt.Sprintf("k=%d%s: %.0f%% at bound", k, ch, 100*ps.AtBound)})
			rankMaps = append(rankMaps, figures.HeatMap{Values: ranks, H: H, W: W,
				Title: fmt.Sprintf("rank k=%d%s: %.0f%% = K−1", k, ch, 100*ps.FullRk)})
		}
	}
	title := fmt.Sprintf("%s — FI of k×k patches, f = log π_%s (bound %.3g)", prefix, className(pm.Label), pm.Bound)
	fiFig, err := figures.HeatMaps(title, fiMaps, figures.HeatMapOptions{SharedScale: true, ZeroBased: true, LogScale: *logScale, Cols: len(scales), Label: "FI"})
	if err != nil {
		return err
	}
	if err := fiFig.Save(base + "-fi"); err != nil {
		return err
	}
	rkFig, err := figures.HeatMaps(prefix+" — rank of each patch's Fisher metric", rankMaps, figures.HeatMapOptions{SharedScale: true, ZeroBased: true, Cols: len(scales), Label: "rank"})
	if err != nil {
		return err
	}
	if err := rkFig.Save(base + "-rank"); err != nil {
		return err
	}
	js, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+"-maps.json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fisens maps: %s: predicted %s (π=%.4g), whole-image FI %.4g (rank %d, odds %.4g) → %s-{maps.csv,maps.json,image,fi,rank}.{png,svg}\n",
		prefix, className(pm.Pred), softmaxProb(jac.LogitsOf(0), pm.Pred), whole.FI, whole.Rank, whole.Bound, base)
	return nil
}

func softmaxProb(z []float64, k int) float64 {
	pi, _, err := fisens.Softmax(z)
	if err != nil {
		return 0
	}
	return pi[k]
}
