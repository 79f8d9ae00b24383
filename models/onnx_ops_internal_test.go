package models

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestONNXConvertibleOpsList checks convertibleOps against the operator switch of the onnx-gomlx
// module in use (internal/onnxgomlx/graph.go), so that the error messages about which operators can
// run stay true when the module changes.
func TestONNXConvertibleOpsList(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gomlx/onnx-gomlx").Output()
	if err != nil {
		t.Skipf("cannot locate the onnx-gomlx module (go list: %v): skipped, not passed", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "onnxgomlx", "graph.go"))
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "func (m *Model) convertNode(")
	if start < 0 {
		t.Fatal("convertNode not found in onnx-gomlx's graph.go")
	}
	body = body[start:]
	if end := strings.Index(body, "\n}\n"); end > 0 {
		body = body[:end]
	}
	got := map[string]bool{}
	for _, m := range regexp.MustCompile(`case ((?:"[A-Za-z0-9]+"(?:, )?)+):`).FindAllStringSubmatch(body, -1) {
		for _, op := range regexp.MustCompile(`"([A-Za-z0-9]+)"`).FindAllStringSubmatch(m[1], -1) {
			got[op[1]] = true
		}
	}
	rewritten := map[string]bool{"Dropout": true, "LeakyRelu": true, "LogSoftmax": true}
	var missing, extra []string
	for op := range got {
		if !convertibleOps[op] {
			missing = append(missing, op)
		}
	}
	for op := range convertibleOps {
		if !got[op] && !rewritten[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("convertibleOps out of date with onnx-gomlx: converted there but not listed %v; listed but not converted %v", missing, extra)
	}
	for op := range verifiedOps {
		if !convertibleOps[op] {
			t.Errorf("verified operator %s is not convertible", op)
		}
	}
}
