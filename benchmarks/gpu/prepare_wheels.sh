#!/usr/bin/env bash
# Fill .whl/ with what a bare GPU machine of the device tool lacks for
# benchmarks/gpu/issue19_round.sh: its image has Python 3.12, torch, timm, numpy, opencv and
# matplotlib but not the OpenMMLab stack, and it cannot reach PyPI. Run here (network), once:
#
#   bash benchmarks/gpu/prepare_wheels.sh [DEST]        # default DEST: <repo>/.whl
#
# What goes in: the pure-Python OpenMMLab packages and their small dependencies at the versions
# of requirements/constraints.txt, pycocotools built for CPython 3.12, mmcv 2.1.0 *without*
# compiled ops (a pure-Python wheel: the GPU round builds backbones only, no detector), and
# scalenet_mm itself. About 10 MiB; the device tool carries up to 64 MiB.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${1:-$ROOT/.whl}
PY=${SCALENET_VENV:-$ROOT/.venv}/bin/python
[[ -x "$PY" ]] || { echo "no $PY: run bash tools/setup_env.sh first" >&2; exit 1; }
mkdir -p "$DEST"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

pinned() {  # the constraints.txt line of each named distribution (fails when one is missing)
  local name line
  for name in "$@"; do
    line=$(grep -i -E "^${name//-/[-_]}==" "$ROOT/requirements/constraints.txt" | head -1)
    [[ -n "$line" ]] || { echo "$name is not pinned in requirements/constraints.txt" >&2; exit 1; }
    echo "$line"
  done
}

# Pure-Python distributions the stack imports (names as in constraints.txt).
PURE=(mmengine mmpretrain mmdet addict yapf termcolor mat4py modelindex model-index
      ordered-set terminaltables platformdirs importlib_metadata
      lazy-importer)
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64)
"$PY" -m pip download -q --no-deps "${PLATFORM[@]}" -d "$STAGE" $(pinned "${PURE[@]}")
"$PY" -m pip download -q --no-deps "${PLATFORM[@]}" -d "$STAGE" $(pinned pycocotools)
# mmcv 2.1.0 from its source distribution without the ops: a pure-Python wheel in seconds.
# (Built this way mmcv names itself mmcv-lite; the module is still ``mmcv`` 2.1.0, which is
# what mmengine, mmpretrain and mmdet import. Built from the local sdist so that pip does not
# refuse the name change.)
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$STAGE/src" mmcv==2.1.0
MMCV_WITH_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$STAGE" \
  "$STAGE"/src/mmcv-2.1.0.tar.gz
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$STAGE" "$ROOT"
rm -f "$DEST"/*.whl
mv "$STAGE"/*.whl "$DEST"/
ls -la "$DEST"
du -sh "$DEST"
