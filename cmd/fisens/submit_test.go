package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSbatch puts an sbatch on PATH that logs its arguments and prints job ids 101, 102, ...
func fakeSbatch(t *testing.T) (logFile string) {
	t.Helper()
	dir := t.TempDir()
	logFile = filepath.Join(dir, "sbatch.log")
	script := `#!/bin/bash
n=$(( $(wc -l < "` + logFile + `" 2>/dev/null || echo 0) + 101 ))
echo "$n $*" >> "` + logFile + `"
echo "$n;cluster"
`
	if err := os.WriteFile(filepath.Join(dir, "sbatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logFile
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestSubmitSlurmDependenciesAndResume(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	log := fakeSbatch(t)
	out := t.TempDir()
	args := []string{"slurm", "--scale", "paper", "--out", out, "--shards", "3", "--bin", "/opt/fisens",
		"--only", "train,setup0,setup1,table1", "--set", "train.Datasets=mnist", "--set", "setup1.Images=5",
		"--sbatch", "time=2:00:00", "--train-sbatch", "--gres=gpu:1", "--max-parallel", "2"}
	if _, err := captureStdout(t, func() error { return runSubmit(args) }); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "slurm")
	for _, f := range []string{"submit.sh", "train-resnet50-mnist.sbatch", "train-densenet121-mnist.sbatch",
		"setup0-finetune.sbatch", "fi.sbatch", "single.sbatch", "final.sbatch"} {
		p := filepath.Join(dir, f)
		if err := exec.Command("bash", "-n", p).Run(); err != nil {
			t.Errorf("%s: bash -n: %v", f, err)
		}
	}
	fi, _ := os.ReadFile(filepath.Join(dir, "fi.sbatch"))
	for _, want := range []string{"#SBATCH --chdir=" + out, "#SBATCH --time=2:00:00", "--shard \"${TASK}/3\"",
		"--only setup0,setup1", "--set setup1.Images=5", "TASK=${SLURM_ARRAY_TASK_ID:?", "/done/fi-${TASK}-of-3"} {
		if !strings.Contains(string(fi), want) {
			t.Errorf("fi.sbatch lacks %q:\n%s", want, fi)
		}
	}
	if strings.Contains(string(fi), "gres") {
		t.Error("--train-sbatch leaked into the array job")
	}
	tr, _ := os.ReadFile(filepath.Join(dir, "train-resnet50-mnist.sbatch"))
	for _, want := range []string{"#SBATCH --gres=gpu:1", "--only train", "--set train.Archs=resnet50 --set train.Datasets=mnist"} {
		if !strings.Contains(string(tr), want) {
			t.Errorf("train job lacks %q:\n%s", want, tr)
		}
	}
	final, _ := os.ReadFile(filepath.Join(dir, "final.sbatch"))
	if !strings.Contains(string(final), "--only train,setup0,setup1 ") || strings.Contains(string(final), "--shard") {
		t.Errorf("final job: want every experiment except table1 (single job), no --shard:\n%s", final)
	}

	run := func() []string {
		os.Remove(log)
		cmd := exec.Command("bash", filepath.Join(dir, "submit.sh"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("submit.sh: %v\n%s", err, b)
		}
		if _, err := os.Stat(log); err != nil {
			return nil
		}
		return readLines(t, log)
	}
	got := run()
	want := []string{
		"101 --parsable --kill-on-invalid-dep=yes train-resnet50-mnist.sbatch",
		"102 --parsable --kill-on-invalid-dep=yes train-densenet121-mnist.sbatch",
		"103 --parsable --kill-on-invalid-dep=yes --dependency=afterok:101:102 setup0-finetune.sbatch",
		"104 --parsable --kill-on-invalid-dep=yes --array=0,1,2%2 --dependency=afterok:101:102:103 fi.sbatch",
		"105 --parsable --kill-on-invalid-dep=yes --dependency=afterok:101:102 single.sbatch",
		"106 --parsable --kill-on-invalid-dep=yes --dependency=afterok:101:102:103:104:105 final.sbatch",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("first submission:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Resubmission after some jobs finished: only the rest, depending only on what is resubmitted.
	done := filepath.Join(dir, "done")
	for _, m := range []string{"train-resnet50-mnist", "train-densenet121-mnist", "setup0-finetune", "fi-0-of-3", "fi-2-of-3", "single"} {
		if err := os.WriteFile(filepath.Join(done, m), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got = run()
	want = []string{
		"101 --parsable --kill-on-invalid-dep=yes --array=1%2 fi.sbatch",
		"102 --parsable --kill-on-invalid-dep=yes --dependency=afterok:101 final.sbatch",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resubmission:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	jobs := readLines(t, filepath.Join(dir, "jobs.txt"))
	if strings.Join(jobs, ";") != "fi 101;final 102" {
		t.Errorf("jobs.txt = %q", jobs)
	}
	if err := os.WriteFile(filepath.Join(done, "fi-1-of-3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(done, "final"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got = run(); len(got) != 0 {
		t.Errorf("everything done, yet submitted %q", got)
	}
}

func TestSubmitK8sAndErrors(t *testing.T) {
	out := t.TempDir()
	if _, err := captureStdout(t, func() error {
		return runSubmit([]string{"k8s", "--scale", "paper", "--out", out, "--shards", "4", "--image", "reg/fisens:1",
			"--only", "train,setup1", "--set", "train.Datasets=mnist", "--max-parallel", "2", "--gpu", "1"})
	}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.ReadFile(filepath.Join(out, "k8s", "fi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"completionMode: Indexed", "completions: 4", "parallelism: 2", "JOB_COMPLETION_INDEX",
		"--shard \"${TASK}/4\"", "claimName: fisens-out", "nvidia.com/gpu: 1", "image: reg/fisens:1"} {
		if !strings.Contains(string(fi), want) {
			t.Errorf("fi.yaml lacks %q", want)
		}
	}
	runSh, _ := os.ReadFile(filepath.Join(out, "k8s", "run.sh"))
	order := []string{"apply -f train-resnet50-mnist.yaml", "wait --for=condition=complete --timeout=-1s job/fisens-train-densenet121-mnist",
		"apply -f fi.yaml", "apply -f final.yaml"}
	last := -1
	for _, s := range order {
		i := strings.Index(string(runSh), s)
		if i <= last {
			t.Errorf("run.sh: %q missing or out of order:\n%s", s, runSh)
		}
		last = i
	}
	for _, bad := range [][]string{
		{"slurm", "--out", out},    // no --shards
		{"slurm", "--shards", "2"}, // no --out
		{"slurm", "--out", out, "--shards", "2", "--only", "nope"},
		{"slurm", "--out", out, "--shards", "2", "--set", "nope.X=1"},
		{"k8s", "--out", out, "--shards", "2"}, // no --image
		{"pbs", "--out", out, "--shards", "2"},
	} {
		if err := runSubmit(bad); err == nil {
			t.Errorf("runSubmit(%q) succeeded", bad)
		}
	}
}
