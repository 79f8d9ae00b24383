package models

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	s := tSynthSet(t, "synth", 20, 1)
	m := tInitialized(t, tconvCfg(), s)
	want := tPredict(t, m, s)
	dir := filepath.Join(t.TempDir(), "m")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	// Saving again replaces the previous checkpoint (one checkpoint, no leftovers).
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if len(files) != 1 {
		t.Errorf("after two saves: %d checkpoints in %s, want 1", len(files), dir)
	}
	if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind")
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config() != m.Config() {
		t.Errorf("config: got %+v, want %+v", l.Config(), m.Config())
	}
	if got := tPredict(t, l, s); !tEqual(got, want) {
		t.Errorf("loaded model's logits differ from the saved model's")
	}
	// Variables come back in the architecture's creation order with the right trainable flags.
	var names []string
	for v := range l.Store().IterVariables() {
		names = append(names, v.Path())
		wantTrainable := !strings.HasSuffix(v.Path(), "/mean") && !strings.HasSuffix(v.Path(), "/variance")
		if v.Trainable != wantTrainable {
			t.Errorf("%s: trainable %v, want %v", v.Path(), v.Trainable, wantTrainable)
		}
	}
	wantNames := "/conv1/weights /conv1/biases /bn1/gamma /bn1/beta /bn1/mean /bn1/variance /dense/weights /dense/biases"
	if got := strings.Join(names, " "); got != wantNames {
		t.Errorf("variables: got %s, want %s", got, wantNames)
	}
}

func TestSaveUninitialized(t *testing.T) {
	m := tNewModel(t, tconvCfg())
	err := m.Save(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no value") {
		t.Errorf("saving an uninitialised model: got %v, want a 'no value' error", err)
	}
}

// corrupt copies a saved model directory and applies edit to it.
func corrupt(t *testing.T, src string, edit func(dir string)) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "c")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit(dst)
	return dst
}

func ckptFile(t *testing.T, dir, ext string) string {
	t.Helper()
	f, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*"+ext))
	if len(f) != 1 {
		t.Fatalf("want one checkpoint-*%s in %s, got %v", ext, dir, f)
	}
	return f[0]
}

