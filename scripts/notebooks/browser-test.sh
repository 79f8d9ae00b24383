#!/usr/bin/env bash
# The browser test of the notebooks: JupyterLab started headless on localhost, a real Chromium
# (Debian's chromium, driven by Playwright) opens each notebook, runs all cells and fails if a cell
# errors or if the inline figures are missing from the rendered page; a GoNB slider is moved and
# must redraw its figure. Screenshots go to notebooks/out/browser/ (git-ignored).
#
#   scripts/notebooks/browser-test.sh [NOTEBOOK.ipynb ...]
#
# Default: the teaching notebook 00 and experiment notebook 07. The notebooks run on copies in
# notebooks/out/browser/nb/ (Run All must not write outputs into the committed notebooks).
# Needs what scripts/setup-notebooks.sh --with-chromium installs (the JupyterLab venv, chromium) and
# playwright-core from the npm registry (pinned, with its integrity hash, in
# scripts/notebooks/browser/package-lock.json; `npm ci` into .cache/browser-test/; Playwright's own
# browser download is never used).
#
# Environment: FISENS_BACKEND, FISENS_SCALE as for make notebooks; FISENS_NB_TIMEOUT (seconds per
# notebook, default 1800); FISENS_BROWSER_REQUIRED=1 turns "cannot run here" (no PyPI, no npm) from a
# skip into a failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=env.sh
source "$ROOT/scripts/notebooks/env.sh"
OUT=$NB_OUT/browser
cd "$ROOT"

skip() {
  echo "browser-test: SKIPPED (not passed): $*" >&2
  [[ ${FISENS_BROWSER_REQUIRED:-} == 1 ]] && exit 1
  exit 0
}

NBS=("$@")
((${#NBS[@]})) || NBS=(notebooks/00-sensitivity-basics.ipynb notebooks/07-cheney-weight-perturbation.ipynb)

"$ROOT/scripts/setup-notebooks.sh" --with-chromium
nb_venv_ok || skip "JupyterLab is not installed (PyPI unreachable?): see scripts/setup-notebooks.sh"
CHROMIUM=$(command -v chromium || true)
[[ -n $CHROMIUM ]] || skip "chromium is not installed (apt-get install chromium)"
command -v npm >/dev/null || skip "npm not found (apt-get install npm)"

# playwright-core, exactly as locked.
PW=$NB_CACHE/browser-test
if ! cmp -s "$ROOT/scripts/notebooks/browser/package-lock.json" "$PW/package-lock.json" ||
  [[ ! -d $PW/node_modules/playwright-core ]]; then
  rm -rf "$PW" && mkdir -p "$PW"
  cp "$ROOT/scripts/notebooks/browser/package.json" "$ROOT/scripts/notebooks/browser/package-lock.json" "$PW/"
  (cd "$PW" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    { rm -rf "$PW"; skip "npm ci of playwright-core failed (npm registry unreachable?)"; }
fi
cp "$ROOT/scripts/notebooks/browser/run.mjs" "$PW/run.mjs"

export JUPYTER_DATA_DIR=$NB_JUPYTER_DATA_DIR # the headless gonb kernel of setup-notebooks.sh
nb_build_env
nb_backend_env

# Copies of the notebooks (and the key figures their markdown shows) under notebooks/out/browser/nb:
# inside the clone, so the wiring cell finds it; git-ignored.
rm -rf "$OUT" && mkdir -p "$OUT/nb"
cp -r "$ROOT/notebooks/img" "$OUT/nb/img"
names=()
for nb in "${NBS[@]}"; do
  [[ -f $nb ]] || { echo "browser-test: no such notebook $nb" >&2; exit 2; }
  cp "$nb" "$OUT/nb/"
  names+=("$(basename "$nb")")
done

# A JupyterLab of our own: random token, free port, its own config and settings (no news or update
# pop-ups, every cell rendered so screenshots show the whole notebook), the app exposed to the test.
PORT=$("$NB_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=$("$NB_VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
CONF=$OUT/jupyter-config
SETTINGS=$CONF/lab-user-settings
mkdir -p "$SETTINGS/@jupyterlab/apputils-extension" "$SETTINGS/@jupyterlab/notebook-extension"
echo '{"fetchNews": "false", "checkForUpdates": false}' >"$SETTINGS/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
echo '{"windowingMode": "none"}' >"$SETTINGS/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
export JUPYTER_CONFIG_DIR=$CONF JUPYTERLAB_SETTINGS_DIR=$SETTINGS JUPYTERLAB_WORKSPACES_DIR=$CONF/workspaces
# No FISENS_NB_HEADLESS here: the browser is the front end, so nb.Slider cells are live.
unset FISENS_NB_HEADLESS
LOG=$OUT/jupyterlab.log
"$NB_VENV/bin/jupyter-lab" --no-browser --ip=127.0.0.1 --port="$PORT" --ServerApp.port_retries=0 \
  --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$OUT/nb" --LabApp.expose_app_in_browser=True \
  --ServerApp.disable_check_xsrf=False $( ((EUID == 0)) && echo --allow-root) >"$LOG" 2>&1 &
LAB=$!
trap 'kill $LAB 2>/dev/null; wait $LAB 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -fs "http://127.0.0.1:$PORT/api/status?token=$TOKEN" >/dev/null 2>&1 && break
  kill -0 $LAB 2>/dev/null || { cat "$LOG" >&2; echo "browser-test: JupyterLab exited" >&2; exit 1; }
  sleep 1
done
echo "browser-test: JupyterLab $("$NB_VENV/bin/jupyter-lab" --version) on 127.0.0.1:$PORT, $($CHROMIUM --version 2>/dev/null | head -1), backend $GOMLX_BACKEND, scale $FISENS_SCALE"
t0=$SECONDS
rc=0
node "$PW/run.mjs" --url "http://127.0.0.1:$PORT" --token "$TOKEN" --out "$OUT" \
  --timeout "${FISENS_NB_TIMEOUT:-1800}" --chromium "$CHROMIUM" "${names[@]}" || rc=$?
echo "browser-test: $((SECONDS - t0)) s; screenshots in ${OUT#"$ROOT"/}/ ($(cd "$OUT" && ls -- *.png 2>/dev/null | tr '\n' ' '))"
((rc == 0)) || { echo "browser-test: FAILED (JupyterLab log: ${LOG#"$ROOT"/})" >&2; exit 1; }
echo "browser-test: passed"
