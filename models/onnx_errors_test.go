package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/models"
)

// TestONNXBadInput: every bad input is refused with an error naming the file and what was expected.
func TestONNXBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.onnx")
	if err := os.WriteFile(text, []byte("this is a text file, not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.onnx")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(onnxDir, "bad")
	for _, c := range []struct {
		file string
		opts models.ONNXOptions
		want []string
	}{
		{text, models.ONNXOptions{}, []string{"not an ONNX model", "expected an ONNX ModelProto"}},
		{empty, models.ONNXOptions{}, []string{"not an ONNX model"}},
		{filepath.Join(dir, "missing.onnx"), models.ONNXOptions{}, []string{"missing.onnx", "no such file"}},
		{filepath.Join(bad, "not-classifier.onnx"), models.ONNXOptions{}, []string{"output", "expected a classifier output [batch, classes]"}},
		{filepath.Join(bad, "unknown-op.onnx"), models.ONNXOptions{}, []string{"operator Hardmax", `"odd_node"`, "no backend can run it", "fisens accepts"}},
		{filepath.Join(bad, "unverified-op.onnx"), models.ONNXOptions{}, []string{"operator Exp", `"odd_node"`, "XLA backend", "AllowUnverifiedOps"}},
		{filepath.Join(bad, "nan-weight.onnx"), models.ONNXOptions{}, []string{`"features.3.weight"`, "NaN", "expected finite weights"}},
		{filepath.Join(onnxDir, "ops-1x28.onnx"), models.ONNXOptions{Layout: "NHWC"}, []string{"layout NHWC", "28 channels", "expected 1, 3 or 4 channels"}},
		{filepath.Join(onnxDir, "ops-1x28.onnx"), models.ONNXOptions{Layout: "CHWN"}, []string{`layout "CHWN"`, "expected NCHW or NHWC"}},
		{filepath.Join(onnxDir, "ops-3x32.onnx"), models.ONNXOptions{Mean: []float64{1, 2}}, []string{"mean has 2 values", "expected 1 or one per channel (3)"}},
		{filepath.Join(onnxDir, "ops-1x28.onnx"), models.ONNXOptions{Output: "scores"}, []string{`output kind "scores"`}},
	} {
		_, err := models.LoadONNX(c.file, c.opts)
		if err == nil {
			t.Errorf("%s %+v: loaded, want an error", c.file, c.opts)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, filepath.Base(c.file)) {
			t.Errorf("%s: error does not name the file: %v", c.file, err)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error lacks %q: %v", c.file, w, err)
			}
		}
	}
	// The unverified operator loads when allowed, and the model records it.
	m, err := models.LoadONNX(filepath.Join(bad, "unverified-op.onnx"), models.ONNXOptions{AllowUnverifiedOps: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.ONNX().Unverified; len(got) != 1 || got[0] != "Exp" {
		t.Errorf("unverified ops recorded: %v, want [Exp]", got)
	}
}

// TestONNXLoadByReference: models.Load takes .onnx paths (what every --model flag uses) and reads
// the sidecar; Save refuses; the dataset recorded in the sidecar is found.
func TestONNXLoadByReference(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(onnxDir, "ops-logsoftmax-1x28.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "mine.onnx")
	os.WriteFile(p, data, 0o644)
	os.WriteFile(p+".json", []byte(`{"dataset": "mnist", "scale": 1, "mean": [0.5], "std": [2], "class_names": ["a","b","c","d","e","f","g","h","i","j"], "pytorch_test_accuracy": 0.5}`), 0o644)
	m, err := models.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	info := m.ONNX()
	if info.Preprocessing.Scale != 1 || info.Preprocessing.Mean[0] != 0.5 || info.Preprocessing.Std[0] != 2 || !strings.Contains(info.Preprocessing.Source, "sidecar") {
		t.Errorf("preprocessing %+v, want the sidecar's", info.Preprocessing)
	}
	if info.Output != models.OutputLogProbs || !strings.Contains(info.LogitsFrom, "LogSoftmax") {
		t.Errorf("output %q from %q: want log-probabilities with the final LogSoftmax cut", info.Output, info.LogitsFrom)
	}
	if _, ok := info.SidecarExtra()["pytorch_test_accuracy"]; !ok {
		t.Errorf("sidecar extra fields lost: %v", info.SidecarExtra())
	}
	if ds, _, ok := models.TrainedOn(p); !ok || ds != "mnist" {
		t.Errorf("TrainedOn = %q %v, want mnist", ds, ok)
	}
	if cfg, err := models.LoadConfig(p); err != nil || cfg.Arch != models.ONNXArch || cfg.Classes != 10 {
		t.Errorf("LoadConfig = %+v, %v", cfg, err)
	}
	if err := m.Save(filepath.Join(dir, "copy")); err == nil || !strings.Contains(err.Error(), "ONNX file") {
		t.Errorf("Save of an ONNX model: %v, want a refusal", err)
	}
	// Layers: one group per consuming node; batch norm's running statistics are not trainable.
	kinds := map[string]int{}
	for _, l := range info.Layers {
		kinds[l.Kind]++
		if l.Kind == "bn" {
			if len(l.Vars) != 4 || !l.Trainable[0] || !l.Trainable[1] || l.Trainable[2] || l.Trainable[3] {
				t.Errorf("bn layer %s: vars %v trainable %v, want gamma, beta trainable and mean, variance not", l.Scope, l.Vars, l.Trainable)
			}
		}
	}
	if kinds["conv"] != 4 || kinds["bn"] != 1 || kinds["dense"] != 2 || kinds["other"] != 2 {
		t.Errorf("layer kinds %v, want 4 conv, 1 bn, 2 dense (fc1 and the MatMul), 2 other (scale, shift)", kinds)
	}
	// A clone is independent and still builds.
	if _, err := m.Clone(); err != nil {
		t.Fatal(err)
	}
}
