#!/usr/bin/env bash
# `make lab`: one command for a teacher on a fresh machine. It
#   1. installs the pinned JupyterLab 4.6.6 (+ Notebook 7, nbclient, nbconvert; every package with its
#      SHA-256) into the project's .venv-jupyter/ and GoNB v0.11.3 (+ gopls, goimports) into .cache/bin/,
#      and registers the "Go (gonb)" kernel inside the venv (scripts/setup-notebooks.sh --user);
#   2. installs the fast backend, ONNX Runtime (scripts/install-onnxruntime.sh, npm registry), unless
#      FISENS_BACKEND=go, and passes backend and scale on to the kernels;
#   3. starts JupyterLab on notebooks/.
# Where PyPI cannot be reached it falls back to Debian's classic Notebook 6.4 and says so.
#
#   scripts/notebooks/lab.sh [extra jupyter arguments, e.g. --no-browser --port=8899]
#
# Environment: FISENS_BACKEND (auto|go|onnx|xla; auto = ONNX Runtime when it can be installed, else
# pure Go; xla = XLA's CPU plugin, installed from PyPI by scripts/install-xla.sh), FISENS_SCALE (quick|paper), FISENS_JUPYTER=lab|notebook (the front end: JupyterLab, or
# Notebook 7 from the same venv), FISENS_SETUP_ARGS (more arguments for setup-notebooks.sh, e.g. --no-apt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2086
"$ROOT/scripts/setup-notebooks.sh" --user ${FISENS_SETUP_ARGS:-}
# shellcheck source=env.sh
source "$ROOT/scripts/notebooks/env.sh"

# The fast CPU backend: install ONNX Runtime unless told otherwise (idempotent, checks its SHA-256).
case ${FISENS_BACKEND:-auto} in
  auto | onnx)
    if ! "$ROOT/scripts/install-onnxruntime.sh" >/dev/null; then
      [[ ${FISENS_BACKEND:-auto} == onnx ]] && { echo "lab: ONNX Runtime could not be installed" >&2; exit 1; }
      echo "lab: ONNX Runtime could not be installed (npm registry unreachable?): the notebooks use the slow pure-Go backend" >&2
    fi ;;
  xla)
    # XLA's CPU plugin from PyPI (.xla/); for xla:cuda set GOMLX_BACKEND and PJRT_PLUGIN_LIBRARY_PATH yourself.
    [[ ${GOMLX_BACKEND:-xla:cpu} != xla:cpu ]] || "$ROOT/scripts/install-xla.sh" >/dev/null ;;
esac
nb_build_env
nb_backend_env

ARGS=(--notebook-dir="$ROOT/notebooks")
((EUID != 0)) || ARGS+=(--allow-root)
UI=${FISENS_JUPYTER:-lab}
if nb_venv_ok; then
  JUPYTER=$NB_VENV/bin/jupyter
  case $UI in lab | notebook) ;; *) echo "lab: FISENS_JUPYTER=$UI: want lab or notebook" >&2; exit 2 ;; esac
  what="JupyterLab $("$NB_VENV/bin/jupyter-lab" --version)"
  [[ $UI == notebook ]] && what="Notebook $("$JUPYTER" notebook --version)"
else
  JUPYTER=$(command -v jupyter || true)
  [[ -n $JUPYTER ]] || { echo "lab: no Jupyter installed: see the messages of scripts/setup-notebooks.sh above" >&2; exit 1; }
  if [[ $UI == lab ]] && ! "$JUPYTER" lab --version >/dev/null 2>&1; then UI=notebook; fi
  what="FALLBACK: $("$JUPYTER" "$UI" --version 2>/dev/null | head -1) from the system (JupyterLab needs PyPI: rerun make lab when it is reachable)"
  [[ $UI == notebook ]] && what="FALLBACK: the classic Jupyter Notebook $("$JUPYTER" notebook --version 2>/dev/null | head -1) (JupyterLab needs PyPI: rerun make lab when it is reachable)"
fi
echo "lab: $what on notebooks/; backend $GOMLX_BACKEND, scale $FISENS_SCALE"
echo "lab: open a notebook (kernel \"Go (gonb)\"), then Run → Run All Cells; stop with Ctrl-C."
exec "$JUPYTER" "$UI" "${ARGS[@]}" "$@"
