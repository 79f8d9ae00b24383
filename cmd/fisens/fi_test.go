package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/models"
	"github.com/fisens/fisens/results"
)

// fiModel saves a small (untrained) model for `fisens fi` and returns its directory; it skips
// the test without MNIST.
func fiModel(t *testing.T) string {
	t.Helper()
	m, err := models.New(models.Config{Arch: "alexnet-small", Height: 28, Width: 28, Channels: 1, Classes: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	set, err := datasets.Load("mnist", "test")
	if err != nil {
		t.Skipf("MNIST unavailable: %v", err)
	}
	if _, err := models.Predict(backend.Must("go"), m, set.Subset([]int{0, 1}), 2); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "model")
	if err := m.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	return ckpt
}

func readTable(t *testing.T, p string) *results.Data {
	t.Helper()
	d, err := results.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fileBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFICommandResumes runs `fisens fi` on a small (untrained) saved model and real MNIST, stops,
// and resumes: the file ends with every example exactly once.
func TestFICommandResumes(t *testing.T) {
	ckpt := fiModel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "fi.csv")
	args := func(n string) []string {
		return []string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", n, "--batch", "2", "--out", out, "--backend", "go"}
	}
	if err := runFI(args("3")); err != nil {
		t.Fatal(err)
	}
	if err := runFI(args("5")); err != nil {
		t.Fatal(err)
	}
	d := readTable(t, out)
	if len(d.Header) < 7 || d.Header[4] != "fi" || d.Header[5] != "rank" || d.Header[6] != "bound" {
		t.Fatalf("header %v", d.Header)
	}
	if len(d.Rows) != 5 {
		t.Fatalf("%d rows after resuming, want 5", len(d.Rows))
	}
	for i, r := range d.Rows {
		if r[0] != strconv.Itoa(i) {
			t.Errorf("row %d has index %s", i, r[0])
		}
	}
	if d.Settings["model"] != ckpt || d.Settings["rel_tol"] != "1e-13" || d.Settings["objective"] == "" {
		t.Errorf("recorded settings %v", d.Settings)
	}
	// Per-layer parameter FI for one example: one row per layer plus "all".
	pout := filepath.Join(dir, "params.csv")
	if err := runFI([]string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "1", "--perturb", "params",
		"--form", "scaling", "--out", pout, "--backend", "go"}); err != nil {
		t.Fatal(err)
	}
	precs := readTable(t, pout).Rows
	if len(precs) < 3 || precs[len(precs)-1][1] != "all" || precs[0][1] != "/conv1" {
		t.Fatalf("params rows: %v", precs)
	}
	for _, bad := range [][]string{
		{"--model", ckpt, "--data", "mnist", "--objective", "nope"},
		{"--model", ckpt, "--data", "mnist", "--split", "nosuch"},
		{"--model", filepath.Join(dir, "missing"), "--data", "mnist"},
		{"--model", ckpt, "--data", "mnist", "--shard", "2/2"},
	} {
		if err := runFI(append(bad, "--out", filepath.Join(dir, "bad.csv"))); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

// Defect (issue 13): resuming into an existing --out with another --objective, --convention,
// --form, --model, --split or --reltol exited 0, mixed rows and rewrote the settings. Now each is
// an error naming the setting, and neither the CSV nor its settings file changes.
func TestFIRefusesToResumeWithOtherSettings(t *testing.T) {
	ckpt := fiModel(t)
	other := fiModel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "fi.csv")
	base := []string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "2", "--batch", "2", "--out", out, "--backend", "go"}
	if err := runFI(base); err != nil {
		t.Fatal(err)
	}
	csv0, js0 := fileBytes(t, out), fileBytes(t, results.SettingsPath(out))
	for _, c := range []struct{ flag, value, field string }{
		{"--objective", "pred", "objective"},
		{"--convention", "authors", "convention"},
		{"--form", "scaling", "form"},
		{"--model", other, "model"},
		{"--split", "valid", "split"},
		{"--reltol", "1e-10", "rel_tol"},
	} {
		args := append(append([]string{}, base...), c.flag, c.value, "--n", "4")
		err := runFI(args)
		if !errors.Is(err, results.ErrSettings) || !strings.Contains(err.Error(), c.field+" = ") {
			t.Errorf("%s %s: want a settings error naming %s, got %v", c.flag, c.value, c.field, err)
		}
		if !bytes.Equal(fileBytes(t, out), csv0) || !bytes.Equal(fileBytes(t, results.SettingsPath(out)), js0) {
			t.Fatalf("%s %s: the refused run modified the table or its settings", c.flag, c.value)
		}
	}
	// The default threshold given explicitly is the same setting.
	if err := runFI(append(append([]string{}, base...), "--reltol", "1e-13", "--n", "3")); err != nil {
		t.Fatalf("--reltol equal to the default: %v", err)
	}
	if n := len(readTable(t, out).Rows); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
}

