package figures

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Font sizes used by every figure.
const (
	titleSize   = vg.Length(14)
	labelSize   = vg.Length(12) // axis labels
	tickSize    = vg.Length(10) // tick labels
	legendSize  = vg.Length(10)
	captionSize = vg.Length(10)
	margin      = vg.Length(6) // blank border around a plot
)

// textStyle returns a text style in the default font (Liberation Serif) of the given size.
func textStyle(size vg.Length, bold bool) text.Style {
	f := font.From(plot.DefaultFont, size)
	if bold {
		f.Weight = stdfont.WeightBold
	}
	return text.Style{Color: color.Black, Font: f, Handler: plot.DefaultTextHandler}
}

// pad shrinks a canvas by m on every side.
func pad(c draw.Canvas, m vg.Length) draw.Canvas { return draw.Crop(c, m, -m, m, -m) }

// titleHeight is the vertical space a figure title takes (0 for no title).
func titleHeight(title string) vg.Length {
	if title == "" {
		return 0
	}
	sty := textStyle(titleSize, true)
	return sty.Height(title) + 2*margin
}

// drawTitle writes a bold title centred at the top of c and returns the rest of c.
func drawTitle(c draw.Canvas, title string) draw.Canvas {
	if title == "" {
		return c
	}
	sty := textStyle(titleSize, true)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YTop
	// A title wider than the canvas (a narrow panel) is wrapped rather than cut at both edges.
	lines := wrap(sty, title, c.Max.X-c.Min.X)
	y := c.Max.Y - margin
	for _, l := range lines {
		c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: y}, l)
		y -= lineHeight(sty)
	}
	c.Max.Y -= titleHeight(title) + lineHeight(sty)*vg.Length(len(lines)-1)
	return c
}

// wrap splits s into lines no wider than width in style sty, keeping explicit newlines.
func wrap(sty text.Style, s string, width vg.Length) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			out = append(out, "")
			continue
		}
		line := words[0]
		for _, w := range words[1:] {
			if sty.Width(line+" "+w) > width {
				out = append(out, line)
				line = w
			} else {
				line += " " + w
			}
		}
		out = append(out, line)
	}
	return out
}

// lineHeight is the baseline-to-baseline distance of a text style.
func lineHeight(sty text.Style) vg.Length {
	e := sty.FontExtents()
	return e.Height * 1.15
}

// drawCaption writes wrapped text at the bottom of c (left-aligned) and returns the rest of c.
func drawCaption(c draw.Canvas, caption string) draw.Canvas {
	if caption == "" {
		return c
	}
	sty := textStyle(captionSize, false)
	lines := wrap(sty, caption, c.Max.X-c.Min.X-2*margin)
	lh := lineHeight(sty)
	h := lh*vg.Length(len(lines)) + margin
	sty.YAlign = draw.YTop
	y := c.Min.Y + h
	for _, l := range lines {
		c.FillText(sty, vg.Point{X: c.Min.X + margin, Y: y}, l)
		y -= lh
	}
	c.Min.Y += h + margin/2
	return c
}

// palette is Tableau 10, a qualitative palette readable by most colour-blind viewers.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, // blue
	{0xf2, 0x8e, 0x2b, 0xff}, // orange
	{0xe1, 0x57, 0x59, 0xff}, // red
	{0x76, 0xb7, 0xb2, 0xff}, // teal
	{0x59, 0xa1, 0x4f, 0xff}, // green
	{0xed, 0xc9, 0x48, 0xff}, // yellow
	{0xb0, 0x7a, 0xa1, 0xff}, // purple
	{0xff, 0x9d, 0xa7, 0xff}, // pink
	{0x9c, 0x75, 0x5f, 0xff}, // brown
	{0xba, 0xb0, 0xac, 0xff}, // grey
}

// seriesColor returns the i-th palette colour (cycling).
func seriesColor(i int) color.RGBA { return palette[((i%len(palette))+len(palette))%len(palette)] }

// withAlpha returns c with opacity a (0–255), premultiplied as color.RGBA requires.
func withAlpha(c color.RGBA, a uint8) color.RGBA {
	f := float64(a) / 255
	return color.RGBA{uint8(float64(c.R)*f + 0.5), uint8(float64(c.G)*f + 0.5), uint8(float64(c.B)*f + 0.5), a}
}

// glyphShapes distinguishes series by marker as well as colour.
var glyphShapes = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.RingGlyph{},
	draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
}

// dashes distinguishes series beyond the ten palette colours.
var dashes = [][]vg.Length{nil, {6, 3}, {2, 2}, {8, 3, 2, 3}}

