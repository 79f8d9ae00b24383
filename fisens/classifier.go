package fisens

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Classifier is what every measure needs from a network: its variables and a function that builds
// its logits. Any GoMLX model satisfies it with a few lines (models.Model does).
//
// Contract:
//   - Logits(scope, x) takes a float32 batch x of shape [B, H, W, C] (or any input shape the model
//     expects) and returns float32 logits of shape [B, K], K = NumClasses().
//   - It honours scope.IsTraining(g): dropout off and batch norm on its moving statistics when false.
//     fisens always builds its graphs in inference mode.
//   - A "layer" is the set of TRAINABLE variables that share one scope (e.g. a conv kernel and bias
//     in "/stage2/block1/conv1", a batch norm's gamma and beta in "/stage2/block1/bn1"). Layers are
//     numbered in variable creation order, which is the order the model function creates them.
//     Non-trainable state (batch-norm moving averages) must be marked Trainable = false.
type Classifier interface {
	Store() *model.Store
	Logits(scope *model.Scope, x *graph.Node) *graph.Node
	NumClasses() int
}
