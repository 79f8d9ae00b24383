package figures

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestGallery renders every figure kind with realistic fake data into $FIGURES_GALLERY (skipped
// when unset), for a person to look at:
//
//	FIGURES_GALLERY=/tmp/figcheck go test -run Gallery ./figures
func TestGallery(t *testing.T) {
	dir := os.Getenv("FIGURES_GALLERY")
	if dir == "" {
		t.Skip("set FIGURES_GALLERY to a directory to render the gallery")
	}
	save := func(name string, f *Figure, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := f.Save(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rng := rand.New(rand.NewSource(1))
	cifar := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

	// Setup 1/3: Manhattan of log-normal FI per class, a few zeros, 5000 points.
	var pts []ManhattanPoint
	for i := 0; i < 5000; i++ {
		v := math.Exp(rng.NormFloat64()*2 - 4)
		if i%997 == 0 {
			v = 0
		}
		pts = append(pts, ManhattanPoint{Class: rng.Intn(10), Value: v, Label: fmt.Sprintf("#%d", i)})
	}
	f, err := Manhattan("Setup 1: FI of every training image (ResNet50)", "FI (whole image)", pts, ManhattanOptions{
		LogY: true, TopN: 5, ClassNames: cifar,
		RefLines: []RefLine{{Value: 9, Label: "odds bound at π = 0.1"}},
	})
	save("manhattan", f, err)
	f, err = Manhattan("MNIST, linear axis", "FI", pts[:600], ManhattanOptions{TopN: 3})
	save("manhattan_linear", f, err)

	// Setup 0: ROC / PR of FI vs Jacobian norm (300 outliers, 2700 clean).
	var fi, jac []float64
	var pos []bool
	for i := 0; i < 3000; i++ {
		p := i < 300
		s := rng.NormFloat64()
		if p {
			s += 1.6
		}
		fi = append(fi, s)
		jac = append(jac, s*0.5+rng.NormFloat64())
		pos = append(pos, p)
	}
	f, err = ROCPR("Setup 0: simulated outliers (MNIST, ResNet)", []Curve{{"FI", fi, pos}, {"Jacobian norm", jac, pos}})
	save("rocpr", f, err)

	// Setup 2.2: per-layer FI, ResNet50 (107 layers) and a short net.
	mk := func(n int, scale float64) LayerSeries {
		s := LayerSeries{Name: fmt.Sprintf("ResNet-like (%d layers)", n)}
		for i := 0; i < n; i++ {
			kind := "conv"
			if i%2 == 1 {
				kind = "bn"
			}
			if i == n-1 {
				kind = "dense"
			}
			s.Values = append(s.Values, scale*math.Exp(rng.NormFloat64()-float64(i)/40))
			s.Kinds = append(s.Kinds, kind)
		}
		return s
	}
	r50, d121 := mk(107, 3), mk(242, 1)
	d121.Name = "DenseNet121"
	r50.Name = "ResNet50"
	ref := LayerSeries{Name: "mean odds (1−π)/π", Values: make([]float64, 242)}
	for i := range ref.Values {
		ref.Values[i] = 5
	}
	f, err = LayerProfile("Setup 2.2: FI of each trainable layer", []LayerSeries{r50, d121}, LayerOptions{
		LogY: true, Reference: &ref, YLabel: "mean FI over training images",
		Caption: "Each point perturbs all trainable parameters of one layer; the layer FI equals the odds bound whenever the layer has at least K − 1 = 9 parameters and a generic Jacobian.",
	})
	save("layers", f, err)

	// Setup 3: quantile table train vs test.
	var train, test []float64
	for i := 0; i < 5000; i++ {
		train = append(train, math.Exp(rng.NormFloat64()*2-5))
		test = append(test, math.Exp(rng.NormFloat64()*2-4))
	}
	hdr, rows, err := QuantileRows([]float64{0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1}, []string{"train", "test"}, [][]float64{train, test}, "%.3g")
	if err != nil {
		t.Fatal(err)
	}
	f, err = QuantileTable("Setup 3: quantiles of FI (predicted label)", hdr, rows)
	save("quantiles", f, err)

	// Setup 1: top-5 images with captions; digits (28×28 gray) and CIFAR (32×32 RGB).
	var imgs []Image
	for i := 0; i < 5; i++ {
		imgs = append(imgs, fakeDigit(rng, i, fmt.Sprintf("label %d / pred %d\nFI = %.3g", i, (i+3)%10, 100*rng.Float64())))
	}
	for i := 0; i < 5; i++ {
		imgs = append(imgs, fakeRGB(rng, fmt.Sprintf("%s / %s\nFI = %.3g", cifar[i], cifar[9-i], 100*rng.Float64())))
	}
	f, err = ImageGrid("Setup 1: the five largest FI per model", imgs, 5)
	save("imagegrid", f, err)

	// Setup 4: FI maps at patch sizes 1, 3, 5, 7, shared scale, and per-map scales.
	base := fakeDigit(rng, 7, "")
	var maps []HeatMap
	for _, k := range []int{1, 3, 5, 7} {
		vals := make([]float64, 28*28)
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				d := math.Hypot(float64(x-16), float64(y-10))
				vals[y*28+x] = float64(k) * math.Exp(-d*d/float64(10*k)) * (0.5 + float64(base.Pix[y*28+x])/255)
			}
		}
		maps = append(maps, HeatMap{Values: vals, H: 28, W: 28, Title: fmt.Sprintf("%d × %d patches", k, k)})
	}
	f, err = HeatMaps("Setup 4: FI maps, one colour scale", maps, HeatMapOptions{SharedScale: true, Label: "FI"})
	save("heatmaps_shared", f, err)
	f, err = HeatMaps("Setup 4: FI maps, own scales, log colour", maps, HeatMapOptions{Cols: 2, LogScale: true, ColorMap: Magma})
	save("heatmaps_own", f, err)
	f, err = HeatMaps("Setup 4: shared scale, 2 × 2", maps, HeatMapOptions{Cols: 2, SharedScale: true, Label: "FI (1 × 1 … 7 × 7)"})
	save("heatmaps_shared_grid", f, err)

	// One-pixel attack rows: original | perturbed | map | overlay.
	var row []Image
	for r := 0; r < 2; r++ {
		orig := fakeDigit(rng, 3+r, "original\npred 3 (p = 0.98)")
		pert := orig
		pert.Pix = append([]uint8(nil), orig.Pix...)
		pert.Pix[10*28+16] = 255
		pert.Caption = "pixel (10, 16) → 255\npred 5 (p = 0.61)"
		hm, err := HeatImage(maps[0].Values, 28, 28, 0, 1.5)
		if err != nil {
			t.Fatal(err)
		}
		hm.Caption = "FI map, 1 × 1"
		ov, err := Overlay(orig, maps[0].Values, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		ov.Caption = "overlay"
		row = append(row, orig, pert, hm, ov)
	}
	f, err = ImageGrid("One-pixel attacks guided by the FI map", row, 4)
	save("onepixel", f, err)

	// Issue 6: accuracy vs q, one curve per layer, one panel per perturbation type.
	layers := []string{"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"}
	var panels []*Figure
	for pi, kind := range []string{"synapse knockout", "node knockout", "Gaussian noise"} {
		var ss []Series
		for li, name := range layers {
			s := Series{Name: name}
			for q := 0.0; q <= 0.91; q += 0.1 {
				acc := 0.8 / (1 + math.Exp(12*(q-0.9+0.07*float64(li)+0.1*float64(pi))))
				s.X = append(s.X, q)
				s.Y = append(s.Y, acc+0.1)
				s.YErr = append(s.YErr, 0.02+0.03*q)
			}
			ss = append(ss, s)
		}
		leg := LegendNone
		if pi == 2 {
			leg = LegendOutside
		}
		f, err := Curves(kind, "fraction q", "top-5 accuracy", ss, XYOptions{YLim: [2]float64{0, 1}, Legend: leg, Width: 4 * 72, Height: 3.6 * 72})
		if err != nil {
			t.Fatal(err)
		}
		if pi == 2 {
			f.Width += 60
		}
		panels = append(panels, f)
	}
	f, err = Panels("AlexNet: accuracy under weight perturbations (mean ± std over 5 draws)", 3, panels...)
	save("curves_panels", f, err)

	// Issue 6: bound vs measured, log-log with identity; bit-width prediction.
	var bound, meas, bound2, meas2 []float64
	for i := 0; i < 200; i++ {
		e := math.Pow(10, -6+5*rng.Float64())
		bound = append(bound, 40*e)
		meas = append(meas, e*math.Exp(rng.NormFloat64()))
		bound2 = append(bound2, 40*e)
		meas2 = append(meas2, 3*e*math.Exp(rng.NormFloat64()))
	}
	f, err = Scatter("Estimator: bound vs measured relative output change", "bound on ‖Δy‖/‖y‖", "measured ‖Δy‖/‖y‖",
		[]Series{{Name: "random weight noise", X: bound, Y: meas}, {Name: "FGSM input", X: bound2, Y: meas2}}, XYOptions{LogX: true, LogY: true, Identity: true})
	save("scatter_loglog", f, err)
	bits := Series{Name: "measured accuracy", X: []float64{2, 3, 4, 5, 6, 7, 8, 10, 12, 16}, Y: []float64{0.1, 0.12, 0.3, 0.62, 0.78, 0.8, 0.81, 0.81, 0.81, 0.81}, YErr: []float64{0, 0.01, 0.03, 0.02, 0.01, 0.005, 0, 0, 0, 0}}
	f, err = Curves("Bit-width: predicted vs measured", "bits b (unit round-off 2^−b)", "test accuracy", []Series{bits}, XYOptions{
		RefLines: []RefLine{{Value: 6, Vertical: true, Label: "predicted minimal b = 6"}, {Value: 0.81, Label: "float32 accuracy"}}, Legend: LegendBottomRight})
	save("bitwidth", f, err)

	// One-pixel attack study: grouped bars with error bars.
	f, err = Bars("One-pixel attacks: success rate", "fraction of predictions flipped", []string{"MNIST ResNet", "MNIST DenseNet", "CIFAR ResNet", "CIFAR DenseNet"}, []BarSeries{
		{Name: "FI-guided pixel", Values: []float64{0.12, 0.09, 0.31, 0.27}, Err: []float64{0.02, 0.02, 0.03, 0.03}},
		{Name: "random pixel", Values: []float64{0.01, 0.01, 0.04, 0.03}, Err: []float64{0.005, 0.004, 0.01, 0.01}},
		{Name: "largest |gradient|", Values: []float64{0.08, 0.07, 0.22, 0.2}},
	})
	save("bars", f, err)
}

// fakeDigit draws a ring-and-stroke "digit" on 28×28.
func fakeDigit(rng *rand.Rand, k int, caption string) Image {
	m := Image{Pix: make([]uint8, 28*28), H: 28, W: 28, C: 1, Caption: caption}
	cx, cy := 14+rng.Float64()*2, 14+rng.Float64()*2
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			d := math.Hypot(float64(x)-cx, (float64(y)-cy)*0.8)
			v := math.Exp(-math.Pow(d-6-float64(k%3), 2) / 2)
			if math.Abs(float64(x)-cx-float64(k-5)*0.3*(float64(y)-cy)) < 1.2 && y > 5 && y < 23 {
				v = 1
			}
			m.Pix[y*28+x] = uint8(255 * math.Min(1, v))
		}
	}
	return m
}

// fakeRGB makes a 32×32 colour picture: sky, ground and a blob.
func fakeRGB(rng *rand.Rand, caption string) Image {
	m := Image{Pix: make([]uint8, 32*32*3), H: 32, W: 32, C: 3, Caption: caption}
	bx, by := 8+rng.Intn(16), 8+rng.Intn(16)
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b := 120, 170, 230
			if y > 20 {
				r, g, b = 90, 140, 60
			}
			if (x-bx)*(x-bx)+(y-by)*(y-by) < 30 {
				r, g, b = 200, 60, 40
			}
			o := 3 * (y*32 + x)
			m.Pix[o], m.Pix[o+1], m.Pix[o+2] = uint8(r), uint8(g), uint8(b)
		}
	}
	return m
}
