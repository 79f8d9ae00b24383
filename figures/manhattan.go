package figures

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ManhattanPoint is one example of a Manhattan scatter: its class band, its value and an optional
// label used when it is annotated as one of the top values.
type ManhattanPoint struct {
	Class int
	Value float64
	Label string
}

// ManhattanOptions tunes Manhattan; the zero value gives a linear y axis without annotations.
type ManhattanOptions struct {
	LogY       bool      // log10 y axis; values ≤ 0 are left out and counted in a note
	TopN       int       // ring and annotate the TopN largest values with their Label (or #index)
	RefLines   []RefLine // horizontal reference lines, e.g. a bound or a threshold
	ClassNames []string  // tick label of class k is ClassNames[k]; default the class number
	XLabel     string    // default "class"
	Caption    string    // text under the plot
	Legend     LegendPos // where the legend (top-N and reference lines) goes; default outside, right
	Width      vg.Length // default DefaultWidth
	Height     vg.Length // default DefaultHeight
}

// funcPlotter adapts a function to plot.Plotter.
type funcPlotter func(c draw.Canvas, p *plot.Plot)

// Plot implements plot.Plotter.
func (f funcPlotter) Plot(c draw.Canvas, p *plot.Plot) { f(c, p) }

// Manhattan draws one dot per example, x = its class band (examples spread evenly within the band
// in input order, so the figure is deterministic), colour by class, y = its value. It is the
// paper's view of per-example FI over a training set (Setups 1 and 3).
func Manhattan(title, ylabel string, points []ManhattanPoint, opts ManhattanOptions) (*Figure, error) {
	const fn = "Manhattan"
	if len(points) == 0 {
		return nil, errors.New("figures.Manhattan: points is empty, want at least one point")
	}
	if opts.TopN < 0 {
		return nil, fmt.Errorf("figures.Manhattan: opts.TopN = %d, want ≥ 0", opts.TopN)
	}
	for i, r := range opts.RefLines {
		if r.Vertical {
			return nil, fmt.Errorf("figures.Manhattan: opts.RefLines[%d] is vertical, want horizontal lines only", i)
		}
	}
	// Validate, count per class, drop non-positive values on a log axis.
	perClass := map[int]int{}
	dropped := 0
	for i, pt := range points {
		if math.IsNaN(pt.Value) || math.IsInf(pt.Value, 0) {
			return nil, fmt.Errorf("figures.Manhattan: points[%d].Value is %v, want a finite number", i, pt.Value)
		}
		if opts.ClassNames != nil && (pt.Class < 0 || pt.Class >= len(opts.ClassNames)) {
			return nil, fmt.Errorf("figures.Manhattan: points[%d].Class = %d, want 0 ≤ class < len(opts.ClassNames) = %d", i, pt.Class, len(opts.ClassNames))
		}
		perClass[pt.Class]++
	}
	classes := make([]int, 0, len(perClass))
	for k := range perClass {
		classes = append(classes, k)
	}
	sort.Ints(classes)
	classIdx := map[int]int{}
	for i, k := range classes {
		classIdx[k] = i
	}

	xs := make([]plotter.XYs, len(classes))
	seen := map[int]int{}
	type kept struct {
		i    int
		x, y float64
	}
	var all []kept
	for i, pt := range points {
		j := seen[pt.Class]
		seen[pt.Class]++
		if opts.LogY && pt.Value <= 0 {
			dropped++
			continue
		}
		x := float64(pt.Class) - 0.4 + 0.8*(float64(j)+0.5)/float64(perClass[pt.Class])
		xs[classIdx[pt.Class]] = append(xs[classIdx[pt.Class]], plotter.XY{X: x, Y: pt.Value})
		all = append(all, kept{i, x, pt.Value})
	}
	if len(all) == 0 {
		return nil, errors.New("figures.Manhattan: no value > 0 to draw on a log axis")
	}

	xlabel := opts.XLabel
	if xlabel == "" {
		xlabel = "class"
	}
	p := newPlot(title, xlabel, ylabel)
	p.X.Min, p.X.Max = float64(classes[0])-0.5, float64(classes[len(classes)-1])+0.5
	var ticks plot.ConstantTicks
	for _, k := range classes {
		lbl := strconv.Itoa(k)
		if opts.ClassNames != nil {
			lbl = opts.ClassNames[k]
		}
		ticks = append(ticks, plot.Tick{Value: float64(k), Label: lbl})
	}
	p.X.Tick.Marker = ticks
	rotateTicksIfCrowded(&p.X, ticks, opts.Width)
	if opts.LogY {
		setLog(&p.Y)
	}
	// Alternate light bands mark the classes; vertical grid lines are not needed.
	p.Add(funcPlotter(func(c draw.Canvas, plt *plot.Plot) {
		trX, _ := plt.Transforms(&c)
		for i, k := range classes {
			if i%2 == 1 {
				continue
			}
			x0 := max(trX(float64(k)-0.5), c.Min.X)
			x1 := min(trX(float64(k)+0.5), c.Max.X)
			c.SetColor(color.Gray{0xf2})
			c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}.Path())
		}
	}))
	radius := vg.Length(2)
	switch {
	case len(all) > 20000:
		radius = 0.9
	case len(all) > 3000:
		radius = 1.3
	}
	for ci, k := range classes {
		if len(xs[ci]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xs[ci])
		if err != nil {
			return nil, fmt.Errorf("figures.Manhattan: class %d: %w", k, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: seriesColor(ci), Radius: radius, Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
	leg := &legend{pos: opts.Legend}
	if err := addRefLines(fn, p, leg, opts.RefLines, false, opts.LogY); err != nil {
		return nil, err
	}
	if opts.TopN > 0 {
		sort.SliceStable(all, func(a, b int) bool { return all[a].y > all[b].y })
		n := min(opts.TopN, len(all))
		ann := &annotations{}
		for _, kp := range all[:n] {
			lbl := points[kp.i].Label
			if lbl == "" {
				lbl = "#" + strconv.Itoa(kp.i)
			}
			ann.xy = append(ann.xy, plotter.XY{X: kp.x, Y: kp.y})
			ann.labels = append(ann.labels, lbl)
		}
		p.Add(ann)
		leg.add(fmt.Sprintf("top %d", n), ann)
	}
	w, h := opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if opts.LogY {
		padSingleValue(&p.Y)
	}
	caption := joinCaption(opts.Caption, droppedNote(dropped, "value"))
	return NewFigure(w, h, plotDrawer(p, leg, LegendOutside, caption))
}

// annotations rings a few points and writes their labels beside them, moving labels apart
// vertically when they would overlap.
type annotations struct {
	xy     plotter.XYs
	labels []string
}

var annRing = draw.GlyphStyle{Color: color.Black, Radius: 4.5, Shape: draw.RingGlyph{}}

// Plot implements plot.Plotter.
func (a *annotations) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := textStyle(tickSize, false)
	sty.YAlign = draw.YCenter
	lh := lineHeight(sty)
	type lab struct {
		px, py vg.Length // point
		ty     vg.Length // text centre y
		left   bool
		w      vg.Length
		text   string
	}
	labs := make([]lab, len(a.xy))
	for i, pt := range a.xy {
		px, py := trX(pt.X), trY(pt.Y)
		w := sty.Width(a.labels[i])
		left := px+8+w > c.Max.X
		labs[i] = lab{px, py, py, left, w, a.labels[i]}
	}
	// Greedy placement, from the highest point down: try the label right of its point, then left,
	// then shifted up or down by whole lines, and keep the first spot that overlaps no label
	// placed so far, no other ring and stays on the canvas.
	order := make([]int, len(labs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return labs[order[x]].py > labs[order[y]].py })
	type box struct{ x0, x1, y0, y1 vg.Length }
	overlaps := func(a, b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }
	textBox := func(l lab) box {
		if l.left {
			return box{l.px - 8 - l.w, l.px - 8, l.ty - lh/2, l.ty + lh/2}
		}
		return box{l.px + 8, l.px + 8 + l.w, l.ty - lh/2, l.ty + lh/2}
	}
	r := annRing.Radius
	var placed []box
	for _, i := range order {
		best, found := labs[i], false
	search:
		for step := 0; step <= 8 && !found; step++ {
			for _, dy := range []vg.Length{vg.Length(step) * lh, -vg.Length(step) * lh} {
				for _, left := range []bool{labs[i].left, !labs[i].left} {
					cand := labs[i]
					cand.left, cand.ty = left, labs[i].py+dy
					b := textBox(cand)
					if b.x0 < c.Min.X || b.x1 > c.Max.X || b.y0 < c.Min.Y || b.y1 > c.Max.Y {
						continue
					}
					ok := true
					for _, q := range placed {
						ok = ok && !overlaps(b, q)
					}
					for j, o := range labs {
						ok = ok && (j == i || !overlaps(b, box{o.px - r, o.px + r, o.py - r, o.py + r}))
					}
					if ok {
						best, found = cand, true
						break search
					}
				}
				if step == 0 {
					break // +0 and −0 are the same offset
				}
			}
		}
		labs[i] = best
		placed = append(placed, textBox(best))
	}
	for _, l := range labs {
		c.DrawGlyph(annRing, vg.Point{X: l.px, Y: l.py})
		s := sty
		x := l.px + 8
		if l.left {
			s.XAlign = draw.XRight
			x = l.px - 8
		}
		if l.ty != l.py {
			c.StrokeLine2(draw.LineStyle{Color: color.Gray{0x60}, Width: 0.5}, l.px, l.py, x, l.ty)
		}
		c.FillText(s, vg.Point{X: x, Y: l.ty}, l.text)
	}
}

// DataRange implements plot.DataRanger.
func (a *annotations) DataRange() (xmin, xmax, ymin, ymax float64) { return plotter.XYRange(a.xy) }

// GlyphBoxes implements plot.GlyphBoxer so that rings and labels are not clipped.
func (a *annotations) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	sty := textStyle(tickSize, false)
	h := sty.Height("M")
	boxes := make([]plot.GlyphBox, len(a.xy))
	for i, pt := range a.xy {
		boxes[i] = plot.GlyphBox{
			X: p.X.Norm(pt.X), Y: p.Y.Norm(pt.Y),
			Rectangle: vg.Rectangle{Min: vg.Point{X: -annRing.Radius, Y: -max(h/2, annRing.Radius)}, Max: vg.Point{X: annRing.Radius, Y: max(h/2, annRing.Radius)}},
		}
	}
	return boxes
}

// Thumbnail implements plot.Thumbnailer.
func (a *annotations) Thumbnail(c *draw.Canvas) { c.DrawGlyph(annRing, c.Center()) }
