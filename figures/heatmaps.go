package figures

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// HeatMap is a row-major H × W array of values (e.g. an FI map over pixel patches) with a title.
type HeatMap struct {
	Values []float64
	H, W   int
	Title  string
}

// HeatMapOptions tunes HeatMaps; the zero value gives one linear colour bar per map, in one row.
type HeatMapOptions struct {
	SharedScale bool     // one colour range (and one colour bar) for all maps, e.g. across patch scales
	Cols        int      // maps per row; default all in one row
	LogScale    bool     // colour by log10(value); values ≤ 0 get the lowest colour
	ColorMap    ColorMap // default Viridis
	Label       string   // colour-bar label, e.g. "FI"
	ZeroBased   bool     // linear scale from 0 to the maximum (e.g. Shu & Zhu's FI maps) instead of from the minimum
}

// Sizes of a HeatMaps cell.
const (
	heatBox  = 1.7 * vg.Inch // the map box
	barWidth = vg.Length(9)  // the colour bar
)

// heatRange returns the colour range of values: [min, max], or [min positive, max] on a log
// scale; a constant map gets a small range around its value.
func heatRange(values []float64, logScale bool) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if logScale && v <= 0 {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > hi {
		return 0, 0, false
	}
	if lo == hi {
		if logScale {
			return lo / 2, hi * 2, true
		}
		d := math.Abs(lo) * 0.05
		if d == 0 {
			d = 1
		}
		return lo - d, hi + d, true
	}
	return lo, hi, true
}

// colorBarWidth is the horizontal space a colour bar with its tick labels and label takes.
func colorBarWidth(sc heatScale, label string) vg.Length {
	sty := textStyle(tickSize, false)
	var w vg.Length
	for _, t := range barTicks(sc) {
		w = max(w, sty.Width(t.Label))
	}
	w += barWidth + 3 + 4 + 6
	if label != "" {
		w += textStyle(labelSize, false).Height(label) + 4
	}
	return w
}

