#!/usr/bin/env bash
# Installs the ONNX Runtime shared library (the fast CPU backend of GoMLX) from the npm registry into
# .onnxruntime/ (git-ignored): `npm pack` the onnxruntime-node package, extract the one .so file,
# verify its SHA-256. Prints the environment to export. Idempotent.
set -euo pipefail
VERSION=1.30.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=$ROOT/.onnxruntime
LIB=$DEST/libonnxruntime.so.1
# SHA-256 of package/bin/napi-v6/linux/x64/libonnxruntime.so.1 in onnxruntime-node@1.30.0.
SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
if [[ ! -f $LIB ]]; then
  command -v npm >/dev/null || { echo "install-onnxruntime: npm not found (apt-get install npm)" >&2; exit 1; }
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  (cd "$TMP" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
  tar -xzf "$TMP/onnxruntime-node-$VERSION.tgz" -C "$TMP" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$DEST"
  mv "$TMP/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$LIB.tmp"
  mv "$LIB.tmp" "$LIB"
fi
GOT=$(sha256sum "$LIB" | cut -d' ' -f1)
if [[ $GOT != "$SHA256" ]]; then
  echo "install-onnxruntime: checksum mismatch for $LIB: got $GOT, want $SHA256; delete it and rerun" >&2
  exit 1
fi
cat <<ENV
# ONNX Runtime $VERSION installed at $LIB. To use it:
export ONNXRUNTIME_SHARED_LIBRARY_PATH=$LIB
export GOMLX_NO_AUTO_INSTALL=1
export GOMLX_BACKEND=onnx:cpu
# and build with: go build -tags onnx ...
ENV