func editConfig(t *testing.T, dir string, edit func(c *Config)) {
	t.Helper()
	p := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var mf modelFile
	if err := json.Unmarshal(data, &mf); err != nil {
		t.Fatal(err)
	}
	edit(&mf.Config)
	data, _ = json.Marshal(mf)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors: every broken checkpoint gives an error naming the problem, never a panic.
func TestLoadErrors(t *testing.T) {
	s := tSynthSet(t, "synth", 10, 1)
	m := tInitialized(t, tconvCfg(), s)
	good := filepath.Join(t.TempDir(), "good")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	// A checkpoint without /dense/biases.
	missingVar := filepath.Join(t.TempDir(), "missing")
	partial, err := m.store.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := partial.DeleteVariable("/dense/biases"); err != nil {
		t.Fatal(err)
	}
	if err := writeModelDir(missingVar, m.Config(), partial, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		dir  string
		want string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "nope"), "no such file"},
		{"not a model directory", t.TempDir(), "not a model directory"},
		{"unknown zoo model", "zoo:no-such-model", "no zoo model"},
		{"corrupt model.json", corrupt(t, good, func(d string) {
			os.WriteFile(filepath.Join(d, ConfigFile), []byte("{\"format\": 1, \"config\": {"), 0o644)
		}), "model.json is corrupt"},
		{"unknown architecture", corrupt(t, good, func(d string) {
			editConfig(t, d, func(c *Config) { c.Arch = "no-such-arch" })
		}), "unknown architecture"},
		{"another architecture", corrupt(t, good, func(d string) {
			editConfig(t, d, func(c *Config) { c.Arch = "trainer-test-linear" })
		}), "another architecture"},
		{"another input shape", corrupt(t, good, func(d string) {
			editConfig(t, d, func(c *Config) { c.Channels = 3 })
		}), "/conv1/weights has shape"},
		{"another number of classes", corrupt(t, good, func(d string) {
			editConfig(t, d, func(c *Config) { c.Classes = 5 })
		}), "/dense/weights has shape"},
		{"truncated data", corrupt(t, good, func(d string) {
			f := ckptFile(t, d, ".bin")
			data, _ := os.ReadFile(f)
			os.WriteFile(f, data[:len(data)/2], 0o644)
		}), "is corrupt"},
		{"garbage data", corrupt(t, good, func(d string) {
			os.WriteFile(ckptFile(t, d, ".bin"), bytes.Repeat([]byte{7}, 100), 0o644)
		}), "bytes"},
		{"missing data file", corrupt(t, good, func(d string) {
			os.Remove(ckptFile(t, d, ".bin"))
		}), "reading checkpoint data"},
		{"corrupt checkpoint json", corrupt(t, good, func(d string) {
			os.WriteFile(ckptFile(t, d, ".json"), []byte("{\"Variables\": [1,2"), 0o644)
		}), "is corrupt"},
		{"missing variable", missingVar, "lacks variable(s) /dense/biases"},
		{"no checkpoint", corrupt(t, good, func(d string) {
			os.Remove(ckptFile(t, d, ".json"))
		}), "no checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(c.dir)
			if err == nil {
				t.Fatalf("Load succeeded (%v), want an error containing %q", m.Config(), c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestLoadWeightsChecksConfig(t *testing.T) {
	s := tSynthSet(t, "synth", 10, 1)
	src := tInitialized(t, tconvCfg(), s)
	dir := filepath.Join(t.TempDir(), "m")
	if err := src.Save(dir); err != nil {
		t.Fatal(err)
	}
	other := tconvCfg()
	other.Height, other.Width = 10, 10
	if err := tNewModel(t, other).LoadWeights(dir); err == nil || !strings.Contains(err.Error(), "8x8x1 inputs") {
		t.Errorf("LoadWeights into a 10x10 model: got %v, want an input-shape error", err)
	}
	lin := tconvCfg()
	lin.Arch = "trainer-test-linear"
	if err := tNewModel(t, lin).LoadWeights(dir); err == nil || !strings.Contains(err.Error(), "architecture") {
		t.Errorf("LoadWeights into another architecture: got %v, want an architecture error", err)
	}
	// Same network, other seed: the weights are replaced, logits match the source.
	same := tconvCfg()
	same.Seed = 99
	dst := tInitialized(t, same, s)
	if tEqual(tPredict(t, dst, s), tPredict(t, src, s)) {
		t.Fatal("two seeds gave the same initial model; the test cannot tell")
	}
	if err := dst.LoadWeights(dir); err != nil {
		t.Fatal(err)
	}
	if !tEqual(tPredict(t, dst, s), tPredict(t, src, s)) {
		t.Errorf("after LoadWeights the logits differ from the source model's")
	}
}

func TestClone(t *testing.T) {
	s := tSynthSet(t, "synth", 12, 2)
	m := tInitialized(t, tconvCfg(), s)
	before := tPredict(t, m, s)
	c, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if !tEqual(tPredict(t, c, s), before) {
		t.Fatal("clone predicts differently")
	}
	// Perturb the clone's dense weights: the clone changes, the original does not.
	v := c.Store().GetVariable("/dense/weights")
	w := tensors.MustCopyFlatData[float32](v.MustValue())
	for i := range w {
		w[i] *= -3
	}
	if err := v.SetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...)); err != nil {
		t.Fatal(err)
	}
	if tEqual(tPredict(t, c, s), before) {
		t.Error("perturbing the clone did not change its logits")
	}
	if !tEqual(tPredict(t, m, s), before) {
		t.Error("perturbing the clone changed the original")
	}
}
