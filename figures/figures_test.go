package figures

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// checkRender renders f to PNG and SVG and checks the PNG's pixel size and that the SVG is XML
// with the figure's size in points.
func checkRender(t *testing.T, name string, f *Figure, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := f.PNG()
	if err != nil {
		t.Fatalf("%s: PNG: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: PNG does not decode: %v", name, err)
	}
	w, h := f.PixelSize()
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Errorf("%s: PNG is %v, want %d × %d", name, got, w, h)
	}
	// 1 inch = 72 points = DPI pixels.
	if wantW := int(float64(f.Width)/72*float64(f.dpi()) + 0.5); w != wantW {
		t.Errorf("%s: PixelSize width %d, want %d", name, w, wantW)
	}
	svg, err := f.SVG()
	if err != nil {
		t.Fatalf("%s: SVG: %v", name, err)
	}
	checkSVG(t, name, svg, f.Width)
}

func checkSVG(t *testing.T, name string, svg []byte, width vg.Length) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: SVG is not well-formed XML: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			for _, a := range se.Attr {
				// vgsvg writes the size in points with 5 significant digits.
				if want := strconv.FormatFloat(width.Points(), 'g', 5, 64) + "pt"; a.Name.Local == "width" && a.Value != want {
					t.Errorf("%s: SVG width %q, want %q", name, a.Value, want)
				}
			}
		}
	}
	if root != "svg" {
		t.Fatalf("%s: SVG root element %q, want svg", name, root)
	}
}

