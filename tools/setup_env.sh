#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment: torch, the OpenMMLab stack,
# mmcv 2.1.0 WITH its compiled ops, and scalenet_mm itself (editable).
#
# Usage: bash tools/setup_env.sh [--force] [--rebuild-mmcv]
#
# Every package comes at the exact version of requirements/constraints.txt (the tested set).
# On a machine with no cached mmcv wheel, mmcv is built from source: the whole first setup
# took 7.5 minutes on 2 quiet cores, about 23 on 2 loaded ones (fresh clones, see README.md);
# later runs take seconds.
#
# Environment:
#   SCALENET_VENV        where the venv lives (default: <repo>/.venv)
#   SCALENET_WHEEL_DIR   colon-separated directories of prebuilt wheels to try for mmcv; a wheel
#                        that fails the ops check is ignored and mmcv is built from source instead
#   SCALENET_WHEEL_CACHE where wheels built here are cached (default ~/.cache/scalenet_mm/wheels)
#   PYTHON               interpreter for a new venv (default: python3.11, else python3)
#
# Re-running is safe: when the requirements have not changed and mmcv's ops import, it only
# re-checks and exits. The stamp that says "done" is written only after the ops check passed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SCALENET_VENV:-$ROOT/.venv}
CACHE=${SCALENET_WHEEL_CACHE:-$HOME/.cache/scalenet_mm/wheels}
CONSTRAINTS=$ROOT/requirements/constraints.txt
FORCE=0
REBUILD_MMCV=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --rebuild-mmcv) REBUILD_MMCV=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$arg' (allowed: --force, --rebuild-mmcv)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup_env] %s\n' "$*"; }
die() {  # $1 = the problem, $2 = the fix
  printf '[setup_env] ERROR: %s\n[setup_env] Fix: %s\n' "$1" "$2" >&2
  exit 1
}

if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

# ---------------------------------------------------------------- venv
if [[ ! -x "$VENV/bin/python" ]]; then
  command -v "$PYTHON" >/dev/null 2>&1 \
    || die "no Python interpreter '$PYTHON' on PATH" "install Python 3.11, or set PYTHON=/path/to/python3"
  log "creating virtual environment at $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv $VENV' failed" \
    "install the venv module (Debian: apt-get install python3-venv) or set SCALENET_VENV to a writable folder"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)
PIN=(-c "$CONSTRAINTS")

# A stamp of everything that decides the install; equal stamp + working ops => nothing to do.
stamp_now=$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$0" "$ROOT/tools/repack_wheel.sh" \
  | sha256sum | cut -c1-16)
stamp_file="$VENV/.scalenet_setup_stamp"

ops_ok() {
  "$VPY" - <<'PYEOF' >/dev/null 2>&1
import torch
import mmcv
from mmcv.ops import nms, RoIAlign
assert mmcv.__version__ == '2.1.0', mmcv.__version__
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0], keep
RoIAlign((2, 2), 1.0)(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
PYEOF
}

