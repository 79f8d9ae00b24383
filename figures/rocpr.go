package figures

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"github.com/fisens/fisens/stats"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curve is one scorer in a ROC or PR figure: its name, its scores (higher = more likely
// positive) and the true labels.
type Curve struct {
	Name     string
	Scores   []float64
	Positive []bool
}

// Size of one ROC or PR panel.
const (
	rocWidth  = 4.6 * vg.Inch
	rocHeight = 4.4 * vg.Inch
)

// checkCurves validates the curves of a ROC/PR figure.
func checkCurves(fn string, curves []Curve) error {
	if len(curves) == 0 {
		return fmt.Errorf("figures.%s: curves is empty, want at least one", fn)
	}
	for i, c := range curves {
		if c.Name == "" {
			return fmt.Errorf("figures.%s: curves[%d].Name is empty, want a name for the legend", fn, i)
		}
	}
	return nil
}

// curveLine returns a line plotter for series i.
func curveLine(i int, xys plotter.XYs) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.LineStyle = draw.LineStyle{Color: seriesColor(i), Width: 2, Dashes: dashes[(i/len(palette))%len(dashes)]}
	return l, nil
}

// ROC draws the ROC curves of several scorers with the chance diagonal; each legend entry shows
// the scorer's AUC (trapezoid rule = Mann–Whitney probability, see package stats).
func ROC(title string, curves []Curve) (*Figure, error) {
	if err := checkCurves("ROC", curves); err != nil {
		return nil, err
	}
	p := newPlot(title, "false positive rate", "true positive rate")
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	diag.LineStyle = draw.LineStyle{Color: color.Gray{0x80}, Width: 1, Dashes: []vg.Length{4, 3}}
	p.Add(diag)
	leg := &legend{}
	for i, c := range curves {
		fpr, tpr, auc, err := stats.ROC(c.Scores, c.Positive)
		if err != nil {
			return nil, fmt.Errorf("figures.ROC: curves[%d] (%s): %w", i, c.Name, err)
		}
		xys := make(plotter.XYs, len(fpr))
		for k := range fpr {
			xys[k] = plotter.XY{X: fpr[k], Y: tpr[k]}
		}
		l, err := curveLine(i, xys)
		if err != nil {
			return nil, fmt.Errorf("figures.ROC: curves[%d]: %w", i, err)
		}
		p.Add(l)
		leg.add(fmt.Sprintf("%s (AUC = %.3f)", c.Name, auc), l)
	}
	leg.add("chance (AUC = 0.5)", diag)
	return NewFigure(rocWidth, rocHeight, plotDrawer(p, leg, LegendBottomRight, ""))
}

// PR draws the precision–recall curves of several scorers as steps (the area under the steps is
// the average precision) with the chance level, the positive rate; each legend entry shows the
// scorer's AP (scikit-learn's average precision, see package stats).
func PR(title string, curves []Curve) (*Figure, error) {
	if err := checkCurves("PR", curves); err != nil {
		return nil, err
	}
	p := newPlot(title, "recall", "precision")
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
	leg := &legend{}
	var rates []float64
	for i, c := range curves {
		rec, prec, ap, err := stats.PR(c.Scores, c.Positive)
		if err != nil {
			return nil, fmt.Errorf("figures.PR: curves[%d] (%s): %w", i, c.Name, err)
		}
		// Step: precision P_k holds on (R_{k−1}, R_k].
		xys := plotter.XYs{{X: 0, Y: prec[min(1, len(prec)-1)]}}
		for k := 1; k < len(rec); k++ {
			xys = append(xys, plotter.XY{X: rec[k-1], Y: prec[k]}, plotter.XY{X: rec[k], Y: prec[k]})
		}
		l, err := curveLine(i, xys)
		if err != nil {
			return nil, fmt.Errorf("figures.PR: curves[%d]: %w", i, err)
		}
		p.Add(l)
		leg.add(fmt.Sprintf("%s (AP = %.3f)", c.Name, ap), l)
		r, _ := stats.PositiveRate(c.Positive)
		seen := false
		for _, q := range rates {
			seen = seen || math.Abs(q-r) < 1e-12
		}
		if !seen {
			rates = append(rates, r)
		}
	}
	for i, r := range rates {
		rl := &refLinePlotter{RefLine: RefLine{Value: r}, LineStyle: draw.LineStyle{Color: color.Gray{0x80}, Width: 1, Dashes: []vg.Length{4, 3}}}
		if i > 0 {
			rl.LineStyle.Dashes = []vg.Length{1, 2}
		}
		p.Add(rl)
		leg.add(fmt.Sprintf("chance (precision = %.3g)", r), rl)
	}
	return NewFigure(rocWidth, rocHeight, plotDrawer(p, leg, LegendBottomLeft, ""))
}

// ROCPR draws the ROC panel (with AUCs) and the PR panel (with APs) of the same scorers side by
// side under one title; it is the figure of Setup 0 (FI versus the Jacobian norm as outlier
// detectors).
func ROCPR(title string, curves []Curve) (*Figure, error) {
	if len(curves) == 0 {
		return nil, errors.New("figures.ROCPR: curves is empty, want at least one")
	}
	roc, err := ROC("ROC", curves)
	if err != nil {
		return nil, err
	}
	pr, err := PR("Precision–recall", curves)
	if err != nil {
		return nil, err
	}
	return Panels(title, 2, roc, pr)
}
