package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
)

// Helpers of the experiments' tests, and the tests of the shared report plumbing.

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