if [[ $FORCE == 0 && $REBUILD_MMCV == 0 && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_now" ]] && ops_ok; then
  log "environment at $VENV is up to date (mmcv ops OK)"
  exit 0
fi
rm -f "$stamp_file"  # from here on the environment is not known to be complete

# ---------------------------------------------------------------- pip, build tools, torch
log "installing pip, build tools and torch at the tested versions (requirements/constraints.txt)"
"${PIP[@]}" install -q "${PIN[@]}" pip
"${PIP[@]}" install -q "${PIN[@]}" -r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/torch.txt"

torch_tag=$("$VPY" -c "import torch; print(torch.__version__.replace('+', '_'))")
py_tag=$("$VPY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
# A built mmcv links the exact torch it was built against: cache per torch version.
torch_cache="$CACHE/torch-$torch_tag"

# ---------------------------------------------------------------- the OpenMMLab stack
# Installed before mmcv: importing mmcv (and so checking its ops) needs mmengine, numpy and cv2.
log "installing the OpenMMLab stack (requirements/runtime.txt) and test tools"
"${PIP[@]}" install -q "${PIN[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"

# ---------------------------------------------------------------- mmcv with ops
try_mmcv_wheel() {  # $1 = wheel file; installs it and keeps it only when the ops work
  log "trying mmcv wheel $1"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$1" && ops_ok && return 0
  log "wheel $1 does not work with this torch; ignoring it"
  "${PIP[@]}" uninstall -q -y mmcv >/dev/null 2>&1 || true
  return 1
}

check_build_prerequisites() {  # a clear message before minutes of compiling, not after
  local tool
  for tool in gcc g++; do
    command -v "$tool" >/dev/null 2>&1 || die "building mmcv needs '$tool', which is not installed" \
      "install a C++20 compiler (Debian/Ubuntu: apt-get install build-essential; gcc >= 10), then re-run"
  done
  local major
  major=$(g++ -dumpversion | cut -d. -f1)
  [[ "$major" -ge 10 ]] || die "g++ $major is too old to build mmcv against torch >= 2.10 (C++20 needed)" \
    "install g++ >= 10 and re-run (or set CXX to a newer compiler)"
  local tmp_free cache_parent
  tmp_free=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}')
  [[ "$tmp_free" -ge 2097152 ]] || die "only $((tmp_free / 1024)) MiB free in ${TMPDIR:-/tmp}; the mmcv build needs about 2 GiB" \
    "free disk space or point TMPDIR at a folder with room, then re-run"
  cache_parent=$CACHE
  while [[ ! -d "$cache_parent" ]]; do cache_parent=$(dirname "$cache_parent"); done
  [[ -w "$cache_parent" ]] || die "the wheel cache $CACHE is not writable" \
    "set SCALENET_WHEEL_CACHE to a writable folder"
}

build_mmcv() {  # builds mmcv 2.1.0 with ops from the PyPI sdist into $torch_cache
  check_build_prerequisites
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "building mmcv 2.1.0 with ops from source (5-20 minutes on 2 cores without a GPU)"
  "${PIP[@]}" download -q "${PIN[@]}" --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d "$work" \
    || die "could not download the mmcv 2.1.0 source from PyPI" "check the network / index settings, then re-run"
  tar -xzf "$work"/mmcv-2.1.0.tar.gz -C "$work"
  # torch >= 2.10 headers refuse C++17; CFLAGS cannot override the flag mmcv hard-codes.
  sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-2.1.0/setup.py"
  (cd "$work/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
     "${PIP[@]}" wheel -q --no-deps --no-build-isolation . -w "$work/dist") \
    || die "building mmcv 2.1.0 with ops failed (compiler output above)" \
           "read the first 'error:' above; out of disk or memory: free some and re-run; then bash tools/setup_env.sh --rebuild-mmcv"
  # Strip debug symbols from the extension (32 MB -> about 1.4 MB, ops unchanged) and cache it.
  bash "$ROOT/tools/repack_wheel.sh" "$(ls "$work"/dist/mmcv-*.whl)" "$torch_cache" "$VPY" >/dev/null \
    || die "re-packing the built mmcv wheel into $torch_cache failed (message above)" \
           "free disk space or set SCALENET_WHEEL_CACHE to a writable folder, then re-run"
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
  try_mmcv_wheel "$(ls "$torch_cache"/mmcv-2.1.0-"$py_tag"-*.whl | head -n1)" \
    || die "mmcv was built but 'from mmcv.ops import nms, RoIAlign' still fails" \
           "check the compiler output above (gcc >= 10 with C++20 is needed), then run bash tools/setup_env.sh --rebuild-mmcv"
fi

# ---------------------------------------------------------------- the project
# Editable (PEP 660) so that pip knows and can uninstall it; then a link site-packages/scalenet_mm ->
# the checkout's scalenet_mm/. Why the link: mmengine (`_base_ = 'scalenet_mm::...'`) and mim look
# for an installed package next to its .dist-info (get_installed_path), which a PEP 660 editable
# install does not provide (mmengine 0.10.7 / mim 0.3.9 limitation). The link gives them the
# layout of a regular install while the code stays the checkout's. `pip uninstall scalenet_mm`
# leaves the link: remove it with rm "$site/scalenet_mm".
log "installing scalenet_mm (editable)"
"${PIP[@]}" install -q "${PIN[@]}" --no-deps --no-build-isolation -e "$ROOT" \
  || die "installing scalenet_mm in editable mode failed (message above)" "bash tools/setup_env.sh --force"
site=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [[ -e "$site/scalenet_mm" && ! -L "$site/scalenet_mm" ]]; then
  die "$site/scalenet_mm is a regular (non-editable) install of scalenet_mm" \
    "pip uninstall scalenet_mm in $VENV, then re-run"
fi
ln -sfn "$ROOT/scalenet_mm" "$site/scalenet_mm"

ops_ok || die "mmcv ops are missing ('from mmcv.ops import nms, RoIAlign' fails); Mask R-CNN needs mmcv built WITH ops (mmcv-lite has none)" \
  "bash tools/setup_env.sh --rebuild-mmcv"
"$VPY" -c "import scalenet_mm; print('[setup_env] scalenet_mm', scalenet_mm.__version__, 'ready in', '$VENV')" \
  || die "'import scalenet_mm' fails in the new environment (message above)" "bash tools/setup_env.sh --force"
echo "$stamp_now" >"$stamp_file"
