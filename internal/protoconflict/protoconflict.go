// Package protoconflict lets the two ONNX packages of the stack be linked into one binary.
//
// compute-onnx (the ONNX Runtime backend) and onnx-gomlx (the ONNX importer) each compile their own
// copy of ONNX's "onnx-ml.proto" and register it in protobuf's global registry at start-up; the
// second registration panics ("proto: file "onnx-ml.proto" is already registered") unless the
// registry's conflict policy says otherwise. The policy is read from the environment variable
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT at the moment of the conflict, i.e. during package
// initialisation, before any main or TestMain runs.
//
// This package sets that variable to "ignore" in its init function when the user has not set it.
// Go initialises packages in the order of their import paths among those whose imports are
// initialised (the Go spec's rule since Go 1.21), and this package imports only "os": its path,
// github.com/fisens/fisens/internal/protoconflict, sorts before github.com/gomlx/compute-onnx/...
// and github.com/gomlx/onnx-gomlx/..., and both proto packages depend on protobuf's registry, which
// imports "os" itself, so this init runs before either registers. The two registrations describe
// the same ONNX messages; each package keeps using its own generated types, so ignoring the second
// one changes nothing for either. TestProtoConflictPolicy (models, build tag onnx) links both and
// checks it. Any package that imports onnx-gomlx must import this one (models/onnx.go does).
//
// Setting GOLANG_PROTOBUF_REGISTRATION_CONFLICT yourself (warn, panic) takes precedence; building
// with -ldflags "-X google.golang.org/protobuf/reflect/protoregistry.conflictPolicy=ignore" is the
// equivalent at link time.
package protoconflict

import "os"

// EnvVar is the protobuf registry's conflict-policy variable.
const EnvVar = "GOLANG_PROTOBUF_REGISTRATION_CONFLICT"

// SetByUs reports whether this package set EnvVar (false: the user had set it).
var SetByUs bool

func init() {
	if os.Getenv(EnvVar) == "" {
		os.Setenv(EnvVar, "ignore")
		SetByUs = true
	}
}