// newPlot returns a plot with this package's fonts, a light grid and the given labels.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle = textStyle(titleSize, true)
	p.Title.TextStyle.XAlign = draw.XCenter
	p.Title.TextStyle.YAlign = draw.YTop
	p.Title.Padding = 6
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = textStyle(labelSize, false).Font
		ax.Tick.Label.Font = textStyle(tickSize, false).Font
		ax.Label.Padding = 3
		ax.Padding = 2
		ax.Tick.Marker = niceTicks{}
	}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{0xe4}
	g.Horizontal.Color = color.Gray{0xe4}
	p.Add(g)
	return p
}

// setLog puts an axis on a log10 scale with decade ticks; labels of large and small powers of
// ten are typeset as 10 with a raised exponent.
func setLog(ax *plot.Axis) {
	ax.Scale = plot.LogScale{}
	ax.Tick.Marker = logTicks{}
	ax.Tick.Label.Handler = supHandler{text.Plain{Fonts: font.DefaultCache}}
}

// supHandler is a plain-text handler that draws "a^b" as a with b raised in a smaller font (the
// default fonts lack superscript digits). Rotated text falls back to plain.
type supHandler struct{ text.Plain }

const supScale = 0.72

func splitSup(txt string) (base, exp string, ok bool) {
	i := strings.IndexByte(txt, '^')
	if i < 0 || strings.Contains(txt, "\n") {
		return txt, "", false
	}
	return txt[:i], txt[i+1:], true
}

// Box implements text.Handler.
func (h supHandler) Box(txt string, fnt font.Font) (width, height, depth vg.Length) {
	base, exp, ok := splitSup(txt)
	if !ok {
		return h.Plain.Box(txt, fnt)
	}
	w1, h1, d1 := h.Plain.Box(base, fnt)
	sf := fnt
	sf.Size = fnt.Size * supScale
	w2, h2, _ := h.Plain.Box(exp, sf)
	return w1 + w2, max(h1, h2+fnt.Size*0.4), d1
}

// Draw implements text.Handler.
func (h supHandler) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	base, exp, ok := splitSup(txt)
	if !ok || sty.Rotation != 0 {
		h.Plain.Draw(c, txt, sty, pt)
		return
	}
	face := h.Fonts.Lookup(sty.Font, sty.Font.Size)
	sf := sty.Font
	sf.Size = sty.Font.Size * supScale
	small := h.Fonts.Lookup(sf, sf.Size)
	w1, w2 := face.Width(base), small.Width(exp)
	x := pt.X + vg.Length(sty.XAlign)*(w1+w2)
	y := pt.Y + sty.Height(txt)*vg.Length(sty.YAlign) - face.Extents().Ascent + sty.Font.Size
	c.SetColor(sty.Color)
	c.FillString(face, vg.Point{X: x, Y: y}, base)
	c.FillString(small, vg.Point{X: x + w1, Y: y + sty.Font.Size*0.4}, exp)
}

// logTicks labels powers of ten (every k-th decade when there are many) with minor ticks in
// between, and also 2 and 5 times a power of ten when the range is under two decades.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	e0 := int(math.Floor(math.Log10(lo)))
	e1 := int(math.Ceil(math.Log10(hi)))
	decades := e1 - e0
	step := 1
	if decades > 8 {
		step = (decades + 7) / 8
	}
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow(10, float64(e))
		lbl := ""
		if (e-e0)%step == 0 {
			lbl = formatPow10(1, e)
		}
		ticks = append(ticks, plot.Tick{Value: base, Label: lbl})
		if step > 1 || e == e1 {
			continue
		}
		for k := 2; k <= 9; k++ {
			l := ""
			if decades <= 2 && (k == 2 || k == 5) {
				l = formatPow10(k, e)
			}
			ticks = append(ticks, plot.Tick{Value: float64(k) * base, Label: l})
		}
	}
	return ticks
}

// formatPow10 writes k·10^e plainly for moderate exponents and as "k×10^e" (drawn with a raised
// exponent by supHandler) otherwise.
func formatPow10(k, e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(float64(k)*math.Pow(10, float64(e)), 'f', -1, 64)
	}
	exp := strings.Replace(strconv.Itoa(e), "-", "−", 1)
	if k != 1 {
		return fmt.Sprintf("%d×10^%s", k, exp)
	}
	return "10^" + exp
}

// RefLine is a labelled horizontal (or vertical) reference line, e.g. a bound or a chance level.
type RefLine struct {
	Value    float64 // y of a horizontal line, x of a vertical one
	Vertical bool    // draw x = Value instead of y = Value
	Label    string  // legend text; empty for no legend entry
}

// refLinePlotter draws a RefLine across the whole data area.
type refLinePlotter struct {
	RefLine
	draw.LineStyle
}

