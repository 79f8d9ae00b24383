# Sourced by scripts/setup-notebooks.sh, scripts/run-notebooks.sh and scripts/notebooks/lab.sh.
# Defines where the notebook tooling lives (all under the git-ignored .cache/) and, with
# nb_backend_env, the environment that a Jupyter server passes on to its GoNB kernels.
#
# Variables read (all optional):
#   FISENS_BACKEND  auto (default) | go | onnx | xla   auto = onnx when .onnxruntime/ has the library, else go
#   FISENS_SCALE    quick (default) | paper
#   FISENS_PYTHON   the Python that has nbclient/nbconvert (default: .venv-jupyter/bin/python, the project's
#                   pinned JupyterLab environment from scripts/setup-notebooks.sh; then /usr/bin/python3 with
#                   Debian's packages; then python3)
#   GOCACHE, XDG_CACHE_HOME   default to .cache/go-build and .cache/xdg so re-runs are warm

: "${ROOT:?ROOT must be set to the repository root before sourcing env.sh}"
NB_CACHE=$ROOT/.cache
NB_BIN=$NB_CACHE/bin
NB_JUPYTER_DATA_DIR=$NB_CACHE/jupyter
NB_OUT=$ROOT/notebooks/out
NB_ONNX_LIB=$ROOT/.onnxruntime/libonnxruntime.so.1
# The project's Python environment with the pinned JupyterLab (scripts/notebooks/requirements-lab.txt).
NB_VENV=$ROOT/.venv-jupyter
NB_REQUIREMENTS=$ROOT/scripts/notebooks/requirements-lab.txt

command -v go >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "notebooks: go not found on PATH" >&2; exit 1; }
PATH=$NB_BIN:$(go env GOROOT)/bin:$PATH
# The venv's jupyter first, when it is installed (no activation needed).
[[ ! -x $NB_VENV/bin/jupyter ]] || PATH=$NB_VENV/bin:$PATH
export PATH

# nb_venv_ok: the venv exists and was installed from the current requirements file.
nb_venv_ok() {
  [[ -x $NB_VENV/bin/jupyter-lab && -f $NB_VENV/installed-from ]] &&
    [[ $(cat "$NB_VENV/installed-from") == "$(sha256sum "$NB_REQUIREMENTS" | cut -d' ' -f1)" ]]
}

# nb_find_python sets NB_PYTHON to a Python that can import nbclient and nbconvert.
nb_find_python() {
  local p
  local venv=
  nb_venv_ok && venv=$NB_VENV/bin/python
  for p in ${FISENS_PYTHON:-} $venv /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import nbclient, nbconvert' 2>/dev/null; then
      NB_PYTHON=$(command -v "$p")
      return 0
    fi
  done
  echo "notebooks: no Python with nbclient and nbconvert (run scripts/setup-notebooks.sh, or set FISENS_PYTHON)" >&2
  return 1
}

# nb_build_env: the Go build caches used by the kernels (and by `go` in the wiring cell).
nb_build_env() {
  export GOCACHE=${GOCACHE:-$NB_CACHE/go-build}
  export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$NB_CACHE/xdg}
  mkdir -p "$GOCACHE" "$XDG_CACHE_HOME"
}

# nb_add_goflag FLAG exports GOFLAGS with FLAG added to what go uses now (env var or `go env -w`).
nb_add_goflag() {
  local cur
  cur=$(go env GOFLAGS)
  [[ " $cur " == *" $1 "* ]] || export GOFLAGS="${cur:+$cur }$1"
}

# nb_backend_env resolves FISENS_BACKEND and FISENS_SCALE and exports what the kernels need.
# GoNB kernels inherit the Jupyter server's environment, and so do the programs they build: GOFLAGS
# carries the build tag, GOMLX_BACKEND picks the backend at run time (see notebooks/README.md).
nb_backend_env() {
  local b=${FISENS_BACKEND:-auto}
  if [[ $b == auto ]]; then
    if [[ -f ${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$NB_ONNX_LIB} ]]; then b=onnx; else b=go; fi
  fi
  case $b in
    go)
      export GOMLX_BACKEND=go ;;
    onnx)
      local lib=${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$NB_ONNX_LIB}
      if [[ ! -f $lib ]]; then
        echo "notebooks: FISENS_BACKEND=onnx but $lib is missing: run scripts/install-onnxruntime.sh" >&2
        return 1
      fi
      export ONNXRUNTIME_SHARED_LIBRARY_PATH=$lib GOMLX_NO_AUTO_INSTALL=1 GOMLX_BACKEND=onnx:cpu
      nb_add_goflag -tags=onnx ;;
    xla)
      # xla:cpu: the plugin of scripts/install-xla.sh (.xla/); xla:cuda (GOMLX_BACKEND): one the user provides.
      export GOMLX_BACKEND=${GOMLX_BACKEND:-xla:cpu}
      if [[ $GOMLX_BACKEND == xla:cpu && -z ${PJRT_PLUGIN_LIBRARY_PATH:-} ]]; then
        if [[ ! -f $ROOT/.xla/pjrt_c_api_cpu_plugin.so ]]; then
          echo "notebooks: FISENS_BACKEND=xla but $ROOT/.xla/ has no PJRT plugin: run scripts/install-xla.sh" >&2
          return 1
        fi
        export PJRT_PLUGIN_LIBRARY_PATH=$ROOT/.xla GOMLX_NO_AUTO_INSTALL=1
      fi
      nb_add_goflag -tags=xla ;;
    *)
      echo "notebooks: FISENS_BACKEND=$b: want auto, go, onnx or xla" >&2
      return 1 ;;
  esac
  export FISENS_BACKEND=$b
  export FISENS_SCALE=${FISENS_SCALE:-quick}
  case $FISENS_SCALE in quick|paper) ;; *)
    echo "notebooks: FISENS_SCALE=$FISENS_SCALE: want quick or paper" >&2; return 1 ;;
  esac
}
