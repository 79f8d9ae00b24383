//go:build xla

package fisens

import (
	"os"
	"testing"

	"github.com/fisens/fisens/backend"
)

// TestFIAgreesAcrossBackendsXLA: input FI, patch maps and per-layer parameter FI (per example and
// batched) agree between the pure-Go backend and XLA's CPU backend.
func TestFIAgreesAcrossBackendsXLA(t *testing.T) {
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		t.Skip("XLA CPU plugin absent: run scripts/install-xla.sh and export what it prints (this test was skipped, not passed)")
	}
	agreeWithGo(t, "xla:cpu")
}

// TestParamFIBatchGhostGramsXLA: TestParamFIBatchGhostGrams on XLA's CPU backend.
func TestParamFIBatchGhostGramsXLA(t *testing.T) {
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		t.Skip("XLA CPU plugin absent: run scripts/install-xla.sh and export what it prints (this test was skipped, not passed)")
	}
	checkGhostGrams(t, backend.Must("xla:cpu"))
}