// Plot implements plot.Plotter.
func (r *refLinePlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	if r.Vertical {
		x := trX(r.Value)
		c.StrokeLine2(r.LineStyle, x, c.Min.Y, x, c.Max.Y)
		return
	}
	y := trY(r.Value)
	c.StrokeLine2(r.LineStyle, c.Min.X, y, c.Max.X, y)
}

// DataRange implements plot.DataRanger: the line widens only its own axis.
func (r *refLinePlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	inf := math.Inf(1)
	if r.Vertical {
		return r.Value, r.Value, inf, -inf
	}
	return inf, -inf, r.Value, r.Value
}

// Thumbnail implements plot.Thumbnailer.
func (r *refLinePlotter) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(r.LineStyle, c.Min.X, y, c.Max.X, y)
}

// refStyles are the line styles of successive reference lines.
var refStyles = []draw.LineStyle{
	{Color: color.Gray{0x30}, Width: 1.2, Dashes: []vg.Length{6, 3}},
	{Color: color.RGBA{0xb0, 0x20, 0x20, 0xff}, Width: 1.2, Dashes: []vg.Length{2, 2}},
	{Color: color.Gray{0x70}, Width: 1.2, Dashes: []vg.Length{8, 3, 2, 3}},
}

// addRefLines validates and adds reference lines to p and their entries to the legend.
func addRefLines(fn string, p *plot.Plot, leg *legend, refs []RefLine, logX, logY bool) error {
	for i, r := range refs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return fmt.Errorf("figures.%s: RefLines[%d].Value is %v, want a finite number", fn, i, r.Value)
		}
		if r.Value <= 0 && ((r.Vertical && logX) || (!r.Vertical && logY)) {
			return fmt.Errorf("figures.%s: RefLines[%d].Value is %v on a log axis, want > 0", fn, i, r.Value)
		}
		rp := &refLinePlotter{RefLine: r, LineStyle: refStyles[i%len(refStyles)]}
		p.Add(rp)
		if r.Label != "" {
			leg.add(r.Label, rp)
		}
	}
	return nil
}

// LegendPos says where a legend goes.
type LegendPos int

// Legend positions. The zero value, LegendAuto, lets each figure pick its usual place.
const (
	LegendAuto        LegendPos = iota // the figure's usual place
	LegendTopRight                     // inside the data area, top right
	LegendTopLeft                      // inside the data area, top left
	LegendBottomRight                  // inside the data area, bottom right
	LegendBottomLeft                   // inside the data area, bottom left
	LegendOutside                      // to the right of the plot, outside the data area
	LegendNone                         // no legend
)

// legend is a list of entries drawn in a framed box over (or beside) the data area.
type legend struct {
	names  []string
	thumbs [][]plot.Thumbnailer
	pos    LegendPos
}

func (l *legend) add(name string, th ...plot.Thumbnailer) {
	l.names = append(l.names, name)
	l.thumbs = append(l.thumbs, th)
}

const (
	legendPad     = vg.Length(4) // inside the legend frame
	legendSpacing = vg.Length(4) // between entries
	legendThumb   = vg.Length(20)
)

// size returns the box size of the legend at position pos.
func (l *legend) size(pos LegendPos) (w, h vg.Length) {
	if len(l.names) == 0 || pos == LegendNone {
		return 0, 0
	}
	sty := textStyle(legendSize, false)
	var eh vg.Length // as plot.Legend computes its entry height
	for _, n := range l.names {
		w = max(w, sty.Width(n))
		eh = max(eh, sty.Rectangle(n).Max.Y)
	}
	n := vg.Length(len(l.names))
	w += legendThumb + sty.Width(" ") + 2*legendPad
	h = n*eh + (n-1)*legendSpacing + sty.FontExtents().Descent + 2*legendPad
	return w, h
}

// draw draws the legend in the rectangle r.
func (l *legend) draw(c draw.Canvas, r vg.Rectangle) {
	c.SetColor(color.NRGBA{0xff, 0xff, 0xff, 0xe6})
	c.Fill(r.Path())
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{0xb0}, Width: 0.6})
	c.Stroke(r.Path())
	lg := plot.NewLegend()
	lg.TextStyle = textStyle(legendSize, false)
	lg.Top, lg.Left = true, true
	lg.ThumbnailWidth = legendThumb
	lg.Padding = legendSpacing
	lg.YPosition = draw.PosCenter
	for i, n := range l.names {
		lg.Add(n, l.thumbs[i]...)
	}
	inner := draw.Canvas{Canvas: c.Canvas, Rectangle: r}
	lg.Draw(pad(inner, legendPad))
}

