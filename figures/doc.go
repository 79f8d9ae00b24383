// Package figures draws the paper-style figures of the experiments and writes them as SVG and
// PNG, with gonum.org/v1/plot and its default fonts (Liberation Serif). It takes plain Go data
// (slices and small structs) and imports nothing of this module except package stats.
//
// # Figures
//
// Every function returns a *Figure: a drawing of a physical size (Width × Height in points,
// 72 per inch) rendered by PNG (at DPI dots per inch, DefaultDPI = 96, so a 6.5 × 4.5 inch figure
// is 624 × 432 pixels), SVG, or Save(pathNoExt), which writes both files. Show(fig) displays a
// figure inline in a GoNB notebook and does nothing elsewhere. Panels(title, cols, figs...) puts
// figures side by side in a grid, e.g. one accuracy-versus-q panel per perturbation type.
//
//	Manhattan     one dot per example, x = class band, colour by class (Setups 1, 3)
//	ROC, PR       curves with the AUC / AP in the legend; ROCPR puts both side by side (Setup 0)
//	LayerProfile  a value per layer, marker shape by layer kind (Setup 2.2)
//	QuantileTable a rendered text table; QuantileRows builds it, WriteCSV saves it (Setup 3)
//	ImageGrid     captioned images, small ones enlarged with sharp pixels (Setups 1, 4)
//	HeatMaps      maps with colour bars, optionally on one shared scale (Setup 4)
//	HeatImage     a map as an RGB Image, to put maps and images in one ImageGrid
//	Overlay       a heat map blended over an image
//	Curves        lines with error bars (accuracy versus q, bit-width curves)
//	Scatter       markers, optional y = x line (bound versus measured, log-log)
//	Bars          grouped bars with error bars (one-pixel attack success)
//
// # The numbers in the legends
//
// The ROC legend shows the area under the ROC curve (trapezoid rule, equal to the Mann–Whitney
// probability that a positive scores above a negative, ties counting ½). The PR legend shows the
// average precision AP = Σ_k (R_k − R_{k−1})·P_k of scikit-learn, not a trapezoidal area; the PR
// curve is drawn as the steps whose area is AP, with the positive rate (the precision of chance)
// as a dashed line. See package stats.
//
// # Bad input and logarithmic axes
//
// Bad input is an error, never a panic: empty data, mismatched lengths, a NaN or ±Inf value (an
// upstream bug worth knowing about, so it is not silently dropped), negative error bars, an image
// whose Pix does not hold H·W·C samples. Errors name the function and the argument, e.g.
// "figures.Curves: series[2].Y[7] is NaN, want a finite number".
//
// The one exception is a logarithmic axis (LogX, LogY, LogScale), on which values ≤ 0 (e.g. an FI
// of exactly 0 when the perturbation has rank 0) cannot be drawn: those points are left out and
// the figure says so in a note under the plot ("6 values ≤ 0 not shown (log scale)."); heat maps
// with a log colour scale give them the lowest colour. If nothing is left to draw, it is an error.
// An error bar that reaches 0 or below on a log axis is cut at the bottom of the plot.
//
// # Colour
//
// Series and classes take the Tableau 10 palette (readable by most colour-blind viewers), series
// beyond ten also change dash pattern, and curves and scatters change marker shape too. Heat
// maps use Viridis (default) or Magma, interpolated from matplotlib's values at 0, 0.1, …, 1.
//
// # Looking at the figures
//
// TestGallery renders every kind with realistic fake data for a person to look at:
//
//	FIGURES_GALLERY=/tmp/figcheck go test -run Gallery ./figures
package figures
