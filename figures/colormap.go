package figures

import (
	"fmt"
	"image/color"
	"math"
)

// ColorMap maps [0, 1] to colours by linear interpolation between evenly spaced stops.
type ColorMap struct {
	Name  string
	stops []color.RGBA
}

// Viridis is matplotlib's perceptually uniform, colour-blind-friendly map (dark purple → yellow),
// from its values at 0, 0.1, …, 1.
var Viridis = ColorMap{Name: "viridis", stops: hexStops(
	0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725)}

// Magma is matplotlib's perceptually uniform map (black → purple → light yellow), from its values
// at 0, 0.1, …, 1.
var Magma = ColorMap{Name: "magma", stops: hexStops(
	0x000004, 0x140e36, 0x3b0f70, 0x641a80, 0x8c2981, 0xb73779, 0xde4968, 0xf7705c, 0xfe9f6d, 0xfecf92, 0xfcfdbf)}

func hexStops(hex ...uint32) []color.RGBA {
	out := make([]color.RGBA, len(hex))
	for i, h := range hex {
		out[i] = color.RGBA{uint8(h >> 16), uint8(h >> 8), uint8(h), 0xff}
	}
	return out
}

// At returns the colour at t, clamped to [0, 1] (NaN gives the colour at 0).
func (m ColorMap) At(t float64) color.RGBA {
	s := m.stops
	if len(s) == 0 {
		s = Viridis.stops
	}
	if !(t > 0) {
		return s[0]
	}
	if t >= 1 {
		return s[len(s)-1]
	}
	f := t * float64(len(s)-1)
	i := int(f)
	u := f - float64(i)
	a, b := s[i], s[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + u*(float64(y)-float64(x)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// heatScale normalises values to [0, 1] between lo and hi, linearly or in log10.
type heatScale struct {
	lo, hi float64
	log    bool
}

func (s heatScale) norm(v float64) float64 {
	if s.log {
		if v <= 0 {
			return 0
		}
		return (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	}
	return (v - s.lo) / (s.hi - s.lo)
}

// HeatImage renders values (row-major, h × w) as an RGB Image with the Viridis map, lo and below
// darkest, hi and above brightest: use it to put heat maps in an ImageGrid next to images.
func HeatImage(values []float64, h, w int, lo, hi float64) (Image, error) {
	return heatImage("HeatImage", Viridis, values, h, w, heatScale{lo: lo, hi: hi})
}

func heatImage(fn string, cm ColorMap, values []float64, h, w int, sc heatScale) (Image, error) {
	if h <= 0 || w <= 0 {
		return Image{}, fmt.Errorf("figures.%s: size %d × %d, want positive h and w", fn, h, w)
	}
	if len(values) != h*w {
		return Image{}, fmt.Errorf("figures.%s: len(values) = %d, want h·w = %d", fn, len(values), h*w)
	}
	if err := checkFinite(fn, "values", values); err != nil {
		return Image{}, err
	}
	if !(sc.lo < sc.hi) || math.IsInf(sc.hi-sc.lo, 0) {
		return Image{}, fmt.Errorf("figures.%s: colour range [%v, %v], want finite lo < hi", fn, sc.lo, sc.hi)
	}
	pix := make([]uint8, 3*h*w)
	for i, v := range values {
		c := cm.At(sc.norm(v))
		pix[3*i], pix[3*i+1], pix[3*i+2] = c.R, c.G, c.B
	}
	return Image{Pix: pix, H: h, W: w, C: 3}, nil
}

// Overlay blends a heat map over an image: out = (1−alpha)·image + alpha·Viridis(t), with t the
// heat normalised to [0, 1] by its own minimum and maximum (a constant heat map gives t = 0). The
// result is an RGB Image with img's caption; heat is row-major img.H × img.W.
func Overlay(img Image, heat []float64, alpha float64) (Image, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range heat {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return OverlayRange(img, heat, alpha, lo, hi)
}

// OverlayRange is Overlay with the heat normalised by the given range [lo, hi] (values outside are
// clipped), e.g. lo = 0 for a linear scale from 0 to the maximum.
func OverlayRange(img Image, heat []float64, alpha, lo, hi float64) (Image, error) {
	if err := img.check("Overlay", "img"); err != nil {
		return Image{}, err
	}
	if len(heat) != img.H*img.W {
		return Image{}, fmt.Errorf("figures.Overlay: len(heat) = %d, want img.H·img.W = %d", len(heat), img.H*img.W)
	}
	if err := checkFinite("Overlay", "heat", heat); err != nil {
		return Image{}, err
	}
	if !(alpha >= 0 && alpha <= 1) {
		return Image{}, fmt.Errorf("figures.Overlay: alpha = %v, want a number in [0, 1]", alpha)
	}
	out := Image{Pix: make([]uint8, 3*img.H*img.W), H: img.H, W: img.W, C: 3, Caption: img.Caption}
	for i, v := range heat {
		t := 0.0
		if hi > lo {
			t = math.Min(1, math.Max(0, (v-lo)/(hi-lo)))
		}
		c := Viridis.At(t)
		hc := [3]uint8{c.R, c.G, c.B}
		for ch := 0; ch < 3; ch++ {
			base := img.Pix[i*img.C+min(ch, img.C-1)]
			out.Pix[3*i+ch] = uint8(math.Round((1-alpha)*float64(base) + alpha*float64(hc[ch])))
		}
	}
	return out, nil
}