func TestPixelSizeByHand(t *testing.T) {
	f, err := NewFigure(6*vg.Inch, 4*vg.Inch, func(c draw.Canvas) {})
	if err != nil {
		t.Fatal(err)
	}
	// 6 in × 96 dpi = 576 px, 4 in × 96 = 384 px.
	if w, h := f.PixelSize(); w != 576 || h != 384 {
		t.Errorf("PixelSize at 96 dpi = %d × %d, want 576 × 384", w, h)
	}
	f.DPI = 150 // 6 × 150 = 900, 4 × 150 = 600
	if w, h := f.PixelSize(); w != 900 || h != 600 {
		t.Errorf("PixelSize at 150 dpi = %d × %d, want 900 × 600", w, h)
	}
	checkRender(t, "blank", f, nil)

	// Two 432 × 288 pt panels side by side without a title: 864 × 288 pt = 1152 × 384 px.
	a, _ := NewFigure(432, 288, func(c draw.Canvas) {})
	b, _ := NewFigure(432, 288, func(c draw.Canvas) {})
	p, err := Panels("", 2, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Width != 864 || p.Height != 288 {
		t.Errorf("Panels size %v × %v, want 864 × 288 points", p.Width, p.Height)
	}
	if w, h := p.PixelSize(); w != 1152 || h != 384 {
		t.Errorf("Panels PixelSize %d × %d, want 1152 × 384", w, h)
	}
	// Three panels in 2 columns: 2 rows.
	p, _ = Panels("", 2, a, b, a)
	if p.Width != 864 || p.Height != 576 {
		t.Errorf("3 panels in 2 columns: %v × %v, want 864 × 576 points", p.Width, p.Height)
	}
}

func TestEveryFigureRenders(t *testing.T) {
	x := []float64{0, 0.3, 0.6, 0.9}
	y := []float64{0.9, 0.8, 0.5, 0.2}
	pos := []bool{true, false, true, false, false, true}
	scores := []float64{0.9, 0.4, 0.7, 0.2, 0.5, 0.5}
	img := Image{Pix: make([]uint8, 28*28), H: 28, W: 28, C: 1, Caption: "label 3 / pred 5\nFI = 2.1"}
	rgb := Image{Pix: make([]uint8, 4*5*3), H: 4, W: 5, C: 3, Caption: "rgb"}
	heat := make([]float64, 28*28)
	for i := range heat {
		heat[i] = float64(i % 29)
	}

	f, err := Manhattan("m", "FI", []ManhattanPoint{{0, 1, "a"}, {0, 3, "b"}, {1, 0.01, "c"}, {2, 0, "d"}}, ManhattanOptions{LogY: true, TopN: 2, RefLines: []RefLine{{Value: 2, Label: "bound"}}})
	checkRender(t, "Manhattan", f, err)
	f, err = ROCPR("s0", []Curve{{"FI", scores, pos}, {"Jacobian", y[:2], []bool{true, false}}})
	checkRender(t, "ROCPR", f, err)
	f, err = LayerProfile("l", []LayerSeries{{Name: "net", Values: []float64{1, 2, 3}, Kinds: []string{"conv", "bn", "dense"}}}, LayerOptions{LogY: true, Caption: "caption", Reference: &LayerSeries{Name: "bound", Values: []float64{4, 4, 4}}})
	checkRender(t, "LayerProfile", f, err)
	f, err = QuantileTable("q", []string{"quantile", "train"}, [][]string{{"75 %", "0.1"}, {"100 %", "3"}})
	checkRender(t, "QuantileTable", f, err)
	f, err = ImageGrid("g", []Image{img, rgb, img}, 2)
	checkRender(t, "ImageGrid", f, err)
	// Embedded pictures must be labelled as the PNG data they are, or strict renderers skip them.
	if svg, _ := f.SVG(); !bytes.Contains(svg, []byte("data:image/png;base64,")) || bytes.Contains(svg, []byte("image/jpg")) {
		t.Error("ImageGrid SVG does not embed its images as image/png")
	}
	f, err = HeatMaps("h", []HeatMap{{heat, 28, 28, "k=1"}, {heat, 28, 28, "k=3"}}, HeatMapOptions{SharedScale: true, Label: "FI"})
	checkRender(t, "HeatMaps shared", f, err)
	f, err = HeatMaps("h", []HeatMap{{heat, 28, 28, "k=1"}, {[]float64{2, 2, 2, 2}, 2, 2, "constant"}}, HeatMapOptions{Cols: 1, LogScale: true})
	checkRender(t, "HeatMaps own", f, err)
	f, err = Curves("c", "q", "accuracy", []Series{{Name: "conv1", X: x, Y: y, YErr: []float64{0.1, 0.1, 0.1, 0.3}}}, XYOptions{LogY: true, YLim: [2]float64{0.01, 1}})
	checkRender(t, "Curves", f, err)
	f, err = Scatter("s", "bound", "measured", []Series{{Name: "a", X: []float64{1e-3, 1e-2}, Y: []float64{1e-4, 2e-3}}}, XYOptions{LogX: true, LogY: true, Identity: true})
	checkRender(t, "Scatter", f, err)
	f, err = Bars("b", "rate", []string{"A", "B"}, []BarSeries{{Name: "x", Values: []float64{0.2, -0.1}, Err: []float64{0.05, 0}}, {Name: "y", Values: []float64{0.3, 0.4}}})
	checkRender(t, "Bars", f, err)
	a, _ := Curves("a", "x", "y", []Series{{X: x, Y: y}}, XYOptions{})
	b, _ := Scatter("b", "x", "y", []Series{{X: x, Y: y}}, XYOptions{})
	f, err = Panels("both", 2, a, b, f)
	checkRender(t, "Panels", f, err)
}

func TestDeterministic(t *testing.T) {
	pts := []ManhattanPoint{{0, 1, ""}, {0, 2, ""}, {1, 3, ""}, {1, 0.5, ""}, {1, 0.7, ""}}
	var out [][]byte
	for i := 0; i < 2; i++ {
		f, err := Manhattan("m", "FI", pts, ManhattanOptions{TopN: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.PNG()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Error("the same Manhattan input gave two different PNGs")
	}
}

func TestBadInput(t *testing.T) {
	nan := math.NaN()
	img := Image{Pix: make([]uint8, 4), H: 2, W: 2, C: 1}
	cases := []struct {
		name string
		err  error
		want string
	}{}
	add := func(name string, want string) func(*Figure, error) {
		return func(_ *Figure, err error) {
			cases = append(cases, struct {
				name string
				err  error
				want string
			}{name, err, want})
		}
	}
	add("Manhattan empty", "points is empty")(Manhattan("", "", nil, ManhattanOptions{}))
	add("Manhattan NaN", "points[1].Value is NaN")(Manhattan("", "", []ManhattanPoint{{0, 1, ""}, {0, nan, ""}}, ManhattanOptions{}))
	add("Manhattan log all ≤ 0", "no value > 0")(Manhattan("", "", []ManhattanPoint{{0, 0, ""}}, ManhattanOptions{LogY: true}))
	add("Manhattan class name", "want 0 ≤ class < len(opts.ClassNames)")(Manhattan("", "", []ManhattanPoint{{3, 1, ""}}, ManhattanOptions{ClassNames: []string{"a"}}))
	add("Manhattan log ref", "on a log axis, want > 0")(Manhattan("", "", []ManhattanPoint{{0, 1, ""}}, ManhattanOptions{LogY: true, RefLines: []RefLine{{Value: 0}}}))
	add("ROC no curves", "curves is empty")(ROC("", nil))
	add("ROC mismatch", "len(positive)")(ROC("", []Curve{{"a", []float64{1, 2}, []bool{true}}}))
	add("PR no positives", "no true entry")(PR("", []Curve{{"a", []float64{1, 2}, []bool{false, false}}}))
	add("ROCPR NaN", "scores[0] is NaN")(ROCPR("", []Curve{{"a", []float64{nan, 2}, []bool{true, false}}}))
	add("ROC unnamed", "Name is empty")(ROC("", []Curve{{"", []float64{1, 2}, []bool{true, false}}}))
	add("Layer kinds", "len(Kinds) = 1")(LayerProfile("", []LayerSeries{{Name: "n", Values: []float64{1, 2}, Kinds: []string{"conv"}}}, LayerOptions{}))
	add("Layer NaN", "series[0].Values[1] is NaN")(LayerProfile("", []LayerSeries{{Name: "n", Values: []float64{1, nan}}}, LayerOptions{}))
	add("Layer empty", "series is empty")(LayerProfile("", nil, LayerOptions{}))
	add("Table ragged", "rows[1] has 1 cells")(QuantileTable("", []string{"a", "b"}, [][]string{{"1", "2"}, {"3"}}))
	add("Grid empty", "images is empty")(ImageGrid("", nil, 3))
	add("Grid shape", "len(Pix) = 4, want H·W·C = 12")(ImageGrid("", []Image{{Pix: make([]uint8, 4), H: 2, W: 2, C: 3}}, 1))
	add("Grid channels", "C = 2 channels")(ImageGrid("", []Image{{Pix: make([]uint8, 8), H: 2, W: 2, C: 2}}, 1))
	add("Grid caption", "3 lines")(ImageGrid("", []Image{{Pix: img.Pix, H: 2, W: 2, C: 1, Caption: "a\nb\nc"}}, 1))
	add("Grid cols", "cols = 0")(ImageGrid("", []Image{img}, 0))
	add("Heat size", "len(Values) = 3, want H·W = 4")(HeatMaps("", []HeatMap{{[]float64{1, 2, 3}, 2, 2, ""}}, HeatMapOptions{}))
	add("Heat NaN", "maps[0].Values[2] is NaN")(HeatMaps("", []HeatMap{{[]float64{1, 2, nan, 3}, 2, 2, ""}}, HeatMapOptions{}))
	add("Heat log", "no value > 0")(HeatMaps("", []HeatMap{{[]float64{0, -1, 0, 0}, 2, 2, ""}}, HeatMapOptions{LogScale: true}))
	add("Curves mismatch", "len(X) = 2, len(Y) = 1")(Curves("", "", "", []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{1}}}, XYOptions{}))
	add("Curves YErr", "len(YErr) = 1")(Curves("", "", "", []Series{{X: []float64{1, 2}, Y: []float64{1, 2}, YErr: []float64{1}}}, XYOptions{}))
	add("Curves negative err", "YErr[0] = -1, want ≥ 0")(Curves("", "", "", []Series{{X: []float64{1}, Y: []float64{1}, YErr: []float64{-1}}}, XYOptions{}))
	add("Curves Inf", "series[0].Y[0] is +Inf")(Curves("", "", "", []Series{{X: []float64{1}, Y: []float64{math.Inf(1)}}}, XYOptions{}))
	add("Curves empty", "series is empty")(Curves("", "", "", nil, XYOptions{}))
	add("Scatter log", "no point with positive coordinates")(Scatter("", "", "", []Series{{X: []float64{-1}, Y: []float64{1}}}, XYOptions{LogX: true}))
	add("Scatter log lim", "opts.YLim = [0 1] on a log axis")(Scatter("", "", "", []Series{{X: []float64{1}, Y: []float64{1}}}, XYOptions{LogY: true, YLim: [2]float64{0, 1}}))
	add("Bars mismatch", "len(Values) = 1, want len(groups) = 2")(Bars("", "", []string{"a", "b"}, []BarSeries{{Name: "s", Values: []float64{1}}}))
	add("Bars NaN", "series[0].Values[1] is NaN")(Bars("", "", []string{"a", "b"}, []BarSeries{{Name: "s", Values: []float64{1, nan}}}))
	add("Bars no groups", "groups is empty")(Bars("", "", nil, nil))
	add("Panels none", "no figures")(Panels("", 1))
	add("Panels cols", "cols = 0")(Panels("", 0, &Figure{}))
	add("Panels nil", "figs[1]")(Panels("", 1, mustBlank(), nil))
	add("NewFigure size", "want positive finite width and height")(NewFigure(0, 10, func(draw.Canvas) {}))
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error, want one mentioning %q", c.name, c.want)
			continue
		}
		if !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, c.err, c.want)
		}
		if !strings.HasPrefix(c.err.Error(), "figures.") {
			t.Errorf("%s: error %q does not name its function", c.name, c.err)
		}
	}
	var nilFig *Figure
	if _, err := nilFig.PNG(); err == nil {
		t.Error("PNG of a nil figure: no error")
	}
	if err := mustBlank().Save(""); err == nil {
		t.Error("Save(\"\"): no error")
	}
}

