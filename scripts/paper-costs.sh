#!/usr/bin/env bash
# What a paper run costs on this machine: `make paper-costs` (README, "Paper scale, clusters and GPUs").
# Measures, per image, for ResNet50 and DenseNet121 (the paper's exact networks, generated weights)
# at MNIST (28×28×1) and CIFAR-10 (32×32×3) input shapes: an Adam training step, the inference
# forward pass, whole-image input FI, the multi-scale patch maps and per-layer parameter FI
# (Analyzer.ParamFIBatch); then prints the table and what it implies for the full paper runs (hours
# per model and dataset, array tasks per night). Synthetic pixels: no data files are needed.
# Backend: the fastest installable one, as `make reproduce` picks it — XLA's CPU plugin (PyPI), else
# ONNX Runtime (npm registry); FISENS_BACKEND=xla|onnx forces one. Extra arguments go to the tool
# (`gpu-check costs -h`: --data, --models, --batch, --train-batch, --train-steps, --param-batch,
# --night-hours). About 10 minutes on a loaded 2-core machine; small batches (≤ 4) keep it within
# a few GB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
want=${FISENS_BACKEND:-auto}
tags=() chosen=
if [[ $want == auto || $want == xla ]] && env_lines=$(scripts/install-xla.sh 2>&1); then
  eval "$(grep '^export' <<<"$env_lines")"
  tags=(-tags xla) chosen=xla
elif [[ $want == xla ]]; then
  echo "$env_lines" >&2; exit 1
fi
if [[ -z $chosen ]]; then
  [[ $want == auto ]] && echo "paper-costs: XLA CPU plugin unavailable: trying ONNX Runtime" >&2
  env_lines=$(scripts/install-onnxruntime.sh) || { echo "paper-costs: neither XLA nor ONNX Runtime could be installed" >&2; exit 1; }
  eval "$(grep '^export' <<<"$env_lines")"
  tags=(-tags onnx) chosen=onnx
fi
mkdir -p bin
go build "${tags[@]}" -o bin/paper-costs ./scripts/gpu-check/
echo "paper-costs: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), backend $GOMLX_BACKEND, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
exec bin/paper-costs costs "$@"
