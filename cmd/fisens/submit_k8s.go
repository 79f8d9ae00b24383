package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// k8sOptions are the pod settings of a Kubernetes submission.
type k8sOptions struct {
	image, pvc, namespace, cpu, memory string
	parallelism, gpu                   int
}

// writeK8s writes DIR/k8s/: one Job manifest per job (the array as an Indexed Job whose pods read
// $JOB_COMPLETION_INDEX) and run.sh, which applies them in order and waits for each stage with
// `kubectl wait` (Kubernetes has no dependencies between Jobs). Every pod mounts the claim --pvc
// at DIR and runs there. Not tested here (no cluster): see deploy/k8s/README.md.
func writeK8s(p *submitPlan, o k8sOptions) ([]string, error) {
	dir := filepath.Join(p.outDir, "k8s")
	doneDir := filepath.Join(p.outDir, "k8s", "done")
	var files []string
	stage := map[string]int{} // job name → stage (0 train, 1 finetune, 2 array + single, 3 final)
	for _, j := range p.jobs() {
		switch {
		case strings.HasPrefix(j.name, "train-"):
			stage[j.name] = 0
		case j.name == "setup0-finetune":
			stage[j.name] = 1
		case j.name == "final":
			stage[j.name] = 3
		default:
			stage[j.name] = 2
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# fisens %s job %q — written by `fisens submit k8s` (not tested here); applied by run.sh.\n", p.scale, j.name)
		b.WriteString("apiVersion: batch/v1\nkind: Job\nmetadata:\n")
		fmt.Fprintf(&b, "  name: fisens-%s\n", j.name)
		if o.namespace != "" {
			fmt.Fprintf(&b, "  namespace: %s\n", o.namespace)
		}
		b.WriteString("  labels: {app: fisens}\nspec:\n")
		if j.array {
			par := p.shards
			if o.parallelism > 0 && o.parallelism < par {
				par = o.parallelism
			}
			fmt.Fprintf(&b, "  completionMode: Indexed\n  completions: %d\n  parallelism: %d\n", p.shards, par)
			b.WriteString("  backoffLimitPerIndex: 2\n  maxFailedIndexes: 0\n")
		} else {
			b.WriteString("  completions: 1\n  backoffLimit: 2\n")
		}
		b.WriteString("  template:\n    metadata:\n      labels: {app: fisens}\n    spec:\n      restartPolicy: Never\n")
		b.WriteString("      containers:\n      - name: fisens\n")
		fmt.Fprintf(&b, "        image: %s\n", o.image)
		fmt.Fprintf(&b, "        workingDir: %s\n", p.outDir)
		b.WriteString("        command: [\"/bin/sh\", \"-c\"]\n        args:\n        - |\n")
		for _, l := range strings.Split(strings.TrimRight(p.jobBody(j, doneDir, "${JOB_COMPLETION_INDEX:?not an indexed job}"), "\n"), "\n") {
			fmt.Fprintf(&b, "          %s\n", l)
		}
		fmt.Fprintf(&b, "        resources:\n          requests: {cpu: %q, memory: %q}\n", o.cpu, o.memory)
		if o.gpu > 0 {
			fmt.Fprintf(&b, "          limits: {nvidia.com/gpu: %d}\n", o.gpu)
		}
		fmt.Fprintf(&b, "        volumeMounts:\n        - {name: out, mountPath: %s}\n", p.outDir)
		fmt.Fprintf(&b, "      volumes:\n      - name: out\n        persistentVolumeClaim: {claimName: %s}\n", o.pvc)
		path := filepath.Join(dir, j.name+".yaml")
		if err := writeFileMkdir(path, b.String(), 0o644); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Runs the fisens submission on Kubernetes (written by ` + "`fisens submit k8s`" + `; NOT tested here).
# Stages run one after the other (Jobs have no dependencies): apply, then wait for completion.
# Rerun to resume: finished jobs and indexes exit at once (markers in done/ on the claim);
# delete the Jobs first (kubectl delete job -l app=fisens) since Job objects are immutable.
set -eu
cd "$(dirname "$0")"
`)
	ns := ""
	if o.namespace != "" {
		ns = " -n " + o.namespace
	}
	for s := 0; s <= 3; s++ {
		var names []string
		for _, j := range p.jobs() {
			if stage[j.name] == s {
				names = append(names, j.name)
			}
		}
		if len(names) == 0 {
			continue
		}
		for _, n := range names {
			fmt.Fprintf(&b, "kubectl%s apply -f %s.yaml\n", ns, n)
		}
		for _, n := range names {
			fmt.Fprintf(&b, "kubectl%s wait --for=condition=complete --timeout=-1s job/fisens-%s\n", ns, n)
		}
	}
	fmt.Fprintf(&b, "echo \"done: %s/index.md\"\n", p.outDir)
	path := filepath.Join(dir, "run.sh")
	if err := writeFileMkdir(path, b.String(), 0o755); err != nil {
		return nil, err
	}
	return append(files, path), nil
}
