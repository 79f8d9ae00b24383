package experiments

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/models/ops"
	"github.com/fisens/fisens/results"
)

// A tiny CNN for the end-to-end tests of setups 0 and 2 and Table 1 on real MNIST: conv3x3(4)-BN-
// ReLU-pool, conv3x3(4)-BN-ReLU-pool, dense(10). Its BN layers have 8 parameters, fewer than
// K − 1 = 9, so their FI must fall below the odds bound (rank ≤ 8), while the conv and dense
// layers (40, 148 and 1970 parameters) reach rank 9.
const tinyArch = "experiments-test-tiny-cnn"

func init() {
	models.Register(tinyArch, "test only: two conv-BN-ReLU-pool blocks and a dense layer", func(cfg models.Config, scope *model.Scope, x *Node) *Node {
		scope.Store().SetParam("/"+model.ParamInitialSeed, cfg.Seed)
		y := ops.Conv2D(scope.In("conv1"), x, 4, 3, 1, ops.Same, true)
		y = ops.AvgPool2(ops.ReLU(ops.BatchNorm(scope.In("bn1"), y)))
		y = ops.Conv2D(scope.In("conv2"), y, 4, 3, 1, ops.Same, true)
		y = ops.AvgPool2(ops.ReLU(ops.BatchNorm(scope.In("bn2"), y)))
		return ops.Dense(scope.In("dense"), y, cfg.Classes, true)
	})
}

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
)

// tinyVersion names the cached tiny models; change it when the tiny architecture or its training
// changes.
const tinyVersion = "v2" // v2: trained on a subset drawn by datasets.SampleIndices

// tinyModels returns the references of two tiny CNNs trained briefly on an MNIST subset (training
// directories "tiny-a" and "tiny-b"). They are made once and cached in the system's temporary
// folder (fisens-experiments-tiny-VERSION), so later test runs reuse them.
func tinyModels(t *testing.T) []string {
	t.Helper()
	tinyOnce.Do(func() {
		tinyDir = filepath.Join(os.TempDir(), fmt.Sprintf("fisens-experiments-tiny-%s-%d", tinyVersion, os.Getuid()))
		if _, err := models.LoadConfig(filepath.Join(tinyDir, "tiny-b")); err == nil {
			return
		}
		tmp, err := os.MkdirTemp(os.TempDir(), "fisens-experiments-tiny-build-")
		if err != nil {
			tinyErr = err
			return
		}
		defer os.RemoveAll(tmp)
		train, err := datasets.Load(datasets.MNIST, datasets.SplitTrain)
		if err != nil {
			tinyErr = err
			return
		}
		sub := train.Subset(datasets.SampleIndices(train.Len(), 1024, 99, 1))
		b, err := backend.New("")
		if err != nil {
			tinyErr = err
			return
		}
		for i, name := range []string{"tiny-a", "tiny-b"} {
			m, err := models.New(models.Config{Arch: tinyArch, Height: 28, Width: 28, Channels: 1, Classes: 10, InputScale: "unit", Seed: int64(i + 1)})
			if err != nil {
				tinyErr = err
				return
			}
			_, err = models.Train(context.Background(), b, m, sub, nil, models.TrainConfig{Epochs: 2, BatchSize: 16,
				LearningRates: []float64{1e-2}, Dir: filepath.Join(tmp, name), Dataset: datasets.MNIST, Seed: int64(i)})
			if err != nil {
				tinyErr = err
				return
			}
		}
		// Publish atomically; a concurrent test process may have won the race, then use its models.
		if err := os.Rename(tmp, tinyDir); err != nil {
			if _, err2 := models.LoadConfig(filepath.Join(tinyDir, "tiny-b")); err2 != nil {
				tinyErr = fmt.Errorf("publishing the tiny models in %s: %w", tinyDir, err)
			}
		}
	})
	if tinyErr != nil {
		if strings.Contains(tinyErr.Error(), "not found") || strings.Contains(tinyErr.Error(), "no such file") {
			t.Skipf("MNIST unavailable: %v", tinyErr)
		}
		t.Fatal(tinyErr)
	}
	return []string{filepath.Join(tinyDir, "tiny-a"), filepath.Join(tinyDir, "tiny-b")}
}

