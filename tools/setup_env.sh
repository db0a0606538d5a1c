#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment: torch, the OpenMMLab stack,
# mmcv 2.1.0 WITH its compiled ops, and scalenet_mm itself (editable).
#
# Usage: bash tools/setup_env.sh [--force] [--rebuild-mmcv]
#
# Environment:
#   SCALENET_VENV        where the venv lives (default: <repo>/.venv)
#   SCALENET_WHEEL_DIR   colon-separated directories of prebuilt wheels to try for mmcv
#                        (CI points it at ../shared/wheels); a wheel that fails the ops
#                        check is ignored and mmcv is built from source instead
#   SCALENET_WHEEL_CACHE where wheels built here are cached (default ~/.cache/scalenet_mm/wheels)
#   PYTHON               interpreter for a new venv (default: python3.11, else python3)
#
# Re-running is safe: when the requirements have not changed and mmcv's ops import,
# it only re-checks and exits (a few seconds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SCALENET_VENV:-$ROOT/.venv}
CACHE=${SCALENET_WHEEL_CACHE:-$HOME/.cache/scalenet_mm/wheels}
FORCE=0
REBUILD_MMCV=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --rebuild-mmcv) REBUILD_MMCV=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$arg' (allowed: --force, --rebuild-mmcv)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup_env] %s\n' "$*"; }

if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

# ---------------------------------------------------------------- venv
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtual environment at $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# A stamp of everything that decides the install; equal stamp + working ops => nothing to do.
stamp_now=$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)
stamp_file="$VENV/.scalenet_setup_stamp"

ops_ok() {
  "$VPY" - <<'EOF' >/dev/null 2>&1
import torch
import mmcv
from mmcv.ops import nms, RoIAlign
assert mmcv.__version__ == '2.1.0', mmcv.__version__
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0], keep
RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
EOF
}

if [[ $FORCE == 0 && $REBUILD_MMCV == 0 && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_now" ]] && ops_ok; then
  log "environment at $VENV is up to date (mmcv ops OK)"
  exit 0
fi

# ---------------------------------------------------------------- torch + build tools
log "installing build tools and torch (requirements/build.txt, requirements/torch.txt)"
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/torch.txt"

torch_tag=$("$VPY" -c "import torch; print(torch.__version__.replace('+', '_'))")
py_tag=$("$VPY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
# A built mmcv links the exact torch it was built against: cache per torch version.
torch_cache="$CACHE/torch-$torch_tag"

# ---------------------------------------------------------------- the OpenMMLab stack
# Installed before mmcv: importing mmcv (and so checking its ops) needs mmengine, numpy and cv2.
log "installing the OpenMMLab stack (requirements/runtime.txt) and test tools"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# ---------------------------------------------------------------- mmcv with ops
try_mmcv_wheel() {  # $1 = wheel file; installs it and keeps it only when the ops work
  log "trying mmcv wheel $1"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$1" && ops_ok && return 0
  log "wheel $1 does not work with this torch; ignoring it"
  "${PIP[@]}" uninstall -q -y mmcv >/dev/null 2>&1 || true
  return 1
}

build_mmcv() {  # builds mmcv 2.1.0 with ops from the PyPI sdist into $torch_cache
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "building mmcv 2.1.0 with ops from source (about 7 minutes on 2 cores without a GPU)"
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d "$work"
  tar -xzf "$work"/mmcv-2.1.0.tar.gz -C "$work"
  # torch >= 2.10 headers refuse C++17; CFLAGS cannot override the flag mmcv hard-codes.
  sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-2.1.0/setup.py"
  (cd "$work/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
     "${PIP[@]}" wheel -q --no-deps --no-build-isolation . -w "$work/dist")
  # Strip debug symbols from the extension: 32 MB -> about 1.4 MB, ops unchanged.
  "$VPY" -m wheel unpack -d "$work/unpacked" "$work"/dist/mmcv-*.whl >/dev/null
  find "$work/unpacked" -name '_ext*.so' -exec strip --strip-debug {} \; 2>/dev/null || true
  mkdir -p "$torch_cache" "$work/packed"  # wheel >= 0.48 no longer creates -d DIR itself
  "$VPY" -m wheel pack -d "$work/packed" "$work"/unpacked/mmcv-2.1.0 >/dev/null
  local tmp_copy
  tmp_copy=$(mktemp "$torch_cache/.partial.XXXXXX")
  cp "$work"/packed/mmcv-*.whl "$tmp_copy"
  mv -f "$tmp_copy" "$torch_cache/$(basename "$work"/packed/mmcv-*.whl)"  # atomic: never a partial wheel
  log "cached built wheel in $torch_cache"
}

mmcv_installed=0
if [[ $REBUILD_MMCV == 0 ]] && ops_ok; then
  mmcv_installed=1
  log "mmcv 2.1.0 with ops already installed"
fi
if [[ $mmcv_installed == 0 && $REBUILD_MMCV == 0 ]]; then
  IFS=':' read -r -a dirs <<<"${SCALENET_WHEEL_DIR:-}"
  for dir in "$torch_cache" "${dirs[@]}"; do
    [[ -n "$dir" && -d "$dir" ]] || continue
    for whl in "$dir"/mmcv-2.1.0-"$py_tag"-*.whl; do
      [[ -f "$whl" ]] || continue
      if try_mmcv_wheel "$whl"; then mmcv_installed=1; break 2; fi
    done
  done
fi
if [[ $mmcv_installed == 0 ]]; then
  build_mmcv
  try_mmcv_wheel "$(ls "$torch_cache"/mmcv-2.1.0-*.whl | head -n1)" || {
    echo "[setup_env] ERROR: mmcv was built but 'from mmcv.ops import nms, RoIAlign' still fails." >&2
    echo "[setup_env] Fix: check the compiler output above (gcc >= 10 with C++20 is needed), then run" >&2
    echo "[setup_env]      bash tools/setup_env.sh --rebuild-mmcv" >&2
    exit 1
  }
fi

# ---------------------------------------------------------------- the project
log "installing scalenet_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

if ! ops_ok; then
  echo "[setup_env] ERROR: mmcv ops are missing ('from mmcv.ops import nms, RoIAlign' fails)." >&2
  echo "[setup_env] Mask R-CNN needs mmcv built WITH ops; mmcv-lite has none. Fix: bash tools/setup_env.sh --rebuild-mmcv" >&2
  exit 1
fi
"$VPY" -c "import scalenet_mm; print('[setup_env] scalenet_mm', scalenet_mm.__version__, 'ready in', '$VENV')"
echo "$stamp_now" >"$stamp_file"
