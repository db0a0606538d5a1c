#!/usr/bin/env bash
# Issue 19's GPU round, prepared on CPU to run once on a lent GPU machine (H200 or H100; torch,
# timm and Triton from its image, Python 3.12, no network), then give the machine back.
#
# Usage, from the repository root:
#   bash benchmarks/gpu/prepare_wheels.sh            # here, once: fills .whl/ (about 10 MiB)
#   # on the device (carry: [".whl"]), one part per call, each well inside 10 minutes:
#   bash benchmarks/gpu/issue19_round.sh b64         # DeiT-B 2x batch 64, bf16, eager + compiled
#   bash benchmarks/gpu/issue19_round.sh b256        # DeiT-B 2x and DeiT-S 2x, batch 256, compiled
#   bash benchmarks/gpu/issue19_round.sh smoke       # any machine: a tiny ViT, to check the script
#
# Every part writes its JSON results and logs under $OUT (the device tool's folder that comes
# back; default work_dirs/gpu_round). Numbers: benchmarks/compile_cost.py (ScaleNet vs timm vs
# mmpretrain of the same depth, every variant its own worker process, interleaved rounds;
# compile in parallel first steps). Put the tables in docs/performance.md with the card's name.
set -uo pipefail

PART=${1:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/work_dirs/gpu_round}
mkdir -p "$OUT"
PY=${PYTHON:-python3}

if [[ -d .whl ]] && compgen -G '.whl/*.whl' >/dev/null; then
  # The OpenMMLab stack and scalenet_mm, carried as wheels: installed beside the image's torch.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/scalenet_site .whl/*.whl || { echo "installing .whl/ failed" >&2; exit 1; }
  export PYTHONPATH=/tmp/scalenet_site${PYTHONPATH:+:$PYTHONPATH}
fi
# The image's numpy (2.5) and torch (2.11) are outside requirements/constraints.txt's tested set;
# the benchmarks build backbones only (no mmcv ops), which those releases run.
export SCALENET_SKIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
"$PY" - <<'PY' 2>&1 | tee "$OUT/versions.txt"
import torch, timm, mmengine, mmpretrain, scalenet_mm
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'timm', timm.__version__,
      'mmengine', mmengine.__version__, 'mmpretrain', mmpretrain.__version__)
print('device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu only')
PY
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "the stack does not import; see above" >&2; exit 1; }

bench() {  # $1 = result name, rest = benchmarks/compile_cost.py options
  local name=$1; shift
  echo "== $name: $*"
  "$PY" benchmarks/compile_cost.py "$@" --out "$OUT/$name.json" 2>&1 | tee "$OUT/$name.log"
  return "${PIPESTATUS[0]}"
}

case "$PART" in
  b64)
    bench deit-b2x_b64_bf16 --arch deit-base --batch-size 64 --device cuda --dtypes bf16 \
      --modes eager compiled --models scalenet timm mmpretrain --repeats 10 --warmup 3 \
      --count-ops ;;
  b256)
    bench deit-b2x_b256_bf16 --arch deit-base --batch-size 256 --device cuda --dtypes bf16 \
      --modes compiled --models scalenet timm --repeats 8 --warmup 3 &&
    bench deit-s2x_b256_bf16 --arch deit-small --batch-size 256 --device cuda --dtypes bf16 \
      --modes compiled --models scalenet timm --repeats 8 --warmup 3 ;;
  smoke)
    device=cpu
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' && device=cuda
    bench smoke --arch '{"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}' \
      --img-size 32 --batch-size 2 --num-classes 10 --device "$device" --dtypes bf16 \
      --modes eager compiled --models scalenet timm --repeats 1 --warmup 1 --count-ops ;;
  *)
    echo "usage: bash benchmarks/gpu/issue19_round.sh b64|b256|smoke" >&2; exit 2 ;;
esac
