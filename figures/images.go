package figures

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Image is a small picture in height × width × channels (HWC) order, 8 bits per sample: C = 1 is
// grayscale, C = 3 is RGB. Caption is written under it in an ImageGrid (at most 2 lines,
// separated by "\n").
type Image struct {
	Pix     []uint8
	H, W, C int
	Caption string
}

// check validates the image's shape.
func (m Image) check(fn, name string) error {
	if m.H <= 0 || m.W <= 0 {
		return fmt.Errorf("figures.%s: %s is %d × %d, want positive H and W", fn, name, m.H, m.W)
	}
	if m.C != 1 && m.C != 3 {
		return fmt.Errorf("figures.%s: %s has C = %d channels, want 1 (gray) or 3 (RGB)", fn, name, m.C)
	}
	if len(m.Pix) != m.H*m.W*m.C {
		return fmt.Errorf("figures.%s: %s has len(Pix) = %d, want H·W·C = %d", fn, name, len(m.Pix), m.H*m.W*m.C)
	}
	return nil
}

// upscaled returns the image enlarged by an integer factor f (nearest neighbour).
func (m Image) upscaled(f int) image.Image {
	f = max(f, 1)
	r := image.Rect(0, 0, m.W*f, m.H*f)
	if m.C == 1 {
		g := image.NewGray(r)
		for y := 0; y < m.H*f; y++ {
			for x := 0; x < m.W*f; x++ {
				g.Pix[y*g.Stride+x] = m.Pix[(y/f)*m.W+x/f]
			}
		}
		return g
	}
	out := image.NewRGBA(r)
	for y := 0; y < m.H*f; y++ {
		for x := 0; x < m.W*f; x++ {
			s := 3 * ((y/f)*m.W + x/f)
			o := y*out.Stride + 4*x
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = m.Pix[s], m.Pix[s+1], m.Pix[s+2], 0xff
		}
	}
	return out
}

// drawPixels draws m into the largest rectangle of its aspect ratio centred in box, with
// nearest-neighbour enlargement so that small images (28 × 28 digits) stay sharp, and a thin
// frame. It returns the rectangle used.
func drawPixels(c draw.Canvas, box vg.Rectangle, m Image) vg.Rectangle {
	bw, bh := box.Max.X-box.Min.X, box.Max.Y-box.Min.Y
	s := min(bw/vg.Length(m.W), bh/vg.Length(m.H))
	w, h := s*vg.Length(m.W), s*vg.Length(m.H)
	x0 := box.Min.X + (bw-w)/2
	y0 := box.Min.Y + (bh-h)/2
	r := vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x0 + w, Y: y0 + h}}
	dpi := 300.0 // SVG: enlarge enough for a crisp look when the viewer scales it
	if d, ok := c.Canvas.(interface{ DPI() float64 }); ok {
		dpi = d.DPI()
	}
	px := float64(w) / 72 * dpi
	f := int(math.Ceil(px / float64(m.W)))
	c.DrawImage(r, m.upscaled(min(f, 64)))
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{0x99}, Width: 0.5})
	c.Stroke(r.Path())
	return r
}

// Sizes of an ImageGrid cell.
const (
	gridImage = 1.25 * vg.Inch // the image box
	gridGap   = vg.Length(10)
)

// ImageGrid draws images in a grid with cols columns (row-major), each enlarged with nearest
// neighbour so that small digits are clearly visible, its caption (up to 2 lines) centred under
// it; e.g. the top-FI training images captioned "label / prediction / FI", or rows of
// "original | perturbed | map | overlay" (see HeatImage and Overlay).
func ImageGrid(title string, images []Image, cols int) (*Figure, error) {
	if len(images) == 0 {
		return nil, errors.New("figures.ImageGrid: images is empty, want at least one")
	}
	if cols < 1 {
		return nil, fmt.Errorf("figures.ImageGrid: cols = %d, want ≥ 1", cols)
	}
	sty := textStyle(captionSize, false)
	cellW := gridImage
	nLines := 0
	for i, m := range images {
		if err := m.check("ImageGrid", fmt.Sprintf("images[%d]", i)); err != nil {
			return nil, err
		}
		lines := captionLines(m.Caption)
		if len(lines) > 2 {
			return nil, fmt.Errorf("figures.ImageGrid: images[%d].Caption has %d lines, want at most 2", i, len(lines))
		}
		nLines = max(nLines, len(lines))
		for _, l := range lines {
			cellW = max(cellW, sty.Width(l))
		}
	}
	cols = min(cols, len(images))
	rows := (len(images) + cols - 1) / cols
	lh := lineHeight(sty)
	capH := lh*vg.Length(nLines) + 3
	cellW += gridGap
	cellH := gridImage + capH + gridGap
	th := titleHeight(title)
	fig := &Figure{
		Width:  max(cellW*vg.Length(cols), textStyle(titleSize, true).Width(title)+gridGap) + 2*margin,
		Height: cellH*vg.Length(rows) + th + 2*margin,
	}
	fig.draw = func(c draw.Canvas) {
		c = pad(c, margin)
		c = drawTitle(c, title)
		// Scale the cells to the canvas, which may differ from the figure's own size in Panels.
		cw := (c.Max.X - c.Min.X) / vg.Length(cols)
		ch := (c.Max.Y - c.Min.Y) / vg.Length(rows)
		k := min(cw/cellW, ch/cellH)
		for i, m := range images {
			x0 := c.Min.X + cw*vg.Length(i%cols)
			yTop := c.Max.Y - ch*vg.Length(i/cols)
			box := vg.Rectangle{
				Min: vg.Point{X: x0 + (cw-k*gridImage)/2, Y: yTop - k*(gridGap/2+gridImage)},
				Max: vg.Point{X: x0 + (cw+k*gridImage)/2, Y: yTop - k*gridGap/2},
			}
			r := drawPixels(c, box, m)
			s := sty
			s.XAlign = draw.XCenter
			s.YAlign = draw.YTop
			y := r.Min.Y - 3
			for _, l := range captionLines(m.Caption) {
				c.FillText(s, vg.Point{X: x0 + cw/2, Y: y}, l)
				y -= lh
			}
		}
	}
	return fig, nil
}

// captionLines splits a caption into its lines (none for an empty caption).
func captionLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