func mustBlank() *Figure {
	f, err := NewFigure(100, 100, func(draw.Canvas) {})
	if err != nil {
		panic(err)
	}
	return f
}

func TestDroppedPointsAreCounted(t *testing.T) {
	if got, want := droppedNote(6, "value"), "6 values ≤ 0 not shown (log scale)."; got != want {
		t.Errorf("droppedNote = %q, want %q", got, want)
	}
	if got := droppedNote(1, "point"); got != "1 point ≤ 0 not shown (log scale)." {
		t.Errorf("droppedNote(1) = %q", got)
	}
	if droppedNote(0, "point") != "" {
		t.Error("droppedNote(0) is not empty")
	}
	// Two of four points cannot go on the log axis: the figure still renders.
	f, err := Scatter("", "x", "y", []Series{{X: []float64{1, 2, 3, 4}, Y: []float64{1, 0, -2, 4}}}, XYOptions{LogY: true})
	checkRender(t, "Scatter with dropped points", f, err)
}

func TestTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(0.001, 100) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	// Five decades: only powers of ten are labelled, plainly between 10⁻³ and 10⁴.
	if got, want := strings.Join(labels, " "), "0.001 0.01 0.1 1 10 100"; got != want {
		t.Errorf("log tick labels %q, want %q", got, want)
	}
	if got := formatPow10(1, -5); got != "10^−5" {
		t.Errorf("formatPow10(1, −5) = %q, want 10^−5", got)
	}
	if got := formatPow10(2, 6); got != "2×10^6" {
		t.Errorf("formatPow10(2, 6) = %q, want 2×10^6", got)
	}
	labels = nil
	for _, tk := range (niceTicks{}).Ticks(0, 1) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	// Span 1, at most 7 intervals: step 0.2.
	if got, want := strings.Join(labels, " "), "0 0.2 0.4 0.6 0.8 1.0"; got != want {
		t.Errorf("linear tick labels %q, want %q", got, want)
	}
	labels = nil
	for _, tk := range (niceTicks{}).Ticks(-3, 12) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	// Span 15 / 7 = 2.14 → step 5.
	if got, want := strings.Join(labels, " "), "0 5 10"; got != want {
		t.Errorf("linear tick labels %q, want %q", got, want)
	}
}

