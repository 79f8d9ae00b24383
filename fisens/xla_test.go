//go:build xla

package fisens

import (
	"os"
	"testing"
)

// TestFIAgreesAcrossBackendsXLA: input FI, patch maps and per-layer parameter FI (per example and
// batched) agree between the pure-Go backend and XLA's CPU backend.
func TestFIAgreesAcrossBackendsXLA(t *testing.T) {
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		t.Skip("XLA CPU plugin absent: run scripts/install-xla.sh and export what it prints (this test was skipped, not passed)")
	}
	agreeWithGo(t, "xla:cpu")
}
