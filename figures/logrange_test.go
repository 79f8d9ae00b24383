package figures

import "testing"

// TestLogAxisSingleValue: a log axis whose data hold one value below 1 (a study run at a single
// perturbation size, one point) draws; gonum/plot's own widening of an empty range by ±1 made the
// range reach ≤ 0 ("Values must be greater than 0 for a log scale").
func TestLogAxisSingleValue(t *testing.T) {
	one := []Series{{Name: "a", X: []float64{0.1}, Y: []float64{0.02}}, {Name: "b", X: []float64{0.1}, Y: []float64{0.02}}}
	log := XYOptions{LogX: true, LogY: true}
	curves, err := Curves("t", "x", "y", one, log)
	if err != nil {
		t.Fatal(err)
	}
	scatter, err := Scatter("t", "x", "y", one, XYOptions{LogX: true, LogY: true, Identity: true})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := LayerProfile("t", []LayerSeries{{Name: "a", Values: []float64{0.5}}}, LayerOptions{LogY: true})
	if err != nil {
		t.Fatal(err)
	}
	manhattan, err := Manhattan("t", "FI", []ManhattanPoint{{Class: 3, Value: 0.5}}, ManhattanOptions{LogY: true})
	if err != nil {
		t.Fatal(err)
	}
	panels, err := Panels("t", 2, curves, scatter)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*Figure{"Curves": curves, "Scatter": scatter, "LayerProfile": layers, "Manhattan": manhattan, "Panels": panels} {
		if _, err := f.PNG(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := f.SVG(); err != nil {
			t.Errorf("%s SVG: %v", name, err)
		}
	}
}
