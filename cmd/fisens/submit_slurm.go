package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A job of a submission: its name (also its marker's), its command and whether it is the array.
type submitJob struct {
	name  string
	args  []string
	array bool
}

// jobs lists the plan's jobs in submission order.
func (p *submitPlan) jobs() []submitJob {
	var out []submitJob
	for _, t := range p.trainJobs {
		out = append(out, submitJob{name: t.name(), args: p.trainArgs(t)})
	}
	if p.finetune {
		out = append(out, submitJob{name: "setup0-finetune", args: p.finetuneArgs()})
	}
	if len(p.shardable) > 0 {
		out = append(out, submitJob{name: "fi", args: p.arrayArgs("TASK"), array: true})
	}
	if len(p.single) > 0 {
		out = append(out, submitJob{name: "single", args: p.reproduceArgs(p.single)})
	}
	out = append(out, submitJob{name: "final", args: p.reproduceArgs(p.finalOnly())})
	return out
}

// markerName is the name of a job's success marker (array task: per task, with ${TASK}).
func (p *submitPlan) markerName(j submitJob) string {
	if j.array {
		return fmt.Sprintf("%s-${TASK}-of-%d", j.name, p.shards)
	}
	return j.name
}

// jobBody is the shell body shared by the Slurm and Kubernetes jobs: skip when the job's marker
// exists (resubmission), run, leave the marker.
func (p *submitPlan) jobBody(j submitJob, doneDir, taskExpr string) string {
	var b strings.Builder
	b.WriteString("set -eu\n")
	for _, e := range p.env {
		name, val, _ := strings.Cut(e, "=")
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(val))
	}
	if j.array {
		fmt.Fprintf(&b, "TASK=%s\n", taskExpr)
	}
	fmt.Fprintf(&b, "cd %s\n", shellQuote(p.outDir))
	fmt.Fprintf(&b, "done_marker=%s/%s\n", shellQuote(doneDir), p.markerName(j))
	b.WriteString("if [ -e \"$done_marker\" ]; then echo \"already done: $done_marker\"; exit 0; fi\n")
	fmt.Fprintf(&b, "echo \"[$(date -u +%%FT%%TZ)] %s%s on $(hostname)\"\n", j.name, map[bool]string{true: " task ${TASK}", false: ""}[j.array])
	b.WriteString(shellJoin(j.args) + "\n")
	b.WriteString("mkdir -p \"$(dirname \"$done_marker\")\" && touch \"$done_marker\"\n")
	fmt.Fprintf(&b, "echo \"[$(date -u +%%FT%%TZ)] %s done\"\n", j.name)
	return b.String()
}

// writeSlurm writes DIR/slurm/: one batch script per job and submit.sh, which submits the jobs
// not yet done with their dependencies and records the job ids in DIR/slurm/jobs.txt.
func writeSlurm(p *submitPlan, sbatch, trainSbatch []string, maxParallel int) ([]string, error) {
	dir := filepath.Join(p.outDir, "slurm")
	doneDir := filepath.Join(dir, "done")
	logDir := filepath.Join(dir, "logs")
	var files []string
	for _, j := range p.jobs() {
		var b strings.Builder
		b.WriteString("#!/bin/bash\n")
		fmt.Fprintf(&b, "# fisens %s job %q — written by `fisens submit slurm`; submitted by submit.sh.\n", p.scale, j.name)
		fmt.Fprintf(&b, "#SBATCH --job-name=fisens-%s\n", j.name)
		fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", p.outDir)
		if j.array {
			fmt.Fprintf(&b, "#SBATCH --output=%s/%%x-%%A_%%a.out\n", logDir)
		} else {
			fmt.Fprintf(&b, "#SBATCH --output=%s/%%x-%%j.out\n", logDir)
		}
		lines := append([]string(nil), sbatch...)
		if strings.HasPrefix(j.name, "train-") {
			lines = append(lines, trainSbatch...)
		}
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if !strings.HasPrefix(l, "-") {
				l = "--" + l
			}
			fmt.Fprintf(&b, "#SBATCH %s\n", l)
		}
		b.WriteString(p.jobBody(j, doneDir, "${SLURM_ARRAY_TASK_ID:?not an array task}"))
		path := filepath.Join(dir, j.name+".sbatch")
		if err := writeFileMkdir(path, b.String(), 0o755); err != nil {
			return nil, err
		}
		files = append(files, path)
	}

	// submit.sh: submits what is not done, with afterok dependencies on what it submitted now.
	var b strings.Builder
	b.WriteString(`#!/bin/bash
# Submits the fisens run to Slurm (written by ` + "`fisens submit slurm`" + `). Rerun it to resume:
# jobs and array tasks whose marker exists in done/ are skipped; remove done/ to recompute.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p logs done
: > jobs.txt
sub() { # sub NAME [sbatch options] SCRIPT: submits, records and prints the job id
  local name=$1; shift
  local id
  id=$(sbatch --parsable --kill-on-invalid-dep=yes "$@" | cut -d';' -f1)
  echo "$name $id" >> jobs.txt
  echo "submitted $name: job $id" >&2
  echo "$id"
}
after() { # after ID...: the --dependency option for the ids given (none: nothing)
  local s=""
  for id in "$@"; do [ -n "$id" ] && s="$s:$id"; done
  if [ -n "$s" ]; then echo "--dependency=afterok$s"; fi
}
train_ids=() mnist_ids=() ft_id="" fi_id="" single_id=""
`)
	for _, t := range p.trainJobs {
		fmt.Fprintf(&b, "if [ ! -e done/%s ]; then id=$(sub %s %s.sbatch); train_ids+=(\"$id\")", t.name(), t.name(), t.name())
		if t.dataset == "mnist" {
			b.WriteString("; mnist_ids+=(\"$id\")")
		}
		b.WriteString("; fi\n")
	}
	if p.finetune {
		b.WriteString("if [ ! -e done/setup0-finetune ]; then ft_id=$(sub setup0-finetune $(after \"${mnist_ids[@]}\") setup0-finetune.sbatch); fi\n")
	}
	if len(p.shardable) > 0 {
		throttle := ""
		if maxParallel > 0 {
			throttle = fmt.Sprintf("%%%d", maxParallel)
		}
		fmt.Fprintf(&b, `todo=""
for ((i = 0; i < %d; i++)); do [ -e "done/fi-$i-of-%d" ] || todo="$todo,$i"; done
if [ -n "$todo" ]; then fi_id=$(sub fi --array="${todo#,}%s" $(after "${train_ids[@]}" "$ft_id") fi.sbatch); fi
`, p.shards, p.shards, throttle)
	}
	if len(p.single) > 0 {
		b.WriteString("if [ ! -e done/single ]; then single_id=$(sub single $(after \"${train_ids[@]}\") single.sbatch); fi\n")
	}
	b.WriteString(`if [ ! -e done/final ]; then
  sub final $(after "${train_ids[@]}" "$ft_id" "$fi_id" "$single_id") final.sbatch > /dev/null
else
  echo "everything is done (remove done/ to recompute); index: ` + p.outDir + `/index.md" >&2
fi
`)
	path := filepath.Join(dir, "submit.sh")
	if err := writeFileMkdir(path, b.String(), 0o755); err != nil {
		return nil, err
	}
	files = append(files, path)
	return files, nil
}
