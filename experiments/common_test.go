package experiments

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

func TestDefaultsSmallerOnPureGo(t *testing.T) {
	if a, b := DefaultSetup1Config(Quick, "onnx:cpu"), DefaultSetup1Config(Quick, "go"); b.Images >= a.Images {
		t.Errorf("setup1 pure-Go images %d ≥ ONNX %d", b.Images, a.Images)
	}
	if a, b := DefaultSetup3Config(Quick, "onnx:cpu"), DefaultSetup3Config(Quick, "go"); b.TestImages >= a.TestImages {
		t.Errorf("setup3 pure-Go test images %d ≥ ONNX %d", b.TestImages, a.TestImages)
	}
	if a, b := DefaultOnePixelConfig(Quick, "onnx:cpu"), DefaultOnePixelConfig(Quick, "go"); b.Images >= a.Images {
		t.Errorf("onepixel pure-Go images %d ≥ ONNX %d", b.Images, a.Images)
	}
	if p := DefaultSetup1Config(Paper, "onnx:cpu"); p.Images != 0 {
		t.Errorf("paper scale scores %d images, want all (0)", p.Images)
	}
	// The identity figure reuses Setup 3's tables, which reuse Setup 1's.
	s1, s3, id := DefaultSetup1Config(Quick, "go"), DefaultSetup3Config(Quick, "go"), DefaultIdentityConfig(Quick, "go")
	if s3.TrainImages != s1.Images || id.TrainImages != s3.TrainImages || id.TestImages != s3.TestImages {
		t.Errorf("sizes not shared: setup1 %d, setup3 %d/%d, identity %d/%d", s1.Images, s3.TrainImages, s3.TestImages, id.TrainImages, id.TestImages)
	}
}

