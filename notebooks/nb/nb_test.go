package nb

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSetupReadsEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GONB_DIR", dir)
	t.Setenv("FISENS_SCALE", "")
	t.Setenv("GOMLX_BACKEND", "")
	n := Setup("x")
	if n.Scale != Quick || n.Backend != "go" || n.Dir != dir || !n.Quick() || !n.PureGo() {
		t.Fatalf("defaults: %+v", n)
	}
	if err := n.CheckErr(); err != nil {
		t.Fatalf("pure Go must start: %v", err)
	}
	if got, want := n.OutDir(), filepath.Join(dir, "out", "runs", "x"); got != want {
		t.Errorf("OutDir %q, want %q", got, want)
	}
	t.Setenv("FISENS_SCALE", "paper")
	t.Setenv("GOMLX_BACKEND", "onnx:cpu")
	n = Setup("x")
	if n.Scale != Paper || n.Backend != "onnx:cpu" || n.Quick() || n.PureGo() {
		t.Fatalf("paper/onnx: %+v", n)
	}
}

func TestBadSettingsSayWhatToDo(t *testing.T) {
	t.Setenv("GONB_DIR", t.TempDir())
	t.Setenv("FISENS_SCALE", "huge")
	t.Setenv("GOMLX_BACKEND", "")
	n := Setup("x")
	if err := n.CheckErr(); err == nil || !strings.Contains(err.Error(), "FISENS_SCALE") {
		t.Fatalf("bad scale: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Common with a bad scale did not stop the cell")
			}
		}()
		n.Common()
	}()
	t.Setenv("FISENS_SCALE", "")
	t.Setenv("GOMLX_BACKEND", "nosuchbackend")
	err := Setup("x").CheckErr()
	if err == nil || !strings.Contains(err.Error(), "What to do") {
		t.Fatalf("unknown backend: %v", err)
	}
}

func TestReduce(t *testing.T) {
	n := &Notebook{Scale: Quick, Backend: "onnx:cpu"}
	for _, c := range []struct{ v, want int }{{1000, 300}, {100, 100}, {0, 300}} {
		if got := n.Reduce(c.v, 300, 48); got != c.want {
			t.Errorf("quick onnx Reduce(%d) = %d, want %d", c.v, got, c.want)
		}
	}
	n.Backend = "go"
	if got := n.Reduce(1000, 300, 48); got != 48 {
		t.Errorf("quick go: %d", got)
	}
	n.Scale = Paper
	if got := n.Reduce(0, 300, 48); got != 0 {
		t.Errorf("paper keeps the experiment's size: %d", got)
	}
}

func TestFindingsRoundTrip(t *testing.T) {
	n := &Notebook{Name: "f", Scale: Quick, Dir: t.TempDir()}
	n.Findings("one", "two\nlines")
	n.AddFindings("three")
	got, err := n.ReadFindings()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", "two lines", "three"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	n.Findings("fresh")
	if got, _ := n.ReadFindings(); !reflect.DeepEqual(got, []string{"fresh"}) {
		t.Fatalf("Findings must rewrite: %q", got)
	}
	b, _ := os.ReadFile(n.FindingsFile())
	if string(b) != "• fresh\n" {
		t.Fatalf("file %q", b)
	}
}

func TestFreshEmptiesOnlyQuickRuns(t *testing.T) {
	n := &Notebook{Name: "r", Scale: Paper, Dir: t.TempDir()}
	n.Fresh()
	keep := filepath.Join(n.OutDir(), "results.csv")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Fresh()
	if _, err := os.Stat(keep); err != nil {
		t.Fatal("a paper run must keep its results to resume")
	}
	n.Scale = Quick
	n.Fresh()
	if _, err := os.Stat(keep); !os.IsNotExist(err) {
		t.Fatal("a quick run must start empty")
	}
}

func TestTableHTML(t *testing.T) {
	got := TableHTML([]string{"model", "acc"}, [][]string{{"<b>", "98.5 %"}, {"x", "12abc"}})
	for _, want := range []string{"<th>model</th>", "<td>&lt;b&gt;</td>", `<td style="text-align:right">98.5 %</td>`, "<td>12abc</td>"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}
