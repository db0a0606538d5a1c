#!/usr/bin/env bash
# Train with several processes per node through torchrun (python -m torch.distributed.run).
#
# Usage: bash tools/dist_train.sh CONFIG NPROC_PER_NODE [tools/train.py options]
#
# Without a GPU the processes train on CPU with the gloo backend (see docs/training.md).
# Multi-node: run the same command on every node with
#   NNODES       number of nodes                       (default 1)
#   NODE_RANK    this node's index, 0..NNODES-1        (default 0)
#   MASTER_ADDR  address of node 0                     (default 127.0.0.1)
#   PORT         a free TCP port on node 0             (default 29500)
#   PYTHON       interpreter with scalenet_mm installed (default python)
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '4,5p' "$0" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
if ! [[ $NPROC =~ ^[1-9][0-9]*$ ]]; then
  echo "dist_train.sh: NPROC_PER_NODE must be a positive integer, got '$NPROC'" >&2
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
    "$TOOLS/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