// testOutDir is a fresh temporary folder, or $FISENS_TEST_OUT/name (emptied first) when that is
// set, to look at the figures the tests draw.
func testOutDir(t *testing.T, name string) string {
	t.Helper()
	root := os.Getenv("FISENS_TEST_OUT")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinySetup0Config(refs []string) Setup0Config {
	return Setup0Config{Models: refs, Dataset: datasets.MNIST, Pool: 1500, PerClass: 3, TrainPerClass: 2, MaxShift: 4,
		ValidClean: 60, Scored: 40, Epochs: 1, LearningRates: []float64{1e-3}, BatchSize: 16, FIBatch: 16, EvalBatch: 100, AuthorsEps: 1e-8,
		FitTarget: 0.95, MaxEpochs: 2}
}

// mannWhitney is the ROC-AUC oracle: P(score of a positive > score of a negative) + ½ P(tie).
func mannWhitney(scores []float64, pos []bool) float64 {
	var num, den float64
	for i := range scores {
		if !pos[i] {
			continue
		}
		for j := range scores {
			if pos[j] {
				continue
			}
			den++
			switch {
			case scores[i] > scores[j]:
				num++
			case scores[i] == scores[j]:
				num += 0.5
			}
		}
	}
	return num / den
}

// TestSetup0EndToEnd runs Setup 0 on two tiny trained CNNs and real MNIST; under -short it stops
// after the first run and its report (the resume, shard and refusal checks rerun it four times).
func TestSetup0EndToEnd(t *testing.T) {
	refs := tinyModels(t)
	out := testOutDir(t, "setup0")
	c := Common{Scale: Quick, OutDir: out, Seed: 3, Shard: results.All}
	cfg := tinySetup0Config(refs)
	res, err := RunSetup0(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || len(res.Models) != 2 {
		t.Fatalf("complete %v, %d models; want a complete result for 2 models", res.Complete, len(res.Models))
	}
	if res.TrainOutliers != 20 || res.ValidOutliers != 10 || res.ScoredClean != 40 {
		t.Errorf("outliers %d train + %d valid, %d clean scored; want 20 + 10, 40", res.TrainOutliers, res.ValidOutliers, res.ScoredClean)
	}
	for _, m := range res.Models {
		if len(m.Scores) != 60 {
			t.Fatalf("%s: %d scores, want 60", m.Name, len(m.Scores))
		}
		pos := 0
		for _, s := range m.Scores {
			if s.Outlier {
				pos++
			}
			// SPEC A.3: FI ≤ odds bound, with equality at rank K−1 (a whole image has 784 directions).
			if s.FI > s.Bound*(1+1e-6)+1e-12 {
				t.Errorf("%s: FI %g above the bound %g", m.Name, s.FI, s.Bound)
			}
			if s.Rank == 9 && !AtBound(s.Result) {
				t.Errorf("%s: rank 9 but FI %g ≠ bound %g", m.Name, s.FI, s.Bound)
			}
			if want := (1 - s.Prob) / s.Prob; math.Abs(s.Bound-want) > 1e-9*math.Max(want, 1) {
				t.Errorf("%s: bound %g, want (1−π)/π = %g", m.Name, s.Bound, want)
			}
			if !(s.JacNorm >= 0) || !(s.SoftmaxJacNorm >= 0) || s.AuthorsRank < 0 || s.AuthorsRank > 10 || !(s.MinProb > 0 && s.MinProb <= s.Prob) {
				t.Errorf("%s: bad score %+v", m.Name, s)
			}
		}
		if pos != 20 {
			t.Errorf("%s: %d positives, want 20", m.Name, pos)
		}
		// AUCs against the Mann–Whitney oracle.
		for _, cv := range m.Curves() {
			want := mannWhitney(cv.Scores, cv.Positive)
			if got := m.auc(cv.Name).ROCAUC; math.Abs(got-want) > 1e-12 {
				t.Errorf("%s %s: ROC-AUC %g, Mann–Whitney %g", m.Name, cv.Name, got, want)
			}
			if ap := m.auc(cv.Name).AP; !(ap > 0 && ap <= 1) {
				t.Errorf("%s %s: AP %g, want in (0, 1]", m.Name, cv.Name, ap)
			}
		}
		if m.FineTune == nil || m.FineTune.Epochs != m.FitEpochs || len(m.Fitted) != m.FitEpochs || m.FitEpochs < 1 || m.FitEpochs > 2 {
			t.Errorf("%s: fine-tuning result %+v, %d epochs, fitted %v", m.Name, m.FineTune, m.FitEpochs, m.Fitted)
		}
		// The stopping rule, and the last fitted fraction is the scored model's (from the score rows).
		for e, f := range m.Fitted {
			if last := e == len(m.Fitted)-1; !last && f >= 0.95 || last && m.FitEpochs < 2 && f < 0.95 {
				t.Errorf("%s: fitted %v stopped at epoch %d", m.Name, m.Fitted, m.FitEpochs)
			}
		}
		if oAcc, _ := m.outlierAcc(); math.Abs(oAcc-m.Fitted[len(m.Fitted)-1]) > 1e-12 {
			t.Errorf("%s: scored outliers fitted %g, fine-tuning says %g", m.Name, oAcc, m.Fitted[len(m.Fitted)-1])
		}
	}
	// The provenance describes the outliers: labels of another class for the partners.
	bases, partners := map[int]bool{}, map[int]bool{}
	for _, o := range res.Provenance {
		bases[o.Base] = true
	}
	for _, o := range res.Provenance {
		if o.Label == o.PartnerLabel || bases[o.Partner] || partners[o.Partner] {
			t.Errorf("outlier %+v overlays an image of its own class, a base or a partner drawn before", o)
		}
		partners[o.Partner] = true
	}

	// The report: one figure per model plus the AUC table, findings with numbers.
	rep, err := res.Report(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Log(f)
	}
	if len(rep.Figures) != 3 || len(rep.Tables) != 2 || len(rep.Findings) != 8 {
		t.Errorf("report has %d figures, %d tables, %d findings; want 3, 2, 8", len(rep.Figures), len(rep.Tables), len(rep.Findings))
	}
	for _, f := range rep.Figures {
		for _, ext := range []string{".png", ".svg"} {
			if _, err := os.Stat(filepath.Join(out, f.Name+ext)); err != nil {
				t.Error(err)
			}
		}
	}

	if testing.Short() {
		return
	}

	// Resuming: drop some rows, run again; the fine-tuned checkpoint is reused and the recomputed
	// rows equal the first ones.
	path := filepath.Join(out, "setup0", "scores-tiny-a.csv")
	d, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	truncateRows(t, path, d.Header, d.Rows[:25])
	res2, err := RunSetup0(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameScores(t, res.Models[0].Scores, res2.Models[0].Scores)

	// Sharding: refused before the models are fine-tuned; FineTuneOnly prepares them.
	{
		cs := c
		cs.OutDir = filepath.Join(out, "fresh")
		cs.Shard = results.Shard{I: 1, N: 2}
		if _, err := RunSetup0(context.Background(), cs, cfg); err == nil || !strings.Contains(err.Error(), "FineTuneOnly") {
			t.Errorf("shard before fine-tuning: %v, want a refusal naming FineTuneOnly", err)
		}
		cs.Shard = results.All
		cft := cfg
		cft.FineTuneOnly = true
		r, err := RunSetup0(context.Background(), cs, cft)
		if err != nil || r.Complete || len(r.Models) != 2 || len(r.Models[0].Scores) != 0 {
			t.Errorf("FineTuneOnly: %v, complete %v; want two fine-tuned models without scores", err, r != nil && r.Complete)
		}
		if n := fineTunedEpochs(filepath.Join(cs.OutDir, "setup0", "finetune", "tiny-a")); n != r.Models[0].FitEpochs {
			t.Errorf("fine-tuned epochs %d, want %d", n, r.Models[0].FitEpochs)
		}
	}

	// Sharding: two shards into the same folder, merged, give the same scores.
	path0 := filepath.Join(out, "setup0", "scores-tiny-b.csv")
	if err := os.Rename(path0, path0+".full"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		cs := c
		cs.Shard = results.Shard{I: i, N: 2}
		r, err := RunSetup0(context.Background(), cs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Complete {
			t.Errorf("shard %d/2 reports a complete result", i)
		}
		rep, err := r.Report(cs)
		if err != nil || len(rep.Figures) != 0 || !strings.Contains(strings.Join(rep.Findings, " "), "merge") {
			t.Errorf("report of a shard: %v, %d figures, findings %q; want no figures and a merge hint", err, len(rep.Figures), rep.Findings)
		}
	}
	// A run without --shard merges the shard files itself.
	res3, err := RunSetup0(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameScores(t, res.Models[1].Scores, res3.Models[1].Scores)

	// Another configuration in the same folder is refused.
	cfg.Scored = 41
	if _, err := RunSetup0(context.Background(), c, cfg); err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("rerun with another configuration: %v, want a refusal", err)
	}
}

// truncateRows rewrites a results file with only the given rows.
func truncateRows(t *testing.T, path string, header []string, recs [][]string) {
	t.Helper()
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(recs)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameScores(t *testing.T, a, b []Setup0Score) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d scores, then %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Outlier != y.Outlier || x.Index != y.Index || x.Rank != y.Rank || x.Pred != y.Pred || !near(x.FI, y.FI, 1e-4) || !near(x.JacNorm, y.JacNorm, 1e-4) {
			t.Errorf("score %d: %+v, then %+v", i, x, y)
		}
	}
}

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))+1e-12
}