// Defect: --out naming a text file or a checkpoint had its last line cut or was overwritten.
func TestFINeverModifiesForeignOutput(t *testing.T) {
	ckpt := fiModel(t)
	bin, err := filepath.Glob(filepath.Join(ckpt, "*.bin"))
	if err != nil || len(bin) == 0 {
		entries, _ := os.ReadDir(ckpt)
		for _, e := range entries {
			if !e.IsDir() {
				bin = append(bin, filepath.Join(ckpt, e.Name()))
			}
		}
	}
	txt := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(txt, []byte("line one\nline two without newline"), 0o644)
	for _, p := range append([]string{txt}, bin...) {
		before := fileBytes(t, p)
		err := runFI([]string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "1", "--out", p, "--backend", "go"})
		if !errors.Is(err, results.ErrNotTable) {
			t.Errorf("--out %s: want ErrNotTable, got %v", p, err)
		}
		if !bytes.Equal(before, fileBytes(t, p)) {
			t.Errorf("--out %s: the file was modified", p)
		}
		if _, err := os.Stat(results.SettingsPath(p)); err == nil {
			t.Errorf("--out %s: a settings file was written", p)
		}
	}
	if _, err := models.Load(ckpt); err != nil {
		t.Fatalf("the checkpoint no longer loads: %v", err)
	}
}

// Defects: --perturb params interrupted between layer rows resumed with duplicate (index, layer)
// rows; `fisens merge` with its default key kept 2 of 18 per-layer rows, kept the first of two
// conflicting rows, accepted a missing shard and a cut last field, wrote no settings, and
// replaced /dev/full by a regular file.
func TestFIParamsInterruptedAndMerged(t *testing.T) {
	ckpt := fiModel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "params.csv")
	args := func(shard string) []string {
		return []string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "3", "--perturb", "params",
			"--out", out, "--backend", "go", "--shard", shard}
	}
	if err := runFI(args("0/2")); err != nil {
		t.Fatal(err)
	}
	s0 := results.Shard{I: 0, N: 2}.Path(out)
	full := readTable(t, s0)
	perExample := len(full.Rows) / 2 // examples 0 and 2
	// Interrupt example 2 after two of its layer rows (as the old writer could be).
	lines := bytes.SplitAfter(fileBytes(t, s0), []byte("\n"))
	cut := bytes.Join(lines[:1+perExample+2], nil)
	if err := os.WriteFile(s0, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runFI(args("0/2")); err != nil {
		t.Fatal(err)
	}
	if got := readTable(t, s0); len(got.Rows) != len(full.Rows) {
		t.Fatalf("after resuming the interrupted example: %d rows, want %d", len(got.Rows), len(full.Rows))
	}
	if err := runFI(args("1/2")); err != nil {
		t.Fatal(err)
	}
	s1 := results.Shard{I: 1, N: 2}.Path(out)

	merged := filepath.Join(dir, "merged.csv")
	if err := runMerge([]string{"--out", merged, s0}); err == nil || !strings.Contains(err.Error(), "1/2") {
		t.Errorf("merge with a missing shard: %v", err)
	}
	if err := runMerge([]string{"--out", merged, s0, s1}); err != nil {
		t.Fatal(err)
	}
	// Without inputs: the shard files of --out.
	if err := runMerge([]string{"--out", out}); err != nil {
		t.Fatal(err)
	}
	if a, b := fileBytes(t, out), fileBytes(t, merged); !bytes.Equal(a, b) {
		t.Errorf("merge of the shard files found next to --out differs from the explicit merge")
	}
	m := readTable(t, merged)
	if len(m.Rows) != 3*perExample || m.Settings["perturb"] != "params" || strings.Join(m.Key, ",") != "index,layer" {
		t.Fatalf("merged: %d rows (want %d), settings %v, key %v", len(m.Rows), 3*perExample, m.Settings, m.Key)
	}
	// --keys index (the old default) contradicts the recorded key.
	if err := runMerge([]string{"--out", filepath.Join(dir, "m2.csv"), "--keys", "index", s0, s1}); err == nil {
		t.Error("merge with --keys index of a per-layer table: want an error")
	}
	// A conflicting row.
	s1bytes := fileBytes(t, s1)
	lines = bytes.SplitAfter(s1bytes, []byte("\n"))
	rec := strings.Split(strings.TrimSuffix(string(lines[1]), "\n"), ",")
	rec[7] = "12345" // fi
	conflict := filepath.Join(dir, "x.shard-1-of-2.csv")
	os.WriteFile(conflict, []byte(string(lines[0])+strings.Join(rec, ",")+"\n"), 0o644)
	os.WriteFile(results.SettingsPath(conflict), fileBytes(t, results.SettingsPath(s1)), 0o644)
	if err := runMerge([]string{"--out", filepath.Join(dir, "m3.csv"), s0, s1, conflict}); err == nil ||
		!strings.Contains(err.Error(), "index=1, layer="+rec[1]) || !strings.Contains(err.Error(), conflict) {
		t.Errorf("merge of conflicting rows: %v", err)
	}
	// A cut last field.
	os.WriteFile(s1, s1bytes[:len(s1bytes)-4], 0o644)
	if err := runMerge([]string{"--out", filepath.Join(dir, "m4.csv"), s0, s1}); !errors.Is(err, results.ErrCorrupt) {
		t.Errorf("merge of a cut table: %v", err)
	}
	os.WriteFile(s1, s1bytes, 0o644)
	// /dev/full stays a device.
	if _, err := os.Stat("/dev/full"); err == nil {
		if err := runMerge([]string{"--out", "/dev/full", s0, s1}); err == nil {
			t.Error("merge into /dev/full: want an error")
		}
		if st, err := os.Stat("/dev/full"); err != nil || st.Mode()&os.ModeDevice == 0 {
			t.Fatalf("/dev/full was replaced: %v %v", st, err)
		}
	}
}

