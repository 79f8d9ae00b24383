#!/usr/bin/env bash
# `make lab`: registers the GoNB kernel for this user (scripts/setup-notebooks.sh --user) and starts
# Jupyter on notebooks/: JupyterLab when `jupyter lab` is installed, else the classic Notebook.
#
#   scripts/notebooks/lab.sh [extra jupyter arguments, e.g. --no-browser --port=8899]
#
# Environment: FISENS_JUPYTER=lab|notebook picks the front end; FISENS_BACKEND (auto|go|onnx|xla) and
# FISENS_SCALE (quick|paper) are passed on to the kernels (see notebooks/README.md);
# FISENS_SETUP_ARGS adds arguments to setup-notebooks.sh (e.g. --no-apt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2086
"$ROOT/scripts/setup-notebooks.sh" --user ${FISENS_SETUP_ARGS:-}
# shellcheck source=env.sh
source "$ROOT/scripts/notebooks/env.sh"
nb_build_env
nb_backend_env

UI=${FISENS_JUPYTER:-}
if [[ -z $UI ]]; then
  if jupyter lab --version >/dev/null 2>&1; then UI=lab; else UI=notebook; fi
fi
ARGS=(--notebook-dir="$ROOT/notebooks")
((EUID != 0)) || ARGS+=(--allow-root)
echo "lab: Jupyter $UI on notebooks/, backend $GOMLX_BACKEND, scale $FISENS_SCALE; open a notebook, then Run All."
echo "lab: the kernel is \"Go (gonb)\"; stop with Ctrl-C."
exec jupyter "$UI" "${ARGS[@]}" "$@"