// sizeOr is n, or all when n is 0.
func sizeOr(n, all int) int {
	if n == 0 {
		return all
	}
	return n
}

func TestSetup0ConfigChecks(t *testing.T) {
	for _, bn := range []string{"go", "onnx:cpu"} {
		for _, sc := range []Scale{Quick, Paper} {
			cfg := DefaultSetup0Config(sc, bn)
			if err := cfg.check(); err != nil {
				t.Errorf("default %s/%s: %v", sc, bn, err)
			}
		}
	}
	if g, o := DefaultSetup0Config(Quick, "go"), DefaultSetup0Config(Quick, "onnx:cpu"); g.Pool >= o.Pool || g.Scored >= sizeOr(o.Scored, o.Pool) {
		t.Errorf("pure-Go quick sizes %d/%d are not smaller than ONNX's %d/%d", g.Pool, g.Scored, o.Pool, o.Scored)
	}
	bad := DefaultSetup0Config(Quick, "go")
	bad.TrainPerClass = bad.PerClass + 1
	if err := bad.check(); err == nil || !strings.Contains(err.Error(), "TrainPerClass") {
		t.Errorf("TrainPerClass > PerClass: %v", err)
	}
	bad = DefaultSetup0Config(Quick, "go")
	bad.Models = nil
	if _, err := RunSetup0(context.Background(), Common{OutDir: t.TempDir()}, bad); err == nil || !strings.Contains(err.Error(), "Models") {
		t.Errorf("no models: %v", err)
	}
	bad = DefaultSetup0Config(Quick, "go")
	bad.Models = []string{filepath.Join(t.TempDir(), "missing")}
	if _, err := RunSetup0(context.Background(), Common{OutDir: t.TempDir()}, bad); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing model: %v, want an error naming it", err)
	}
}

