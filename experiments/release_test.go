package experiments

import (
	"errors"
	"testing"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
)

// TestReleaseModels: ReleaseModels closes the cached models and their analyzers (what `fisens
// reproduce --scale paper` does between experiments) and the next LoadModel loads afresh.
func TestReleaseModels(t *testing.T) {
	c := Common{Scale: Quick, Backend: "go"}
	ref := models.ZooPrefix + "alexnet-small-mnist"
	lm, err := LoadModel(c, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := LoadModel(c, ref, ""); again != lm {
		t.Fatal("LoadModel did not return the cached model")
	}
	if err := ReleaseModels(); err != nil {
		t.Fatal(err)
	}
	if !lm.Model.Closed() || !lm.Analyzer.Closed() {
		t.Errorf("after ReleaseModels: model closed %v, analyzer closed %v; want both", lm.Model.Closed(), lm.Analyzer.Closed())
	}
	x := fisens.Batch{X: make([]float32, 28*28), Shape: []int{1, 28, 28, 1}}
	if _, err := lm.Analyzer.Logits(x); !errors.Is(err, fisens.ErrClosed) {
		t.Errorf("released analyzer: error %v, want fisens.ErrClosed", err)
	}
	fresh, err := LoadModel(c, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ReleaseModels()
	if fresh == lm || fresh.Model.Closed() {
		t.Fatal("LoadModel after ReleaseModels returned the released model")
	}
	if _, err := fresh.Analyzer.Logits(x); err != nil {
		t.Fatalf("reloaded model: %v", err)
	}
}
