package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/experiments"
)

func init() {
	register(command{name: "submit", summary: "write a cluster submission of `fisens reproduce` (Slurm job arrays, Kubernetes Indexed Jobs)", run: runSubmit})
}

const submitUsage = `usage: fisens submit slurm --out DIR --shards N [flags]
       fisens submit k8s   --out DIR --shards N --image IMAGE [flags]

Writes a submission of ` + "`fisens reproduce`" + ` that a cluster runs as is, into DIR/slurm/ or DIR/k8s/:

  1. one training job per (architecture, dataset) of the paper models (the "train" experiment;
     paper scale: ResNet50 and DenseNet121 on MNIST and, when its files are found, CIFAR-10),
  2. Setup 0's fine-tuning (once, before its shards), after the MNIST training jobs,
  3. an array of N tasks, task i running every per-example experiment with --shard i/N,
     after the training jobs,
  4. one job for the experiments that do not shard (the estimator, Table 1),
  5. a final job without --shard that merges the shard files, draws every figure and writes
     DIR/index.md, after all the others.

Every job writes into the one output folder DIR (its working directory) and leaves a marker in
DIR/<kind>/done/ when it succeeds. Resubmitting (running the submit script again, or rerunning
this command) skips finished jobs and array tasks; an interrupted task resumes its result files.

Slurm:       sh DIR/slurm/submit.sh   (sbatch with --dependency=afterok:..., --array=...)
Kubernetes:  sh DIR/k8s/run.sh        (kubectl apply + kubectl wait; Indexed Job; NOT tested here)

flags:
`

// submitPlan is what both back ends write: the jobs and their command lines.
type submitPlan struct {
	bin       string   // fisens binary as the jobs call it
	outDir    string   // absolute output folder (the jobs' working directory)
	scale     string   // quick or paper
	backend   string   // --backend of every job ("" → the environment's)
	seed      int64    // --seed of every job
	sets      []string // --set entries of every job
	shards    int      // array tasks
	trainJobs []trainJob
	shardable []string // experiments run by the array
	single    []string // experiments that do not shard (one job)
	finetune  bool     // Setup 0 fine-tunes before its shards
	all       []string // every selected experiment (the final job)
	env       []string // NAME=value exported by every job
}

type trainJob struct{ arch, dataset string }

func (t trainJob) name() string { return "train-" + t.arch + "-" + t.dataset }

// experiments whose per-example work is split by --shard (the others compute everything in each task).
var shardableExperiments = map[string]bool{
	"setup0": true, "setup1": true, "setup2": true, "setup3": true, "setup4": true,
	"onepixel": true, "identity": true, "cheney": true, "informative": true,
}

// environment variables a job needs from the submitting shell (backend, data, plugin paths).
var submitEnvVars = []string{"GOMLX_BACKEND", "ONNXRUNTIME_SHARED_LIBRARY_PATH", "GOMLX_NO_AUTO_INSTALL",
	"PJRT_PLUGIN_LIBRARY_PATH", datasets.EnvDataDir, "GOMODCACHE", "GOLANG_PROTOBUF_REGISTRATION_CONFLICT"}

func runSubmit(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, submitUsage)
		newSubmitFlags("slurm").fs.PrintDefaults()
		if len(args) == 0 {
			return errors.New("want a target: slurm or k8s")
		}
		return nil
	}
	target := args[0]
	if target != "slurm" && target != "k8s" {
		return fmt.Errorf("unknown target %q: want slurm or k8s", target)
	}
	f := newSubmitFlags(target)
	if err := f.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", f.fs.Args())
	}
	plan, err := f.plan()
	if err != nil {
		return err
	}
	var files []string
	switch target {
	case "slurm":
		files, err = writeSlurm(plan, f.sbatch, f.trainSbatch, f.maxParallel)
	case "k8s":
		if *f.image == "" {
			return errors.New("--image is required for k8s (an image holding the fisens binary, see deploy/k8s/README.md)")
		}
		files, err = writeK8s(plan, k8sOptions{image: *f.image, pvc: *f.pvc, namespace: *f.namespace,
			parallelism: f.maxParallel, cpu: *f.cpu, memory: *f.memory, gpu: *f.gpu})
	}
	if err != nil {
		return err
	}
	for _, p := range files {
		fmt.Println(p)
	}
	return nil
}

// submitFlags are the flags of both targets.
type submitFlags struct {
	fs                  *flag.FlagSet
	out, scale, only    *string
	bin, backendFlag    *string
	shards              *int
	seed                *int64
	sets                []string
	sbatch, trainSbatch []string
	maxParallel         int
	// k8s
	image, pvc, namespace, cpu, memory *string
	gpu                                *int
}

