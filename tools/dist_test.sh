#!/usr/bin/env bash
# Test a checkpoint with several processes per node through torchrun.
#
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT NPROC_PER_NODE [tools/test.py options]
#
# Multi-node and interpreter: NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON as in
# tools/dist_train.sh (defaults 1, 0, 127.0.0.1, 29500, python).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  sed -n '4,4p' "$0" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
if ! [[ $NPROC =~ ^[1-9][0-9]*$ ]]; then
  echo "dist_test.sh: NPROC_PER_NODE must be a positive integer, got '$NPROC'" >&2
  exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$TOOLS/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
