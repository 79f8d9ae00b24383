//go:build xla

package backend

// XLA backend ("xla:cpu", "xla:cuda"); needs a PJRT plugin: scripts/install-xla.sh installs the CPU one.
import _ "github.com/gomlx/go-xla/compute/xla"
