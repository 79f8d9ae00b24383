package figures

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named set of (x, y) points, with optional symmetric y error bars (e.g. one
// standard deviation over random draws).
type Series struct {
	Name string
	X, Y []float64
	YErr []float64 // nil, or one non-negative half-length per point
}

// XYOptions tunes Curves and Scatter; the zero value gives linear axes fitted to the data.
type XYOptions struct {
	LogX, LogY bool       // log10 axes; points with a coordinate ≤ 0 are left out and counted in a note
	Identity   bool       // draw the line y = x across the data (bound-versus-measured plots)
	RefLines   []RefLine  // horizontal or vertical reference lines (e.g. a predicted bit-width)
	XLim, YLim [2]float64 // fixed axis limits, used when [0] < [1]
	Legend     LegendPos  // default: top right for Curves (outside when > 4 series), top left for Scatter
	Caption    string     // text under the plot
	Width      vg.Length  // default DefaultWidth
	Height     vg.Length  // default DefaultHeight
}

// xyData is a validated series with the points that can be drawn.
type xyData struct {
	xys  plotter.XYs
	errs []float64 // nil if the series has no error bars
}

// checkSeries validates series and removes points that a log axis cannot show, returning how many.
func checkSeries(fn string, series []Series, logX, logY bool) ([]xyData, int, error) {
	if len(series) == 0 {
		return nil, 0, fmt.Errorf("figures.%s: series is empty, want at least one", fn)
	}
	out := make([]xyData, len(series))
	dropped, kept := 0, 0
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, 0, fmt.Errorf("figures.%s: series[%d] (%s): len(X) = %d, len(Y) = %d, want equal", fn, i, s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			return nil, 0, fmt.Errorf("figures.%s: series[%d] (%s) has no points, want at least one", fn, i, s.Name)
		}
		if s.YErr != nil && len(s.YErr) != len(s.Y) {
			return nil, 0, fmt.Errorf("figures.%s: series[%d] (%s): len(YErr) = %d, want len(Y) = %d or nil", fn, i, s.Name, len(s.YErr), len(s.Y))
		}
		for _, c := range []struct {
			name string
			v    []float64
		}{{"X", s.X}, {"Y", s.Y}, {"YErr", s.YErr}} {
			if err := checkFinite(fn, fmt.Sprintf("series[%d].%s", i, c.name), c.v); err != nil {
				return nil, 0, err
			}
		}
		for k, e := range s.YErr {
			if e < 0 {
				return nil, 0, fmt.Errorf("figures.%s: series[%d].YErr[%d] = %v, want ≥ 0", fn, i, k, e)
			}
		}
		for k := range s.X {
			if (logX && s.X[k] <= 0) || (logY && s.Y[k] <= 0) {
				dropped++
				continue
			}
			out[i].xys = append(out[i].xys, plotter.XY{X: s.X[k], Y: s.Y[k]})
			if s.YErr != nil {
				out[i].errs = append(out[i].errs, s.YErr[k])
			}
			kept++
		}
	}
	if kept == 0 {
		return nil, 0, fmt.Errorf("figures.%s: no point with positive coordinates to draw on a log axis", fn)
	}
	return out, dropped, nil
}

