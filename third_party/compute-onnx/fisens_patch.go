// Copyright 2026 The fisens authors. SPDX-License-Identifier: Apache-2.0

package onnxruntime

// fisens patch (see PATCH.md): what this copy of compute-onnx adds to the pinned upstream version.
//
//  1. Dead-node pruning before the model is handed to ONNX Runtime. GoMLX emits every op into the
//     backend as the graph is built, and its reverse-mode autodiff emits the VJP of every input of
//     a differentiated op — the kernel gradient of a convolution, the weight gradient of a matrix
//     product, the bias and batch-norm parameter gradients — even when only the input gradient is
//     wanted. XLA drops such nodes; ONNX Runtime executes them. On the small ResNet, a one-class
//     input gradient had 620 nodes of which 406 are needed, and the 10-class input Jacobian 4,150
//     of which 2,090 are needed: the pruned graphs run 1.7–3.8× faster.
//  2. Session options for CPU sessions, from the environment (read when a graph is compiled):
//     FISENS_ORT_THREADS=n             intra-op threads (default: ONNX Runtime's, one per core)
//     FISENS_ORT_SPIN=0|1              let idle intra-op threads spin (default 0 here; ONNX
//                                      Runtime's own default is 1, which on a shared, oversubscribed
//                                      machine made a backward pass 2–4× slower)
//     FISENS_ORT_PROFILE=prefix        write ONNX Runtime's per-node JSON trace of each session
//     FISENS_ORT_PROFILE_RUNS=n        ... ended after n runs of the session (default 5)
//     FISENS_ORT_NO_PRUNE=1            disable 1. (for measurements)
//  3. LiveSessions: how many ONNX Runtime sessions (compiled graphs) the process holds. Nothing frees a
//     session but Executable.Finalize (GoMLX: Exec.Finalize; fisens: Model.Close, Analyzer.Close),
//     so a process that compiles graphs for many models grows until it finalizes them; fisens' tests
//     use the count to check that closing a model and its analyzer frees every session.

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/gomlx/compute-onnx/internal/ort"
	onnx "github.com/gomlx/compute-onnx/internal/protos"
)

// pruneDeadNodes keeps the nodes some graph output depends on (nodes are in topological order)
// and the initializers they (or the graph outputs) read; unread initializers are dropped even when no
// node is dead.
func pruneDeadNodes(nodes []*onnx.NodeProto, inits []*onnx.TensorProto, outputs []string) ([]*onnx.NodeProto, []*onnx.TensorProto) {
	if os.Getenv("FISENS_ORT_NO_PRUNE") != "" {
		return nodes, inits
	}
	needed := make(map[string]bool, len(nodes))
	for _, o := range outputs {
		needed[o] = true
	}
	keep := make([]bool, len(nodes))
	kept := 0
	for i := len(nodes) - 1; i >= 0; i-- {
		for _, o := range nodes[i].Output {
			if needed[o] {
				keep[i] = true
				break
			}
		}
		if keep[i] {
			kept++
			for _, in := range nodes[i].Input {
				needed[in] = true
			}
		}
	}
	outNodes := nodes
	if kept < len(nodes) {
		outNodes = make([]*onnx.NodeProto, 0, kept)
		for i, n := range nodes {
			if keep[i] {
				outNodes = append(outNodes, n)
			}
		}
	}
	// The initializers are filtered even when every node is needed: GoMLX can emit constants that no
	// node reads (Setup 1's graphs hold 20), and ONNX Runtime prints a warning per unread initializer
	// ("CleanUnusedInitializersAndNodeArgs: Removing initializer …").
	outInits := inits[:0:0]
	for _, t := range inits {
		if needed[t.Name] {
			outInits = append(outInits, t)
		}
	}
	return outNodes, outInits
}

// cpuOptionsWanted reports whether CPU sessions need options (always: spinning is off by default).
func cpuOptionsWanted() bool { return true }

// setCPUOptions applies the FISENS_ORT_* environment to a CPU session's options.
func setCPUOptions(o *ort.SessionOptions) error {
	if v := os.Getenv("FISENS_ORT_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("FISENS_ORT_THREADS=%q: want a number >= 0", v)
		}
		if err := o.SetIntraOpNumThreads(n); err != nil {
			return err
		}
	}
	spin := "0"
	if v := os.Getenv("FISENS_ORT_SPIN"); v != "" {
		if v != "0" && v != "1" {
			return fmt.Errorf("FISENS_ORT_SPIN=%q: want 0 or 1", v)
		}
		spin = v
	}
	if err := o.AddConfigEntry("session.intra_op.allow_spinning", spin); err != nil {
		return err
	}
	if err := o.AddConfigEntry("session.inter_op.allow_spinning", spin); err != nil {
		return err
	}
	if p := os.Getenv("FISENS_ORT_PROFILE"); p != "" {
		profileSeq++
		if err := o.EnableProfiling(fmt.Sprintf("%s-%03d", p, profileSeq)); err != nil {
			return err
		}
	}
	return nil
}

var profileSeq int

// profiledRun counts CPU runs and ends the profile after FISENS_ORT_PROFILE_RUNS of them.
func (e *Executable) profiledRun() {
	if os.Getenv("FISENS_ORT_PROFILE") == "" {
		return
	}
	e.runs++
	n, _ := strconv.Atoi(os.Getenv("FISENS_ORT_PROFILE_RUNS"))
	if n <= 0 {
		n = 5
	}
	if e.runs == n {
		if f, err := e.session.EndProfiling(); err == nil {
			fmt.Fprintf(os.Stderr, "onnx: ONNX Runtime profile written to %s\n", f)
		}
	}
}

// liveSessions counts the sessions created by Compile and not yet destroyed by Executable.Finalize.
var liveSessions atomic.Int64

// LiveSessions returns the number of ONNX Runtime sessions (compiled graphs) this process holds:
// created by compiling a graph, freed only by the executable's Finalize (fisens patch; for tests
// and leak checks).
func LiveSessions() int { return int(liveSessions.Load()) }

// liveBuffers counts the buffers (device tensors) created and not yet finalized.
var liveBuffers atomic.Int64

// countBuffer counts a new buffer holding a tensor until its Finalize.
func countBuffer(b *Buffer) *Buffer {
	if b.wrapper != nil {
		liveBuffers.Add(1)
	}
	return b
}

// LiveBuffers returns the number of buffers (tensors held by ONNX Runtime: inputs copied in, graph
// outputs, variable values) created and not yet finalized (fisens patch; for tests and leak
// checks). GoMLX frees a tensor's buffer only when the tensor is finalized (no garbage-collector
// cleanup), so the count grows with every buffer a program drops without finalizing it.
func LiveBuffers() int { return int(liveBuffers.Load()) }
