#!/usr/bin/env bash
# The quick start: set up the environment, get Fashion-MNIST, run the main job.
#
# Usage: bash tools/quickstart.sh [tools/run_main_job.py options]
#   e.g. bash tools/quickstart.sh --layers 6 --embed-dims 96 --heads 3 --no-baseline
#
# 1. bash tools/setup_env.sh (creates or checks the virtual environment; seconds when ready)
# 2. Fashion-MNIST from the Debian package dataset-fashion-mnist: apt-get install as root,
#    otherwise apt-get download + dpkg -x into data/debian; without apt, the main job falls
#    back to mmpretrain's download (needs internet)
# 3. python tools/run_main_job.py: pretrain a small ViT (L layers), expand it 2x with
#    ScaleNet, train further (and, as a control, the L-layer model as long), evaluate with
#    tools/test.py, print a table. Logs, checkpoints and results.md go to
#    work_dirs/quickstart. Re-running reuses finished steps.
#
# Environment: SCALENET_VENV (default <repo>/.venv), as for tools/setup_env.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${SCALENET_VENV:-$ROOT/.venv}
PACKAGE=dataset-fashion-mnist
DEB_FILES=/usr/share/datasets/fashion-mnist
LOCAL_DEB=$ROOT/data/debian
log() { printf '[quickstart] %s\n' "$*"; }

case "${1:-}" in -h|--help) sed -n '2,14p' "$0"; exit 0 ;; esac

bash "$ROOT/tools/setup_env.sh"

have_data() { [[ -f "$1/train-images-idx3-ubyte.gz" || -f "$1/train-images-idx3-ubyte" ]]; }

if have_data "$ROOT/data/fashion_mnist" || have_data "$DEB_FILES" \
    || have_data "$LOCAL_DEB/usr/share/datasets/fashion-mnist"; then
  log "Fashion-MNIST found"
elif command -v apt-get >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then
    log "installing the Debian package $PACKAGE"
    apt-get install -y -q "$PACKAGE" || { apt-get update -q && apt-get install -y -q "$PACKAGE"; } \
      || log "apt-get install $PACKAGE failed; the main job will try other sources"
  elif command -v dpkg >/dev/null 2>&1; then
    log "not root: unpacking $PACKAGE into $LOCAL_DEB (apt-get download + dpkg -x)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if (cd "$tmp" && apt-get download "$PACKAGE") && mkdir -p "$LOCAL_DEB" \
        && dpkg -x "$tmp"/"$PACKAGE"_*.deb "$LOCAL_DEB"; then
      log "unpacked into $LOCAL_DEB"
    else
      log "apt-get download $PACKAGE failed; the main job will try other sources"
    fi
  fi
else
  log "no apt-get here: the main job will download Fashion-MNIST with mmpretrain"
fi

cd "$ROOT"
exec "$VENV/bin/python" tools/run_main_job.py "$@"