func TestHelpers(t *testing.T) {
	for ref, want := range map[string]string{
		"zoo:resnet-small-mnist":   "resnet-small-mnist",
		"runs/resnet50-mnist":      "resnet50-mnist",
		"runs/resnet50-mnist/":     "resnet50-mnist",
		"runs/resnet50-mnist/best": "resnet50-mnist",
		"/tmp/a b/c:d":             "c-d",
	} {
		if got := ModelName(ref); got != want {
			t.Errorf("ModelName(%q) = %q, want %q", ref, got, want)
		}
	}
	dir := t.TempDir()
	if err := claimRunDir(dir, "x", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := claimRunDir(dir, "x", map[string]int{"a": 1}); err != nil {
		t.Errorf("same configuration refused: %v", err)
	}
	if err := claimRunDir(dir, "x", map[string]int{"a": 2}); err == nil || !strings.Contains(err.Error(), `a = "1" (this run: "2")`) {
		t.Errorf("another configuration: %v, want a refusal naming the differing setting", err)
	}
	if !AtBound(fisens.Result{FI: 2, Bound: 2}) || !AtBound(fisens.Result{FI: 2 * (1 - 1e-9), Bound: 2}) || AtBound(fisens.Result{FI: 1.9, Bound: 2}) || !AtBound(fisens.Result{}) {
		t.Error("AtBound")
	}
	b := backend.Must("go")
	if gb, err := gradientBackend(b, "go"); err != nil || gb == b {
		t.Errorf("gradientBackend(go) = %v, %v; want the sequential pure-Go backend", gb, err)
	}
	if gb, err := gradientBackend(b, "go:ops_sequential"); err != nil || gb != b {
		t.Errorf("gradientBackend(go:ops_sequential) = %v, %v; want b itself", gb, err)
	}
	if p := minProb([]float64{0, math.Log(3)}); math.Abs(p-0.25) > 1e-15 {
		t.Errorf("minProb = %g, want 0.25", p)
	}
}
