package figures

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one bar per group, e.g. the success rate of one attack on each model, with
// optional symmetric error bars.
type BarSeries struct {
	Name   string
	Values []float64 // one per group
	Err    []float64 // nil, or one non-negative half-length per group
}

// barsPlotter draws grouped bars: group g at x = g, the series side by side within 80 % of the
// unit spacing.
type barsPlotter struct {
	series []BarSeries
	groups int
}

func (b *barsPlotter) barGeometry(c draw.Canvas, p *plot.Plot, g, s int) (x0, x1 vg.Length) {
	trX, _ := p.Transforms(&c)
	unit := trX(1) - trX(0)
	w := 0.8 * unit / vg.Length(len(b.series))
	x0 = trX(float64(g)) - 0.4*unit + vg.Length(s)*w
	return x0, x0 + w
}

// Plot implements plot.Plotter.
func (b *barsPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	edge := draw.LineStyle{Color: color.Gray{0x30}, Width: 0.5}
	for s, bs := range b.series {
		for g, v := range bs.Values {
			x0, x1 := b.barGeometry(c, p, g, s)
			y0, y1 := trY(0), trY(v)
			r := vg.Rectangle{Min: vg.Point{X: x0, Y: min(y0, y1)}, Max: vg.Point{X: x1, Y: max(y0, y1)}}
			c.SetColor(seriesColor(s))
			c.Fill(r.Path())
			c.SetLineStyle(edge)
			c.Stroke(r.Path())
		}
	}
	whisker := draw.LineStyle{Color: color.Black, Width: 1}
	for s, bs := range b.series {
		for g, e := range bs.Err {
			if e == 0 {
				continue
			}
			x0, x1 := b.barGeometry(c, p, g, s)
			x := (x0 + x1) / 2
			v := bs.Values[g]
			lo, hi := trY(v-e), trY(v+e)
			cw := min((x1-x0)/4, 4)
			c.StrokeLine2(whisker, x, lo, x, hi)
			c.StrokeLine2(whisker, x-cw, lo, x+cw, lo)
			c.StrokeLine2(whisker, x-cw, hi, x+cw, hi)
		}
	}
}

// DataRange implements plot.DataRanger: the bars start at 0.
func (b *barsPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = 0, 0
	for _, bs := range b.series {
		for g, v := range bs.Values {
			e := 0.0
			if bs.Err != nil {
				e = bs.Err[g]
			}
			ymin, ymax = math.Min(ymin, v-e), math.Max(ymax, v+e)
		}
	}
	if ymin == ymax {
		ymax = 1
	}
	return -0.5, float64(b.groups) - 0.5, ymin, ymax
}

// barThumb is the legend thumbnail of one bar series.
type barThumb struct{ col color.Color }

// Thumbnail implements plot.Thumbnailer.
func (t barThumb) Thumbnail(c *draw.Canvas) {
	r := vg.Rectangle{Min: vg.Point{X: c.Min.X + 4, Y: c.Min.Y}, Max: vg.Point{X: c.Max.X - 4, Y: c.Max.Y}}
	c.SetColor(t.col)
	c.Fill(r.Path())
}

// Bars draws a grouped bar chart: one group per entry of groups (x axis), one coloured bar per
// series within each group, with error bars where Err is given (e.g. one-pixel attack success
// per model and guide map).
func Bars(title, ylabel string, groups []string, series []BarSeries) (*Figure, error) {
	if len(groups) == 0 {
		return nil, errors.New("figures.Bars: groups is empty, want at least one group name")
	}
	if len(series) == 0 {
		return nil, errors.New("figures.Bars: series is empty, want at least one")
	}
	for i, s := range series {
		if len(s.Values) != len(groups) {
			return nil, fmt.Errorf("figures.Bars: series[%d] (%s): len(Values) = %d, want len(groups) = %d", i, s.Name, len(s.Values), len(groups))
		}
		if s.Err != nil && len(s.Err) != len(groups) {
			return nil, fmt.Errorf("figures.Bars: series[%d] (%s): len(Err) = %d, want len(groups) = %d or nil", i, s.Name, len(s.Err), len(groups))
		}
		if err := checkFinite("Bars", fmt.Sprintf("series[%d].Values", i), s.Values); err != nil {
			return nil, err
		}
		if err := checkFinite("Bars", fmt.Sprintf("series[%d].Err", i), s.Err); err != nil {
			return nil, err
		}
		for g, e := range s.Err {
			if e < 0 {
				return nil, fmt.Errorf("figures.Bars: series[%d].Err[%d] = %v, want ≥ 0", i, g, e)
			}
		}
	}
	p := newPlot(title, "", ylabel)
	p.X.Tick.Marker = nil
	var ticks plot.ConstantTicks
	for g, name := range groups {
		ticks = append(ticks, plot.Tick{Value: float64(g), Label: name})
	}
	p.X.Tick.Marker = ticks
	p.X.Tick.Length = 0
	rotateTicksIfCrowded(&p.X, ticks, DefaultWidth)
	p.Add(&barsPlotter{series: series, groups: len(groups)})
	leg := &legend{}
	for s, bs := range series {
		if bs.Name != "" {
			leg.add(bs.Name, barThumb{seriesColor(s)})
		}
	}
	// Leave headroom above the tallest bar for the legend.
	_, _, ymin, ymax := (&barsPlotter{series: series, groups: len(groups)}).DataRange()
	p.Y.Min = ymin
	p.Y.Max = ymax + 0.08*float64(len(series)+1)*(ymax-ymin)
	return NewFigure(DefaultWidth, DefaultHeight, plotDrawer(p, leg, LegendTopRight, ""))
}