func newSubmitFlags(target string) *submitFlags {
	fs := flag.NewFlagSet("submit "+target, flag.ContinueOnError)
	f := &submitFlags{fs: fs}
	fs.Usage = func() { fmt.Fprint(os.Stderr, submitUsage); fs.PrintDefaults() }
	f.out = fs.String("out", "", "output folder of the whole run (required; the jobs' working directory; must be on a file system every node sees)")
	f.scale = fs.String("scale", "paper", "quick or paper")
	f.only = fs.String("only", "", "comma-separated experiments (default: all; `fisens reproduce --list`)")
	f.bin = fs.String("bin", "", "the fisens binary the jobs run (default: this one, by absolute path)")
	f.backendFlag = fs.String("backend", "", "--backend of every job (default: $GOMLX_BACKEND of the jobs' environment)")
	f.shards = fs.Int("shards", 0, "array tasks of the per-example experiments (required, ≥ 1)")
	f.seed = fs.Int64("seed", 1, "--seed of every job")
	fs.Func("set", "override a setting of every job: experiment.Field=value (repeatable), as for reproduce", func(v string) error {
		f.sets = append(f.sets, v)
		return nil
	})
	fs.IntVar(&f.maxParallel, "max-parallel", 0, "at most this many array tasks at once (0: no limit; Slurm --array=...%M, k8s parallelism)")
	if target == "slurm" {
		fs.Func("sbatch", "extra #SBATCH line for every job, e.g. --sbatch='--partition=gpu' --sbatch='--time=12:00:00' (repeatable)", func(v string) error {
			f.sbatch = append(f.sbatch, v)
			return nil
		})
		fs.Func("train-sbatch", "extra #SBATCH line for the training jobs only (after --sbatch), e.g. '--gres=gpu:1' (repeatable)", func(v string) error {
			f.trainSbatch = append(f.trainSbatch, v)
			return nil
		})
	}
	f.image = fs.String("image", "", "k8s: container image with the fisens binary on PATH (or --bin inside it)")
	f.pvc = fs.String("pvc", "fisens-out", "k8s: PersistentVolumeClaim (ReadWriteMany) mounted at --out in every pod")
	f.namespace = fs.String("namespace", "", "k8s: namespace of the Jobs (default: kubectl's)")
	f.cpu = fs.String("cpu", "2", "k8s: CPU request of every pod")
	f.memory = fs.String("memory", "16Gi", "k8s: memory request of every pod")
	f.gpu = fs.Int("gpu", 0, "k8s: nvidia.com/gpu limit of every pod")
	return f
}

// plan checks the flags and works out the jobs.
func (f *submitFlags) plan() (*submitPlan, error) {
	if *f.out == "" {
		return nil, errors.New("--out DIR is required")
	}
	if *f.shards < 1 {
		return nil, errors.New("--shards N (≥ 1) is required")
	}
	if f.maxParallel < 0 {
		return nil, fmt.Errorf("--max-parallel %d: want ≥ 0", f.maxParallel)
	}
	sc, err := experiments.ParseScale(*f.scale)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(*f.out)
	if err != nil {
		return nil, err
	}
	bin := *f.bin
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding this binary (pass --bin): %w", err)
		}
	}
	overrides, err := experiments.ParseOverrides(f.sets...)
	if err != nil {
		return nil, err
	}
	p := &submitPlan{bin: bin, outDir: out, scale: string(sc), backend: *f.backendFlag, seed: *f.seed, sets: f.sets, shards: *f.shards}
	todo := experiments.List()
	if *f.only != "" {
		todo = nil
		for _, name := range strings.Split(*f.only, ",") {
			e, err := experiments.Lookup(strings.TrimSpace(name))
			if err != nil {
				return nil, err
			}
			todo = append(todo, e)
		}
		sort.SliceStable(todo, func(i, j int) bool { return todo[i].Order < todo[j].Order })
	}
	for _, e := range todo {
		p.all = append(p.all, e.Name)
		switch {
		case e.Name == "train":
			// The training pairs, as the train experiment resolves them with these overrides.
			cfg := experiments.DefaultTrainModelsConfig(sc, *f.backendFlag)
			if err := overrides.Apply("train", &cfg); err != nil {
				return nil, err
			}
			for _, ds := range cfg.Datasets {
				for _, a := range cfg.Archs {
					p.trainJobs = append(p.trainJobs, trainJob{arch: a, dataset: ds})
				}
			}
		case shardableExperiments[e.Name]:
			p.shardable = append(p.shardable, e.Name)
			if e.Name == "setup0" {
				p.finetune = true
			}
		default:
			p.single = append(p.single, e.Name)
		}
	}
	for _, name := range submitEnvVars {
		if v, ok := os.LookupEnv(name); ok {
			if name == datasets.EnvDataDir || strings.HasSuffix(name, "_PATH") || name == "GOMODCACHE" {
				if abs, err := filepath.Abs(v); err == nil {
					v = abs
				}
			}
			p.env = append(p.env, name+"="+v)
		}
	}
	return p, nil
}

// reproduceArgs is the command line of one job: reproduce with the plan's settings, then extra.
func (p *submitPlan) reproduceArgs(only []string, extra ...string) []string {
	args := []string{p.bin, "reproduce", "--scale", p.scale, "--out", ".", "--seed", fmt.Sprint(p.seed), "--only", strings.Join(only, ",")}
	if p.backend != "" {
		args = append(args, "--backend", p.backend)
	}
	for _, s := range p.sets {
		args = append(args, "--set", s)
	}
	return append(args, extra...)
}

func (p *submitPlan) trainArgs(t trainJob) []string {
	return p.reproduceArgs([]string{"train"}, "--set", "train.Archs="+t.arch, "--set", "train.Datasets="+t.dataset)
}

func (p *submitPlan) finetuneArgs() []string {
	return p.reproduceArgs([]string{"setup0"}, "--set", "setup0.FineTuneOnly=true")
}

// arrayArgs is the command of array task $TASK (a shell variable expanded by the job).
func (p *submitPlan) arrayArgs(taskVar string) []string {
	return p.reproduceArgs(p.shardable, "--shard", "${"+taskVar+"}/"+fmt.Sprint(p.shards))
}

// finalOnly is what the final job runs: everything except the single job's experiments (whose
// reports it lists in the index from DIR/reports).
func (p *submitPlan) finalOnly() []string {
	var out []string
	for _, e := range p.all {
		if !contains(p.single, e) {
			out = append(out, e)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell, leaving ${VAR} references of array tasks expandable.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	if strings.HasPrefix(s, "${") && !strings.ContainsAny(s, "'\"`\\ ;") {
		return "\"" + s + "\""
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// writeFileMkdir writes a file, creating its folder.
func writeFileMkdir(p string, data string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(data), mode)
}
