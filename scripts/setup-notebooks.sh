#!/usr/bin/env bash
# Sets up everything the GoNB notebooks need. Idempotent: a second run only checks.
#
#   scripts/setup-notebooks.sh [--with-chromium] [--user] [--no-apt] [--no-venv]
#
#   1. Jupyter. The project's Python environment .venv-jupyter/ (git-ignored; `python3 -m venv` from
#      Debian's /usr/bin/python3) with JupyterLab 4.6.6, Notebook 7.6.5, nbclient and nbconvert from PyPI,
#      every package pinned with its SHA-256 (scripts/notebooks/requirements-lab.txt, pip --require-hashes).
#      Where PyPI cannot be reached (or with --no-venv) it falls back to Debian's packages: the classic
#      Jupyter Notebook 6.4, nbconvert, nbclient, ipykernel (apt-get; needs root or sudo) and says so.
#      With --with-chromium also Debian's chromium (the browser test, `make notebook-screenshot`).
#      --no-apt skips apt-get (it only reports what is missing).
#   2. Go tools, built from pinned versions inside throwaway modules under .cache/tools/ (the Go module
#      proxy here refuses "@latest"), into .cache/bin/: gonb v0.11.3, goimports, gopls v0.21.0.
#   3. The "gonb" Jupyter kernel. By default into the repository-local JUPYTER_DATA_DIR .cache/jupyter/
#      (what scripts/run-notebooks.sh uses); with --user for the interactive Jupyter of `make lab`: into
#      .venv-jupyter/share/jupyter/ (seen only by the venv's Jupyter), or, on the Debian fallback, into the
#      user's own Jupyter data dir. The kernel runs through the wrapper .cache/bin/gonb-kernel, which
#      puts go, goimports and gopls on PATH whatever environment Jupyter was started with.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=notebooks/env.sh
source "$ROOT/scripts/notebooks/env.sh"

WITH_CHROMIUM=0 USER_KERNEL=0 APT=1 VENV=1
for arg in "$@"; do
  case $arg in
    --with-chromium) WITH_CHROMIUM=1 ;;
    --user) USER_KERNEL=1 ;;
    --no-apt) APT=0 ;;
    --no-venv) VENV=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-notebooks: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "setup-notebooks: $*"; }

# apt_install PKG...: installs the Debian packages that are missing (root or sudo), unless --no-apt.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages present: $*"
    return 0
  fi
  if ((!APT)); then
    say "--no-apt given but these Debian packages are missing: ${missing[*]}" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null; then
    say "no apt-get here: install ${missing[*]} yourself" >&2
    return 1
  fi
  local sudo=
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { say "need root or sudo to apt-get install ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  say "apt-get install ${missing[*]}"
  # Other people's apt-get may hold the lock on a shared machine: wait for it.
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
}

# ---- 1. Jupyter: the pinned JupyterLab in .venv-jupyter (PyPI), else Debian's classic Notebook ------
# install_venv creates .venv-jupyter from the hashed requirements; fails (returns 1) without PyPI.
install_venv() {
  local py=${FISENS_VENV_PYTHON:-/usr/bin/python3}
  command -v "$py" >/dev/null || py=python3
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    # Debian splits venv/ensurepip off into python3-venv.
    apt_install python3-venv || return 1
  fi
  local log=$NB_CACHE/venv-jupyter.log
  mkdir -p "$NB_CACHE"
  say "installing JupyterLab into ${NB_VENV#"$ROOT"/}/ from PyPI ($(grep -c '^[A-Za-z].*==' "$NB_REQUIREMENTS") packages pinned with SHA-256; about a minute)"
  rm -rf "$NB_VENV"
  # pip's own network limits keep an offline machine from waiting long.
  if ! { "$py" -m venv "$NB_VENV" &&
    "$NB_VENV/bin/python" -m pip install --disable-pip-version-check --no-input --timeout 30 --retries 2 \
      --require-hashes --no-deps -r "$NB_REQUIREMENTS"; } >"$log" 2>&1; then
    tail -5 "$log" | sed 's/^/    /' >&2
    rm -rf "$NB_VENV"
    return 1
  fi
  sha256sum "$NB_REQUIREMENTS" | cut -d' ' -f1 >"$NB_VENV/installed-from"
}

JUPYTER_FROM=
if ((VENV)); then
  if nb_venv_ok; then
    say "JupyterLab present in ${NB_VENV#"$ROOT"/}/ ($("$NB_VENV/bin/jupyter-lab" --version))"
    JUPYTER_FROM=venv
  elif install_venv; then
    say "JupyterLab $("$NB_VENV/bin/jupyter-lab" --version) installed in ${NB_VENV#"$ROOT"/}/"
    JUPYTER_FROM=venv
  else
    say "FALLBACK: could not install JupyterLab from PyPI (offline? log: .cache/venv-jupyter.log);" \
      "using Debian's classic Jupyter Notebook 6.4 instead (JupyterLab and the browser test need PyPI)" >&2
  fi
fi
if [[ $JUPYTER_FROM == venv ]]; then
  PATH=$NB_VENV/bin:$PATH
else
  apt_install jupyter-notebook jupyter-client jupyter-nbconvert python3-nbconvert python3-nbclient python3-ipykernel ||
    say "continuing without the Debian Jupyter packages" >&2
  JUPYTER_FROM=debian
fi
if ((WITH_CHROMIUM)); then
  apt_install chromium || say "chromium is missing: the browser test and screenshots cannot run" >&2
fi

nb_find_python

