#!/usr/bin/env bash
# The whole test suite: the README's test command (`make test`) and what CI runs (.ci/run).
# Installs what it needs on a fresh Debian machine: Go modules (proxy), ONNX Runtime (npm
# registry), Jupyter (JupyterLab from PyPI into .venv-jupyter/, else Debian packages), Chromium and
# playwright-core (Debian, npm registry; the notebooks' browser test).
#   FISENS_SKIP_NOTEBOOKS=1  skip executing the notebooks
#   FISENS_SKIP_ONNX=1       skip the ONNX Runtime backend tests
#   FISENS_SKIP_PAPER=1      skip the paper-scale smoke run (ResNet50/DenseNet121 on ONNX Runtime, ~20 min under load; see below)
#   FISENS_SKIP_SLURM=1      skip the Slurm proof (needs root: apt-get, munged)
#   FISENS_SKIP_XLA=1        skip the XLA CPU backend tests
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "==== $* [$(date +%T)]"; }
t0=$(date +%s)

step "Go modules"
go mod download

step "static checks: gofmt, go vet"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [[ -n $bad ]]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi
go vet ./...
go vet -tags onnx ./...

step "unit tests (pure-Go backend)"
# Generous timeout: the experiments' end-to-end tests take minutes each on 2 cores (default is 10m per package).
go test -count=1 -timeout 45m ./...

if [[ ${FISENS_SKIP_ONNX:-} != 1 ]]; then
  step "ONNX Runtime backend: install (npm registry) and cross-backend tests"
  if env_lines=$(scripts/install-onnxruntime.sh); then
    eval "$(grep '^export' <<<"$env_lines")"
    go test -count=1 -tags onnx -timeout 45m -run 'ONNX|AcrossBackends' ./...
    (cd third_party/compute-onnx && go test -count=1 .)  # the fisens patch of the ONNX Runtime backend (a module of its own)
  else
    echo "ONNX Runtime could not be installed (npm missing or offline): its tests are SKIPPED, not passed"
  fi
fi

if [[ ${FISENS_SKIP_XLA:-} != 1 ]]; then
  step "XLA CPU backend: install (PyPI) and backend tests"
  if env_lines=$(scripts/install-xla.sh); then
    eval "$(grep '^export' <<<"$env_lines")"
    go vet -tags xla ./backend/
    go test -count=1 -tags xla ./backend/
  else
    echo "the XLA CPU plugin could not be installed (pip or a C compiler missing, or offline): its tests are SKIPPED, not passed"
  fi
fi

# The paper configuration end to end: `fisens reproduce --scale paper` with ResNet50/DenseNet121 trained
# on MNIST and canonical-format CIFAR-10 files, every experiment, figures and index, sizes cut
# (cmd/fisens/paper_test.go, cmd/fisens/testdata/paper-smoke.set). Mandatory whenever ONNX Runtime is
# installed; FISENS_SKIP_PAPER=1 skips it (and says so).
if [[ ${FISENS_SKIP_PAPER:-} != 1 ]]; then
  if [[ -n ${ONNXRUNTIME_SHARED_LIBRARY_PATH:-} ]]; then
    step "paper scale: every experiment with ResNet50/DenseNet121 on MNIST + CIFAR-10 files, sizes cut (cmd/fisens/paper_test.go)"
    go test -count=1 -tags onnx -timeout 60m -run '^TestPaperScale$' ./cmd/fisens/
  else
    echo "ONNX Runtime not installed: the paper-scale smoke run (TestPaperScale) is SKIPPED, not passed"
  fi
else
  echo "FISENS_SKIP_PAPER=1: the paper-scale smoke run (TestPaperScale) is SKIPPED, not passed"
fi
if [[ ${FISENS_SKIP_SLURM:-} != 1 ]]; then
  step "Slurm: fisens submit on a one-node cluster on localhost (scripts/slurm-local.sh)"
  timeout 1800 scripts/slurm-local.sh
fi

step "fuzz smoke (10 s per file format: idx, CIFAR-10, result tables, image folders, ONNX)"
go test -run '^$' -fuzz '^FuzzParseIDX$' -fuzztime 10s ./datasets/
go test -run '^$' -fuzz '^FuzzParseCIFAR$' -fuzztime 10s ./datasets/
go test -run '^$' -fuzz '^FuzzRead$' -fuzztime 10s ./results/
go test -run '^$' -fuzz '^FuzzLoadImages$' -fuzztime 10s ./datasets/
go test -run '^$' -fuzz '^FuzzLoadONNX$' -fuzztime 10s ./models/

if [[ ${FISENS_SKIP_NOTEBOOKS:-} != 1 ]]; then
  # 00 and 07 run in JupyterLab under Chromium (the browser test: every cell, every figure on the
  # page); the others headless with nbconvert. Running 00 and 07 twice cost ~10 minutes of CI.
  # Where the browser test cannot run (no PyPI or npm) it says SKIPPED and 00/07 run headless.
  in_browser=(notebooks/00-sensitivity-basics.ipynb notebooks/07-cheney-weight-perturbation.ipynb)
  headless=()
  for nb in notebooks/[0-9]*.ipynb notebooks/smoke.ipynb; do
    [[ " ${in_browser[*]} " == *" $nb "* ]] || headless+=("$nb")
  done
  step "notebooks (headless, quick scale): ${headless[*]}"
  make notebooks NOTEBOOKS="${headless[*]}"
  step "notebooks in JupyterLab, driven by Chromium: ${in_browser[*]}"
  browser_log=$(mktemp)
  scripts/notebooks/browser-test.sh "${in_browser[@]}" 2>&1 | tee "$browser_log"
  if grep -q 'browser-test: SKIPPED' "$browser_log"; then
    step "browser test skipped: ${in_browser[*]} headless instead"
    make notebooks NOTEBOOKS="${in_browser[*]}"
  fi
  rm -f "$browser_log"
fi
step "all tests passed in $(( $(date +%s) - t0 )) s"