// errBars draws vertical error bars y ± err; on a log axis a bar reaching 0 or below is cut at the
// bottom of the data area.
type errBars struct {
	xys   plotter.XYs
	errs  []float64
	logY  bool
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (e *errBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	const capw = 3
	for i, pt := range e.xys {
		if e.errs[i] == 0 {
			continue
		}
		x := trX(pt.X)
		hi := trY(pt.Y + e.errs[i])
		lo := c.Min.Y
		if low := pt.Y - e.errs[i]; !e.logY || low > 0 {
			lo = trY(low)
			c.StrokeLine2(e.style, x-capw, lo, x+capw, lo)
		}
		c.StrokeLine2(e.style, x, lo, x, hi)
		c.StrokeLine2(e.style, x-capw, hi, x+capw, hi)
	}
}

// DataRange implements plot.DataRanger.
func (e *errBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, pt := range e.xys {
		xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
		lo := pt.Y - e.errs[i]
		if e.logY && lo <= 0 {
			lo = pt.Y
		}
		ymin, ymax = math.Min(ymin, lo), math.Max(ymax, pt.Y+e.errs[i])
	}
	return
}

// newXYPlot makes the common plot of Curves and Scatter.
func newXYPlot(fn, title, xlabel, ylabel string, opts XYOptions) (*plot.Plot, *legend, error) {
	p := newPlot(title, xlabel, ylabel)
	if opts.LogX {
		setLog(&p.X)
	}
	if opts.LogY {
		setLog(&p.Y)
	}
	for _, lim := range []struct {
		name string
		v    [2]float64
		log  bool
	}{{"XLim", opts.XLim, opts.LogX}, {"YLim", opts.YLim, opts.LogY}} {
		if lim.v[0] < lim.v[1] && lim.log && lim.v[0] <= 0 {
			return nil, nil, fmt.Errorf("figures.%s: opts.%s = %v on a log axis, want positive limits", fn, lim.name, lim.v)
		}
	}
	return p, &legend{pos: opts.Legend}, nil
}

// applyLimits fixes the axis ranges requested in opts (after all plotters were added).
// A log axis whose data hold a single value (one point, or one x shared by every point: e.g. a
// study run at one perturbation size) is widened to a decade on either side: gonum/plot widens an
// empty range by ±1, which reaches ≤ 0 for values below 1 and fails on a log scale ("Values must be
// greater than 0 for a log scale").
func applyLimits(p *plot.Plot, opts XYOptions) {
	if opts.LogX {
		padSingleValue(&p.X)
	}
	if opts.LogY {
		padSingleValue(&p.Y)
	}
	if opts.XLim[0] < opts.XLim[1] {
		p.X.Min, p.X.Max = opts.XLim[0], opts.XLim[1]
	}
	if opts.YLim[0] < opts.YLim[1] {
		p.Y.Min, p.Y.Max = opts.YLim[0], opts.YLim[1]
	}
}

// padSingleValue widens the range of a log axis holding a single positive value to [v/10, 10v].
func padSingleValue(ax *plot.Axis) {
	if ax.Min == ax.Max && ax.Min > 0 && !math.IsInf(ax.Min, 0) {
		ax.Min, ax.Max = ax.Min/10, ax.Max*10
	}
}

func figSize(w, h vg.Length) (vg.Length, vg.Length) {
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	return w, h
}

// Curves draws each series as a line through its points (in input order) with markers and
// optional error bars: e.g. accuracy versus perturbation strength q, one curve per layer. Use
// Panels to put one Curves figure per perturbation type side by side.
func Curves(title, xlabel, ylabel string, series []Series, opts XYOptions) (*Figure, error) {
	const fn = "Curves"
	data, dropped, err := checkSeries(fn, series, opts.LogX, opts.LogY)
	if err != nil {
		return nil, err
	}
	p, leg, err := newXYPlot(fn, title, xlabel, ylabel, opts)
	if err != nil {
		return nil, err
	}
	for i, d := range data {
		if len(d.xys) == 0 {
			continue
		}
		col := seriesColor(i)
		if d.errs != nil {
			p.Add(&errBars{xys: d.xys, errs: d.errs, logY: opts.LogY, style: draw.LineStyle{Color: col, Width: 1}})
		}
		l, s, err := plotter.NewLinePoints(d.xys)
		if err != nil {
			return nil, fmt.Errorf("figures.Curves: series[%d]: %w", i, err)
		}
		l.LineStyle = draw.LineStyle{Color: col, Width: 1.6, Dashes: dashes[(i/len(palette))%len(dashes)]}
		s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: 2.8, Shape: glyphShapes[i%len(glyphShapes)]}
		p.Add(l, s)
		if series[i].Name != "" {
			leg.add(series[i].Name, l, s)
		}
	}
	if err := addRefLines(fn, p, leg, opts.RefLines, opts.LogX, opts.LogY); err != nil {
		return nil, err
	}
	if opts.Identity {
		addIdentity(p, leg, data)
	}
	applyLimits(p, opts)
	def := LegendTopRight
	if len(series) > 4 {
		def = LegendOutside
	}
	w, h := figSize(opts.Width, opts.Height)
	return NewFigure(w, h, plotDrawer(p, leg, def, joinCaption(opts.Caption, droppedNote(dropped, "point"))))
}

// Scatter draws each series as markers (one colour and shape per series) with optional error
// bars and, with opts.Identity, the line y = x: e.g. a bound versus the measured change on
// log-log axes, or a predicted versus a measured bit-width.
func Scatter(title, xlabel, ylabel string, series []Series, opts XYOptions) (*Figure, error) {
	const fn = "Scatter"
	data, dropped, err := checkSeries(fn, series, opts.LogX, opts.LogY)
	if err != nil {
		return nil, err
	}
	p, leg, err := newXYPlot(fn, title, xlabel, ylabel, opts)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, d := range data {
		n += len(d.xys)
	}
	radius := vg.Length(3)
	if n > 2000 {
		radius = 1.8
	}
	for i, d := range data {
		if len(d.xys) == 0 {
			continue
		}
		col := seriesColor(i)
		if d.errs != nil {
			p.Add(&errBars{xys: d.xys, errs: d.errs, logY: opts.LogY, style: draw.LineStyle{Color: col, Width: 0.8}})
		}
		s, err := plotter.NewScatter(d.xys)
		if err != nil {
			return nil, fmt.Errorf("figures.Scatter: series[%d]: %w", i, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: withAlpha(col, 0xcc), Radius: radius, Shape: glyphShapes[i%len(glyphShapes)]}
		p.Add(s)
		if series[i].Name != "" {
			leg.add(series[i].Name, s)
		}
	}
	if opts.Identity {
		addIdentity(p, leg, data)
	}
	if err := addRefLines(fn, p, leg, opts.RefLines, opts.LogX, opts.LogY); err != nil {
		return nil, err
	}
	applyLimits(p, opts)
	w, h := figSize(opts.Width, opts.Height)
	return NewFigure(w, h, plotDrawer(p, leg, LegendTopLeft, joinCaption(opts.Caption, droppedNote(dropped, "point"))))
}

// addIdentity adds the line y = x spanning the union of the x and y ranges of the data.
func addIdentity(p *plot.Plot, leg *legend, data []xyData) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, d := range data {
		for _, pt := range d.xys {
			lo = math.Min(lo, math.Min(pt.X, pt.Y))
			hi = math.Max(hi, math.Max(pt.X, pt.Y))
		}
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	l, _ := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
	l.LineStyle = draw.LineStyle{Color: color.Gray{0x40}, Width: 1, Dashes: []vg.Length{5, 3}}
	p.Add(l)
	leg.add("y = x", l)
}