# ---- 2. Go tools into .cache/bin ----------------------------------------------------------------
GONB_VERSION=v0.11.3
GOPLS_VERSION=v0.21.0
# goimports is built from the golang.org/x/tools that gopls $GOPLS_VERSION requires (one known-good
# version for this Go; no extra download).
mkdir -p "$NB_BIN" "$NB_CACHE/tools"

# build_tool NAME PACKAGE@VERSION: builds PACKAGE into .cache/bin/NAME inside the throwaway module
# .cache/tools/NAME, unless the recorded stamp says it is already built from PACKAGE@VERSION.
build_tool() {
  local name=$1 modver=$2 pkg=${2%@*} dir=$NB_CACHE/tools/$1
  local stamp=$dir/built-from log=$NB_CACHE/tools/$1.log
  if [[ -x $NB_BIN/$name && -f $stamp && $(cat "$stamp") == "$modver $(go env GOVERSION)" ]]; then
    say "$name present ($modver)"
    return
  fi
  say "building $name from $modver"
  rm -rf "$dir" && mkdir -p "$dir"
  if ! (
    cd "$dir"
    # GOFLAGS from the caller (e.g. -tags=onnx) must not leak into the tools.
    export GOFLAGS=-buildvcs=false GOWORK=off
    go mod init "fisens.local/tools/$name"
    go get "$modver"
    go build -trimpath -o "$NB_BIN/$name.tmp" "$pkg"
  ) >"$log" 2>&1; then
    cat "$log" >&2
    say "building $name from $modver failed (log: $log)" >&2
    exit 1
  fi
  mv "$NB_BIN/$name.tmp" "$NB_BIN/$name"
  echo "$modver $(go env GOVERSION)" >"$stamp"
}
build_tool gonb "github.com/janpfeifer/gonb@$GONB_VERSION"
build_tool gopls "golang.org/x/tools/gopls@$GOPLS_VERSION"
TOOLS_VERSION=$(cd "$NB_CACHE/tools/gopls" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' golang.org/x/tools)
build_tool goimports "golang.org/x/tools/cmd/goimports@$TOOLS_VERSION"

# The kernel wrapper: Jupyter may start kernels with a bare environment (desktop launchers, a
# kernel.json "env" entry, another user's shell), so put the Go toolchain and our tools first on PATH.
GOROOT_BIN=$(go env GOROOT)/bin
cat >"$NB_BIN/gonb-kernel.tmp" <<WRAP
#!/bin/sh
# GoNB kernel wrapper written by scripts/setup-notebooks.sh: go, goimports and gopls on PATH.
PATH="$NB_BIN:$GOROOT_BIN:\${PATH:-/usr/local/bin:/usr/bin:/bin}"
export PATH
exec "$NB_BIN/gonb" "\$@"
WRAP
chmod +x "$NB_BIN/gonb-kernel.tmp"
mv "$NB_BIN/gonb-kernel.tmp" "$NB_BIN/gonb-kernel"

# ---- 3. Register the kernel -----------------------------------------------------------------------
if ((USER_KERNEL)) && [[ $JUPYTER_FROM == venv ]]; then
  # The venv's Jupyter searches <venv>/share/jupyter: the kernel stays inside the project.
  DATA_DIR=$NB_VENV/share/jupyter
elif ((USER_KERNEL)); then
  unset JUPYTER_DATA_DIR
  if command -v jupyter >/dev/null; then DATA_DIR=$(jupyter --data-dir); else DATA_DIR=$HOME/.local/share/jupyter; fi
else
  DATA_DIR=$NB_JUPYTER_DATA_DIR
fi
mkdir -p "$DATA_DIR"
# gonb --install writes kernels/gonb/{kernel.json,logo-svg.svg}; it copies its own binary there when
# it thinks it lives in a temporary or cache folder, so run it with a neutral XDG_CACHE_HOME.
JUPYTER_DATA_DIR=$DATA_DIR XDG_CACHE_HOME=/nonexistent PATH="$NB_BIN:$GOROOT_BIN:$PATH" \
  "$NB_BIN/gonb" --install --logtostderr=false >/dev/null 2>&1 ||
  JUPYTER_DATA_DIR=$DATA_DIR XDG_CACHE_HOME=/nonexistent PATH="$NB_BIN:$GOROOT_BIN:$PATH" "$NB_BIN/gonb" --install
KJSON=$DATA_DIR/kernels/gonb/kernel.json
[[ -f $KJSON ]] || { say "gonb --install did not write $KJSON" >&2; exit 1; }
rm -f "$DATA_DIR/kernels/gonb/gonb~"
# Point the kernel at the wrapper and its klog files at .cache/gonb-logs instead of /tmp; the headless
# kernel also keeps GoNB's start-up log self-test ("Error message") off stderr. The rest of what gonb
# wrote stays (display name, interrupt mode).
mkdir -p "$NB_CACHE/gonb-logs"
"$NB_PYTHON" - "$KJSON" "$NB_BIN/gonb-kernel" "$NB_CACHE/gonb-logs" "$USER_KERNEL" <<'PY'
import json, sys
path, wrapper, logdir, user = sys.argv[1:5]
with open(path) as f:
    spec = json.load(f)
spec["argv"][0] = wrapper
for i, a in enumerate(spec["argv"]):
    if a.startswith("-log_dir="):
        spec["argv"][i] = "-log_dir=" + logdir
    if a.startswith("-stderrthreshold=") and user == "0":
        spec["argv"][i] = "-stderrthreshold=3"
spec.setdefault("env", {})
spec["metadata"] = {"fisens": "written by scripts/setup-notebooks.sh"}
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")
PY
say "gonb kernel registered in $DATA_DIR/kernels/gonb (runs $NB_BIN/gonb-kernel)"
say "done"
