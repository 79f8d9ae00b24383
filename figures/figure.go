package figures

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// DefaultDPI is the PNG resolution, in dots per inch, of a Figure whose DPI is 0.
const DefaultDPI = 96

// Default sizes of the figures (1 inch = 72 points; at DefaultDPI 1 inch is 96 pixels).
const (
	DefaultWidth  = 6.5 * vg.Inch
	DefaultHeight = 4.5 * vg.Inch
)

// Figure is a drawing of a fixed physical size that renders to PNG and SVG.
//
// A Figure's drawing adapts to the canvas it is given, so Width and Height may be changed after
// construction (for example to shrink panels before Panels puts them side by side).
type Figure struct {
	Width, Height vg.Length // physical size; vg.Inch = 72 points
	DPI           int       // PNG resolution in dots per inch; 0 means DefaultDPI

	draw func(c draw.Canvas)
}

// NewFigure returns a Figure of the given size drawn by fn; it lets callers add their own kinds
// of figures (fn must draw within c.Rectangle).
func NewFigure(width, height vg.Length, fn func(c draw.Canvas)) (*Figure, error) {
	if fn == nil {
		return nil, errors.New("figures.NewFigure: fn is nil, want a drawing function")
	}
	f := &Figure{Width: width, Height: height, draw: fn}
	if err := f.check("NewFigure"); err != nil {
		return nil, err
	}
	return f, nil
}

// FromPlot returns a Figure of the given size that draws the gonum plot p, with a small margin.
func FromPlot(p *plot.Plot, width, height vg.Length) (*Figure, error) {
	if p == nil {
		return nil, errors.New("figures.FromPlot: p is nil, want a *plot.Plot")
	}
	return NewFigure(width, height, func(c draw.Canvas) { p.Draw(pad(c, margin)) })
}

// check validates the Figure's size and resolution.
func (f *Figure) check(fn string) error {
	if f == nil || f.draw == nil {
		return fmt.Errorf("figures.%s: the figure is nil or empty, want one made by this package", fn)
	}
	if !(f.Width > 0 && f.Height > 0) || math.IsInf(float64(f.Width+f.Height), 0) {
		return fmt.Errorf("figures.%s: size %v × %v points, want positive finite width and height", fn, f.Width, f.Height)
	}
	if f.DPI < 0 {
		return fmt.Errorf("figures.%s: DPI %d, want ≥ 0 (0 means %d)", fn, f.DPI, DefaultDPI)
	}
	return nil
}

func (f *Figure) dpi() int {
	if f.DPI == 0 {
		return DefaultDPI
	}
	return f.DPI
}

// PixelSize returns the width and height in pixels of the Figure's PNG.
func (f *Figure) PixelSize() (w, h int) {
	d := vg.Length(f.dpi())
	return int(f.Width/vg.Inch*d + 0.5), int(f.Height/vg.Inch*d + 0.5)
}

// Draw draws the Figure into the canvas c (scaled to c's rectangle); use it to embed a Figure in
// a larger drawing.
func (f *Figure) Draw(c draw.Canvas) {
	if f != nil && f.draw != nil {
		f.draw(c)
	}
}

// safeDraw draws the figure, turning a panic of the plotting library into an error.
func (f *Figure) safeDraw(fn string, c draw.Canvas) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("figures.%s: drawing failed: %v", fn, r)
		}
	}()
	f.draw(c)
	return nil
}

// PNG renders the Figure as a PNG image of PixelSize pixels on a white background.
func (f *Figure) PNG() ([]byte, error) {
	if err := f.check("PNG"); err != nil {
		return nil, err
	}
	c := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(f.dpi()), vgimg.UseBackgroundColor(color.White))
	if err := f.safeDraw("PNG", draw.New(c)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figures.PNG: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// SVG renders the Figure as an SVG document (sizes in points; fonts referenced by name, not
// embedded).
func (f *Figure) SVG() ([]byte, error) {
	if err := f.check("SVG"); err != nil {
		return nil, err
	}
	c := vgsvg.New(f.Width, f.Height)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if err := f.safeDraw("SVG", dc); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("figures.SVG: encoding: %w", err)
	}
	// vgsvg embeds images as PNG data but labels them image/jpg, which strict renderers
	// (librsvg) refuse to draw.
	return bytes.ReplaceAll(buf.Bytes(), []byte("data:image/jpg;base64,"), []byte("data:image/png;base64,")), nil
}

// Save writes the Figure to pathNoExt+".svg" and pathNoExt+".png", creating the directory if
// needed.
func (f *Figure) Save(pathNoExt string) error {
	if pathNoExt == "" {
		return errors.New("figures.Save: pathNoExt is empty, want a file path without extension")
	}
	svg, err := f.SVG()
	if err != nil {
		return err
	}
	png, err := f.PNG()
	if err != nil {
		return err
	}
	if dir := filepath.Dir(pathNoExt); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("figures.Save: %w", err)
		}
	}
	if err := os.WriteFile(pathNoExt+".svg", svg, 0o644); err != nil {
		return fmt.Errorf("figures.Save: %w", err)
	}
	if err := os.WriteFile(pathNoExt+".png", png, 0o644); err != nil {
		return fmt.Errorf("figures.Save: %w", err)
	}
	return nil
}

// Panels puts figures side by side in a grid with cols columns (row-major), under an optional
// common title. Every cell has the size of the largest figure; the result is cols (or fewer)
// cells wide.
func Panels(title string, cols int, figs ...*Figure) (*Figure, error) {
	if len(figs) == 0 {
		return nil, errors.New("figures.Panels: no figures, want at least one")
	}
	if cols < 1 {
		return nil, fmt.Errorf("figures.Panels: cols = %d, want ≥ 1", cols)
	}
	var cw, ch vg.Length
	dpi := 0
	for i, f := range figs {
		if err := f.check("Panels"); err != nil {
			return nil, fmt.Errorf("%w (figs[%d])", err, i)
		}
		cw = max(cw, f.Width)
		ch = max(ch, f.Height)
		dpi = max(dpi, f.DPI)
	}
	cols = min(cols, len(figs))
	rows := (len(figs) + cols - 1) / cols
	th := titleHeight(title)
	fig := &Figure{
		Width:  cw * vg.Length(cols),
		Height: ch*vg.Length(rows) + th,
		DPI:    dpi,
	}
	fig.draw = func(c draw.Canvas) {
		c = drawTitle(c, title)
		tiles := draw.Tiles{Rows: rows, Cols: cols}
		for i, f := range figs {
			f.draw(tiles.At(c, i%cols, i/cols))
		}
	}
	return fig, nil
}
