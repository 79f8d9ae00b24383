package figures

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fisens/fisens/stats"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// checkTable validates a header and rows of the same width.
func checkTable(fn string, header []string, rows [][]string) error {
	if len(header) == 0 {
		return fmt.Errorf("figures.%s: header is empty, want one name per column", fn)
	}
	for i, r := range rows {
		if len(r) != len(header) {
			return fmt.Errorf("figures.%s: rows[%d] has %d cells, want len(header) = %d", fn, i, len(r), len(header))
		}
	}
	return nil
}

// isNumeric reports whether a cell reads as a number (such cells are right-aligned).
func isNumeric(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// QuantileTable renders a text table as a figure: a bold header, thin rules (booktabs style),
// light stripes, columns of numbers right-aligned and other columns left-aligned; the figure's size follows
// from the text (Setup 3: FI quantiles, train versus test).
func QuantileTable(title string, header []string, rows [][]string) (*Figure, error) {
	if err := checkTable("QuantileTable", header, rows); err != nil {
		return nil, err
	}
	body := textStyle(labelSize, false)
	bold := textStyle(labelSize, true)
	const cellPad = vg.Length(10)
	widths := make([]vg.Length, len(header))
	for j, h := range header {
		widths[j] = bold.Width(h)
	}
	for _, r := range rows {
		for j, cell := range r {
			widths[j] = max(widths[j], body.Width(cell))
		}
	}
	// A column whose cells are all numbers is right-aligned, header included.
	numeric := make([]bool, len(header))
	for j := range header {
		numeric[j] = len(rows) > 0
		for _, r := range rows {
			numeric[j] = numeric[j] && isNumeric(r[j])
		}
	}
	var tw vg.Length
	for _, w := range widths {
		tw += w + 2*cellPad
	}
	rowH := lineHeight(body) + 6
	th := titleHeight(title)
	tableH := rowH * vg.Length(len(rows)+1)
	fig := &Figure{
		Width:  max(tw, textStyle(titleSize, true).Width(title)) + 4*margin,
		Height: tableH + th + 4*margin,
	}
	fig.draw = func(c draw.Canvas) {
		c = pad(c, 2*margin)
		c = drawTitle(c, title)
		x0 := c.Min.X + (c.Max.X-c.Min.X-tw)/2
		y := c.Max.Y
		rule := func(y vg.Length, w vg.Length) {
			c.StrokeLine2(draw.LineStyle{Color: color.Black, Width: w}, x0, y, x0+tw, y)
		}
		row := func(cells []string, sty text.Style, yTop vg.Length) {
			x := x0
			for j, cell := range cells {
				s := sty
				s.YAlign = draw.YCenter
				px := x + cellPad
				if numeric[j] {
					s.XAlign = draw.XRight
					px = x + cellPad + widths[j]
				}
				c.FillText(s, vg.Point{X: px, Y: yTop - rowH/2}, cell)
				x += widths[j] + 2*cellPad
			}
		}
		for i := range rows {
			if i%2 == 1 {
				top := y - rowH*vg.Length(i+1)
				c.SetColor(color.Gray{0xf0})
				c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: top - rowH}, Max: vg.Point{X: x0 + tw, Y: top}}.Path())
			}
		}
		rule(y, 1.2)
		row(header, bold, y)
		y -= rowH
		rule(y, 0.6)
		for _, r := range rows {
			row(r, body, y)
			y -= rowH
		}
		rule(y, 1.2)
	}
	return fig, nil
}

// WriteCSV writes a header and rows to a CSV file, creating its directory if needed.
func WriteCSV(path string, header []string, rows [][]string) error {
	if path == "" {
		return errors.New("figures.WriteCSV: path is empty, want a file path")
	}
	if err := checkTable("WriteCSV", header, rows); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("figures.WriteCSV: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("figures.WriteCSV: %w", err)
	}
	w := csv.NewWriter(f)
	if err := w.Write(header); err != nil {
		f.Close()
		return fmt.Errorf("figures.WriteCSV: %w", err)
	}
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return fmt.Errorf("figures.WriteCSV: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("figures.WriteCSV: %w", err)
	}
	return nil
}

// QuantileRows builds the header and rows of a quantile table: one row per level in qs (written
// as a percentage), one column per sample (e.g. "train", "test"), cells formatted with format
// (default "%.4g"); quantiles are numpy's default (stats.Quantiles).
func QuantileRows(qs []float64, names []string, samples [][]float64, format string) (header []string, rows [][]string, err error) {
	if len(qs) == 0 {
		return nil, nil, errors.New("figures.QuantileRows: qs is empty, want at least one level")
	}
	if len(names) != len(samples) || len(names) == 0 {
		return nil, nil, fmt.Errorf("figures.QuantileRows: %d names for %d samples, want one name per sample and at least one", len(names), len(samples))
	}
	if format == "" {
		format = "%.4g"
	}
	cols := make([][]float64, len(samples))
	for j, s := range samples {
		cols[j], err = stats.Quantiles(s, qs)
		if err != nil {
			return nil, nil, fmt.Errorf("figures.QuantileRows: samples[%d] (%s): %w", j, names[j], err)
		}
	}
	header = append([]string{"quantile"}, names...)
	for i, q := range qs {
		row := []string{strconv.FormatFloat(100*q, 'g', -1, 64) + " %"}
		for j := range samples {
			row = append(row, fmt.Sprintf(format, cols[j][i]))
		}
		rows = append(rows, row)
	}
	return header, rows, nil
}
