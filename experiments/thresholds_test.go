package experiments

import (
	"math"
	"testing"
)

// ε of the authors' convention must be finite and positive (Setup 4: or 0, meaning "no authors'
// maps"); NaN and Inf were accepted by some configs (issue 13).
func TestAuthorsEpsChecks(t *testing.T) {
	for _, eps := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e-3} {
		c0 := DefaultSetup0Config(Quick, "go")
		c0.AuthorsEps = eps
		if c0.check() == nil {
			t.Errorf("setup0 AuthorsEps %g accepted", eps)
		}
		c2 := DefaultSetup2Config(Quick, "go")
		c2.AuthorsEps = eps
		if c2.check() == nil {
			t.Errorf("setup2 AuthorsEps %g accepted", eps)
		}
		c4 := DefaultSetup4Config(Quick, "go")
		c4.AuthorsEps = eps
		if c4.check() == nil {
			t.Errorf("setup4 AuthorsEps %g accepted", eps)
		}
	}
	c4 := DefaultSetup4Config(Quick, "go")
	c4.AuthorsEps = 0
	if err := c4.check(); err != nil {
		t.Errorf("setup4 AuthorsEps 0 (off): %v", err)
	}
}
