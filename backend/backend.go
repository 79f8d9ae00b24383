package backend

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, always available
)

// Default is the backend used when neither a flag nor $GOMLX_BACKEND names one.
const Default = "go"

var (
	mu     sync.Mutex
	cached = map[string]compute.Backend{}
)

// Name resolves the backend configuration: flag if non-empty, else $GOMLX_BACKEND, else Default.
func Name(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(compute.ConfigEnvVar); env != "" {
		return env
	}
	return Default
}

// New returns the backend named by flag (see Name). Backends are cached per configuration, since
// creating one can be expensive and a process only needs one of each.
func New(flag string) (compute.Backend, error) {
	cfg := Name(flag)
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cached[cfg]; ok {
		return b, nil
	}
	name, _, _ := strings.Cut(cfg, ":")
	if !Available(name) {
		return nil, fmt.Errorf("backend %q is not compiled in (available: %s); ONNX Runtime needs `-tags onnx` "+
			"and scripts/install-onnxruntime.sh, XLA needs `-tags xla` and scripts/install-xla.sh", cfg, strings.Join(List(), ", "))
	}
	var b compute.Backend
	var err error
	func() {
		// Some backends panic on a missing shared library: turn that into an error.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		b, err = compute.NewWithConfig(goConfig(cfg))
	}()
	if err != nil {
		return nil, fmt.Errorf("starting backend %q: %w", cfg, err)
	}
	if name == "go" || name == "onnx" || name == "onnxruntime" {
		b = Decorate(b, cfg)
	}
	cached[cfg] = b
	return b, nil
}

// Must is New for tests and examples: it panics on error.
func Must(flag string) compute.Backend {
	b, err := New(flag)
	if err != nil {
		panic(err)
	}
	return b
}

// List returns the names of the compiled-in backends.
func List() []string {
	names := compute.List()
	sort.Strings(names)
	return names
}

// Available reports whether a backend with this name (without ":config") is compiled in.
func Available(name string) bool {
	for _, n := range compute.List() {
		if n == name {
			return true
		}
	}
	// The ONNX backend registers under two names.
	return false
}

// goConfig runs the pure-Go backend's ops sequentially when no option is given: with the default
// parallel scheduler (compute v0.1.0) a 10-class input-Jacobian graph of a small ResNet was seen to
// deadlock intermittently in the worker pool on a 2-core machine, and sequential ops were about as
// fast there. "go:<options>" passes options through unchanged.
func goConfig(cfg string) string {
	if cfg == "go" {
		return "go:ops_sequential"
	}
	return cfg
}
