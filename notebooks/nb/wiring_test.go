package nb

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// localReplaces returns the repository's go.mod replace directives that point into the repository
// (module path → path relative to the repository root).
func localReplaces(t *testing.T, gomod string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	block := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "replace (":
			block = true
			continue
		case block && line == ")":
			block = false
			continue
		case strings.HasPrefix(line, "replace "):
			line = strings.TrimPrefix(line, "replace ")
		case !block:
			continue
		}
		from, to, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		from, to = strings.Fields(from)[0], strings.TrimSpace(to)
		if strings.HasPrefix(to, "./") || strings.HasPrefix(to, "../") {
			out[from] = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(to)), "./")
		}
	}
	return out
}

// TestWiringCellCarriesReplaces: GoNB's scratch module requires fisens through a replace, and Go ignores
// the replace directives of a dependency, so every local replace of fisens' go.mod must be repeated in
// each notebook's wiring cell. Without it the notebooks built the upstream compute-onnx instead of
// third_party/compute-onnx (no dead-node pruning: ONNX Runtime printed 20–106 "Removing initializer"
// warnings per notebook; and without the patch's tensor-lifetime fix).
func TestWiringCellCarriesReplaces(t *testing.T) {
	replaces := localReplaces(t, filepath.Join("..", "..", "go.mod"))
	if len(replaces) == 0 {
		t.Fatal("go.mod has no local replace: the compute-onnx patch (third_party/compute-onnx) is expected")
	}
	nbs, err := filepath.Glob(filepath.Join("..", "*.ipynb"))
	if err != nil || len(nbs) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, path := range nbs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cells []struct {
				CellType string   `json:"cell_type"`
				Source   []string `json:"source"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		wiring := ""
		for _, c := range doc.Cells {
			if c.CellType == "code" {
				wiring = strings.Join(c.Source, "")
				break
			}
		}
		if !strings.Contains(wiring, "go mod edit -replace=github.com/fisens/fisens=") {
			t.Errorf("%s: the first code cell is not the wiring cell", path)
			continue
		}
		for mod, dir := range replaces {
			want := `go mod edit -replace=` + mod + `="$R/` + dir + `"`
			if !strings.Contains(wiring, want) {
				t.Errorf("%s: the wiring cell lacks %s (fisens' go.mod replaces %s; GoNB's scratch module does not inherit it)",
					filepath.Base(path), want, mod)
			}
		}
	}
}
