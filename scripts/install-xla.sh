#!/usr/bin/env bash
# Installs XLA's CPU PJRT plugin (the XLA backend of GoMLX, "xla:cpu") from PyPI into .xla/ (git-ignored):
# `pip download --no-deps` the pinned wheel into a temporary folder, verify the wheel's SHA-256,
# extract the one .so file into .xla/, verify its SHA-256, and build next to it the small shim that
# go-xla loads as .xla/pjrt_c_api_cpu_plugin.so (scripts/xla-pjrt-shim.c: it drops the client option
# "preallocate" that go-xla v0.4.0 always passes and this plugin rejects). Needs pip, unzip, a C compiler
# and go. Nothing is installed into any Python environment. Prints the environment to export. Idempotent.
#
# The wheel: lammps-jax-pjrt-cpu 0.11.2 (Apache-2.0), "XLA's CPU PJRT plugin ... built from the XLA of the
# jaxlib with the same version". It reports PJRT C API 0.115 and StableHLO 1.20.0 (minimum 0.9.0); go-xla
# v0.4.0 is built against PJRT C API 0.104 and runs on it (backend/xla_test.go checks the version and the
# numbers). The other candidate, xla-cpu-pjrt 0.0.1, reports PJRT C API 0.81, older than go-xla's 0.104.
set -euo pipefail
PACKAGE=lammps-jax-pjrt-cpu
VERSION=0.11.2
WHEEL=lammps_jax_pjrt_cpu-$VERSION-py3-none-manylinux_2_27_x86_64.whl
MEMBER=lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so
WHEEL_SHA256=1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1
SO_SHA256=ad1309ac822b1b24d51b7f9947c7c9fa9ef5d67f390584cbc3d1fa2428fed9c2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=$ROOT/.xla
REAL_NAME=xla_cpu_pjrt-$VERSION.so
REAL=$DEST/$REAL_NAME
LIB=$DEST/pjrt_c_api_cpu_plugin.so
SHIM_SRC=$ROOT/scripts/xla-pjrt-shim.c
if [[ $(uname -sm) != "Linux x86_64" ]]; then
  echo "install-xla: the pinned wheel is for Linux x86_64 only (this is $(uname -sm))" >&2
  exit 1
fi
if [[ ! -f $REAL ]]; then
  PY=/usr/bin/python3
  [[ -x $PY ]] || PY=$(command -v python3 || true)
  if [[ -z $PY ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "install-xla: pip not found (apt-get install python3-pip)" >&2
    exit 1
  fi
  command -v unzip >/dev/null || { echo "install-xla: unzip not found (apt-get install unzip)" >&2; exit 1; }
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --no-cache-dir \
    --platform manylinux_2_27_x86_64 --python-version 3 --implementation py \
    -d "$TMP" "$PACKAGE==$VERSION" >&2
  GOT=$(sha256sum "$TMP/$WHEEL" | cut -d' ' -f1)
  if [[ $GOT != "$WHEEL_SHA256" ]]; then
    echo "install-xla: checksum mismatch for $WHEEL: got $GOT, want $WHEEL_SHA256" >&2
    exit 1
  fi
  unzip -q -o "$TMP/$WHEEL" "$MEMBER" -d "$TMP/x"
  mkdir -p "$DEST"
  mv "$TMP/x/$MEMBER" "$REAL.tmp"
  mv "$REAL.tmp" "$REAL"
fi
GOT=$(sha256sum "$REAL" | cut -d' ' -f1)
if [[ $GOT != "$SO_SHA256" ]]; then
  echo "install-xla: checksum mismatch for $REAL: got $GOT, want $SO_SHA256; delete it and rerun" >&2
  exit 1
fi
# The shim (see scripts/xla-pjrt-shim.c), rebuilt whenever its source changes.
STAMP=$(sha256sum "$SHIM_SRC" | cut -d' ' -f1)
if [[ ! -f $LIB || ! -f $DEST/shim.sha256 || $(cat "$DEST/shim.sha256") != "$STAMP" ]]; then
  CC=${CC:-cc}
  command -v "$CC" >/dev/null || { echo "install-xla: no C compiler (apt-get install gcc)" >&2; exit 1; }
  XLA_DIR=$(cd "$ROOT" && go mod download github.com/gomlx/go-xla && go list -m -f '{{.Dir}}' github.com/gomlx/go-xla)
  "$CC" -shared -fPIC -O2 -Wall -I"$XLA_DIR/pjrt" -DREAL_NAME="\"$REAL_NAME\"" -o "$LIB.tmp" "$SHIM_SRC" -ldl
  mv "$LIB.tmp" "$LIB"
  echo "$STAMP" >"$DEST/shim.sha256"
fi
cat <<ENV
# XLA CPU PJRT plugin ($PACKAGE $VERSION, PJRT C API 0.115) installed at $REAL, loaded through $LIB. To use it:
export PJRT_PLUGIN_LIBRARY_PATH=$DEST
export GOMLX_NO_AUTO_INSTALL=1
export GOMLX_BACKEND=xla:cpu
# and build with: go build -tags xla ...
ENV