// Defect: two processes writing one --out produced every row twice. Now the second is refused.
func TestFISecondWriterRefused(t *testing.T) {
	ckpt := fiModel(t)
	out := filepath.Join(t.TempDir(), "fi.csv")
	args := []string{"--model", ckpt, "--data", "mnist", "--split", "test", "--n", "1", "--out", out, "--backend", "go"}
	if err := runFI(args); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Skip("flock unavailable:", err)
	}
	err = runFI(append(args, "--n", "2"))
	if !errors.Is(err, results.ErrLocked) {
		t.Fatalf("second writer: want ErrLocked, got %v", err)
	}
	if n := len(readTable(t, out).Rows); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// Defect: --reltol -1, NaN and --eps Inf were accepted (Inf gave FI = 0, rank 0, exit 0), and the
// help text stated another default than the code's.
func TestFIValidatesThresholds(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range [][]string{
		{"--reltol", "-1"}, {"--reltol", "NaN"}, {"--reltol", "Inf"}, {"--eps", "Inf"}, {"--eps", "-1e-3"}, {"--eps", "nan"},
	} {
		err := runFI(append(bad, "--model", "zoo:none", "--out", filepath.Join(dir, "x.csv")))
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: want an error about %s, got %v", bad, bad[0], err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.csv")); err == nil {
		t.Error("a refused run created its output")
	}
	for _, ok := range []float64{0, 1e-13, 1e-3} {
		if err := checkThreshold("reltol", ok, 1e-13); err != nil {
			t.Errorf("%g: %v", ok, err)
		}
	}
	if checkThreshold("eps", math.Inf(1), 1e-3) == nil {
		t.Error("Inf accepted")
	}
}

// The help text states the defaults the code uses.
func TestFIHelpStatesDefaults(t *testing.T) {
	var buf bytes.Buffer
	old := os.Stderr
	r, w, _ := os.Pipe()
	os.Stderr = w
	runFI([]string{"-h"})
	w.Close()
	os.Stderr = old
	buf.ReadFrom(r)
	for _, want := range []string{"default 1e-13", "default 0.001"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("fi -h does not say %q:\n%s", want, buf.String())
		}
	}
}

// An unlabeled image folder gives every image label 0: the true-label objective is refused.
func TestFIRefusesTrueLabelOnUnlabeledImages(t *testing.T) {
	dir := t.TempDir()
	err := runFI([]string{"--model", "zoo:alexnet-small-mnist", "--data", "images:" + dir, "--split", "unlabeled",
		"--out", filepath.Join(dir, "fi.csv"), "--backend", "go"})
	if err == nil || !strings.Contains(err.Error(), "--objective pred") {
		t.Fatalf("want an error naming --objective pred, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fi.csv")); !os.IsNotExist(err) {
		t.Fatalf("fi.csv was created: %v", err)
	}
}
