package fisens

import (
	"testing"

	"github.com/fisens/fisens/internal/testnet"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

// The tests' small network, batches and backend live in internal/testnet, shared with the
// sub-packages' tests.

type tinyNet = testnet.TinyNet

func newTinyNet(seed uint64, H, W, C, F, K int, tanh bool) *tinyNet {
	return testnet.NewTinyNet(seed, H, W, C, F, K, tanh)
}

func addBias(h, b *graph.Node) *graph.Node { return testnet.AddBias(h, b) }

func randomBatch(seed uint64, N, H, W, C, K int) Batch {
	x, shape, labels := testnet.RandomBatch(seed, N, H, W, C, K)
	return Batch{X: x, Shape: shape, Labels: labels}
}

func testBackend(t testing.TB) compute.Backend { return testnet.Backend(t) }
