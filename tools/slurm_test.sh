#!/usr/bin/env bash
# Test a checkpoint on a Slurm cluster: one task per process, started by srun (launcher slurm).
#
# Usage: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]
#
# Environment: GPUS, GPUS_PER_NODE (0 = CPU-only), TASKS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS,
# PYTHON as in tools/slurm_train.sh.
set -euo pipefail

if [[ $# -lt 4 ]]; then
  sed -n '4,4p' "$0" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
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
    "$PYTHON" -u "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "${@:5}"