// barTicks are the labelled ticks of a colour bar's scale.
func barTicks(sc heatScale) []plot.Tick {
	var ticks []plot.Tick
	var src []plot.Tick
	if sc.log {
		src = logTicks{}.Ticks(sc.lo, sc.hi)
	} else {
		src = niceTicks{}.Ticks(sc.lo, sc.hi)
	}
	for _, t := range src {
		if t.Label != "" && t.Value >= sc.lo-1e-12*math.Abs(sc.lo) && t.Value <= sc.hi+1e-12*math.Abs(sc.hi) {
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// drawColorBar draws a vertical colour bar in r (the bar on the left, tick labels right of it,
// the rotated label at the far right).
func drawColorBar(c draw.Canvas, r vg.Rectangle, cm ColorMap, sc heatScale, label string) {
	// Several pixels wide: renderers that smooth a scaled image would wash out a 1-pixel column.
	const n, w = 256, 16
	img := image.NewRGBA(image.Rect(0, 0, w, n))
	for i := 0; i < n; i++ {
		for x := 0; x < w; x++ {
			img.Set(x, n-1-i, cm.At((float64(i)+0.5)/n))
		}
	}
	bar := vg.Rectangle{Min: r.Min, Max: vg.Point{X: r.Min.X + barWidth, Y: r.Max.Y}}
	c.DrawImage(bar, img)
	edge := draw.LineStyle{Color: color.Black, Width: 0.5}
	c.StrokeLines(edge, []vg.Point{bar.Min, {X: bar.Max.X, Y: bar.Min.Y}, bar.Max, {X: bar.Min.X, Y: bar.Max.Y}, bar.Min})
	sty := textStyle(tickSize, false)
	sty.Handler = supHandler{text.Plain{Fonts: font.DefaultCache}}
	sty.YAlign = draw.YCenter
	h := bar.Max.Y - bar.Min.Y
	for _, t := range barTicks(sc) {
		y := bar.Min.Y + vg.Length(sc.norm(t.Value))*h
		c.StrokeLine2(edge, bar.Max.X, y, bar.Max.X+3, y)
		c.FillText(sty, vg.Point{X: bar.Max.X + 4, Y: y}, t.Label)
	}
	if label != "" {
		ls := textStyle(labelSize, false)
		ls.Rotation = math.Pi / 2
		ls.XAlign = draw.XCenter
		ls.YAlign = draw.YBottom
		c.FillText(ls, vg.Point{X: r.Max.X, Y: (r.Min.Y + r.Max.Y) / 2}, label)
	}
}

// HeatMaps draws maps side by side (Cols per row), each with its title above and, unless
// opts.SharedScale, its own colour bar with numbers; with SharedScale one colour range and one
// colour bar serve all maps (Setup 4: FI maps at patch sizes 1, 3, 5, 7 on one scale). Maps keep
// their aspect ratio; pixels are drawn as sharp squares.
func HeatMaps(title string, maps []HeatMap, opts HeatMapOptions) (*Figure, error) {
	if len(maps) == 0 {
		return nil, errors.New("figures.HeatMaps: maps is empty, want at least one")
	}
	if opts.Cols < 0 {
		return nil, fmt.Errorf("figures.HeatMaps: opts.Cols = %d, want ≥ 0 (0 = one row)", opts.Cols)
	}
	cm := opts.ColorMap
	if len(cm.stops) == 0 {
		cm = Viridis
	}
	var all []float64
	for i, m := range maps {
		if m.H <= 0 || m.W <= 0 {
			return nil, fmt.Errorf("figures.HeatMaps: maps[%d] is %d × %d, want positive H and W", i, m.H, m.W)
		}
		if len(m.Values) != m.H*m.W {
			return nil, fmt.Errorf("figures.HeatMaps: maps[%d]: len(Values) = %d, want H·W = %d", i, len(m.Values), m.H*m.W)
		}
		if err := checkFinite("HeatMaps", fmt.Sprintf("maps[%d].Values", i), m.Values); err != nil {
			return nil, err
		}
		all = append(all, m.Values...)
	}
	scales := make([]heatScale, len(maps))
	images := make([]Image, len(maps))
	for i, m := range maps {
		vals := m.Values
		if opts.SharedScale {
			vals = all
		}
		lo, hi, ok := heatRange(vals, opts.LogScale)
		if ok && opts.ZeroBased && !opts.LogScale && lo > 0 {
			lo = 0
		}
		if !ok {
			return nil, fmt.Errorf("figures.HeatMaps: maps[%d] has no value > 0 for a log colour scale", i)
		}
		scales[i] = heatScale{lo: lo, hi: hi, log: opts.LogScale}
		img, err := heatImage("HeatMaps", cm, m.Values, m.H, m.W, scales[i])
		if err != nil {
			return nil, err
		}
		images[i] = img
	}
	cols := opts.Cols
	if cols == 0 || cols > len(maps) {
		cols = len(maps)
	}
	rows := (len(maps) + cols - 1) / cols
	tsty := textStyle(labelSize, false)
	titleH := lineHeight(tsty) + 2
	var barW vg.Length
	for _, sc := range scales {
		barW = max(barW, colorBarWidth(sc, opts.Label))
	}
	cellW := heatBox + gridGap
	if !opts.SharedScale {
		cellW += barW
	}
	cellH := titleH + heatBox + gridGap
	sharedW := vg.Length(0)
	if opts.SharedScale {
		sharedW = barW + gridGap
	}
	th := titleHeight(title)
	fig := &Figure{
		Width:  cellW*vg.Length(cols) + sharedW + 2*margin,
		Height: cellH*vg.Length(rows) + th + 2*margin,
	}
	fig.draw = func(c draw.Canvas) {
		c = pad(c, margin)
		c = drawTitle(c, title)
		k := min((c.Max.X-c.Min.X)/(cellW*vg.Length(cols)+sharedW), (c.Max.Y-c.Min.Y)/(cellH*vg.Length(rows)))
		var mapsTop, mapsBottom vg.Length = c.Max.Y, c.Max.Y
		for i, m := range maps {
			x0 := c.Min.X + k*cellW*vg.Length(i%cols)
			yTop := c.Max.Y - k*cellH*vg.Length(i/cols)
			ts := tsty
			ts.XAlign = draw.XCenter
			ts.YAlign = draw.YTop
			c.FillText(ts, vg.Point{X: x0 + k*(heatBox+gridGap)/2, Y: yTop}, m.Title)
			box := vg.Rectangle{
				Min: vg.Point{X: x0 + k*gridGap/2, Y: yTop - k*(titleH+heatBox)},
				Max: vg.Point{X: x0 + k*(gridGap/2+heatBox), Y: yTop - k*titleH},
			}
			r := drawPixels(c, box, images[i])
			mapsTop = min(mapsTop, r.Max.Y)
			mapsBottom = min(mapsBottom, r.Min.Y)
			if !opts.SharedScale {
				br := vg.Rectangle{Min: vg.Point{X: box.Max.X + k*gridGap/2, Y: r.Min.Y}, Max: vg.Point{X: box.Max.X + k*gridGap/2 + barW, Y: r.Max.Y}}
				drawColorBar(c, br, cm, scales[i], opts.Label)
			}
		}
		if opts.SharedScale {
			x := c.Min.X + k*cellW*vg.Length(cols) + k*gridGap/2
			top := c.Max.Y - k*titleH
			bottom := c.Max.Y - k*cellH*vg.Length(rows-1) - k*(titleH+heatBox)
			if rows == 1 {
				top, bottom = mapsTop, mapsBottom
			}
			drawColorBar(c, vg.Rectangle{Min: vg.Point{X: x, Y: bottom}, Max: vg.Point{X: x + barW, Y: top}}, cm, scales[0], opts.Label)
		}
	}
	return fig, nil
}
