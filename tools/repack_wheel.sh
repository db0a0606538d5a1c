#!/usr/bin/env bash
# Strip the debug symbols of a built wheel's compiled extensions and re-pack it into a folder,
# atomically (tools/setup_env.sh uses it for the mmcv wheel it builds: 32 MB -> about 1.4 MB).
#
# Usage: bash tools/repack_wheel.sh WHEEL DEST_DIR [PYTHON]
#   WHEEL     a .whl file (left as it is)
#   DEST_DIR  where the re-packed wheel goes (created if missing); a wheel of the same name
#             there is replaced only once the new one is complete
#   PYTHON    the interpreter whose `wheel` package packs (default: python3)
# Prints the path of the re-packed wheel. Exits non-zero, leaving DEST_DIR without a partial
# file, when any step fails.
#
# Why a script of its own: `wheel pack` changed behaviour once already (wheel 0.48 stopped
# creating the -d folder, which broke every fresh install); tests/tools/test_repack_wheel.py
# runs this step on a tiny wheel so such a change fails a test, not a user.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: bash tools/repack_wheel.sh WHEEL DEST_DIR [PYTHON]" >&2
  exit 2
fi
wheel_file=$1
dest=$2
py=${3:-python3}
if [[ ! -f "$wheel_file" ]]; then
  echo "repack_wheel.sh: no such wheel file: $wheel_file" >&2
  exit 2
fi

work=$(mktemp -d)
partial=""
cleanup() { rm -rf "$work"; [[ -z "$partial" ]] || rm -f "$partial"; }
trap cleanup EXIT

"$py" -m wheel unpack -d "$work/unpacked" "$wheel_file" >/dev/null
if command -v strip >/dev/null 2>&1; then
  find "$work/unpacked" -name '_ext*.so' -exec strip --strip-debug {} \;
else
  echo "repack_wheel.sh: 'strip' not found (binutils); the wheel keeps its debug symbols" >&2
fi
# `wheel pack -d DIR` needs DIR to exist since wheel 0.48.
mkdir -p "$work/packed"
"$py" -m wheel pack -d "$work/packed" "$work"/unpacked/* >/dev/null
packed=("$work"/packed/*.whl)
if [[ ${#packed[@]} -ne 1 || ! -f "${packed[0]}" ]]; then
  echo "repack_wheel.sh: 'wheel pack' produced no wheel in $work/packed" >&2
  exit 1
fi
mkdir -p "$dest"
partial=$(mktemp "$dest/.partial.XXXXXX")
cp "${packed[0]}" "$partial"
final="$dest/$(basename "${packed[0]}")"
mv -f "$partial" "$final"  # a rename within one folder: never a partial wheel under the final name
partial=""
echo "$final"