func TestColorMapsAndImages(t *testing.T) {
	if c := Viridis.At(0); c.R != 0x44 || c.G != 0x01 || c.B != 0x54 {
		t.Errorf("Viridis(0) = %v, want #440154", c)
	}
	if c := Viridis.At(1); c.R != 0xfd || c.G != 0xe7 || c.B != 0x25 {
		t.Errorf("Viridis(1) = %v, want #fde725", c)
	}
	// Halfway between the stops #440154 and #482475: (68+72)/2 = 70, (1+36)/2 = 18.5 → 19,
	// (84+117)/2 = 100.5 → 101.
	if c := Viridis.At(0.05); c.R != 70 || c.G != 19 || c.B != 101 {
		t.Errorf("Viridis(0.05) = %v, want {70 19 101}", c)
	}
	if c := Magma.At(-3); c.R != 0 || c.G != 0 || c.B != 4 {
		t.Errorf("Magma(−3) = %v, want #000004 (clamped)", c)
	}

	// HeatImage: 0 → Viridis(0); 0.5 → the middle stop #21918c; 1 and 2 (clamped) → #fde725.
	m, err := HeatImage([]float64{0, 0.5, 1, 2}, 2, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0x44, 0x01, 0x54, 0x21, 0x91, 0x8c, 0xfd, 0xe7, 0x25, 0xfd, 0xe7, 0x25}
	if !bytes.Equal(m.Pix, want) || m.C != 3 || m.H != 2 || m.W != 2 {
		t.Errorf("HeatImage = %v (C=%d), want %v", m.Pix, m.C, want)
	}
	if _, err := HeatImage([]float64{1, 2}, 1, 2, 1, 1); err == nil || !strings.Contains(err.Error(), "want finite lo < hi") {
		t.Errorf("HeatImage with lo = hi: %v", err)
	}
	if _, err := HeatImage([]float64{1, 2}, 2, 2, 0, 1); err == nil || !strings.Contains(err.Error(), "len(values) = 2") {
		t.Errorf("HeatImage with wrong length: %v", err)
	}

	// Overlay, alpha 0.5, gray pixels 0 and 255, heat 0 and 1 (→ Viridis 0 and 1):
	// pixel 0: (0 + 68)/2 = 34, (0 + 1)/2 = 0.5 → 1, (0 + 84)/2 = 42;
	// pixel 1: (255 + 253)/2 = 254, (255 + 231)/2 = 243, (255 + 37)/2 = 146.
	o, err := Overlay(Image{Pix: []uint8{0, 255}, H: 1, W: 2, C: 1, Caption: "c"}, []float64{0, 1}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{34, 1, 42, 254, 243, 146}; !bytes.Equal(o.Pix, want) || o.Caption != "c" {
		t.Errorf("Overlay = %v %q, want %v \"c\"", o.Pix, o.Caption, want)
	}
	if _, err := Overlay(Image{Pix: []uint8{0, 255}, H: 1, W: 2, C: 1}, []float64{0}, 0.5); err == nil {
		t.Error("Overlay with a short heat map: no error")
	}
	if _, err := Overlay(Image{Pix: []uint8{0, 255}, H: 1, W: 2, C: 1}, []float64{0, 1}, 2); err == nil {
		t.Error("Overlay with alpha 2: no error")
	}

	// Nearest-neighbour enlargement by 3 of a 1 × 2 gray image [10 20]: columns 0–2 are 10,
	// columns 3–5 are 20, on all three rows.
	up := Image{Pix: []uint8{10, 20}, H: 1, W: 2, C: 1}.upscaled(3)
	if b := up.Bounds(); b.Dx() != 6 || b.Dy() != 3 {
		t.Fatalf("upscaled size %v, want 6 × 3", b)
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 6; x++ {
			r, _, _, _ := up.At(x, y).RGBA()
			want := uint32(10)
			if x >= 3 {
				want = 20
			}
			if r>>8 != want {
				t.Errorf("upscaled(%d, %d) = %d, want %d", x, y, r>>8, want)
			}
		}
	}
}

func TestTablesAndCSV(t *testing.T) {
	// Sorted 1 2 3 4: the median is at h = 1.5 → 2.5, the maximum is 4.
	hdr, rows, err := QuantileRows([]float64{0.5, 1}, []string{"train"}, [][]float64{{4, 1, 3, 2}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(hdr, ",") != "quantile,train" || len(rows) != 2 ||
		strings.Join(rows[0], ",") != "50 %,2.5" || strings.Join(rows[1], ",") != "100 %,4" {
		t.Errorf("QuantileRows = %v %v", hdr, rows)
	}
	if _, _, err := QuantileRows([]float64{0.5}, []string{"a", "b"}, [][]float64{{1}}, ""); err == nil {
		t.Error("QuantileRows with 2 names for 1 sample: no error")
	}
	if _, _, err := QuantileRows([]float64{1.5}, []string{"a"}, [][]float64{{1}}, ""); err == nil {
		t.Error("QuantileRows with q = 1.5: no error")
	}

	path := filepath.Join(t.TempDir(), "sub", "q.csv")
	if err := WriteCSV(path, hdr, rows); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][1] != "train" || recs[2][1] != "4" {
		t.Errorf("CSV read back %v", recs)
	}
	if err := WriteCSV(path, []string{"a", "b"}, [][]string{{"1"}}); err == nil || !strings.Contains(err.Error(), "rows[0] has 1 cells") {
		t.Errorf("WriteCSV ragged: %v", err)
	}
}

func TestSaveAndShow(t *testing.T) {
	f, err := Bars("b", "y", []string{"a"}, []BarSeries{{Name: "s", Values: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "out", "bars")
	if err := f.Save(base); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".png", ".svg"} {
		if st, err := os.Stat(base + ext); err != nil || st.Size() == 0 {
			t.Errorf("Save did not write %s: %v", base+ext, err)
		}
	}
	// Tests do not run in a notebook: Show does nothing.
	if err := Show(f); err != nil {
		t.Errorf("Show outside a notebook: %v", err)
	}
}
