#!/usr/bin/env bash
# Run the method layer's tests (tests/method) in a torch-only virtual environment: torch,
# torchvision, timm, pytest (and peft when it installs), no OpenMMLab. The method layer
# (scalenet_mm/method) imports only torch and timm; this checks that claim and the torch range
# the package supports (>=2.4) on a release other than the main environment's.
#
# Usage: bash tools/test_method_torch_only.sh TORCH_VERSION [PYTHON] [VENV_DIR]
#   e.g. bash tools/test_method_torch_only.sh 2.15.0 python3.12 /tmp/venv-torch-2.15
# torchvision is left to pip to match torch. The machine-wide pip config (which may cap torch)
# is not used for this one environment (PIP_CONFIG_FILE=/dev/null): it downloads from PyPI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
torch_version=${1:?usage: bash tools/test_method_torch_only.sh TORCH_VERSION [PYTHON] [VENV_DIR]}
py=${2:-python3}
venv=${3:-$ROOT/.venv-torch-$torch_version}
timm_pin=$(grep -i '^timm==' "$ROOT/requirements/constraints.txt")
pytest_pin=$(grep -i '^pytest==' "$ROOT/requirements/constraints.txt")

find_python() {  # $1 = python3.X: on PATH, else a pyenv installation of that version
  if "$1" -c 'pass' >/dev/null 2>&1; then echo "$1"; return 0; fi
  local found
  for found in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"${1#python}".*/bin/"$1"; do
    [[ -x "$found" ]] && { echo "$found"; return 0; }
  done
  return 1
}
py=$(find_python "$py") || { echo "test_method_torch_only.sh: no interpreter '${2:-python3}'" >&2; exit 2; }
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install -q "torch==$torch_version" torchvision "$timm_pin" "$pytest_pin"
# peft is optional here (its tests skip without it): it needs a torch it supports.
# The torch pin holds: peft (through transformers) must not upgrade the torch under test.
keep_torch=$(mktemp)
trap 'rm -f "$keep_torch"' EXIT
echo "torch==$torch_version" >"$keep_torch"
"$venv/bin/python" -m pip install -q -c "$keep_torch" \
    "$(grep -i '^peft==' "$ROOT/requirements/constraints.txt")" \
    "$(grep -i '^transformers==' "$ROOT/requirements/constraints.txt")" \
  || echo "[method-tests] peft did not install for torch $torch_version; its comparisons are skipped"
"$venv/bin/python" -c "import torch, timm; print('[method-tests] torch', torch.__version__, 'timm', timm.__version__)"
cd "$ROOT"
# --noconftest: tests/conftest.py needs OpenMMLab and cv2; the method tests use no fixture of it.
"$venv/bin/python" -m pytest --noconftest -p no:cacheprovider -q tests/method
