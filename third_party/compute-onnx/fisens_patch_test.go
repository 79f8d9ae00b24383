// Copyright 2026 The fisens authors. SPDX-License-Identifier: Apache-2.0

package onnxruntime

import (
	"slices"
	"testing"

	onnx "github.com/gomlx/compute-onnx/internal/protos"
)

func initNames(inits []*onnx.TensorProto) []string {
	var s []string
	for _, t := range inits {
		s = append(s, t.Name)
	}
	return s
}

// TestPruneDeadNodesUnusedInitializers: an initializer no node reads is dropped even when every node
// is needed (ONNX Runtime warns once per such initializer, which filled the notebooks' stderr).
func TestPruneDeadNodesUnusedInitializers(t *testing.T) {
	t.Setenv("FISENS_ORT_NO_PRUNE", "")
	nodes := []*onnx.NodeProto{
		{OpType: "Add", Input: []string{"x", "const_1"}, Output: []string{"y"}},
		{OpType: "Mul", Input: []string{"y", "const_2"}, Output: []string{"z"}},
	}
	inits := []*onnx.TensorProto{{Name: "const_1"}, {Name: "const_unused"}, {Name: "const_2"}, {Name: "const_out"}}
	gotNodes, gotInits := pruneDeadNodes(nodes, inits, []string{"z", "const_out"})
	if len(gotNodes) != 2 {
		t.Errorf("kept %d nodes, want both", len(gotNodes))
	}
	if got, want := initNames(gotInits), []string{"const_1", "const_2", "const_out"}; !slices.Equal(got, want) {
		t.Errorf("initializers %v, want %v (the unread const_unused dropped, a graph output kept)", got, want)
	}
}

// TestPruneDeadNodesDead: a node no output depends on is dropped with the initializers only it read.
func TestPruneDeadNodesDead(t *testing.T) {
	t.Setenv("FISENS_ORT_NO_PRUNE", "")
	nodes := []*onnx.NodeProto{
		{OpType: "Add", Input: []string{"x", "const_1"}, Output: []string{"y"}},
		{OpType: "Mul", Input: []string{"x", "const_2"}, Output: []string{"dead"}},
		{OpType: "Neg", Input: []string{"y"}, Output: []string{"z"}},
	}
	inits := []*onnx.TensorProto{{Name: "const_1"}, {Name: "const_2"}}
	gotNodes, gotInits := pruneDeadNodes(nodes, inits, []string{"z"})
	var ops []string
	for _, n := range gotNodes {
		ops = append(ops, n.OpType)
	}
	if want := []string{"Add", "Neg"}; !slices.Equal(ops, want) {
		t.Errorf("nodes %v, want %v", ops, want)
	}
	if got, want := initNames(gotInits), []string{"const_1"}; !slices.Equal(got, want) {
		t.Errorf("initializers %v, want %v", got, want)
	}
	// FISENS_ORT_NO_PRUNE=1 keeps everything (for measurements).
	t.Setenv("FISENS_ORT_NO_PRUNE", "1")
	if n, i := pruneDeadNodes(nodes, inits, []string{"z"}); len(n) != 3 || len(i) != 2 {
		t.Errorf("FISENS_ORT_NO_PRUNE=1: %d nodes, %d initializers, want 3 and 2", len(n), len(i))
	}
}
