package figures

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LayerSeries is one value per trainable layer of a network, in layer order, with each layer's
// kind ("conv", "bn", "dense"; anything else is drawn as "other").
type LayerSeries struct {
	Name   string
	Values []float64
	Kinds  []string // nil, or one kind per value
}

// LayerOptions tunes LayerProfile; the zero value gives a linear y axis.
type LayerOptions struct {
	LogY      bool         // log10 y axis; values ≤ 0 are left out and counted in a note
	YLabel    string       // default "FI"
	XLabel    string       // default "layer index"
	Reference *LayerSeries // a dashed black line without markers, e.g. the odds bound per layer
	RefLines  []RefLine    // constant horizontal references
	Caption   string       // text under the plot
	Legend    LegendPos    // default outside, right
	Width     vg.Length    // default DefaultWidth
	Height    vg.Length    // default DefaultHeight
}

// kindShape maps a layer kind to its marker shape.
func kindShape(kind string) draw.GlyphDrawer {
	switch kind {
	case "conv":
		return draw.CircleGlyph{}
	case "bn":
		return draw.PyramidGlyph{}
	case "dense":
		return draw.BoxGlyph{}
	}
	return draw.CrossGlyph{}
}

var kindNames = []string{"conv", "bn", "dense", "other"}

// LayerProfile draws a value per layer (x = layer index, from 0) for one or more networks:
// colour by network, marker shape by layer kind (conv ●, bn ▲, dense ■, other ×), optionally
// with a reference series and a caption (Setup 2.2, per-layer FI of ResNet50 and DenseNet121).
func LayerProfile(title string, series []LayerSeries, opts LayerOptions) (*Figure, error) {
	const fn = "LayerProfile"
	if len(series) == 0 {
		return nil, fmt.Errorf("figures.LayerProfile: series is empty, want at least one")
	}
	all := series
	if opts.Reference != nil {
		all = append(append([]LayerSeries(nil), series...), *opts.Reference)
	}
	for i, s := range all {
		name := fmt.Sprintf("series[%d]", i)
		if i == len(series) {
			name = "opts.Reference"
		}
		if len(s.Values) == 0 {
			return nil, fmt.Errorf("figures.LayerProfile: %s (%s) has no values, want one per layer", name, s.Name)
		}
		if s.Kinds != nil && len(s.Kinds) != len(s.Values) {
			return nil, fmt.Errorf("figures.LayerProfile: %s (%s): len(Kinds) = %d, want len(Values) = %d or nil", name, s.Name, len(s.Kinds), len(s.Values))
		}
		if err := checkFinite(fn, name+".Values", s.Values); err != nil {
			return nil, err
		}
	}
	ylabel, xlabel := opts.YLabel, opts.XLabel
	if ylabel == "" {
		ylabel = "FI"
	}
	if xlabel == "" {
		xlabel = "layer index"
	}
	p := newPlot(title, xlabel, ylabel)
	if opts.LogY {
		setLog(&p.Y)
	}
	leg := &legend{pos: opts.Legend}
	dropped, kept := 0, 0
	usedKinds := map[string]bool{}
	points := func(s LayerSeries) plotter.XYs {
		var xys plotter.XYs
		for k, v := range s.Values {
			if opts.LogY && v <= 0 {
				dropped++
				continue
			}
			xys = append(xys, plotter.XY{X: float64(k), Y: v})
			kept++
		}
		return xys
	}
	n := 0
	for _, s := range series {
		n = max(n, len(s.Values))
	}
	radius := vg.Length(3)
	if n > 120 {
		radius = 2.2
	}
	for i, s := range series {
		xys := points(s)
		if len(xys) == 0 {
			continue
		}
		col := seriesColor(i)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("figures.LayerProfile: series[%d]: %w", i, err)
		}
		l.LineStyle = draw.LineStyle{Color: withAlpha(col, 0x90), Width: 0.8}
		p.Add(l)
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("figures.LayerProfile: series[%d]: %w", i, err)
		}
		// Map each drawn point back to its layer to pick the marker.
		idx := make([]int, len(xys))
		for k, pt := range xys {
			idx[k] = int(pt.X)
		}
		kinds := s.Kinds
		sc.GlyphStyleFunc = func(k int) draw.GlyphStyle {
			kind := ""
			if kinds != nil {
				kind = kinds[idx[k]]
			}
			return draw.GlyphStyle{Color: col, Radius: radius, Shape: kindShape(kind)}
		}
		for _, k := range s.Kinds {
			usedKinds[kindName(k)] = true
		}
		if s.Kinds == nil {
			usedKinds["other"] = true
		}
		p.Add(sc)
		leg.add(s.Name, l, &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: col, Radius: radius, Shape: draw.CircleGlyph{}}})
	}
	if opts.Reference != nil {
		if xys := points(*opts.Reference); len(xys) > 0 {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("figures.LayerProfile: opts.Reference: %w", err)
			}
			l.LineStyle = draw.LineStyle{Color: color.Black, Width: 1.2, Dashes: []vg.Length{5, 3}}
			p.Add(l)
			leg.add(opts.Reference.Name, l)
		}
	}
	if kept == 0 {
		return nil, fmt.Errorf("figures.LayerProfile: no value > 0 to draw on a log axis")
	}
	if err := addRefLines(fn, p, leg, opts.RefLines, false, opts.LogY); err != nil {
		return nil, err
	}
	if len(usedKinds) > 1 || !usedKinds["other"] {
		for _, k := range kindNames {
			if usedKinds[k] {
				leg.add(k, &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: color.Gray{0x50}, Radius: 3, Shape: kindShape(k)}})
			}
		}
	}
	p.X.Min = -0.5
	if opts.LogY {
		padSingleValue(&p.Y)
	}
	w, h := figSize(opts.Width, opts.Height)
	return NewFigure(w, h, plotDrawer(p, leg, LegendOutside, joinCaption(opts.Caption, droppedNote(dropped, "value"))))
}

func kindName(k string) string {
	switch k {
	case "conv", "bn", "dense":
		return k
	}
	return "other"
}
