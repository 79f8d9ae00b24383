package experiments

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
)

func TestOverridesApply(t *testing.T) {
	cfg := DefaultSetup1Config(Quick, "onnx:cpu")
	o, err := ParseOverrides("setup1.images=123; setup3.TestImages=5", "setup1.Models=zoo:a, zoo:b ;setup1.Convention=authors")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Apply("setup1", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Images != 123 || !slices.Equal(cfg.Models, []string{"zoo:a", "zoo:b"}) || cfg.Convention != "authors" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if got, want := o.String(), "setup1.images=123; setup3.TestImages=5; setup1.Models=zoo:a, zoo:b; setup1.Convention=authors"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, bad := range []override{{"setup1.Nope=1", "setup1", "Nope", "1"}, {"setup1.Images=x", "setup1", "Images", "x"}} {
		err := Overrides{entries: []override{bad}}.Apply("setup1", &cfg)
		if err == nil || !strings.Contains(err.Error(), bad.entry) {
			t.Errorf("%q: got %v, want an error naming the entry", bad.entry, err)
		}
	}
	s := ConfigSettings("", cfg)
	if s["Images"] != "123" || s["Models"] != "zoo:a, zoo:b" {
		t.Fatalf("settings %v", s)
	}
	if err := o.Apply("setup1", cfg); err == nil {
		t.Error("a non-pointer config gave no error")
	}
	var none Overrides
	before := cfg
	if err := none.Apply("setup1", &cfg); err != nil || cfg.Images != before.Images || none.String() != "" {
		t.Errorf("the zero Overrides changed something: %v", err)
	}
}

func TestParseOverrides(t *testing.T) {
	if _, err := ParseOverrides("setup1.Images=5; Setup3.Models=a,b;;", ""); err != nil {
		t.Errorf("valid spec: %v", err)
	}
	// Bad entries are reported before anything runs, fields and values included.
	for _, bad := range []string{"setpu1.N=5", "setup1=5", "setup1.N", "Images=3", "setup1.N=5", "setup3.TestImages=many"} {
		_, err := ParseOverrides("setup1.Images=3", bad)
		if err == nil {
			t.Errorf("ParseOverrides(%q) = nil, want an error", bad)
			continue
		}
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseOverrides(%q) = %v; want the entry named", bad, err)
		}
	}
}

// The registered Run takes its settings from c.Overrides only: nothing is read from the
// environment.
func TestRegisteredRunUsesOverrides(t *testing.T) {
	t.Setenv("FISENS_SET", "table1.Batch=-1")
	c := Common{Scale: Quick, OutDir: t.TempDir(), Backend: "go",
		Overrides: MustParseOverrides("table1.Models=" + t.TempDir() + "/none")}
	_, err := registered(t, "table1").Run(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), "/none") {
		t.Fatalf("got %v, want the overridden model named", err)
	}
}

// Helpers of the experiments' tests, and the test of the shared config checks.

// runRegistered runs the registered experiment name with the overrides spec and checks that it
// wrote files (relative to c.OutDir).
func runRegistered(t *testing.T, c Common, name, spec string, files ...string) *Report {
	t.Helper()
	c.Overrides = MustParseOverrides(spec)
	rep, err := registered(t, name).Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(c.OutDir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	return rep
}

// loadMNIST loads a split of MNIST (the tests' dataset) or fails the test.
func loadMNIST(t *testing.T, split string) *datasets.Set {
	t.Helper()
	set, err := datasets.Load(datasets.MNIST, split)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// registered returns the registered experiment name (its Run applies c.Overrides).
func registered(t *testing.T, name string) Experiment {
	t.Helper()
	e, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheckCommon(t *testing.T) {
	if err := checkCommon("x", []string{"zoo:a"}, 1, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		models      []string
		batch       int
		conv, wants string
	}{{nil, 1, "exact", "x: Models is empty"}, {[]string{"a"}, 0, "exact", "x: Batch = 0"}, {[]string{"a"}, 1, "nope", `x: convention "nope"`}} {
		if err := checkCommon("x", c.models, c.batch, c.conv); err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%+v: got %v, want %q", c, err, c.wants)
		}
	}
	// The configurations that use it still check their own fields.
	s1 := DefaultSetup1Config(Quick, "go")
	s1.TopN = 0
	if err := s1.check(); err == nil || !strings.Contains(err.Error(), "TopN") {
		t.Errorf("setup1 TopN 0: %v", err)
	}
	for name, err := range map[string]error{"setup1": DefaultSetup1Config(Quick, "go").check(), "setup3": DefaultSetup3Config(Quick, "go").check(),
		"identity": DefaultIdentityConfig(Quick, "go").check(), "onepixel": DefaultOnePixelConfig(Quick, "go").check()} {
		if err != nil {
			t.Errorf("%s defaults: %v", name, err)
		}
	}
}

// TestOverridesLists sets the list kinds the configs use: strings, ints and floats (estimator's
// Magnitudes, set by the paper smoke run), and names the entry of a bad element.
func TestOverridesLists(t *testing.T) {
	cfg := DefaultEstimatorConfig(Quick, "go")
	o, err := ParseOverrides("estimator.Magnitudes=0.01, 1e-1,1; estimator.Bits=2,8", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Apply("estimator", &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Magnitudes, []float64{0.01, 0.1, 1}) || !slices.Equal(cfg.Bits, []int{2, 8}) {
		t.Fatalf("lists not applied: Magnitudes %v, Bits %v", cfg.Magnitudes, cfg.Bits)
	}
	// A bad element is refused when the entry is parsed (before anything runs), naming the entry.
	if _, err := ParseOverrides("estimator.Magnitudes=0.01,x", ""); err == nil || !strings.Contains(err.Error(), "estimator.Magnitudes=0.01,x") {
		t.Errorf("got %v, want an error naming the entry", err)
	}
}