// plotDrawer returns a drawing function for p with the legend l (drawn in a box at its position,
// or beside the plot; def is used when l.pos is LegendAuto) and an optional caption under it. The
// plot's title is centred over the whole figure.
func plotDrawer(p *plot.Plot, l *legend, def LegendPos, caption string) func(c draw.Canvas) {
	title := p.Title.Text
	p.Title.Text = ""
	// The y label is drawn here, centred on the data area: gonum centres it on the arithmetic
	// middle of the data range, which is wrong on a log axis.
	ylabel := p.Y.Label.Text
	ysty := p.Y.Label.TextStyle
	p.Y.Label.Text = ""
	return func(c draw.Canvas) {
		c = pad(c, margin)
		c = drawTitle(c, title)
		c = drawCaption(c, caption)
		pos := def
		if l != nil && l.pos != LegendAuto {
			pos = l.pos
		}
		var lw, lh vg.Length
		if l != nil {
			lw, lh = l.size(pos)
		}
		pc := c
		if ylabel != "" {
			pc.Min.X += ysty.Height(ylabel) + p.Y.Label.Padding
		}
		if lw > 0 && pos == LegendOutside {
			pc.Max.X -= lw + margin
		}
		p.Draw(pc)
		da := p.DataCanvas(pc)
		if ylabel != "" {
			s := ysty
			s.Rotation = math.Pi / 2
			s.XAlign = draw.XCenter
			s.YAlign = draw.YTop
			c.FillText(s, vg.Point{X: c.Min.X, Y: (da.Min.Y + da.Max.Y) / 2}, ylabel)
		}
		if lw == 0 {
			return
		}
		const in = 5
		var r vg.Rectangle
		switch pos {
		case LegendOutside:
			r.Min = vg.Point{X: pc.Max.X + margin, Y: da.Max.Y - lh}
		case LegendTopLeft, LegendBottomLeft:
			r.Min.X = da.Min.X + in
		default:
			r.Min.X = da.Max.X - in - lw
		}
		switch pos {
		case LegendOutside:
		case LegendBottomRight, LegendBottomLeft:
			r.Min.Y = da.Min.Y + in
		default:
			r.Min.Y = da.Max.Y - in - lh
		}
		r.Max = vg.Point{X: r.Min.X + lw, Y: r.Min.Y + lh}
		l.draw(c, r)
	}
}

// checkFinite rejects NaN and ±Inf in v, naming the argument and the index.
func checkFinite(fn, name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("figures.%s: %s[%d] is %v, want a finite number", fn, name, i, x)
		}
	}
	return nil
}

// droppedNote is the note a figure shows when points could not be drawn on a log axis.
func droppedNote(n int, what string) string {
	if n == 0 {
		return ""
	}
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d %s%s ≤ 0 not shown (log scale).", n, what, s)
}

// joinCaption joins non-empty caption parts with a space.
func joinCaption(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// rotateTicksIfCrowded slants the labels of evenly spaced categorical ticks when they would not
// fit side by side on a figure of the given width (0 = DefaultWidth).
func rotateTicksIfCrowded(ax *plot.Axis, ticks []plot.Tick, width vg.Length) {
	if width == 0 {
		width = DefaultWidth
	}
	if len(ticks) == 0 {
		return
	}
	slot := (width - 90) / vg.Length(len(ticks))
	var widest vg.Length
	for _, t := range ticks {
		widest = max(widest, ax.Tick.Label.Width(t.Label))
	}
	if widest > 0.9*slot {
		ax.Tick.Label.Rotation = math.Pi / 6
		ax.Tick.Label.XAlign = draw.XRight
		ax.Tick.Label.YAlign = draw.YCenter
	}
}

// niceTicks places four to seven major ticks at multiples of 1, 2 or 5 times a power of ten, with
// minor ticks between them.
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 7 // at most 7 intervals
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step, minor := 10*mag, 5
	for _, m := range []struct {
		f float64
		n int
	}{{1, 5}, {2, 4}, {5, 5}} {
		if m.f*mag >= raw*0.999 {
			step, minor = m.f*mag, m.n
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	big := math.Max(math.Abs(lo), math.Abs(hi))
	format := func(v float64) string {
		if big >= 1e5 || step < 1e-4 {
			return strconv.FormatFloat(v, 'g', 3, 64)
		}
		s := strconv.FormatFloat(v, 'f', prec, 64)
		if strings.Trim(s, "-0.") == "" {
			return "0"
		}
		return s
	}
	var ticks []plot.Tick
	first := math.Ceil(lo/step-1e-9) - 1
	for i := first; i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v >= lo-step*1e-9 {
			ticks = append(ticks, plot.Tick{Value: v, Label: format(v)})
		}
		for k := 1; k < minor; k++ {
			if m := v + float64(k)*step/float64(minor); m >= lo && m <= hi {
				ticks = append(ticks, plot.Tick{Value: m})
			}
		}
	}
	return ticks
}
