#!/usr/bin/env bash
# Train on a Slurm cluster: one task per process, started by srun (launcher slurm).
#
# Usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]
#
# Environment:
#   GPUS           total number of processes (tasks)           (default 8)
#   GPUS_PER_NODE  GPUs per node; 0 = CPU-only (gloo)           (default 8)
#   TASKS_PER_NODE processes per node                          (default GPUS_PER_NODE)
#   CPUS_PER_TASK  CPU cores per process                       (default 5)
#   SRUN_ARGS      extra srun arguments, e.g. "--quotatype=auto"
#   PYTHON         interpreter with scalenet_mm installed       (default python)
set -euo pipefail

if [[ $# -lt 4 ]]; then
  sed -n '4,4p' "$0" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

TASKS_PER_NODE=${TASKS_PER_NODE:-$GPUS_PER_NODE}
GRES=()
if [[ $GPUS_PER_NODE -gt 0 ]]; then
  GRES=(--gres=gpu:"$GPUS_PER_NODE")
fi
if [[ $TASKS_PER_NODE -le 0 ]]; then
  echo "$(basename "$0"): GPUS_PER_NODE=0 (CPU-only) needs TASKS_PER_NODE=<processes per node>" >&2
  exit 2
fi

set -x
# SRUN_ARGS is split on spaces on purpose (several srun options in one variable).
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${GRES[@]}" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$TASKS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
