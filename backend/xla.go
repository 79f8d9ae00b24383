//go:build xla

package backend

// XLA backend ("xla:cpu", "xla:cuda"); needs a PJRT plugin installed by the user.
import _ "github.com/gomlx/go-xla/compute/xla"