// untrainedTiny returns an untrained tiny CNN (unit inputs) wrapped for the experiments.
func untrainedTiny(t *testing.T, c Common) *LoadedModel {
	t.Helper()
	m, err := models.New(models.Config{Arch: tinyArch, Height: 28, Width: 28, Channels: 1, Classes: 10, InputScale: "unit", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLoadedModel(c, "untrained-tiny", datasets.MNIST, m)
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// TestInputFITable checks the shared per-example table against a direct computation, the odds
// identity (SPEC A.3) and the resume / shard / merge cycle.
func TestInputFITable(t *testing.T) {
	dir := t.TempDir()
	c := Common{Scale: Quick, OutDir: dir, Seed: 1}
	lm := untrainedTiny(t, c)
	set, err := lm.Set(datasets.SplitTest)
	if err != nil {
		if datasets.IsNotFound(err) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	idx := datasets.SampleIndices(set.Len(), 11, 5, streamExamples)
	spec := InputFISpec{Model: lm, Split: datasets.SplitTest, Set: set, Indices: idx, Batch: 4}

	// Two shards, then a run over everything that merges them and computes nothing new.
	var shardFiles []string
	for i := 0; i < 2; i++ {
		cs := c
		cs.Shard = results.Shard{I: i, N: 2}
		rs, complete, err := InputFITable(context.Background(), cs, spec)
		if err != nil {
			t.Fatal(err)
		}
		if complete {
			t.Fatalf("shard %d: complete = true for one of two shards", i)
		}
		for _, r := range rs {
			if r.Index%2 != i {
				t.Fatalf("shard %d returned example %d", i, r.Index)
			}
		}
		base, _ := InputFIPath(cs, spec)
		shardFiles = append(shardFiles, cs.Shard.Path(base))
	}
	for _, f := range shardFiles {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("shard file missing: %v", err)
		}
	}
	rs, complete, err := InputFITable(context.Background(), c, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !complete || len(rs) != len(idx) {
		t.Fatalf("merged run: complete %v, %d rows, want %d", complete, len(rs), len(idx))
	}
	base, _ := InputFIPath(c, spec)
	if filepath.Dir(base) != filepath.Join(dir, "fi") {
		t.Fatalf("table at %s, want under %s/fi", base, dir)
	}

	// Oracle: the analyzer on the same images, one batch.
	labels := make([]int, len(idx))
	for i, j := range idx {
		labels[i] = set.Label(j)
	}
	bt := fisens.Batch{X: set.Batch(idx, lm.Scale), Shape: []int{len(idx), 28, 28, 1}, Labels: labels}
	want, err := lm.Analyzer.InputFI(bt, fisens.Additive, fisens.Options{Objective: fisens.LogProbTrue})
	if err != nil {
		t.Fatal(err)
	}
	wantPred, err := lm.Analyzer.InputFI(bt, fisens.Additive, fisens.Options{Objective: fisens.LogProbPred})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Index != idx[i] || r.Source != set.SourceIndex(idx[i]) || r.True.Label != labels[i] {
			t.Fatalf("row %d: index %d source %d label %d, want %d %d %d", i, r.Index, r.Source, r.True.Label, idx[i], set.SourceIndex(idx[i]), labels[i])
		}
		for _, p := range []struct {
			got, want fisens.Result
		}{{r.True, want[i]}, {r.Pred, wantPred[i]}} {
			if !nearRel(p.got.FI, p.want.FI, 1e-4) || !nearRel(p.got.Bound, p.want.Bound, 1e-6) || p.got.Pred != p.want.Pred ||
				!nearRel(p.got.JacNorm, p.want.JacNorm, 1e-4) {
				t.Fatalf("example %d: table %+v, direct %+v", idx[i], p.got, p.want)
			}
			// SPEC A.3: FI ≤ odds, with equality at rank K − 1 (a whole image has 784 ≥ 9 directions).
			if p.got.FI > p.got.Bound*(1+1e-6) {
				t.Fatalf("example %d: FI %g above the odds %g", idx[i], p.got.FI, p.got.Bound)
			}
			if p.got.Rank == 9 && !nearRel(p.got.FI, p.got.Bound, 1e-6) {
				t.Fatalf("example %d: rank 9 but FI %g ≠ odds %g", idx[i], p.got.FI, p.got.Bound)
			}
		}
	}
	if s := SummarizeBound(resultsOf(rs, false), 10); s.N != len(idx) || s.Above != 0 {
		t.Fatalf("summary %+v", s)
	}

	// A changed setting must not reuse the file.
	other := spec
	other.Model = &LoadedModel{Ref: "another", Name: lm.Name, Dataset: lm.Dataset, Scale: datasets.Raw255, Model: lm.Model, Analyzer: lm.Analyzer}
	if _, _, err := InputFITable(context.Background(), c, other); err == nil || !strings.Contains(err.Error(), "computed with") {
		t.Fatalf("a table of other settings was reused (err = %v)", err)
	}
	// A torn last line (an interrupted write) is dropped and recomputed.
	data, _ := os.ReadFile(base)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	torn := strings.Join(lines[:len(lines)-1], "\n") + "\n" + lines[len(lines)-1][:10]
	if err := os.WriteFile(base, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	rs2, complete, err := InputFITable(context.Background(), c, spec)
	if err != nil || !complete || len(rs2) != len(idx) {
		t.Fatalf("after a torn line: %d rows, complete %v, err %v", len(rs2), complete, err)
	}
	// A cancelled context stops the computation with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec.Indices = datasets.SampleIndices(set.Len(), 20, 5, streamExamples)
	if _, _, err := InputFITable(ctx, c, spec); err == nil {
		t.Fatal("a cancelled run gave no error")
	}
}

func nearRel(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))+1e-12
}

func TestSaveLoadReports(t *testing.T) {
	c := Common{Scale: Quick, OutDir: t.TempDir(), Backend: "go"}
	r1 := &Report{Experiment: "setup3", Title: "t3", Findings: []string{"f3"}, Elapsed: 2 * time.Second}
	r0 := &Report{Experiment: "setup1", Title: "t1", Settings: map[string]string{"n": "5"}}
	for _, r := range []*Report{r1, r0} {
		if err := SaveReport(c, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadReports(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Experiment != "setup1" || got[1].Experiment != "setup3" || got[1].Elapsed != 2*time.Second || got[0].Settings["n"] != "5" {
		t.Fatalf("LoadReports = %+v; want setup1 then setup3 as saved", got)
	}
	paper := c
	paper.Scale = Paper
	if got, err := LoadReports(paper); err != nil || len(got) != 0 {
		t.Errorf("paper scale: %d reports, %v; want none (they were quick-scale)", len(got), err)
	}
	p := filepath.Join(c.OutDir, "reports", "setup1.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadReports(c); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt report: err = %v; want one naming %s", err, p)
	}
}

// readCSVFile reads a CSV file: its header and rows.
func readCSVFile(path string) ([]string, [][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("%s is empty", path)
	}
	return recs[0], recs[1:], nil
}
