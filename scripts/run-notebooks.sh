#!/usr/bin/env bash
# Executes notebooks headless with GoNB (nbclient, the engine of `jupyter nbconvert --execute`) and
# fails on any cell error, GoNB compile errors included.
#
#   scripts/run-notebooks.sh [--update-figures] [NOTEBOOK.ipynb ...]
#
# Default list: notebooks/[0-9]*.ipynb and notebooks/smoke.ipynb. For each NAME it writes the executed
# copy notebooks/out/NAME.ipynb and its export notebooks/out/NAME.html (git-ignored), even when a cell
# fails; it prints which notebook and cell failed and exits 1 if any did.
# --update-figures copies the key figures a run saved in notebooks/out/img/ to notebooks/img/ (committed),
# except those of 02–08, which come from `make reproduce` (scripts/notebooks/key-figures.sh).
#
# Environment:
#   FISENS_BACKEND    auto (default: ONNX Runtime if .onnxruntime/ has it, else pure Go) | go | onnx | xla
#   FISENS_SCALE      quick (default) | paper
#   FISENS_NB_TIMEOUT seconds per notebook (default 1800)
#   GOCACHE, XDG_CACHE_HOME  default to .cache/go-build, .cache/xdg (kept between runs: warm re-runs)
# Needs scripts/setup-notebooks.sh first (`make notebooks` runs both).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=notebooks/env.sh
source "$ROOT/scripts/notebooks/env.sh"

UPDATE_FIGURES=0
NBS=()
for arg in "$@"; do
  case $arg in
    --update-figures) UPDATE_FIGURES=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-notebooks: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) NBS+=("$arg") ;;
  esac
done
if ((${#NBS[@]} == 0)); then
  shopt -s nullglob
  NBS=("$ROOT"/notebooks/[0-9]*.ipynb "$ROOT"/notebooks/smoke.ipynb)
  shopt -u nullglob
fi

nb_find_python
[[ -x $NB_BIN/gonb && -f $NB_JUPYTER_DATA_DIR/kernels/gonb/kernel.json ]] || {
  echo "run-notebooks: the gonb kernel is not set up: run scripts/setup-notebooks.sh" >&2; exit 1; }
export JUPYTER_DATA_DIR=$NB_JUPYTER_DATA_DIR
nb_build_env
nb_backend_env
TIMEOUT=${FISENS_NB_TIMEOUT:-1800}
# No browser here: interactive cells (nb.Slider) show their static view at once.
export FISENS_NB_HEADLESS=1
mkdir -p "$NB_OUT"

echo "run-notebooks: ${#NBS[@]} notebook(s), backend $GOMLX_BACKEND, scale $FISENS_SCALE, timeout ${TIMEOUT}s each"
echo "run-notebooks: outputs in ${NB_OUT#"$ROOT"/}/, GOCACHE=$GOCACHE"
passed=0 failed=0 failures=()
for nb in "${NBS[@]}"; do
  [[ -f $nb ]] || { echo "FAIL $nb: no such notebook" >&2; failed=$((failed + 1)); failures+=("$nb"); continue; }
  name=$(basename "$nb" .ipynb)
  echo "== $name"
  t0=$SECONDS
  if "$NB_PYTHON" "$ROOT/scripts/notebooks/execute.py" --timeout "$TIMEOUT" "$nb" "$NB_OUT"; then
    echo "ok   $name  $((SECONDS - t0)) s  -> ${NB_OUT#"$ROOT"/}/$name.html"
    passed=$((passed + 1))
  else
    echo "FAIL $name  $((SECONDS - t0)) s  (executed copy with the error: ${NB_OUT#"$ROOT"/}/$name.ipynb, .html)"
    failed=$((failed + 1))
    failures+=("$name")
  fi
done

if ((UPDATE_FIGURES)) && compgen -G "$NB_OUT/img/*.png" >/dev/null; then
  # The key figures of 02–08 come from `make reproduce` (scripts/notebooks/key-figures.sh): leave them.
  from_reproduce=$("$ROOT/scripts/notebooks/key-figures.sh" --list)
  mkdir -p "$ROOT/notebooks/img"
  for png in "$NB_OUT"/img/*.png; do
    if grep -qxF "$(basename "$png")" <<<"$from_reproduce"; then
      echo "update-figures: skip $(basename "$png") (from make reproduce: scripts/notebooks/key-figures.sh)"
    else
      cp -v "$png" "$ROOT/notebooks/img/"
    fi
  done
fi
((failed == 0)) || echo "run-notebooks: failed: ${failures[*]}" >&2
echo "notebooks: $passed passed, $failed failed"
((failed == 0))
