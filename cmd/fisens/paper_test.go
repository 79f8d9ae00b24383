//go:build onnx

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/experiments"
)

// TestPaperScale runs `fisens reproduce --scale paper` — every experiment, the paper's exact
// ResNet50 and DenseNet121, trained on real MNIST and on CIFAR-10 files in the canonical binary
// format, checkpoint selection, every setup, figures and the index — with the sizes of
// testdata/paper-smoke.set (a few images, one training step per epoch). Only the sizes differ
// from a real paper run: a user with the data runs the same code path (each experiment in its own
// process, as `fisens reproduce --scale paper --only NAME` and a cluster job run it). ONNX Runtime
// only (the pure-Go backend would take hours for these networks); run by its own line in
// scripts/test.sh (not by the generic ONNX pattern: it takes minutes).
func TestPaperScale(t *testing.T) {
	if testing.Short() {
		t.Skip("paper-scale smoke run: minutes")
	}
	if os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH") == "" {
		t.Skip("ONNX Runtime not installed (source <(scripts/install-onnxruntime.sh | grep export))")
	}
	setFile, err := filepath.Abs(filepath.Join("testdata", "paper-smoke.set"))
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv(envPaperSets); p != "" {
		setFile = p // a child runs in the parent's temporary folder
	}
	sets := readSets(t, setFile)
	args := []string{"--scale", "paper", "--out", "out", "--backend", "onnx:cpu"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	if only := os.Getenv(envPaperChild); only != "" {
		// A child of the run below: one experiment, in the parent's folder and environment.
		if err := runReproduce(append(args, "--only", only)); err != nil {
			t.Fatalf("fisens reproduce --scale paper --only %s: %v", only, err)
		}
		return
	}
	dir := t.TempDir()
	writeTinyCIFAR(t, filepath.Join(dir, "data", "cifar10", datasets.CIFARFolderName), 1010, 20)
	t.Setenv(datasets.EnvDataDir, filepath.Join(dir, "data"))
	t.Chdir(dir) // the paper models are trained into ./runs (experiments.PaperModelRef)

	// One process per experiment, as `fisens submit` runs them: ONNX Runtime sessions are freed only
	// by an explicit Finalize, which nothing calls when an experiment drops its models, so one
	// process running every experiment with these networks grows past 20 GB.
	for _, e := range experiments.List() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPaperScale$", "-test.timeout=0")
		cmd.Env = append(os.Environ(), envPaperChild+"="+e.Name, envPaperSets+"="+setFile)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("fisens reproduce --scale paper --only %s: %v", e.Name, err)
		}
	}

	// The four paper models were trained and their best-validation checkpoints kept.
	for _, ds := range []string{datasets.MNIST, datasets.CIFAR10} {
		for _, arch := range experiments.PaperArchs {
			ref := experiments.PaperModelRef(arch, ds)
			if n := experiments.TrainedEpochs(ref); n != 2 {
				t.Errorf("%s: %d trained epochs, want 2", ref, n)
			}
			if _, err := os.Stat(filepath.Join(ref, "best", "model.json")); err != nil {
				t.Errorf("%s: no best-validation checkpoint: %v", ref, err)
			}
			if info, err := os.ReadFile(filepath.Join(ref, "best", "training.json")); err != nil || !strings.Contains(string(info), `"bn_stats_images": 16`) {
				t.Errorf("%s/best/training.json does not record the batch-norm re-estimation (train.BNStatsImages=16): %v\n%s", ref, err, info)
			}
		}
	}
	// Every experiment ran at paper scale with its figures, on both datasets where it uses the paper models.
	index, err := os.ReadFile(filepath.Join("out", "index.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range experiments.List() {
		data, err := os.ReadFile(filepath.Join("out", "reports", e.Name+".json"))
		if err != nil {
			t.Errorf("%s: no report: %v", e.Name, err)
			continue
		}
		var sr struct {
			Scale  string
			Report experiments.Report
		}
		if err := json.Unmarshal(data, &sr); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if sr.Scale != "paper" {
			t.Errorf("%s: scale %q", e.Name, sr.Scale)
		}
		if len(sr.Report.Figures) == 0 {
			t.Errorf("%s: no figures", e.Name)
		}
		for _, f := range sr.Report.Figures {
			for _, ext := range []string{".png", ".svg"} {
				if st, err := os.Stat(filepath.Join("out", f.Name+ext)); err != nil || st.Size() == 0 {
					t.Errorf("%s: figure %s%s missing or empty", e.Name, f.Name, ext)
				}
			}
			if !strings.Contains(string(index), f.Name+".png") {
				t.Errorf("index.md does not show %s", f.Name)
			}
		}
		if !strings.Contains(string(index), "## "+e.Name+" ") {
			t.Errorf("index.md has no section for %s", e.Name)
		}
	}
	for _, want := range []string{"fi/resnet50-mnist-mnist-train.csv", "fi/densenet121-cifar10-cifar10-test.csv"} {
		if _, err := os.Stat(filepath.Join("out", want)); err != nil {
			t.Errorf("missing per-example table %s", want)
		}
	}
}

// envPaperChild names the experiment a child process of TestPaperScale runs, envPaperSets its settings file.
const (
	envPaperChild = "FISENS_PAPER_TEST_ONLY"
	envPaperSets  = "FISENS_PAPER_TEST_SETS"
)

// readSets reads one --set entry per line (blank lines and # comments ignored).
func readSets(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTinyCIFAR writes the six CIFAR-10 batch files in the canonical binary format (a label byte,
// then 1024 R, 1024 G, 1024 B bytes) with perTrain records per training batch and nTest test
// records; labels cycle through the ten classes and pixels are a deterministic pattern. The paper's
// split keeps 500 images per class for validation, so the training batches need 5,000+ records.
func writeTinyCIFAR(t *testing.T, dir string, perTrain, nTest int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := 0
	for k := 1; k <= 6; k++ {
		name, n := "data_batch_"+string(rune('0'+k))+".bin", perTrain
		if k == 6 {
			name, n = "test_batch.bin", nTest
		}
		buf := make([]byte, 0, n*datasets.CIFARRecordSize)
		for i := 0; i < n; i++ {
			label := g % 10
			buf = append(buf, byte(label))
			for p := 0; p < datasets.CIFARRecordSize-1; p++ {
				buf = append(buf, byte((g*31+label*17+p*7)%256))
			}
			g++
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
